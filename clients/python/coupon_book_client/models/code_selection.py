from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..models.coupon_status import CouponStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="CodeSelection")


@_attrs_define
class CodeSelection:
    """The codes a bulk void or delete works on: a list, or every code of a status.

    Attributes:
        codes (list[str] | None | Unset): At most 10,000 codes (any case). Give either `codes` or `status`.
        status (CouponStatus | None | Unset):
    """

    codes: list[str] | None | Unset = UNSET
    status: CouponStatus | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        codes: list[str] | None | Unset
        if isinstance(self.codes, Unset):
            codes = UNSET
        elif isinstance(self.codes, list):
            codes = self.codes

        else:
            codes = self.codes

        status: None | str | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        elif isinstance(self.status, CouponStatus):
            status = self.status.value
        else:
            status = self.status

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if codes is not UNSET:
            field_dict["codes"] = codes
        if status is not UNSET:
            field_dict["status"] = status

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_codes(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                codes_type_0 = cast(list[str], data)

                return codes_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        codes = _parse_codes(d.pop("codes", UNSET))

        def _parse_status(data: object) -> CouponStatus | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                status_type_1 = CouponStatus(data)

                return status_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CouponStatus | None | Unset, data)

        status = _parse_status(d.pop("status", UNSET))

        code_selection = cls(
            codes=codes,
            status=status,
        )

        return code_selection
