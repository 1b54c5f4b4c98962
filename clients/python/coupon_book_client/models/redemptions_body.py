from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.order import Order
    from ..models.redeem_item import RedeemItem


T = TypeVar("T", bound="RedemptionsBody")


@_attrs_define
class RedemptionsBody:
    """
    Attributes:
        items (list[RedeemItem]): 1 to 10 codes, applied in this order; each listed once.
        order (Order): The order a checkout sends: integer minor units of `currency`.
        user_id (str):
    """

    items: list[RedeemItem]
    order: Order
    user_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)

        order = self.order.to_dict()

        user_id = self.user_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "items": items,
                "order": order,
                "user_id": user_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.order import Order
        from ..models.redeem_item import RedeemItem

        d = dict(src_dict)
        items = []
        _items = d.pop("items")
        for items_item_data in _items:
            items_item = RedeemItem.from_dict(items_item_data)

            items.append(items_item)

        order = Order.from_dict(d.pop("order"))

        user_id = d.pop("user_id")

        redemptions_body = cls(
            items=items,
            order=order,
            user_id=user_id,
        )

        redemptions_body.additional_properties = d
        return redemptions_body

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
