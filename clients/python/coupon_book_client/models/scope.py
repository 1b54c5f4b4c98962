from enum import StrEnum


class Scope(StrEnum):
    ADMIN = "admin"
    BOOKSREAD = "books:read"
    BOOKSWRITE = "books:write"
    COUPONSASSIGN = "coupons:assign"
    COUPONSREDEEM = "coupons:redeem"
    EVENTSREAD = "events:read"

    def __str__(self) -> str:
        return str(self.value)
