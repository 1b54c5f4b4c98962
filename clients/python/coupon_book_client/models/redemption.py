from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.redemption_status import RedemptionStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.discount import Discount
    from ..models.redemption_metadata_type_0 import RedemptionMetadataType0


T = TypeVar("T", bound="Redemption")


@_attrs_define
class Redemption:
    """
    Attributes:
        book_id (str):
        code (str):
        id (str):
        redeemed_at (datetime.datetime):
        status (RedemptionStatus):
        user_id (str):
        currency (None | str | Unset):
        discount (Discount | None | Unset):
        metadata (None | RedemptionMetadataType0 | Unset):
        order_amount (int | None | Unset):
        order_id (None | str | Unset): The order it was redeemed on, as it was then (null without an order).
        reversed_at (datetime.datetime | None | Unset):
    """

    book_id: str
    code: str
    id: str
    redeemed_at: datetime.datetime
    status: RedemptionStatus
    user_id: str
    currency: None | str | Unset = UNSET
    discount: Discount | None | Unset = UNSET
    metadata: None | RedemptionMetadataType0 | Unset = UNSET
    order_amount: int | None | Unset = UNSET
    order_id: None | str | Unset = UNSET
    reversed_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.discount import Discount
        from ..models.redemption_metadata_type_0 import RedemptionMetadataType0

        book_id = self.book_id

        code = self.code

        id = self.id

        redeemed_at = self.redeemed_at.isoformat()

        status = self.status.value

        user_id = self.user_id

        currency: None | str | Unset
        if isinstance(self.currency, Unset):
            currency = UNSET
        else:
            currency = self.currency

        discount: dict[str, Any] | None | Unset
        if isinstance(self.discount, Unset):
            discount = UNSET
        elif isinstance(self.discount, Discount):
            discount = self.discount.to_dict()
        else:
            discount = self.discount

        metadata: dict[str, Any] | None | Unset
        if isinstance(self.metadata, Unset):
            metadata = UNSET
        elif isinstance(self.metadata, RedemptionMetadataType0):
            metadata = self.metadata.to_dict()
        else:
            metadata = self.metadata

        order_amount: int | None | Unset
        if isinstance(self.order_amount, Unset):
            order_amount = UNSET
        else:
            order_amount = self.order_amount

        order_id: None | str | Unset
        if isinstance(self.order_id, Unset):
            order_id = UNSET
        else:
            order_id = self.order_id

        reversed_at: None | str | Unset
        if isinstance(self.reversed_at, Unset):
            reversed_at = UNSET
        elif isinstance(self.reversed_at, datetime.datetime):
            reversed_at = self.reversed_at.isoformat()
        else:
            reversed_at = self.reversed_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "book_id": book_id,
                "code": code,
                "id": id,
                "redeemed_at": redeemed_at,
                "status": status,
                "user_id": user_id,
            }
        )
        if currency is not UNSET:
            field_dict["currency"] = currency
        if discount is not UNSET:
            field_dict["discount"] = discount
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if order_amount is not UNSET:
            field_dict["order_amount"] = order_amount
        if order_id is not UNSET:
            field_dict["order_id"] = order_id
        if reversed_at is not UNSET:
            field_dict["reversed_at"] = reversed_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.discount import Discount
        from ..models.redemption_metadata_type_0 import RedemptionMetadataType0

        d = dict(src_dict)
        book_id = d.pop("book_id")

        code = d.pop("code")

        id = d.pop("id")

        redeemed_at = datetime.datetime.fromisoformat(d.pop("redeemed_at"))

        status = RedemptionStatus(d.pop("status"))

        user_id = d.pop("user_id")

        def _parse_currency(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        currency = _parse_currency(d.pop("currency", UNSET))

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

        def _parse_metadata(data: object) -> None | RedemptionMetadataType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                metadata_type_0 = RedemptionMetadataType0.from_dict(data)

                return metadata_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RedemptionMetadataType0 | Unset, data)

        metadata = _parse_metadata(d.pop("metadata", UNSET))

        def _parse_order_amount(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        order_amount = _parse_order_amount(d.pop("order_amount", UNSET))

        def _parse_order_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        order_id = _parse_order_id(d.pop("order_id", UNSET))

        def _parse_reversed_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                reversed_at_type_1 = datetime.datetime.fromisoformat(data)

                return reversed_at_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        reversed_at = _parse_reversed_at(d.pop("reversed_at", UNSET))

        redemption = cls(
            book_id=book_id,
            code=code,
            id=id,
            redeemed_at=redeemed_at,
            status=status,
            user_id=user_id,
            currency=currency,
            discount=discount,
            metadata=metadata,
            order_amount=order_amount,
            order_id=order_id,
            reversed_at=reversed_at,
        )

        redemption.additional_properties = d
        return redemption

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
