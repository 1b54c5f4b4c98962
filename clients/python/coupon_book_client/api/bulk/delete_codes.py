from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.code_selection import CodeSelection
from ...models.error_body import ErrorBody
from ...models.job import Job
from ...types import UNSET, Response, Unset


def _get_kwargs(
    book_id: str,
    *,
    body: CodeSelection,
    idempotency_key: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/books/{book_id}/codes/delete".format(
            book_id=quote(str(book_id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorBody | Job | None:
    if response.status_code == 201:
        response_201 = Job.from_dict(response.json())

        return response_201

    if response.status_code == 202:
        response_202 = Job.from_dict(response.json())

        return response_202

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

    if response.status_code == 413:
        response_413 = ErrorBody.from_dict(response.json())

        return response_413

    if response.status_code == 422:
        response_422 = ErrorBody.from_dict(response.json())

        return response_422

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ErrorBody | Job]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    book_id: str,
    *,
    client: AuthenticatedClient,
    body: CodeSelection,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[ErrorBody | Job]:
    """Delete many codes

     Removes the listed codes of the book (`codes`), or every code of the book in a
    status (`status`). Only codes never handed out or used are deleted (not assigned,
    no redemptions, no live lock); the others count as `in_use`. A deleted code no
    longer exists and may be added again. Per line: `deleted`, `in_use`, `not_found`
    or `invalid`.

    Args:
        book_id (str):
        idempotency_key (None | str | Unset):
        body (CodeSelection): The codes a bulk void or delete works on: a list, or every code of a
            status.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | Job]
    """

    kwargs = _get_kwargs(
        book_id=book_id,
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    book_id: str,
    *,
    client: AuthenticatedClient,
    body: CodeSelection,
    idempotency_key: None | str | Unset = UNSET,
) -> ErrorBody | Job | None:
    """Delete many codes

     Removes the listed codes of the book (`codes`), or every code of the book in a
    status (`status`). Only codes never handed out or used are deleted (not assigned,
    no redemptions, no live lock); the others count as `in_use`. A deleted code no
    longer exists and may be added again. Per line: `deleted`, `in_use`, `not_found`
    or `invalid`.

    Args:
        book_id (str):
        idempotency_key (None | str | Unset):
        body (CodeSelection): The codes a bulk void or delete works on: a list, or every code of a
            status.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | Job
    """

    return sync_detailed(
        book_id=book_id,
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    book_id: str,
    *,
    client: AuthenticatedClient,
    body: CodeSelection,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[ErrorBody | Job]:
    """Delete many codes

     Removes the listed codes of the book (`codes`), or every code of the book in a
    status (`status`). Only codes never handed out or used are deleted (not assigned,
    no redemptions, no live lock); the others count as `in_use`. A deleted code no
    longer exists and may be added again. Per line: `deleted`, `in_use`, `not_found`
    or `invalid`.

    Args:
        book_id (str):
        idempotency_key (None | str | Unset):
        body (CodeSelection): The codes a bulk void or delete works on: a list, or every code of a
            status.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | Job]
    """

    kwargs = _get_kwargs(
        book_id=book_id,
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    book_id: str,
    *,
    client: AuthenticatedClient,
    body: CodeSelection,
    idempotency_key: None | str | Unset = UNSET,
) -> ErrorBody | Job | None:
    """Delete many codes

     Removes the listed codes of the book (`codes`), or every code of the book in a
    status (`status`). Only codes never handed out or used are deleted (not assigned,
    no redemptions, no live lock); the others count as `in_use`. A deleted code no
    longer exists and may be added again. Per line: `deleted`, `in_use`, `not_found`
    or `invalid`.

    Args:
        book_id (str):
        idempotency_key (None | str | Unset):
        body (CodeSelection): The codes a bulk void or delete works on: a list, or every code of a
            status.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | Job
    """

    return (
        await asyncio_detailed(
            book_id=book_id,
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
