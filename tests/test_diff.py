"""The diff engine: canonical values and field-level changes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worktrail.diff import (
    diff_states,
    initial_state,
    micros_to_datetime,
    micros_to_iso,
    normalize_fields,
)
from worktrail.errors import InvalidInput
from worktrail.model import EntityType

TASK = EntityType.TASK


def test_scalar_multi_and_json_map_changes() -> None:
    old = {**initial_state(TASK), "name": "A", "tags": ["x", "y"], "custom_fields": {"k": 1}}
    new = {**old, "name": "B", "tags": ["y", "z"], "custom_fields": {"k": 2, "n": "v"}}
    assert diff_states(TASK, old, new) == [
        {"field": "name", "old": "A", "new": "B"},
        {"field": "tags", "added": ["z"], "removed": ["x"]},
        {"field": "custom_fields.k", "old": 1, "new": 2},
        {"field": "custom_fields.n", "old": None, "new": "v"},
    ]


def test_equal_states_have_no_changes() -> None:
    state = {**initial_state(TASK), "name": "A", "followers": [3, 1]}
    assert diff_states(TASK, state, dict(state)) == []


def test_sets_are_canonical() -> None:
    values = normalize_fields(TASK, {"followers": [3, 1, 3], "tags": ["b", "a"]}, partial=True)
    assert values == {"followers": [1, 3], "tags": ["a", "b"]}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": 5}, "must be a string"),
        ({"bogus": 1}, "unknown field"),
        ({"completed": "yes"}, "true or false"),
        ({"due_on": "2026-13-01"}, "YYYY-MM-DD"),
        ({"due_at": "2026-01-01T10:00:00"}, "time zone"),
        ({"priority": "extreme"}, "must be one of"),
        ({"followers": ["a"]}, "integer ids"),
        ({"assignee": -1}, "positive integer"),
        ({"name": None}, "required"),
    ],
)
def test_invalid_values_name_the_field(values: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        normalize_fields(TASK, values, partial=True)


def test_datetimes_are_normalized_to_utc() -> None:
    out = normalize_fields(TASK, {"due_at": "2026-01-01T12:00:00+02:00"}, partial=True)
    assert out == {"due_at": "2026-01-01T10:00:00.000Z"}


@given(
    st.lists(st.integers(min_value=1, max_value=50), max_size=8),
    st.lists(st.integers(min_value=1, max_value=50), max_size=8),
)
def test_applying_added_and_removed_reproduces_the_new_set(a: list[int], b: list[int]) -> None:
    old = {**initial_state(TASK), **normalize_fields(TASK, {"followers": a}, partial=True)}
    new = {**initial_state(TASK), **normalize_fields(TASK, {"followers": b}, partial=True)}
    changes = diff_states(TASK, old, new)
    rebuilt = set(old["followers"])
    for change in changes:
        rebuilt = (rebuilt | set(change["added"])) - set(change["removed"])
    assert sorted(rebuilt) == new["followers"]
    assert (changes == []) == (old["followers"] == new["followers"])


@given(st.integers(min_value=-62_135_596_800_000_000, max_value=253_402_300_799_999_999))
def test_iso_times_match_the_datetime_rendering(us: int) -> None:
    expected = micros_to_datetime(us).isoformat(timespec="microseconds").replace("+00:00", "Z")
    assert micros_to_iso(us) == expected
    assert micros_to_iso(us - us % 60_000_000) == expected[:17] + "00.000000Z"
