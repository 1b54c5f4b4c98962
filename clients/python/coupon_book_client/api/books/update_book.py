from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.book import Book
from ...models.error_body import ErrorBody
from ...models.update_book import UpdateBook
from ...types import Response


def _get_kwargs(
    book_id: str,
    *,
    body: UpdateBook,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "patch",
        "url": "/v1/books/{book_id}".format(
            book_id=quote(str(book_id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Book | ErrorBody | None:
    if response.status_code == 200:
        response_200 = Book.from_dict(response.json())

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

    if response.status_code == 409:
        response_409 = ErrorBody.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = ErrorBody.from_dict(response.json())

        return response_413

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Book | ErrorBody]:
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
    body: UpdateBook,
) -> Response[Book | ErrorBody]:
    """Update a book

     Absent fields stay as they are; `status` moves along draft, active, paused,
    archived (archived is final).

    Args:
        book_id (str):
        body (UpdateBook): Body of `PATCH /v1/books/{book_id}`: absent fields stay as they are.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Book | ErrorBody]
    """

    kwargs = _get_kwargs(
        book_id=book_id,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    book_id: str,
    *,
    client: AuthenticatedClient,
    body: UpdateBook,
) -> Book | ErrorBody | None:
    """Update a book

     Absent fields stay as they are; `status` moves along draft, active, paused,
    archived (archived is final).

    Args:
        book_id (str):
        body (UpdateBook): Body of `PATCH /v1/books/{book_id}`: absent fields stay as they are.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Book | ErrorBody
    """

    return sync_detailed(
        book_id=book_id,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    book_id: str,
    *,
    client: AuthenticatedClient,
    body: UpdateBook,
) -> Response[Book | ErrorBody]:
    """Update a book

     Absent fields stay as they are; `status` moves along draft, active, paused,
    archived (archived is final).

    Args:
        book_id (str):
        body (UpdateBook): Body of `PATCH /v1/books/{book_id}`: absent fields stay as they are.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Book | ErrorBody]
    """

    kwargs = _get_kwargs(
        book_id=book_id,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    book_id: str,
    *,
    client: AuthenticatedClient,
    body: UpdateBook,
) -> Book | ErrorBody | None:
    """Update a book

     Absent fields stay as they are; `status` moves along draft, active, paused,
    archived (archived is final).

    Args:
        book_id (str):
        body (UpdateBook): Body of `PATCH /v1/books/{book_id}`: absent fields stay as they are.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Book | ErrorBody
    """

    return (
        await asyncio_detailed(
            book_id=book_id,
            client=client,
            body=body,
        )
    ).parsed
