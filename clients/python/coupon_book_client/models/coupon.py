from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.coupon_status import CouponStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.coupon_metadata_type_0 import CouponMetadataType0
    from ..models.reward import Reward


T = TypeVar("T", bound="Coupon")


@_attrs_define
class Coupon:
    """A coupon's state. An end-user token (scope `coupons:redeem` alone) gets it
    redacted: `assigned_to` and `locked_until` are null unless the coupon is assigned to
    that user, so no answer carries another user's id or activity.

        Attributes:
            book_id (str):
            code (str):
            created_at (datetime.datetime):
            redemption_count (int):
            status (CouponStatus):
            assigned_to (None | str | Unset): The user it is assigned to; for an end user, null unless it is that user.
            expires_at (datetime.datetime | None | Unset):
            locked_until (datetime.datetime | None | Unset):
            max_redemptions (int | None | Unset):
            metadata (CouponMetadataType0 | None | Unset):
            reward (None | Reward | Unset):
            starts_at (datetime.datetime | None | Unset):
    """

    book_id: str
    code: str
    created_at: datetime.datetime
    redemption_count: int
    status: CouponStatus
    assigned_to: None | str | Unset = UNSET
    expires_at: datetime.datetime | None | Unset = UNSET
    locked_until: datetime.datetime | None | Unset = UNSET
    max_redemptions: int | None | Unset = UNSET
    metadata: CouponMetadataType0 | None | Unset = UNSET
    reward: None | Reward | Unset = UNSET
    starts_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.coupon_metadata_type_0 import CouponMetadataType0
        from ..models.reward import Reward

        book_id = self.book_id

        code = self.code

        created_at = self.created_at.isoformat()

        redemption_count = self.redemption_count

        status = self.status.value

        assigned_to: None | str | Unset
        if isinstance(self.assigned_to, Unset):
            assigned_to = UNSET
        else:
            assigned_to = self.assigned_to

        expires_at: None | str | Unset
        if isinstance(self.expires_at, Unset):
            expires_at = UNSET
        elif isinstance(self.expires_at, datetime.datetime):
            expires_at = self.expires_at.isoformat()
        else:
            expires_at = self.expires_at

        locked_until: None | str | Unset
        if isinstance(self.locked_until, Unset):
            locked_until = UNSET
        elif isinstance(self.locked_until, datetime.datetime):
            locked_until = self.locked_until.isoformat()
        else:
            locked_until = self.locked_until

        max_redemptions: int | None | Unset
        if isinstance(self.max_redemptions, Unset):
            max_redemptions = UNSET
        else:
            max_redemptions = self.max_redemptions

        metadata: dict[str, Any] | None | Unset
        if isinstance(self.metadata, Unset):
            metadata = UNSET
        elif isinstance(self.metadata, CouponMetadataType0):
            metadata = self.metadata.to_dict()
        else:
            metadata = self.metadata

        reward: dict[str, Any] | None | Unset
        if isinstance(self.reward, Unset):
            reward = UNSET
        elif isinstance(self.reward, Reward):
            reward = self.reward.to_dict()
        else:
            reward = self.reward

        starts_at: None | str | Unset
        if isinstance(self.starts_at, Unset):
            starts_at = UNSET
        elif isinstance(self.starts_at, datetime.datetime):
            starts_at = self.starts_at.isoformat()
        else:
            starts_at = self.starts_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "book_id": book_id,
                "code": code,
                "created_at": created_at,
                "redemption_count": redemption_count,
                "status": status,
            }
        )
        if assigned_to is not UNSET:
            field_dict["assigned_to"] = assigned_to
        if expires_at is not UNSET:
            field_dict["expires_at"] = expires_at
        if locked_until is not UNSET:
            field_dict["locked_until"] = locked_until
        if max_redemptions is not UNSET:
            field_dict["max_redemptions"] = max_redemptions
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if reward is not UNSET:
            field_dict["reward"] = reward
        if starts_at is not UNSET:
            field_dict["starts_at"] = starts_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.coupon_metadata_type_0 import CouponMetadataType0
        from ..models.reward import Reward

        d = dict(src_dict)
        book_id = d.pop("book_id")

        code = d.pop("code")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        redemption_count = d.pop("redemption_count")

        status = CouponStatus(d.pop("status"))

        def _parse_assigned_to(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        assigned_to = _parse_assigned_to(d.pop("assigned_to", UNSET))

        def _parse_expires_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                expires_at_type_1 = datetime.datetime.fromisoformat(data)

                return expires_at_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        expires_at = _parse_expires_at(d.pop("expires_at", UNSET))

        def _parse_locked_until(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                locked_until_type_1 = datetime.datetime.fromisoformat(data)

                return locked_until_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        locked_until = _parse_locked_until(d.pop("locked_until", UNSET))

        def _parse_max_redemptions(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_redemptions = _parse_max_redemptions(d.pop("max_redemptions", UNSET))

        def _parse_metadata(data: object) -> CouponMetadataType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                metadata_type_0 = CouponMetadataType0.from_dict(data)

                return metadata_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CouponMetadataType0 | None | Unset, data)

        metadata = _parse_metadata(d.pop("metadata", UNSET))

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

        def _parse_starts_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                starts_at_type_1 = datetime.datetime.fromisoformat(data)

                return starts_at_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        starts_at = _parse_starts_at(d.pop("starts_at", UNSET))

        coupon = cls(
            book_id=book_id,
            code=code,
            created_at=created_at,
            redemption_count=redemption_count,
            status=status,
            assigned_to=assigned_to,
            expires_at=expires_at,
            locked_until=locked_until,
            max_redemptions=max_redemptions,
            metadata=metadata,
            reward=reward,
            starts_at=starts_at,
        )

        coupon.additional_properties = d
        return coupon

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
