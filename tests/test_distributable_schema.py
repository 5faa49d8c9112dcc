"""The schema distributes by organization (Citus) as the migrations build it: every table
is a reference table for a stated reason, or every key of it begins with its distribution
column (store/distribution.py); the statements a workload sends filter by it; and
docs/scaling.md gives the DDL for exactly these tables."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, inspect, text

from worktrail.diff import now_micros
from worktrail.store import Store
from worktrail.store.distribution import (
    DISTRIBUTION_COLUMN,
    LOCAL_TABLES,
    REFERENCE_TABLES,
    SQLITE_ROWID_KEYS,
    citus_ddl,
)
from worktrail.worker import delivery_styles
from worktrail.worker.checkpoints import CheckpointWorker
from worktrail.worker.dispatch import dispatch_once
from worktrail.write.retention import run_retention

from .conftest import Org, build_tree

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class TableKeys:
    """What a table's keys are, as the database reports them."""

    primary: list[str]
    unique: dict[str, list[str]]  # unique constraints and unique indexes, by name
    foreign: list[tuple[list[str], str, list[str]]] = field(default_factory=list)


def migrated_keys(conn: Connection) -> dict[str, TableKeys]:
    """Every table's keys in the database on `conn` (PostgreSQL's monthly partitions left
    out: they are distributed with their parent and have its keys)."""
    found = inspect(conn)
    partitions: set[str] = set()
    if conn.dialect.name == "postgresql":
        partitions = set(conn.scalars(text("SELECT relname FROM pg_class WHERE relispartition")))
    out = {}
    for name in found.get_table_names():
        if name in partitions:
            continue
        unique = {c["name"] or "": c["column_names"] for c in found.get_unique_constraints(name)}
        for index in found.get_indexes(name):
            if index["unique"]:
                unique[index["name"] or ""] = [c or "(expression)" for c in index["column_names"]]
        foreign = [
            (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
            for fk in found.get_foreign_keys(name)
        ]
        primary = found.get_pk_constraint(name)["constrained_columns"]
        out[name] = TableKeys(primary, unique, foreign)
    return out


def violations(tables: dict[str, TableKeys], sqlite: bool) -> list[str]:
    """What keeps these tables from being distributed by organization as they are."""
    out = []
    for name, keys in sorted(tables.items()):
        if name in REFERENCE_TABLES or name in LOCAL_TABLES:
            continue
        column = DISTRIBUTION_COLUMN.get(name)
        if column is None:
            out.append(
                f"{name}: neither distributed (DISTRIBUTION_COLUMN) nor a reference table "
                f"(REFERENCE_TABLES, with its reason) in store/distribution.py; its primary "
                f"key is ({', '.join(keys.primary)})"
            )
            continue
        rowid = sqlite and name in SQLITE_ROWID_KEYS and keys.primary == ["id"]
        if not rowid and keys.primary[:1] != [column]:
            out.append(
                f"{name}: primary key ({', '.join(keys.primary)}) does not begin with {column}"
            )
        for key, columns in sorted(keys.unique.items()):
            if columns[:1] != [column]:
                out.append(
                    f"{name}: unique {key} ({', '.join(columns)}) does not begin with {column}"
                )
        for local, other, remote in keys.foreign:
            if other in REFERENCE_TABLES:
                continue  # a distributed table may refer to a reference table
            pairs = set(zip(local, remote, strict=True))
            if (column, DISTRIBUTION_COLUMN.get(other)) not in pairs:
                out.append(
                    f"{name}: foreign key ({', '.join(local)}) to {other} does not join "
                    f"{column} to {other}'s distribution column"
                )
    for name in sorted(REFERENCE_TABLES.keys() & tables.keys()):
        for _, other, _ in tables[name].foreign:
            if other not in REFERENCE_TABLES:
                out.append(f"{name}: a reference table refers to the distributed table {other}")
    return out


def test_every_migrated_table_is_distributable_or_a_reference_table(store: Store) -> None:
    with store.writer.connect() as conn:
        tables = migrated_keys(conn)
    assert violations(tables, sqlite=store.dialect_name == "sqlite") == []
    # and distribution.py speaks of the tables there are, each once
    declared = DISTRIBUTION_COLUMN.keys() | REFERENCE_TABLES.keys() | LOCAL_TABLES.keys()
    assert tables.keys() == declared
    assert not DISTRIBUTION_COLUMN.keys() & REFERENCE_TABLES.keys()
    assert all(len(reason) > 20 for reason in REFERENCE_TABLES.values())


def test_a_table_whose_keys_do_not_lead_with_org_id_is_named(store: Store) -> None:
    with store.writer.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE audit_notes (id BIGINT PRIMARY KEY, org_id BIGINT NOT NULL)"
        )
        conn.exec_driver_sql("CREATE UNIQUE INDEX ux_checkpoints_key ON checkpoints (key, org_id)")
        tables = migrated_keys(conn)
    found = violations(tables, sqlite=store.dialect_name == "sqlite")
    assert len(found) == 2, found
    assert found[0].startswith("audit_notes: neither distributed")
    assert "primary key is (id)" in found[0]
    assert (
        found[1]
        == "checkpoints: unique ux_checkpoints_key (key, org_id) does not begin with org_id"
    )


