from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.reward_kind import RewardKind
from ..types import UNSET, Unset

T = TypeVar("T", bound="Reward")


@_attrs_define
class Reward:
    """What a code is worth (OpenAPI shape of `Reward`).

    Attributes:
        type_ (RewardKind): What kind of value a reward gives.
        amount_off (int | None | Unset): amount_off only: minor units (cents), > 0.
        applies_to_skus (list[str] | None | Unset): The discount base is the matching order items only.
        currency (None | str | Unset): ISO 4217, upper case; required with amount_off, max_discount, min_order_amount.
        label (None | str | Unset): Free text for receipts, <= 200 characters.
        max_discount (int | None | Unset): percent_off only: the most it takes off, minor units.
        min_order_amount (int | None | Unset): An order below this amount fails with `order_below_minimum`.
        percent_off (float | None | Unset): percent_off only: 0 < x <= 100, at most 2 decimals.
    """

    type_: RewardKind
    amount_off: int | None | Unset = UNSET
    applies_to_skus: list[str] | None | Unset = UNSET
    currency: None | str | Unset = UNSET
    label: None | str | Unset = UNSET
    max_discount: int | None | Unset = UNSET
    min_order_amount: int | None | Unset = UNSET
    percent_off: float | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_.value

        amount_off: int | None | Unset
        if isinstance(self.amount_off, Unset):
            amount_off = UNSET
        else:
            amount_off = self.amount_off

        applies_to_skus: list[str] | None | Unset
        if isinstance(self.applies_to_skus, Unset):
            applies_to_skus = UNSET
        elif isinstance(self.applies_to_skus, list):
            applies_to_skus = self.applies_to_skus

        else:
            applies_to_skus = self.applies_to_skus

        currency: None | str | Unset
        if isinstance(self.currency, Unset):
            currency = UNSET
        else:
            currency = self.currency

        label: None | str | Unset
        if isinstance(self.label, Unset):
            label = UNSET
        else:
            label = self.label

        max_discount: int | None | Unset
        if isinstance(self.max_discount, Unset):
            max_discount = UNSET
        else:
            max_discount = self.max_discount

        min_order_amount: int | None | Unset
        if isinstance(self.min_order_amount, Unset):
            min_order_amount = UNSET
        else:
            min_order_amount = self.min_order_amount

        percent_off: float | None | Unset
        if isinstance(self.percent_off, Unset):
            percent_off = UNSET
        else:
            percent_off = self.percent_off

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
            }
        )
        if amount_off is not UNSET:
            field_dict["amount_off"] = amount_off
        if applies_to_skus is not UNSET:
            field_dict["applies_to_skus"] = applies_to_skus
        if currency is not UNSET:
            field_dict["currency"] = currency
        if label is not UNSET:
            field_dict["label"] = label
        if max_discount is not UNSET:
            field_dict["max_discount"] = max_discount
        if min_order_amount is not UNSET:
            field_dict["min_order_amount"] = min_order_amount
        if percent_off is not UNSET:
            field_dict["percent_off"] = percent_off

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        type_ = RewardKind(d.pop("type"))

        def _parse_amount_off(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        amount_off = _parse_amount_off(d.pop("amount_off", UNSET))

        def _parse_applies_to_skus(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                applies_to_skus_type_0 = cast(list[str], data)

                return applies_to_skus_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        applies_to_skus = _parse_applies_to_skus(d.pop("applies_to_skus", UNSET))

        def _parse_currency(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        currency = _parse_currency(d.pop("currency", UNSET))

        def _parse_label(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        label = _parse_label(d.pop("label", UNSET))

        def _parse_max_discount(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_discount = _parse_max_discount(d.pop("max_discount", UNSET))

        def _parse_min_order_amount(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        min_order_amount = _parse_min_order_amount(d.pop("min_order_amount", UNSET))

        def _parse_percent_off(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        percent_off = _parse_percent_off(d.pop("percent_off", UNSET))

        reward = cls(
            type_=type_,
            amount_off=amount_off,
            applies_to_skus=applies_to_skus,
            currency=currency,
            label=label,
            max_discount=max_discount,
            min_order_amount=min_order_amount,
            percent_off=percent_off,
        )

        reward.additional_properties = d
        return reward

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
