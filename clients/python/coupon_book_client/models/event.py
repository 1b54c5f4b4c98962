from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.actor import Actor
    from ..models.event_data import EventData


T = TypeVar("T", bound="Event")


@_attrs_define
class Event:
    """
    Attributes:
        actor (Actor): The actor of an event (and the starter of a job).

            `system` changes name the work that made them: `lock_expiry` for the sweep of
            expired locks, the job id for a job's work (the job's `started_by` says who started
            it), `cli` for the command line. Events stored before actors were recorded read as
            `{"type": "system", "id": null}`: their actor is unknown.
        created_at (datetime.datetime):
        data (EventData): The object after the change: a Book, a Coupon or a Redemption.
        id (str):
        type_ (str):
    """

    actor: Actor
    created_at: datetime.datetime
    data: EventData
    id: str
    type_: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        actor = self.actor.to_dict()

        created_at = self.created_at.isoformat()

        data = self.data.to_dict()

        id = self.id

        type_ = self.type_

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "actor": actor,
                "created_at": created_at,
                "data": data,
                "id": id,
                "type": type_,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.actor import Actor
        from ..models.event_data import EventData

        d = dict(src_dict)
        actor = Actor.from_dict(d.pop("actor"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        data = EventData.from_dict(d.pop("data"))

        id = d.pop("id")

        type_ = d.pop("type")

        event = cls(
            actor=actor,
            created_at=created_at,
            data=data,
            id=id,
            type_=type_,
        )

        event.additional_properties = d
        return event

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
