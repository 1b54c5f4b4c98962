from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.book_status import BookStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.create_book_code_pattern_type_0 import CreateBookCodePatternType0
    from ..models.create_book_metadata_type_0 import CreateBookMetadataType0
    from ..models.reward import Reward


T = TypeVar("T", bound="CreateBook")


@_attrs_define
class CreateBook:
    """Body of `POST /v1/books`.

    Attributes:
        name (str):
        code_pattern (CreateBookCodePatternType0 | None | Unset):
        combinable (bool | None | Unset): Default false.
        description (None | str | Unset):
        lock_ttl_seconds (int | None | Unset):  Default: 300.
        max_coupons_per_user (int | None | Unset):
        max_redemptions_per_coupon (int | None | Unset): Default 1; null = unlimited. Default: 1.
        max_redemptions_per_user (int | None | Unset):
        max_total_redemptions (int | None | Unset):
        metadata (CreateBookMetadataType0 | None | Unset):
        requires_assignment (bool | None | Unset):  Default: True.
        reward (None | Reward | Unset):
        status (BookStatus | None | Unset):
        valid_from (datetime.datetime | None | Unset):
        valid_until (datetime.datetime | None | Unset):
    """

    name: str
    code_pattern: CreateBookCodePatternType0 | None | Unset = UNSET
    combinable: bool | None | Unset = UNSET
    description: None | str | Unset = UNSET
    lock_ttl_seconds: int | None | Unset = 300
    max_coupons_per_user: int | None | Unset = UNSET
    max_redemptions_per_coupon: int | None | Unset = 1
    max_redemptions_per_user: int | None | Unset = UNSET
    max_total_redemptions: int | None | Unset = UNSET
    metadata: CreateBookMetadataType0 | None | Unset = UNSET
    requires_assignment: bool | None | Unset = True
    reward: None | Reward | Unset = UNSET
    status: BookStatus | None | Unset = UNSET
    valid_from: datetime.datetime | None | Unset = UNSET
    valid_until: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.create_book_code_pattern_type_0 import CreateBookCodePatternType0
        from ..models.create_book_metadata_type_0 import CreateBookMetadataType0
        from ..models.reward import Reward

        name = self.name

        code_pattern: dict[str, Any] | None | Unset
        if isinstance(self.code_pattern, Unset):
            code_pattern = UNSET
        elif isinstance(self.code_pattern, CreateBookCodePatternType0):
            code_pattern = self.code_pattern.to_dict()
        else:
            code_pattern = self.code_pattern

        combinable: bool | None | Unset
        if isinstance(self.combinable, Unset):
            combinable = UNSET
        else:
            combinable = self.combinable

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        lock_ttl_seconds: int | None | Unset
        if isinstance(self.lock_ttl_seconds, Unset):
            lock_ttl_seconds = UNSET
        else:
            lock_ttl_seconds = self.lock_ttl_seconds

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

        metadata: dict[str, Any] | None | Unset
        if isinstance(self.metadata, Unset):
            metadata = UNSET
        elif isinstance(self.metadata, CreateBookMetadataType0):
            metadata = self.metadata.to_dict()
        else:
            metadata = self.metadata

        requires_assignment: bool | None | Unset
        if isinstance(self.requires_assignment, Unset):
            requires_assignment = UNSET
        else:
            requires_assignment = self.requires_assignment

        reward: dict[str, Any] | None | Unset
        if isinstance(self.reward, Unset):
            reward = UNSET
        elif isinstance(self.reward, Reward):
            reward = self.reward.to_dict()
        else:
            reward = self.reward

        status: None | str | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        elif isinstance(self.status, BookStatus):
            status = self.status.value
        else:
            status = self.status

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
                "name": name,
            }
        )
        if code_pattern is not UNSET:
            field_dict["code_pattern"] = code_pattern
        if combinable is not UNSET:
            field_dict["combinable"] = combinable
        if description is not UNSET:
            field_dict["description"] = description
        if lock_ttl_seconds is not UNSET:
            field_dict["lock_ttl_seconds"] = lock_ttl_seconds
        if max_coupons_per_user is not UNSET:
            field_dict["max_coupons_per_user"] = max_coupons_per_user
        if max_redemptions_per_coupon is not UNSET:
            field_dict["max_redemptions_per_coupon"] = max_redemptions_per_coupon
        if max_redemptions_per_user is not UNSET:
            field_dict["max_redemptions_per_user"] = max_redemptions_per_user
        if max_total_redemptions is not UNSET:
            field_dict["max_total_redemptions"] = max_total_redemptions
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if requires_assignment is not UNSET:
            field_dict["requires_assignment"] = requires_assignment
        if reward is not UNSET:
            field_dict["reward"] = reward
        if status is not UNSET:
            field_dict["status"] = status
        if valid_from is not UNSET:
            field_dict["valid_from"] = valid_from
        if valid_until is not UNSET:
            field_dict["valid_until"] = valid_until

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.create_book_code_pattern_type_0 import CreateBookCodePatternType0
        from ..models.create_book_metadata_type_0 import CreateBookMetadataType0
        from ..models.reward import Reward

        d = dict(src_dict)
        name = d.pop("name")

        def _parse_code_pattern(data: object) -> CreateBookCodePatternType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                code_pattern_type_0 = CreateBookCodePatternType0.from_dict(data)

                return code_pattern_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CreateBookCodePatternType0 | None | Unset, data)

        code_pattern = _parse_code_pattern(d.pop("code_pattern", UNSET))

        def _parse_combinable(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        combinable = _parse_combinable(d.pop("combinable", UNSET))

        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))

        def _parse_lock_ttl_seconds(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        lock_ttl_seconds = _parse_lock_ttl_seconds(d.pop("lock_ttl_seconds", UNSET))

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

        def _parse_metadata(data: object) -> CreateBookMetadataType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                metadata_type_0 = CreateBookMetadataType0.from_dict(data)

                return metadata_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CreateBookMetadataType0 | None | Unset, data)

        metadata = _parse_metadata(d.pop("metadata", UNSET))

        def _parse_requires_assignment(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        requires_assignment = _parse_requires_assignment(d.pop("requires_assignment", UNSET))

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

        def _parse_status(data: object) -> BookStatus | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                status_type_1 = BookStatus(data)

                return status_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(BookStatus | None | Unset, data)

        status = _parse_status(d.pop("status", UNSET))

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

        create_book = cls(
            name=name,
            code_pattern=code_pattern,
            combinable=combinable,
            description=description,
            lock_ttl_seconds=lock_ttl_seconds,
            max_coupons_per_user=max_coupons_per_user,
            max_redemptions_per_coupon=max_redemptions_per_coupon,
            max_redemptions_per_user=max_redemptions_per_user,
            max_total_redemptions=max_total_redemptions,
            metadata=metadata,
            requires_assignment=requires_assignment,
            reward=reward,
            status=status,
            valid_from=valid_from,
            valid_until=valid_until,
        )

        create_book.additional_properties = d
        return create_book

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
