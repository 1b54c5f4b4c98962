from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="RedemptionBucket")


@_attrs_define
class RedemptionBucket:
    """
    Attributes:
        redeemed (int):
        reversed_ (int):
        start (datetime.datetime):
    """

    redeemed: int
    reversed_: int
    start: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        redeemed = self.redeemed

        reversed_ = self.reversed_

        start = self.start.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "redeemed": redeemed,
                "reversed": reversed_,
                "start": start,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        redeemed = d.pop("redeemed")

        reversed_ = d.pop("reversed")

        start = datetime.datetime.fromisoformat(d.pop("start"))

        redemption_bucket = cls(
            redeemed=redeemed,
            reversed_=reversed_,
            start=start,
        )

        redemption_bucket.additional_properties = d
        return redemption_bucket

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
