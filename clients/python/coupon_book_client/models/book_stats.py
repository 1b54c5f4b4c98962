from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.counts import Counts
    from ..models.redemption_bucket import RedemptionBucket
    from ..models.top_user import TopUser


T = TypeVar("T", bound="BookStats")


@_attrs_define
class BookStats:
    """
    Attributes:
        counts (Counts): Code counts by status.
        redemptions (list[RedemptionBucket]):
        top_users (list[TopUser]):
    """

    counts: Counts
    redemptions: list[RedemptionBucket]
    top_users: list[TopUser]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        counts = self.counts.to_dict()

        redemptions = []
        for redemptions_item_data in self.redemptions:
            redemptions_item = redemptions_item_data.to_dict()
            redemptions.append(redemptions_item)

        top_users = []
        for top_users_item_data in self.top_users:
            top_users_item = top_users_item_data.to_dict()
            top_users.append(top_users_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "counts": counts,
                "redemptions": redemptions,
                "top_users": top_users,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.counts import Counts
        from ..models.redemption_bucket import RedemptionBucket
        from ..models.top_user import TopUser

        d = dict(src_dict)
        counts = Counts.from_dict(d.pop("counts"))

        redemptions = []
        _redemptions = d.pop("redemptions")
        for redemptions_item_data in _redemptions:
            redemptions_item = RedemptionBucket.from_dict(redemptions_item_data)

            redemptions.append(redemptions_item)

        top_users = []
        _top_users = d.pop("top_users")
        for top_users_item_data in _top_users:
            top_users_item = TopUser.from_dict(top_users_item_data)

            top_users.append(top_users_item)

        book_stats = cls(
            counts=counts,
            redemptions=redemptions,
            top_users=top_users,
        )

        book_stats.additional_properties = d
        return book_stats

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
