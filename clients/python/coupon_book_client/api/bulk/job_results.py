from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...types import Response


def _get_kwargs(
    job_id: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/jobs/{job_id}/results".format(
            job_id=quote(str(job_id), safe=""),
        ),
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorBody | str | None:
    if response.status_code == 200:
        response_200 = response.text
        return response_200

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())

        return response_404

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = ErrorBody.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ErrorBody | str]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    job_id: str,
    *,
    client: AuthenticatedClient,
) -> Response[ErrorBody | str]:
    """Download a job's line results

     Every line's outcome of a bulk assign, void or delete job as a CSV stream
    `line,input,outcome,code`, in line order and constant memory (the lines applied so
    far while the job runs). `line` counts from 1 at the input's first line, a header
    line included (for JSON, the array index + 1). Generation and upload jobs keep no
    per-line results (their rejected lines are in the job's `errors`): their CSV has
    the header only. Cells that a spreadsheet would run as a formula get a leading `'`.

    Args:
        job_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | str]
    """

    kwargs = _get_kwargs(
        job_id=job_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    job_id: str,
    *,
    client: AuthenticatedClient,
) -> ErrorBody | str | None:
    """Download a job's line results

     Every line's outcome of a bulk assign, void or delete job as a CSV stream
    `line,input,outcome,code`, in line order and constant memory (the lines applied so
    far while the job runs). `line` counts from 1 at the input's first line, a header
    line included (for JSON, the array index + 1). Generation and upload jobs keep no
    per-line results (their rejected lines are in the job's `errors`): their CSV has
    the header only. Cells that a spreadsheet would run as a formula get a leading `'`.

    Args:
        job_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | str
    """

    return sync_detailed(
        job_id=job_id,
        client=client,
    ).parsed


async def asyncio_detailed(
    job_id: str,
    *,
    client: AuthenticatedClient,
) -> Response[ErrorBody | str]:
    """Download a job's line results

     Every line's outcome of a bulk assign, void or delete job as a CSV stream
    `line,input,outcome,code`, in line order and constant memory (the lines applied so
    far while the job runs). `line` counts from 1 at the input's first line, a header
    line included (for JSON, the array index + 1). Generation and upload jobs keep no
    per-line results (their rejected lines are in the job's `errors`): their CSV has
    the header only. Cells that a spreadsheet would run as a formula get a leading `'`.

    Args:
        job_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | str]
    """

    kwargs = _get_kwargs(
        job_id=job_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    job_id: str,
    *,
    client: AuthenticatedClient,
) -> ErrorBody | str | None:
    """Download a job's line results

     Every line's outcome of a bulk assign, void or delete job as a CSV stream
    `line,input,outcome,code`, in line order and constant memory (the lines applied so
    far while the job runs). `line` counts from 1 at the input's first line, a header
    line included (for JSON, the array index + 1). Generation and upload jobs keep no
    per-line results (their rejected lines are in the job's `errors`): their CSV has
    the header only. Cells that a spreadsheet would run as a formula get a leading `'`.

    Args:
        job_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | str
    """

    return (
        await asyncio_detailed(
            job_id=job_id,
            client=client,
        )
    ).parsed
