from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.error_code import ErrorCode
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.coupon import Coupon
    from ..models.discount import Discount
    from ..models.reward import Reward


T = TypeVar("T", bound="Validation")


@_attrs_define
class Validation:
    """Answer of `validate`: whether the user could redeem the code now.

    Attributes:
        coupon (Coupon): A coupon's state. An end-user token (scope `coupons:redeem` alone) gets it
            redacted: `assigned_to` and `locked_until` are null unless the coupon is assigned to
            that user, so no answer carries another user's id or activity.
        reasons (list[ErrorCode]): Every rule a redemption would break now, in precedence order.
        valid (bool):
        discount (Discount | None | Unset):
        reason (ErrorCode | None | Unset):
        reward (None | Reward | Unset):
    """

    coupon: Coupon
    reasons: list[ErrorCode]
    valid: bool
    discount: Discount | None | Unset = UNSET
    reason: ErrorCode | None | Unset = UNSET
    reward: None | Reward | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.discount import Discount
        from ..models.reward import Reward

        coupon = self.coupon.to_dict()

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

        reward: dict[str, Any] | None | Unset
        if isinstance(self.reward, Unset):
            reward = UNSET
        elif isinstance(self.reward, Reward):
            reward = self.reward.to_dict()
        else:
            reward = self.reward

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "coupon": coupon,
                "reasons": reasons,
                "valid": valid,
            }
        )
        if discount is not UNSET:
            field_dict["discount"] = discount
        if reason is not UNSET:
            field_dict["reason"] = reason
        if reward is not UNSET:
            field_dict["reward"] = reward

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.coupon import Coupon
        from ..models.discount import Discount
        from ..models.reward import Reward

        d = dict(src_dict)
        coupon = Coupon.from_dict(d.pop("coupon"))

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

        def _parse_reward(data: object) -> None | Reward | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                reward_type_1 = Reward.from_dict(data)

                return reward_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Reward | Unset, data)

        reward = _parse_reward(d.pop("reward", UNSET))

        validation = cls(
            coupon=coupon,
            reasons=reasons,
            valid=valid,
            discount=discount,
            reason=reason,
            reward=reward,
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
