from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.code_verdict import CodeVerdict
    from ..models.discount import Discount


T = TypeVar("T", bound="MultiValidation")


@_attrs_define
class MultiValidation:
    """Answer of `POST /v1/validations`.

    Attributes:
        results (list[CodeVerdict]):
        total_discount (Discount): What a code takes off an order.
        valid (bool): Whether every code is valid on this order.
    """

    results: list[CodeVerdict]
    total_discount: Discount
    valid: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        results = []
        for results_item_data in self.results:
            results_item = results_item_data.to_dict()
            results.append(results_item)

        total_discount = self.total_discount.to_dict()

        valid = self.valid

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "results": results,
                "total_discount": total_discount,
                "valid": valid,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.code_verdict import CodeVerdict
        from ..models.discount import Discount

        d = dict(src_dict)
        results = []
        _results = d.pop("results")
        for results_item_data in _results:
            results_item = CodeVerdict.from_dict(results_item_data)

            results.append(results_item)

        total_discount = Discount.from_dict(d.pop("total_discount"))

        valid = d.pop("valid")

        multi_validation = cls(
            results=results,
            total_discount=total_discount,
            valid=valid,
        )

        multi_validation.additional_properties = d
        return multi_validation

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
