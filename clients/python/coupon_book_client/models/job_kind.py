from enum import StrEnum


class JobKind(StrEnum):
    GENERATE = "generate"
    UPLOAD = "upload"

    def __str__(self) -> str:
        return str(self.value)
