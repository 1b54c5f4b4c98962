from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.discount import Discount


T = TypeVar("T", bound="Lock")


@_attrs_define
class Lock:
    """
    Attributes:
        code (str):
        expires_at (datetime.datetime):
        lock_id (str):
        user_id (str):
        discount (Discount | None | Unset):
    """

    code: str
    expires_at: datetime.datetime
    lock_id: str
    user_id: str
    discount: Discount | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.discount import Discount

        code = self.code

        expires_at = self.expires_at.isoformat()

        lock_id = self.lock_id

        user_id = self.user_id

        discount: dict[str, Any] | None | Unset
        if isinstance(self.discount, Unset):
            discount = UNSET
        elif isinstance(self.discount, Discount):
            discount = self.discount.to_dict()
        else:
            discount = self.discount

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "code": code,
                "expires_at": expires_at,
                "lock_id": lock_id,
                "user_id": user_id,
            }
        )
        if discount is not UNSET:
            field_dict["discount"] = discount

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.discount import Discount

        d = dict(src_dict)
        code = d.pop("code")

        expires_at = datetime.datetime.fromisoformat(d.pop("expires_at"))

        lock_id = d.pop("lock_id")

        user_id = d.pop("user_id")

        def _parse_discount(data: object) -> Discount | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                discount_type_1 = Discount.from_dict(data)

                return discount_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Discount | None | Unset, data)

        discount = _parse_discount(d.pop("discount", UNSET))

        lock = cls(
            code=code,
            expires_at=expires_at,
            lock_id=lock_id,
            user_id=user_id,
            discount=discount,
        )

        lock.additional_properties = d
        return lock

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
