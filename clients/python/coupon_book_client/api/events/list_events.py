from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.event_type import EventType
from ...models.page_event import PageEvent
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    after: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
    type_: list[EventType] | Unset = UNSET,
    book_id: str | Unset = UNSET,
    code: str | Unset = UNSET,
    user_id: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["after"] = after

    params["limit"] = limit

    params["cursor"] = cursor

    json_type_: list[str] | Unset = UNSET
    if not isinstance(type_, Unset):
        json_type_ = []
        for type_item_data in type_:
            type_item = type_item_data.value
            json_type_.append(type_item)

    params["type"] = json_type_

    params["book_id"] = book_id

    params["code"] = code

    params["user_id"] = user_id

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/events",
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorBody | PageEvent | None:
    if response.status_code == 200:
        response_200 = PageEvent.from_dict(response.json())

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
) -> Response[ErrorBody | PageEvent]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    after: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
    type_: list[EventType] | Unset = UNSET,
    book_id: str | Unset = UNSET,
    code: str | Unset = UNSET,
    user_id: str | Unset = UNSET,
) -> Response[ErrorBody | PageEvent]:
    """List events

     Changes to books, coupons and redemptions, oldest first, each with its actor.
    Filters combine (all must match) and each is read from an index, never by reading
    the whole feed; a filtered page may hold fewer than `limit` events while more
    follow, so read on until `next_cursor` is null. A key limited to books sees only
    their events (same paging).

    Args:
        after (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):
        type_ (list[EventType] | Unset):
        book_id (str | Unset):
        code (str | Unset):
        user_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | PageEvent]
    """

    kwargs = _get_kwargs(
        after=after,
        limit=limit,
        cursor=cursor,
        type_=type_,
        book_id=book_id,
        code=code,
        user_id=user_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    after: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
    type_: list[EventType] | Unset = UNSET,
    book_id: str | Unset = UNSET,
    code: str | Unset = UNSET,
    user_id: str | Unset = UNSET,
) -> ErrorBody | PageEvent | None:
    """List events

     Changes to books, coupons and redemptions, oldest first, each with its actor.
    Filters combine (all must match) and each is read from an index, never by reading
    the whole feed; a filtered page may hold fewer than `limit` events while more
    follow, so read on until `next_cursor` is null. A key limited to books sees only
    their events (same paging).

    Args:
        after (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):
        type_ (list[EventType] | Unset):
        book_id (str | Unset):
        code (str | Unset):
        user_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | PageEvent
    """

    return sync_detailed(
        client=client,
        after=after,
        limit=limit,
        cursor=cursor,
        type_=type_,
        book_id=book_id,
        code=code,
        user_id=user_id,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    after: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
    type_: list[EventType] | Unset = UNSET,
    book_id: str | Unset = UNSET,
    code: str | Unset = UNSET,
    user_id: str | Unset = UNSET,
) -> Response[ErrorBody | PageEvent]:
    """List events

     Changes to books, coupons and redemptions, oldest first, each with its actor.
    Filters combine (all must match) and each is read from an index, never by reading
    the whole feed; a filtered page may hold fewer than `limit` events while more
    follow, so read on until `next_cursor` is null. A key limited to books sees only
    their events (same paging).

    Args:
        after (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):
        type_ (list[EventType] | Unset):
        book_id (str | Unset):
        code (str | Unset):
        user_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | PageEvent]
    """

    kwargs = _get_kwargs(
        after=after,
        limit=limit,
        cursor=cursor,
        type_=type_,
        book_id=book_id,
        code=code,
        user_id=user_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    after: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
    type_: list[EventType] | Unset = UNSET,
    book_id: str | Unset = UNSET,
    code: str | Unset = UNSET,
    user_id: str | Unset = UNSET,
) -> ErrorBody | PageEvent | None:
    """List events

     Changes to books, coupons and redemptions, oldest first, each with its actor.
    Filters combine (all must match) and each is read from an index, never by reading
    the whole feed; a filtered page may hold fewer than `limit` events while more
    follow, so read on until `next_cursor` is null. A key limited to books sees only
    their events (same paging).

    Args:
        after (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):
        type_ (list[EventType] | Unset):
        book_id (str | Unset):
        code (str | Unset):
        user_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | PageEvent
    """

    return (
        await asyncio_detailed(
            client=client,
            after=after,
            limit=limit,
            cursor=cursor,
            type_=type_,
            book_id=book_id,
            code=code,
            user_id=user_id,
        )
    ).parsed
