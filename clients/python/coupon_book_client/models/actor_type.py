from enum import StrEnum


class ActorType(StrEnum):
    API_KEY = "api_key"
    JWT = "jwt"
    SYSTEM = "system"

    def __str__(self) -> str:
        return str(self.value)
