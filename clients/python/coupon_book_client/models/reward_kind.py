from enum import StrEnum


class RewardKind(StrEnum):
    AMOUNT_OFF = "amount_off"
    CUSTOM = "custom"
    FREE_SHIPPING = "free_shipping"
    PERCENT_OFF = "percent_off"

    def __str__(self) -> str:
        return str(self.value)
