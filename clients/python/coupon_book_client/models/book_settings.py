from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.book_status import BookStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.book_settings_code_pattern_type_0 import BookSettingsCodePatternType0
    from ..models.book_settings_metadata import BookSettingsMetadata
    from ..models.reward import Reward


T = TypeVar("T", bound="BookSettings")


@_attrs_define
class BookSettings:
    """Everything about a book that its owner sets.

    Attributes:
        lock_ttl_seconds (int):
        metadata (BookSettingsMetadata):
        name (str):
        requires_assignment (bool): When true, only the assigned user may lock or redeem a code.
        status (BookStatus):
        code_pattern (BookSettingsCodePatternType0 | None | Unset): Default pattern for code generation.
        combinable (bool | Unset): Whether its codes may share an order with other codes (`POST /v1/validations`).
        description (None | str | Unset):
        max_coupons_per_user (int | None | Unset): Codes one user may be assigned in this book; null = unlimited.
        max_redemptions_per_coupon (int | None | Unset): Redemptions each code allows; null = unlimited.
        max_redemptions_per_user (int | None | Unset): Redemptions one user may make in this book; null = unlimited.
        max_total_redemptions (int | None | Unset): Redemptions across all codes of the book; null = unlimited.
        reward (None | Reward | Unset):
        valid_from (datetime.datetime | None | Unset):
        valid_until (datetime.datetime | None | Unset):
    """

    lock_ttl_seconds: int
    metadata: BookSettingsMetadata
    name: str
    requires_assignment: bool
    status: BookStatus
    code_pattern: BookSettingsCodePatternType0 | None | Unset = UNSET
    combinable: bool | Unset = UNSET
    description: None | str | Unset = UNSET
    max_coupons_per_user: int | None | Unset = UNSET
    max_redemptions_per_coupon: int | None | Unset = UNSET
    max_redemptions_per_user: int | None | Unset = UNSET
    max_total_redemptions: int | None | Unset = UNSET
    reward: None | Reward | Unset = UNSET
    valid_from: datetime.datetime | None | Unset = UNSET
    valid_until: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.book_settings_code_pattern_type_0 import BookSettingsCodePatternType0
        from ..models.reward import Reward

        lock_ttl_seconds = self.lock_ttl_seconds

        metadata = self.metadata.to_dict()

        name = self.name

        requires_assignment = self.requires_assignment

        status = self.status.value

        code_pattern: dict[str, Any] | None | Unset
        if isinstance(self.code_pattern, Unset):
            code_pattern = UNSET
        elif isinstance(self.code_pattern, BookSettingsCodePatternType0):
            code_pattern = self.code_pattern.to_dict()
        else:
            code_pattern = self.code_pattern

        combinable = self.combinable

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        max_coupons_per_user: int | None | Unset
        if isinstance(self.max_coupons_per_user, Unset):
            max_coupons_per_user = UNSET
        else:
            max_coupons_per_user = self.max_coupons_per_user

        max_redemptions_per_coupon: int | None | Unset
        if isinstance(self.max_redemptions_per_coupon, Unset):
            max_redemptions_per_coupon = UNSET
        else:
            max_redemptions_per_coupon = self.max_redemptions_per_coupon

        max_redemptions_per_user: int | None | Unset
        if isinstance(self.max_redemptions_per_user, Unset):
            max_redemptions_per_user = UNSET
        else:
            max_redemptions_per_user = self.max_redemptions_per_user

        max_total_redemptions: int | None | Unset
        if isinstance(self.max_total_redemptions, Unset):
            max_total_redemptions = UNSET
        else:
            max_total_redemptions = self.max_total_redemptions

        reward: dict[str, Any] | None | Unset
        if isinstance(self.reward, Unset):
            reward = UNSET
        elif isinstance(self.reward, Reward):
            reward = self.reward.to_dict()
        else:
            reward = self.reward

        valid_from: None | str | Unset
        if isinstance(self.valid_from, Unset):
            valid_from = UNSET
        elif isinstance(self.valid_from, datetime.datetime):
            valid_from = self.valid_from.isoformat()
        else:
            valid_from = self.valid_from

        valid_until: None | str | Unset
        if isinstance(self.valid_until, Unset):
            valid_until = UNSET
        elif isinstance(self.valid_until, datetime.datetime):
            valid_until = self.valid_until.isoformat()
        else:
            valid_until = self.valid_until

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "lock_ttl_seconds": lock_ttl_seconds,
                "metadata": metadata,
                "name": name,
                "requires_assignment": requires_assignment,
                "status": status,
            }
        )
        if code_pattern is not UNSET:
            field_dict["code_pattern"] = code_pattern
        if combinable is not UNSET:
            field_dict["combinable"] = combinable
        if description is not UNSET:
            field_dict["description"] = description
        if max_coupons_per_user is not UNSET:
            field_dict["max_coupons_per_user"] = max_coupons_per_user
        if max_redemptions_per_coupon is not UNSET:
            field_dict["max_redemptions_per_coupon"] = max_redemptions_per_coupon
        if max_redemptions_per_user is not UNSET:
            field_dict["max_redemptions_per_user"] = max_redemptions_per_user
        if max_total_redemptions is not UNSET:
            field_dict["max_total_redemptions"] = max_total_redemptions
        if reward is not UNSET:
            field_dict["reward"] = reward
        if valid_from is not UNSET:
            field_dict["valid_from"] = valid_from
        if valid_until is not UNSET:
            field_dict["valid_until"] = valid_until

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.book_settings_code_pattern_type_0 import BookSettingsCodePatternType0
        from ..models.book_settings_metadata import BookSettingsMetadata
        from ..models.reward import Reward

        d = dict(src_dict)
        lock_ttl_seconds = d.pop("lock_ttl_seconds")

        metadata = BookSettingsMetadata.from_dict(d.pop("metadata"))

        name = d.pop("name")

        requires_assignment = d.pop("requires_assignment")

        status = BookStatus(d.pop("status"))

        def _parse_code_pattern(data: object) -> BookSettingsCodePatternType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                code_pattern_type_0 = BookSettingsCodePatternType0.from_dict(data)

                return code_pattern_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(BookSettingsCodePatternType0 | None | Unset, data)

        code_pattern = _parse_code_pattern(d.pop("code_pattern", UNSET))

        combinable = d.pop("combinable", UNSET)

        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))

        def _parse_max_coupons_per_user(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_coupons_per_user = _parse_max_coupons_per_user(d.pop("max_coupons_per_user", UNSET))

        def _parse_max_redemptions_per_coupon(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_redemptions_per_coupon = _parse_max_redemptions_per_coupon(d.pop("max_redemptions_per_coupon", UNSET))

        def _parse_max_redemptions_per_user(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_redemptions_per_user = _parse_max_redemptions_per_user(d.pop("max_redemptions_per_user", UNSET))

        def _parse_max_total_redemptions(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_total_redemptions = _parse_max_total_redemptions(d.pop("max_total_redemptions", UNSET))

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

        def _parse_valid_from(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                valid_from_type_1 = datetime.datetime.fromisoformat(data)

                return valid_from_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        valid_from = _parse_valid_from(d.pop("valid_from", UNSET))

        def _parse_valid_until(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                valid_until_type_1 = datetime.datetime.fromisoformat(data)

                return valid_until_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        valid_until = _parse_valid_until(d.pop("valid_until", UNSET))

        book_settings = cls(
            lock_ttl_seconds=lock_ttl_seconds,
            metadata=metadata,
            name=name,
            requires_assignment=requires_assignment,
            status=status,
            code_pattern=code_pattern,
            combinable=combinable,
            description=description,
            max_coupons_per_user=max_coupons_per_user,
            max_redemptions_per_coupon=max_redemptions_per_coupon,
            max_redemptions_per_user=max_redemptions_per_user,
            max_total_redemptions=max_total_redemptions,
            reward=reward,
            valid_from=valid_from,
            valid_until=valid_until,
        )

        book_settings.additional_properties = d
        return book_settings

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
