"""The main flow against a live server (COUPON_BOOK_URL, COUPON_BOOK_TOKEN: an admin
key). scripts/clients.sh test starts one."""

import os
import uuid
from datetime import UTC, datetime

import pytest
from coupon_book_client import AuthenticatedClient
from coupon_book_client.api.books import create_book
from coupon_book_client.api.codes import add_codes
from coupon_book_client.api.coupons import assign_next, get_coupon, lock, redeem
from coupon_book_client.api.events import list_events
from coupon_book_client.api.redemptions import reverse
from coupon_book_client.models import (
    AddCodes,
    Book,
    BookStatus,
    Coupon,
    CouponStatus,
    CreateBook,
    ErrorBody,
    ErrorCode,
    Event,
    Job,
    Lock,
    LockBody,
    PageEvent,
    RedeemBody,
    RedeemBodyMetadataType0,
    Redemption,
    RedemptionStatus,
    UserBody,
)
from coupon_book_client.types import UNSET


def setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} must name the server to test (scripts/clients.sh test sets it)")
    return value


@pytest.fixture
def client() -> AuthenticatedClient:
    with AuthenticatedClient(
        base_url=setting("COUPON_BOOK_URL"), token=setting("COUPON_BOOK_TOKEN"), raise_on_unexpected_status=True
    ) as client:
        yield client


def test_book_codes_assign_lock_redeem_once_reverse_events(client: AuthenticatedClient) -> None:
    run = uuid.uuid4().hex[:8].upper()
    user = f"py-user-{run}"

    book = create_book.sync(client=client, body=CreateBook(name=f"Python client {run}", status=BookStatus.ACTIVE))
    assert isinstance(book, Book), book
    assert book.status == BookStatus.ACTIVE
    assert book.counts.total == 0

    added = add_codes.sync(
        book.id, client=client, body=AddCodes(codes=[f"py-{run}-1", f"py-{run}-2", f"py-{run}-2", "x"])
    )
    assert isinstance(added, Job), added
    assert (added.inserted, added.duplicates_in_file, added.invalid) == (2, 1, 1)

    coupon = assign_next.sync(book.id, client=client, body=UserBody(user_id=user))
    assert isinstance(coupon, Coupon), coupon
    assert coupon.status == CouponStatus.ASSIGNED
    assert coupon.assigned_to == user
    assert coupon.code == f"PY-{run}-1", "codes are handed out in creation order, upper-cased"

    held = lock.sync(coupon.code, client=client, body=LockBody(user_id=user))
    assert isinstance(held, Lock), held
    assert held.code == coupon.code
    assert held.expires_at > datetime.now(UTC)

    order_key = f"order-{run}"
    metadata = RedeemBodyMetadataType0.from_dict({"order": order_key})
    body = RedeemBody(user_id=user, lock_id=held.lock_id, metadata=metadata)
    first = redeem.sync_detailed(coupon.code, client=client, body=body, idempotency_key=order_key)
    assert first.status_code == 201
    redemption = first.parsed
    assert isinstance(redemption, Redemption), redemption
    assert redemption.status == RedemptionStatus.REDEEMED
    assert redemption.code == coupon.code
    assert redemption.metadata is not None and redemption.metadata.to_dict() == {"order": order_key}

    # A retry with the same key answers the first redemption again.
    replay = redeem.sync(coupon.code, client=client, body=body, idempotency_key=order_key)
    assert isinstance(replay, Redemption), replay
    assert replay.id == redemption.id

    # A new redemption is refused with a typed error.
    second = redeem.sync_detailed(
        coupon.code, client=client, body=RedeemBody(user_id=user), idempotency_key=f"{order_key}-again"
    )
    assert second.status_code == 409
    refusal = second.parsed
    assert isinstance(refusal, ErrorBody), refusal
    assert refusal.error.code is ErrorCode.COUPON_ALREADY_REDEEMED
    assert refusal.error.message

    reversed_ = reverse.sync(redemption.id, client=client)
    assert isinstance(reversed_, Redemption), reversed_
    assert reversed_.status == RedemptionStatus.REVERSED
    assert isinstance(reversed_.reversed_at, datetime)

    after = get_coupon.sync(coupon.code, client=client)
    assert isinstance(after, Coupon), after
    assert after.redemption_count == 0

    # Every change is an event, in order; read them all, page by page.
    events: list[Event] = []
    cursor = UNSET
    for _ in range(100):
        page = list_events.sync(client=client, limit=1000, after=cursor)
        assert isinstance(page, PageEvent), page
        events.extend(page.data)
        if not page.next_cursor or not page.data:
            break
        cursor = page.next_cursor
    ours = [
        event.type_
        for event in events
        if event.data.additional_properties.get("code") == coupon.code
        or event.data.additional_properties.get("id") == book.id
    ]
    for kind in ["book.created", "coupon.assigned", "coupon.locked", "coupon.redeemed", "redemption.reversed"]:
        assert kind in ours, ours
    assert ours.index("coupon.redeemed") < ours.index("redemption.reversed"), ours


def test_unknown_coupon_and_bad_token_are_typed_errors(client: AuthenticatedClient) -> None:
    missing = get_coupon.sync_detailed("NO-SUCH-CODE-404", client=client)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, ErrorBody)
    assert missing.parsed.error.code is ErrorCode.COUPON_NOT_FOUND

    with AuthenticatedClient(base_url=setting("COUPON_BOOK_URL"), token="not-a-key-of-this-server") as stranger:
        refused = get_coupon.sync_detailed("NO-SUCH-CODE-404", client=stranger)
    assert refused.status_code == 401
    assert isinstance(refused.parsed, ErrorBody)
    assert refused.parsed.error.code is ErrorCode.UNAUTHENTICATED
