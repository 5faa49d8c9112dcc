"""Properties of the one JSON decoder, and of sidecar ingest over whatever records a client
sends: a value within the limits comes back exactly, anything else is an InvalidJson (never
another exception), and a refused batch writes nothing."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from worktrail.web.jsonbody import MAX_INT, MIN_INT, InvalidJson, decode_json

from .conftest import Org, Tree
from .shapes import assert_error

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# text as a client may send it: any code point but NUL, and no lone surrogates
clean_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=30,
)
within_limits = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=MIN_INT, max_value=MAX_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | clean_text,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(clean_text, children, max_size=5)
    ),
    max_leaves=25,
)


@FUZZ
@given(within_limits)
def test_values_within_the_limits_come_back_exactly(value: Any) -> None:
    for raw in (
        json.dumps(value).encode(),
        orjson.dumps(value),
        json.dumps(value, indent=2).encode(),
    ):
        assert decode_json(raw) == value


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_are_invalid_json(raw: bytes) -> None:
    try:
        decode_json(raw)
    except InvalidJson as exc:
        assert exc.status == 422 and exc.detail


@FUZZ
@given(st.text(max_size=200))
def test_any_text_decodes_or_is_invalid_json(text: str) -> None:
    try:
        raw = text.encode("utf-8", "surrogatepass")
        decode_json(raw)
    except InvalidJson as exc:
        assert exc.status == 422 and exc.detail


@FUZZ
@given(
    st.one_of(st.integers(max_value=MIN_INT - 1), st.integers(min_value=MAX_INT + 1)),
    st.booleans(),
)
def test_integers_past_64_bits_are_refused_never_rounded(number: int, nested: bool) -> None:
    body = {"a": [number]} if nested else {"a": number}
    try:
        decode_json(json.dumps(body).encode())
    except InvalidJson as exc:
        assert "64 bits" in exc.detail
    else:
        raise AssertionError(f"{number} was accepted")


@FUZZ
@given(within_limits, st.sampled_from(["\x00", "\ud800", "\udfff", "a\udc00b"]))
def test_nul_and_lone_surrogates_are_refused(value: Any, bad: str) -> None:
    raw = json.dumps({"ok": value, "bad": bad}).encode()  # escaped as \\u0000, \\ud800
    try:
        decode_json(raw)
    except InvalidJson as exc:
        assert exc.extra["pointer"] == "/bad"
    else:
        raise AssertionError("accepted")


# -- sidecar ingest: whatever a batch holds, a 200 that recorded it or a 4xx that wrote nothing

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
records = st.lists(
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["snapshot", "change", "delete", "restore", "bogus"]),
            "type": st.sampled_from(["task", "project", "comment", "user", "nothing"]),
            "id": st.one_of(st.text(min_size=1, max_size=12), st.integers(-5, 2**64)),
        },
        optional={
            "state": st.dictionaries(
                st.sampled_from(["name", "project", "notes", "tags", "custom_fields", "x"]),
                json_values,
                max_size=4,
            ),
            "changes": json_values,
            "occurred_at": json_values,
            "actor": json_values,
            "idempotency_key": st.one_of(st.text(max_size=12), json_values),
        },
    ),
    min_size=1,
    max_size=4,
)


@settings(FUZZ, max_examples=60)
@given(batch=records)
def test_ingest_answers_any_batch_with_a_record_or_a_4xx_that_wrote_nothing(
    org: Org, tree: Tree, batch: list[dict[str, Any]]
) -> None:
    try:
        body = json.dumps({"records": batch}, allow_nan=False).encode()
    except ValueError:
        assume(False)
    head = org.store.head_seq(org.id)
    response = org.client.post(
        "/api/v1/changes", content=body, headers={**org.headers, "Content-Type": "application/json"}
    )
    if response.status_code == 200:
        recorded = response.json()["recorded"]
        assert org.store.head_seq(org.id) == head + recorded
    else:
        assert_error("native", response, response.status_code)
        assert 400 <= response.status_code < 500
        assert org.store.head_seq(org.id) == head
