from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.coupon_status import CouponStatus
from ...models.error_body import ErrorBody
from ...types import UNSET, Response, Unset


def _get_kwargs(
    book_id: str,
    *,
    status: CouponStatus | Unset = UNSET,
    assigned_to: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

    params["assigned_to"] = assigned_to

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/books/{book_id}/codes/export".format(
            book_id=quote(str(book_id), safe=""),
        ),
        "params": params,
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
    book_id: str,
    *,
    client: AuthenticatedClient,
    status: CouponStatus | Unset = UNSET,
    assigned_to: str | Unset = UNSET,
) -> Response[ErrorBody | str]:
    """Export a book's codes

     Every code of the book as a CSV stream, in constant memory. A cell starting with
    `=`, `+`, `-`, `@`, a tab or a carriage return is written with a leading `'`, so
    spreadsheets do not run it as a formula.

    Args:
        book_id (str):
        status (CouponStatus | Unset):
        assigned_to (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | str]
    """

    kwargs = _get_kwargs(
        book_id=book_id,
        status=status,
        assigned_to=assigned_to,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    book_id: str,
    *,
    client: AuthenticatedClient,
    status: CouponStatus | Unset = UNSET,
    assigned_to: str | Unset = UNSET,
) -> ErrorBody | str | None:
    """Export a book's codes

     Every code of the book as a CSV stream, in constant memory. A cell starting with
    `=`, `+`, `-`, `@`, a tab or a carriage return is written with a leading `'`, so
    spreadsheets do not run it as a formula.

    Args:
        book_id (str):
        status (CouponStatus | Unset):
        assigned_to (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | str
    """

    return sync_detailed(
        book_id=book_id,
        client=client,
        status=status,
        assigned_to=assigned_to,
    ).parsed


async def asyncio_detailed(
    book_id: str,
    *,
    client: AuthenticatedClient,
    status: CouponStatus | Unset = UNSET,
    assigned_to: str | Unset = UNSET,
) -> Response[ErrorBody | str]:
    """Export a book's codes

     Every code of the book as a CSV stream, in constant memory. A cell starting with
    `=`, `+`, `-`, `@`, a tab or a carriage return is written with a leading `'`, so
    spreadsheets do not run it as a formula.

    Args:
        book_id (str):
        status (CouponStatus | Unset):
        assigned_to (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | str]
    """

    kwargs = _get_kwargs(
        book_id=book_id,
        status=status,
        assigned_to=assigned_to,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    book_id: str,
    *,
    client: AuthenticatedClient,
    status: CouponStatus | Unset = UNSET,
    assigned_to: str | Unset = UNSET,
) -> ErrorBody | str | None:
    """Export a book's codes

     Every code of the book as a CSV stream, in constant memory. A cell starting with
    `=`, `+`, `-`, `@`, a tab or a carriage return is written with a leading `'`, so
    spreadsheets do not run it as a formula.

    Args:
        book_id (str):
        status (CouponStatus | Unset):
        assigned_to (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | str
    """

    return (
        await asyncio_detailed(
            book_id=book_id,
            client=client,
            status=status,
            assigned_to=assigned_to,
        )
    ).parsed
