"""Caches that live as long as the server keep to their bounds however many distinct values
pass through them (a long-running server reads ever new entities and query shapes)."""

from __future__ import annotations

from worktrail.model import EntityType, Scope
from worktrail.query import EventQuery
from worktrail.store.compile import StatementCache
from worktrail.store.rows import SCOPE_CACHE_SIZE, parse_scope


def test_the_cache_of_parsed_scopes_keeps_at_most_its_size() -> None:
    parse_scope.cache_clear()
    for n in range(SCOPE_CACHE_SIZE + 1000):
        assert parse_scope(f"task:{n}") == Scope(EntityType.TASK, n)
    assert parse_scope.cache_info().currsize == SCOPE_CACHE_SIZE
    # the most recently used stay: an event's ancestors repeat from event to event
    project = parse_scope("project:1")
    parse_scope("task:0")
    assert parse_scope("project:1") is project


def test_statements_of_new_shapes_beyond_the_bound_are_built_and_not_kept() -> None:
    built: list[EventQuery] = []

    def build(q: EventQuery) -> str:
        built.append(q)
        return f"statement {len(built)}"

    cache = StatementCache(build, size=4)
    queries = [EventQuery(org_id=1, subject_actions=(("task", f"a{n}"),)) for n in range(10)]
    for q in queries:
        cache(q)
    assert len(cache) == 4
    assert cache(queries[0]) == "statement 1"  # kept: built once
    assert cache(queries[9]) == "statement 11"  # not kept: built again
    assert len(built) == 11 and len(cache) == 4
