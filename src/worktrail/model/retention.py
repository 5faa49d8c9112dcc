"""Retention: how long an organization keeps its events, as plain data.

The policy lives in the organization's settings: `retention_days` (None: forever) and
`retention_subject_types` ({subject type: days, or None for forever}), which overrides the
organization's days for events of those subject types. An event expires once it was
recorded more than its days ago; a legal hold keeps it all the same (store/retention.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .entities import EntityType

MAX_DAYS = 36_500
DAY_MICROS = 86_400 * 1_000_000


def check_days(value: Any) -> int:
    """A number of days to keep events; ValueError saying what is expected."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_DAYS:
        raise ValueError(f"an integer from 1 to {MAX_DAYS} (days)")
    return value


def check_by_type(value: Any) -> dict[str, int | None]:
    """Per-subject-type days: {type: days or null (forever)}; ValueError saying what is
    expected."""
    types = [t.value for t in EntityType]
    if not isinstance(value, dict):
        raise ValueError("an object of subject type → days (or null: kept forever)")
    out: dict[str, int | None] = {}
    for name, days in value.items():
        if name not in types:
            raise ValueError(f"an object whose keys are subject types ({', '.join(types)})")
        out[name] = None if days is None else check_days(days)
    return out


@dataclass(frozen=True)
class RetentionPolicy:
    days: int | None = None
    by_type: Mapping[str, int | None] = field(default_factory=dict)

    @classmethod
    def of_settings(cls, settings: Mapping[str, Any]) -> RetentionPolicy:
        """The policy kept in an organization's settings (values as checked when set)."""
        days = settings.get("retention_days")
        by_type = settings.get("retention_subject_types") or {}
        return cls(days if isinstance(days, int) else None, dict(by_type))

    @property
    def expires_anything(self) -> bool:
        return self.days is not None or any(d is not None for d in self.by_type.values())

    def cutoffs(self, now: int) -> Cutoffs:
        """The recorded_at before which events expire at `now` (microseconds), by type."""

        def before(days: int | None) -> int | None:
            return None if days is None else now - days * DAY_MICROS

        return Cutoffs(
            before(self.days), {kind: before(days) for kind, days in self.by_type.items()}
        )

    def as_settings(self) -> dict[str, Any]:
        return {"retention_days": self.days, "retention_subject_types": dict(self.by_type)}

    def describe(self) -> str:
        base = f"{self.days} days" if self.days is not None else "forever"
        parts = [f"events kept {base}"]
        for kind, days in sorted(self.by_type.items()):
            parts.append(f"{kind}: {f'{days} days' if days is not None else 'forever'}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Cutoffs:
    """Events recorded before `default` expire (None: none do), but events of a subject
    type in `by_type` expire before its own cutoff instead."""

    default: int | None
    by_type: Mapping[str, int | None] = field(default_factory=dict)

    def of(self, subject_type: str) -> int | None:
        return self.by_type.get(subject_type, self.default)

    def latest(self) -> int | None:
        """The latest cutoff of any type: no event recorded from then on expires."""
        found = [c for c in (self.default, *self.by_type.values()) if c is not None]
        return max(found) if found else None


@dataclass(frozen=True)
class PrunedRange:
    """Events first_seq..last_seq of an organization that retention removed (some of the
    seqs may have been removed by earlier runs): `last_hash` is the chain hash of the
    event last_seq, the prev_hash of the event after it; `last_recorded` its recorded_at."""

    first_seq: int
    last_seq: int
    last_hash: str
    last_recorded: int
    pruned_at: int


@dataclass(frozen=True)
class RetentionReport:
    """What a retention run did for one organization."""

    org_id: int
    expired: int = 0  # events removed
    held: int = 0  # events expired but kept by a legal hold
    pruned_through: int = 0  # every event up to this seq is gone (0: none)
    partitions_dropped: tuple[str, ...] = ()
    dry_run: bool = False
