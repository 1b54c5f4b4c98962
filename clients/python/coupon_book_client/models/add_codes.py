from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.code_with_details import CodeWithDetails


T = TypeVar("T", bound="AddCodes")


@_attrs_define
class AddCodes:
    """
    Attributes:
        codes (list[CodeWithDetails | str]): At most 10,000 codes; any case, stored upper-case. Each is a string, or an
            object with the code's own `starts_at`, `expires_at`, `metadata` and `reward`.
    """

    codes: list[CodeWithDetails | str]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.code_with_details import CodeWithDetails

        codes = []
        for codes_item_data in self.codes:
            codes_item: dict[str, Any] | str
            if isinstance(codes_item_data, CodeWithDetails):
                codes_item = codes_item_data.to_dict()
            else:
                codes_item = codes_item_data
            codes.append(codes_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "codes": codes,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.code_with_details import CodeWithDetails

        d = dict(src_dict)
        codes = []
        _codes = d.pop("codes")
        for codes_item_data in _codes:

            def _parse_codes_item(data: object) -> CodeWithDetails | str:
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_code_input_type_1 = CodeWithDetails.from_dict(data)

                    return componentsschemas_code_input_type_1
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                return cast(CodeWithDetails | str, data)

            codes_item = _parse_codes_item(codes_item_data)

            codes.append(codes_item)

        add_codes = cls(
            codes=codes,
        )

        add_codes.additional_properties = d
        return add_codes

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