def test_keys_before_migration_0011_are_refused_and_downgrading_keeps_token_writes(
    store: Store, org: Org
) -> None:
    token = store.list_tokens(org.id)[0]
    with store.read() as conn:
        top = conn.exec_driver_sql("SELECT max(id) FROM entities").scalar()
    with store.writer.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO token_writes (org_id, token_id, last_write_at) "
            f"VALUES ({org.id}, {token.id}, 1234)"
        )
    store.migrate("0010")
    with store.writer.connect() as conn:
        tables = migrated_keys(conn)
        moved = conn.exec_driver_sql(
            f"SELECT last_write_at FROM api_tokens WHERE id = {token.id}"
        ).scalar()
    assert moved == 1234
    found = violations(tables, sqlite=store.dialect_name == "sqlite")
    if store.dialect_name == "postgresql":
        assert "entities: primary key (id) does not begin with org_id" in found
        assert "webhook_attempts: primary key (id) does not begin with org_id" in found
    store.migrate()
    with store.writer.connect() as conn:
        assert violations(migrated_keys(conn), sqlite=store.dialect_name == "sqlite") == []
        back = conn.exec_driver_sql("SELECT org_id, token_id, last_write_at FROM token_writes")
        assert back.all() == [(org.id, token.id, 1234)]
    # ids go on past those in use, on both databases
    workspace = org.create("workspaces", name="After", members=[org.owner_id])
    assert workspace["id"] > top
    assert org.create("projects", name="Later", workspace=workspace["id"])["id"] > workspace["id"]


def test_the_docs_give_the_citus_ddl_for_every_table_once() -> None:
    scaling = (ROOT / "docs" / "scaling.md").read_text()
    section = scaling.split("Distributing by organization (Citus)", 1)[1]
    block = re.search(r"```sql\n(.*?)```", section, re.DOTALL)
    assert block is not None
    assert block.group(1).splitlines() == citus_ddl()
    for name in REFERENCE_TABLES:
        assert f"`{name}`" in section


# -- statements ------------------------------------------------------------------------

# Statements that read across organizations on purpose, by a piece of their text, with the
# reason: Citus sends each to every node. Each must be met by the tests below, so the list
# holds what the code does.
CROSS_ORGANIZATION = {
    "WHERE api_tokens.token_hash =": (
        "authentication: the token (a reference table) is found by its hash, and its user, "
        "workspaces and pruned history by its org_id, in one statement (docs/scaling.md)"
    ),
    "FROM webhook_cursors JOIN orgs": "the webhook worker's round: subscriptions behind",
    "FROM webhook_cursors WHERE webhook_cursors.active IS true": "the webhook worker: the active "
    "subscriptions to claim from, and heartbeats due",
    "FROM orgs ORDER BY orgs.id": "the background rounds (checkpoints, retention) and "
    "Worksection's admin API list the organizations",
    "GROUP BY checkpoints.org_id": "the checkpoint round: every organization's latest",
}
_TABLE = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+\"?(\w+)", re.IGNORECASE)
# a value bound to the statement: a driver parameter, a literal or an array of them
_VALUE = r"(?:%\(\w+\)s|%s|\?|:\w+|\d+)(?:::\w+)?"


def tables_of(statement: str) -> set[str]:
    return {m.group(1) for m in _TABLE.finditer(statement)}


def routed(statement: str) -> bool:
    """Whether the statement names the organization it reads or writes: a distribution
    column equal to (or among) bound values, or given in the rows it inserts. Joins on
    the column then keep co-located tables on that organization's node."""
    column = r"(?:\w+\.)?org_id"
    if "orgs" in tables_of(statement):
        column = rf"(?:{column}|orgs\.id|\bid)"
    compared = (
        rf"\b{column}\s*(?:=\s*{_VALUE}|=\s*ANY\b|IN\s*\(\s*{_VALUE})|{_VALUE}\s*=\s*{column}\b"
    )
    inserted = r"^\s*INSERT INTO \w+ \([^)]*\borg_id\b"
    return bool(re.search(compared, statement) or re.search(inserted, statement))


def unrouted(statement: str) -> list[str]:
    """The distributed tables `statement` reads or writes without naming its organization
    (none for a statement that crosses organizations on purpose)."""
    touched = sorted(tables_of(statement) & DISTRIBUTION_COLUMN.keys())
    if not touched or routed(statement) or crossing(statement):
        return []
    return touched


