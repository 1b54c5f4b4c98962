from enum import StrEnum


class JobKind(StrEnum):
    ASSIGN = "assign"
    DELETE = "delete"
    GENERATE = "generate"
    UPLOAD = "upload"
    VOID = "void"

    def __str__(self) -> str:
        return str(self.value)
