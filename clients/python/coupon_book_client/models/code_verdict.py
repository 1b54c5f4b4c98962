from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.error_code import ErrorCode
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.discount import Discount


T = TypeVar("T", bound="CodeVerdict")


@_attrs_define
class CodeVerdict:
    """One code's answer on a multi-code order.

    Attributes:
        code (str):
        reasons (list[ErrorCode]): Every rule it breaks, in precedence order (`not_combinable` last).
        valid (bool):
        discount (Discount | None | Unset):
        reason (ErrorCode | None | Unset):
    """

    code: str
    reasons: list[ErrorCode]
    valid: bool
    discount: Discount | None | Unset = UNSET
    reason: ErrorCode | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.discount import Discount

        code = self.code

        reasons = []
        for reasons_item_data in self.reasons:
            reasons_item = reasons_item_data.value
            reasons.append(reasons_item)

        valid = self.valid

        discount: dict[str, Any] | None | Unset
        if isinstance(self.discount, Unset):
            discount = UNSET
        elif isinstance(self.discount, Discount):
            discount = self.discount.to_dict()
        else:
            discount = self.discount

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
                "code": code,
                "reasons": reasons,
                "valid": valid,
            }
        )
        if discount is not UNSET:
            field_dict["discount"] = discount
        if reason is not UNSET:
            field_dict["reason"] = reason

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.discount import Discount

        d = dict(src_dict)
        code = d.pop("code")

        reasons = []
        _reasons = d.pop("reasons")
        for reasons_item_data in _reasons:
            reasons_item = ErrorCode(reasons_item_data)

            reasons.append(reasons_item)

        valid = d.pop("valid")

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

        code_verdict = cls(
            code=code,
            reasons=reasons,
            valid=valid,
            discount=discount,
            reason=reason,
        )

        code_verdict.additional_properties = d
        return code_verdict

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
