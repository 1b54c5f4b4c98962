from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Counts")


@_attrs_define
class Counts:
    """Code counts by status.

    Attributes:
        assigned (int):
        available (int):
        locked (int):
        redeemed (int):
        total (int):
        voided (int):
    """

    assigned: int
    available: int
    locked: int
    redeemed: int
    total: int
    voided: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        assigned = self.assigned

        available = self.available

        locked = self.locked

        redeemed = self.redeemed

        total = self.total

        voided = self.voided

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "assigned": assigned,
                "available": available,
                "locked": locked,
                "redeemed": redeemed,
                "total": total,
                "voided": voided,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        assigned = d.pop("assigned")

        available = d.pop("available")

        locked = d.pop("locked")

        redeemed = d.pop("redeemed")

        total = d.pop("total")

        voided = d.pop("voided")

        counts = cls(
            assigned=assigned,
            available=available,
            locked=locked,
            redeemed=redeemed,
            total=total,
            voided=voided,
        )

        counts.additional_properties = d
        return counts

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
