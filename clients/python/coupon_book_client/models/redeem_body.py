from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.order import Order
    from ..models.redeem_body_metadata_type_0 import RedeemBodyMetadataType0


T = TypeVar("T", bound="RedeemBody")


@_attrs_define
class RedeemBody:
    """
    Attributes:
        user_id (str):
        lock_id (None | str | Unset):
        metadata (None | RedeemBodyMetadataType0 | Unset): Free JSON object stored with the redemption (e.g. an order
            id), <= 16 KiB.
        order (None | Order | Unset):
    """

    user_id: str
    lock_id: None | str | Unset = UNSET
    metadata: None | RedeemBodyMetadataType0 | Unset = UNSET
    order: None | Order | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.order import Order
        from ..models.redeem_body_metadata_type_0 import RedeemBodyMetadataType0

        user_id = self.user_id

        lock_id: None | str | Unset
        if isinstance(self.lock_id, Unset):
            lock_id = UNSET
        else:
            lock_id = self.lock_id

        metadata: dict[str, Any] | None | Unset
        if isinstance(self.metadata, Unset):
            metadata = UNSET
        elif isinstance(self.metadata, RedeemBodyMetadataType0):
            metadata = self.metadata.to_dict()
        else:
            metadata = self.metadata

        order: dict[str, Any] | None | Unset
        if isinstance(self.order, Unset):
            order = UNSET
        elif isinstance(self.order, Order):
            order = self.order.to_dict()
        else:
            order = self.order

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "user_id": user_id,
            }
        )
        if lock_id is not UNSET:
            field_dict["lock_id"] = lock_id
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if order is not UNSET:
            field_dict["order"] = order

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.order import Order
        from ..models.redeem_body_metadata_type_0 import RedeemBodyMetadataType0

        d = dict(src_dict)
        user_id = d.pop("user_id")

        def _parse_lock_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        lock_id = _parse_lock_id(d.pop("lock_id", UNSET))

        def _parse_metadata(data: object) -> None | RedeemBodyMetadataType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                metadata_type_0 = RedeemBodyMetadataType0.from_dict(data)

                return metadata_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RedeemBodyMetadataType0 | Unset, data)

        metadata = _parse_metadata(d.pop("metadata", UNSET))

        def _parse_order(data: object) -> None | Order | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                order_type_1 = Order.from_dict(data)

                return order_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Order | Unset, data)

        order = _parse_order(d.pop("order", UNSET))

        redeem_body = cls(
            user_id=user_id,
            lock_id=lock_id,
            metadata=metadata,
            order=order,
        )

        redeem_body.additional_properties = d
        return redeem_body

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
