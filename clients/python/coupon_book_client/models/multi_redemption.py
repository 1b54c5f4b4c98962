from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.discount import Discount
    from ..models.redemption import Redemption


T = TypeVar("T", bound="MultiRedemption")


@_attrs_define
class MultiRedemption:
    """Answer of `POST /v1/redemptions`: every code redeemed, in the order given.

    Attributes:
        redemptions (list[Redemption]):
        total_discount (Discount): What a code takes off an order.
    """

    redemptions: list[Redemption]
    total_discount: Discount
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        redemptions = []
        for redemptions_item_data in self.redemptions:
            redemptions_item = redemptions_item_data.to_dict()
            redemptions.append(redemptions_item)

        total_discount = self.total_discount.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "redemptions": redemptions,
                "total_discount": total_discount,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.discount import Discount
        from ..models.redemption import Redemption

        d = dict(src_dict)
        redemptions = []
        _redemptions = d.pop("redemptions")
        for redemptions_item_data in _redemptions:
            redemptions_item = Redemption.from_dict(redemptions_item_data)

            redemptions.append(redemptions_item)

        total_discount = Discount.from_dict(d.pop("total_discount"))

        multi_redemption = cls(
            redemptions=redemptions,
            total_discount=total_discount,
        )

        multi_redemption.additional_properties = d
        return multi_redemption

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
