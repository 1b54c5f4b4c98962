from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.error_code import ErrorCode
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.coupon import Coupon


T = TypeVar("T", bound="Validation")


@_attrs_define
class Validation:
    """Answer of `validate`: whether the user could redeem the code now.

    Attributes:
        coupon (Coupon): A coupon's state. An end-user token (scope `coupons:redeem` alone) gets it
            redacted: `assigned_to` and `locked_until` are null unless the coupon is assigned to
            that user, so no answer carries another user's id or activity.
        valid (bool):
        reason (ErrorCode | None | Unset):
    """

    coupon: Coupon
    valid: bool
    reason: ErrorCode | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        coupon = self.coupon.to_dict()

        valid = self.valid

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        elif isinstance(self.reason, ErrorCode):
            reason = self.reason.value
        else:
            reason = self.reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "coupon": coupon,
                "valid": valid,
            }
        )
        if reason is not UNSET:
            field_dict["reason"] = reason

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.coupon import Coupon

        d = dict(src_dict)
        coupon = Coupon.from_dict(d.pop("coupon"))

        valid = d.pop("valid")

        def _parse_reason(data: object) -> ErrorCode | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                reason_type_1 = ErrorCode(data)

                return reason_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ErrorCode | None | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))

        validation = cls(
            coupon=coupon,
            valid=valid,
            reason=reason,
        )

        validation.additional_properties = d
        return validation

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
