from enum import StrEnum


class EventType(StrEnum):
    BOOK_CODES_ADDED = "book.codes_added"
    BOOK_CREATED = "book.created"
    BOOK_DELETED = "book.deleted"
    BOOK_EXHAUSTED = "book.exhausted"
    BOOK_UPDATED = "book.updated"
    COUPON_ASSIGNED = "coupon.assigned"
    COUPON_DELETED = "coupon.deleted"
    COUPON_LOCKED = "coupon.locked"
    COUPON_LOCK_EXPIRED = "coupon.lock_expired"
    COUPON_REDEEMED = "coupon.redeemed"
    COUPON_UNASSIGNED = "coupon.unassigned"
    COUPON_UNLOCKED = "coupon.unlocked"
    COUPON_UPDATED = "coupon.updated"
    COUPON_VOIDED = "coupon.voided"
    REDEMPTION_REVERSED = "redemption.reversed"

    def __str__(self) -> str:
        return str(self.value)