def crossing(statement: str) -> str | None:
    """The CROSS_ORGANIZATION entry the statement is, if any."""
    flat = " ".join(statement.split())
    return next((piece for piece in CROSS_ORGANIZATION if piece in flat), None)


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """The statements the store's connections send meanwhile."""
    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    engines = {id(e): e for e in (store.writer, store.reader)}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", note)


def workload(org: Org) -> None:
    """What clients do most: write, batch, page with filters, export, read a dialect's
    feed, prove."""
    tree = build_tree(org)
    org.patch(f"/api/v1/tasks/{tree.task}", json={"name": "Plan, drafted"})
    batch = [
        {
            "type": "task",
            "id": f"T-{i}",
            "state": {"name": f"Imported {i}", "project": tree.project},
        }
        for i in range(5)
    ]
    assert org.post("/api/v1/changes", json={"records": batch}).status_code == 200
    for params in (
        {"limit": 3},
        {"scope": f"project:{tree.project}", "subject_type": "task"},
        {"actor": org.owner_id, "action": "created", "order": "oldest"},
    ):
        page = org.get("/api/v1/events", params=params)
        assert page.status_code == 200, page.text
        cursor = page.json()["next_cursor"]
        if cursor:
            assert org.get("/api/v1/events", params={**params, "cursor": cursor}).status_code == 200
    assert org.get("/api/v1/events", params={"format": "csv"}).status_code == 200
    assert org.get(f"/api/v1/tasks/{tree.task}").status_code == 200
    assert org.get("/api/v1/tasks", params={"project": tree.project}).status_code == 200
    assert org.get(f"/api/1.0/projects/{tree.project}/events").status_code == 412  # sync token
    tracker = {"Authorization": f"OAuth {org.token}", "X-Org-ID": str(org.id)}
    relative = f"/v2/entities/project/{tree.project}/events/_relative"
    assert org.client.get(relative, headers=tracker).status_code == 200
    assert org.post("/api/v1/integrity/checkpoint").status_code == 200
    newest = org.get("/api/v1/events", params={"limit": 1}).json()["data"][0]["id"]
    assert org.get(f"/api/v1/events/{newest}/proof").status_code == 200
    assert org.get("/api/v1/tokens").status_code == 200


def background(org: Org) -> None:
    """A round of each background worker: webhook dispatch, claims and heartbeats (one
    subscription, never delivered to), checkpoints, retention."""
    store = org.store
    url = "https://hooks.example.test/worktrail"
    assert org.post("/api/v1/webhooks", json={"url": url}).status_code == 201
    org.create("workspaces", name="Noticed", members=[org.owner_id])
    now = now_micros()
    assert dispatch_once(store, now, delivery_styles()) > 0
    assert store.webhooks.claim(now, now + 5_000_000, 10, 10)
    store.webhooks.heartbeats_due({"standard": 60}, now)
    services = org.services
    CheckpointWorker(store, services.notary, services.settings).round(now)
    run_retention(store, now=now)
    # Worksection's admin API: a request signed with an admin key that names no organization
    signed = {"action": "get_events", "hash": "0" * 32}
    assert org.client.get("/api/admin/v2/", params=signed).json()["status"] == "error"


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_statements_of_a_workload_name_the_organization(org: Org) -> None:
    with statements(org.store) as sent:
        workload(org)
        background(org)
    assert len(sent) > 50
    touched = set().union(*(tables_of(s) for s in sent))
    assert {"events", "event_scopes", "entities", "merkle_nodes", "checkpoints"} <= touched
    stray = {" ".join(s.split()): unrouted(s) for s in sent if unrouted(s)}
    assert stray == {}
    assert {crossing(s) for s in sent} - {None} == CROSS_ORGANIZATION.keys()


def test_a_statement_without_its_organization_is_caught() -> None:
    assert unrouted("SELECT id FROM entities WHERE id = %(id)s") == ["entities"]
    assert unrouted("SELECT id FROM entities WHERE org_id = container_id") == ["entities"]
    assert unrouted("UPDATE orgs SET settings = %s") == ["orgs"]
    assert unrouted("SELECT * FROM events JOIN orgs ON orgs.id = events.org_id") == [
        "events",
        "orgs",
    ]
    assert (
        unrouted("SELECT * FROM events JOIN orgs ON orgs.id = events.org_id WHERE orgs.id = %s")
        == []
    )
    assert unrouted("SELECT n FROM event_scopes WHERE event_scopes.org_id = %(o)s::BIGINT") == []
    assert unrouted("INSERT INTO checkpoints (org_id, tree_size) VALUES (%s, %s)") == []
    assert unrouted("SELECT key FROM wt_meta") == []  # a reference table
