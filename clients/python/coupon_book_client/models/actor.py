from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.actor_type import ActorType

T = TypeVar("T", bound="Actor")


@_attrs_define
class Actor:
    """The actor of an event (and the starter of a job).

    `system` changes name the work that made them: `lock_expiry` for the sweep of
    expired locks, the job id for a job's work (the job's `started_by` says who started
    it), `cli` for the command line. Events stored before actors were recorded read as
    `{"type": "system", "id": null}`: their actor is unknown.

        Attributes:
            id (None | str): The API key id, the JWT's `sub`, or the system work's name; null when unknown.
            type_ (ActorType): Who made a change: an API key, a JWT's subject, or the service itself.
    """

    id: None | str
    type_: ActorType
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id: None | str
        id = self.id

        type_ = self.type_.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "type": type_,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        id = _parse_id(d.pop("id"))

        type_ = ActorType(d.pop("type"))

        actor = cls(
            id=id,
            type_=type_,
        )

        actor.additional_properties = d
        return actor

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
