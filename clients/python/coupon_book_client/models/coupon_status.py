from enum import StrEnum


class CouponStatus(StrEnum):
    ASSIGNED = "assigned"
    AVAILABLE = "available"
    LOCKED = "locked"
    REDEEMED = "redeemed"
    VOIDED = "voided"

    def __str__(self) -> str:
        return str(self.value)
