from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="RedeemItem")


@_attrs_define
class RedeemItem:
    """One code of `POST /v1/redemptions`.

    Attributes:
        code (str):
        lock_id (None | str | Unset): The user's live lock on it, consumed by the redemption.
    """

    code: str
    lock_id: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        code = self.code

        lock_id: None | str | Unset
        if isinstance(self.lock_id, Unset):
            lock_id = UNSET
        else:
            lock_id = self.lock_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "code": code,
            }
        )
        if lock_id is not UNSET:
            field_dict["lock_id"] = lock_id

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        code = d.pop("code")

        def _parse_lock_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        lock_id = _parse_lock_id(d.pop("lock_id", UNSET))

        redeem_item = cls(
            code=code,
            lock_id=lock_id,
        )

        redeem_item.additional_properties = d
        return redeem_item

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
