from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.multi_redemption import MultiRedemption
from ...models.redemptions_body import RedemptionsBody
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: RedemptionsBody,
    idempotency_key: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/redemptions",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | MultiRedemption | None:
    if response.status_code == 201:
        response_201 = MultiRedemption.from_dict(response.json())

        return response_201

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


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorBody | MultiRedemption]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: RedemptionsBody,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[ErrorBody | MultiRedemption]:
    """Redeem several codes on one order

     All codes are redeemed in one atomic step, or none: the first code that fails
    answers its usual error with `field: "items[i]"`, and nothing is written.
    Discounts and `not_combinable` follow the rules of `POST /v1/validations`.

    Args:
        idempotency_key (None | str | Unset):
        body (RedemptionsBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | MultiRedemption]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: RedemptionsBody,
    idempotency_key: None | str | Unset = UNSET,
) -> ErrorBody | MultiRedemption | None:
    """Redeem several codes on one order

     All codes are redeemed in one atomic step, or none: the first code that fails
    answers its usual error with `field: "items[i]"`, and nothing is written.
    Discounts and `not_combinable` follow the rules of `POST /v1/validations`.

    Args:
        idempotency_key (None | str | Unset):
        body (RedemptionsBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | MultiRedemption
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: RedemptionsBody,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[ErrorBody | MultiRedemption]:
    """Redeem several codes on one order

     All codes are redeemed in one atomic step, or none: the first code that fails
    answers its usual error with `field: "items[i]"`, and nothing is written.
    Discounts and `not_combinable` follow the rules of `POST /v1/validations`.

    Args:
        idempotency_key (None | str | Unset):
        body (RedemptionsBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | MultiRedemption]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: RedemptionsBody,
    idempotency_key: None | str | Unset = UNSET,
) -> ErrorBody | MultiRedemption | None:
    """Redeem several codes on one order

     All codes are redeemed in one atomic step, or none: the first code that fails
    answers its usual error with `field: "items[i]"`, and nothing is written.
    Discounts and `not_combinable` follow the rules of `POST /v1/validations`.

    Args:
        idempotency_key (None | str | Unset):
        body (RedemptionsBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | MultiRedemption
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
