from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.job_kind import JobKind
from ..models.job_status import JobStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.actor import Actor
    from ..models.job_error import JobError


T = TypeVar("T", bound="Job")


@_attrs_define
class Job:
    """
    Attributes:
        already_exist (int):
        book_id (str):
        created_at (datetime.datetime):
        duplicates_in_file (int):
        errors (list[JobError]):
        id (str):
        inserted (int):
        invalid (int):
        kind (JobKind):
        processed (int):
        started_by (Actor): The actor of an event (and the starter of a job).

            `system` changes name the work that made them: `lock_expiry` for the sweep of
            expired locks, the job id for a job's work (the job's `started_by` says who started
            it), `cli` for the command line. Events stored before actors were recorded read as
            `{"type": "system", "id": null}`: their actor is unknown.
        status (JobStatus):
        total (int):
        assigned (int | Unset): Bulk jobs' counts (0 for other kinds).
        deleted (int | Unset):
        exhausted (int | Unset):
        finished_at (datetime.datetime | None | Unset):
        in_use (int | Unset):
        limit_reached (int | Unset):
        not_found (int | Unset):
        voided (int | Unset):
    """

    already_exist: int
    book_id: str
    created_at: datetime.datetime
    duplicates_in_file: int
    errors: list[JobError]
    id: str
    inserted: int
    invalid: int
    kind: JobKind
    processed: int
    started_by: Actor
    status: JobStatus
    total: int
    assigned: int | Unset = UNSET
    deleted: int | Unset = UNSET
    exhausted: int | Unset = UNSET
    finished_at: datetime.datetime | None | Unset = UNSET
    in_use: int | Unset = UNSET
    limit_reached: int | Unset = UNSET
    not_found: int | Unset = UNSET
    voided: int | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        already_exist = self.already_exist

        book_id = self.book_id

        created_at = self.created_at.isoformat()

        duplicates_in_file = self.duplicates_in_file

        errors = []
        for errors_item_data in self.errors:
            errors_item = errors_item_data.to_dict()
            errors.append(errors_item)

        id = self.id

        inserted = self.inserted

        invalid = self.invalid

        kind = self.kind.value

        processed = self.processed

        started_by = self.started_by.to_dict()

        status = self.status.value

        total = self.total

        assigned = self.assigned

        deleted = self.deleted

        exhausted = self.exhausted

        finished_at: None | str | Unset
        if isinstance(self.finished_at, Unset):
            finished_at = UNSET
        elif isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        in_use = self.in_use

        limit_reached = self.limit_reached

        not_found = self.not_found

        voided = self.voided

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "already_exist": already_exist,
                "book_id": book_id,
                "created_at": created_at,
                "duplicates_in_file": duplicates_in_file,
                "errors": errors,
                "id": id,
                "inserted": inserted,
                "invalid": invalid,
                "kind": kind,
                "processed": processed,
                "started_by": started_by,
                "status": status,
                "total": total,
            }
        )
        if assigned is not UNSET:
            field_dict["assigned"] = assigned
        if deleted is not UNSET:
            field_dict["deleted"] = deleted
        if exhausted is not UNSET:
            field_dict["exhausted"] = exhausted
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at
        if in_use is not UNSET:
            field_dict["in_use"] = in_use
        if limit_reached is not UNSET:
            field_dict["limit_reached"] = limit_reached
        if not_found is not UNSET:
            field_dict["not_found"] = not_found
        if voided is not UNSET:
            field_dict["voided"] = voided

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.actor import Actor
        from ..models.job_error import JobError

        d = dict(src_dict)
        already_exist = d.pop("already_exist")

        book_id = d.pop("book_id")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        duplicates_in_file = d.pop("duplicates_in_file")

        errors = []
        _errors = d.pop("errors")
        for errors_item_data in _errors:
            errors_item = JobError.from_dict(errors_item_data)

            errors.append(errors_item)

        id = d.pop("id")

        inserted = d.pop("inserted")

        invalid = d.pop("invalid")

        kind = JobKind(d.pop("kind"))

        processed = d.pop("processed")

        started_by = Actor.from_dict(d.pop("started_by"))

        status = JobStatus(d.pop("status"))

        total = d.pop("total")

        assigned = d.pop("assigned", UNSET)

        deleted = d.pop("deleted", UNSET)

        exhausted = d.pop("exhausted", UNSET)

        def _parse_finished_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_1 = datetime.datetime.fromisoformat(data)

                return finished_at_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        finished_at = _parse_finished_at(d.pop("finished_at", UNSET))

        in_use = d.pop("in_use", UNSET)

        limit_reached = d.pop("limit_reached", UNSET)

        not_found = d.pop("not_found", UNSET)

        voided = d.pop("voided", UNSET)

        job = cls(
            already_exist=already_exist,
            book_id=book_id,
            created_at=created_at,
            duplicates_in_file=duplicates_in_file,
            errors=errors,
            id=id,
            inserted=inserted,
            invalid=invalid,
            kind=kind,
            processed=processed,
            started_by=started_by,
            status=status,
            total=total,
            assigned=assigned,
            deleted=deleted,
            exhausted=exhausted,
            finished_at=finished_at,
            in_use=in_use,
            limit_reached=limit_reached,
            not_found=not_found,
            voided=voided,
        )

        job.additional_properties = d
        return job

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
