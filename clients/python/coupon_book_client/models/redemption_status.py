from enum import StrEnum


class RedemptionStatus(StrEnum):
    REDEEMED = "redeemed"
    REVERSED = "reversed"

    def __str__(self) -> str:
        return str(self.value)
