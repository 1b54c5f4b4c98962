from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.page_redemption import PageRedemption
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    book_id: str | Unset = UNSET,
    user_id: str | Unset = UNSET,
    code: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["book_id"] = book_id

    params["user_id"] = user_id

    params["code"] = code

    params["limit"] = limit

    params["cursor"] = cursor

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/redemptions",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | PageRedemption | None:
    if response.status_code == 200:
        response_200 = PageRedemption.from_dict(response.json())

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


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorBody | PageRedemption]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    book_id: str | Unset = UNSET,
    user_id: str | Unset = UNSET,
    code: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[ErrorBody | PageRedemption]:
    """List redemptions

     A key limited to books lists only theirs (a page may then hold fewer than `limit`
    redemptions while more follow: read on until `next_cursor` is null).

    Args:
        book_id (str | Unset):
        user_id (str | Unset):
        code (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | PageRedemption]
    """

    kwargs = _get_kwargs(
        book_id=book_id,
        user_id=user_id,
        code=code,
        limit=limit,
        cursor=cursor,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    book_id: str | Unset = UNSET,
    user_id: str | Unset = UNSET,
    code: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> ErrorBody | PageRedemption | None:
    """List redemptions

     A key limited to books lists only theirs (a page may then hold fewer than `limit`
    redemptions while more follow: read on until `next_cursor` is null).

    Args:
        book_id (str | Unset):
        user_id (str | Unset):
        code (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | PageRedemption
    """

    return sync_detailed(
        client=client,
        book_id=book_id,
        user_id=user_id,
        code=code,
        limit=limit,
        cursor=cursor,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    book_id: str | Unset = UNSET,
    user_id: str | Unset = UNSET,
    code: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[ErrorBody | PageRedemption]:
    """List redemptions

     A key limited to books lists only theirs (a page may then hold fewer than `limit`
    redemptions while more follow: read on until `next_cursor` is null).

    Args:
        book_id (str | Unset):
        user_id (str | Unset):
        code (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | PageRedemption]
    """

    kwargs = _get_kwargs(
        book_id=book_id,
        user_id=user_id,
        code=code,
        limit=limit,
        cursor=cursor,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    book_id: str | Unset = UNSET,
    user_id: str | Unset = UNSET,
    code: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> ErrorBody | PageRedemption | None:
    """List redemptions

     A key limited to books lists only theirs (a page may then hold fewer than `limit`
    redemptions while more follow: read on until `next_cursor` is null).

    Args:
        book_id (str | Unset):
        user_id (str | Unset):
        code (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | PageRedemption
    """

    return (
        await asyncio_detailed(
            client=client,
            book_id=book_id,
            user_id=user_id,
            code=code,
            limit=limit,
            cursor=cursor,
        )
    ).parsed
