"""How the schema distributes by organization over Citus (PostgreSQL scaled out past one
machine): each table is distributed by the column that names its organization, co-located
with `orgs`, or is a reference table (a copy on every node) for a stated reason.

Distributed tables' primary keys, unique constraints and unique indexes begin with their
distribution column, so that Citus takes the schema as it is; the test
tests/test_distributable_schema.py holds the migrated schema on both databases to that, and
docs/scaling.md gives the DDL `citus_ddl` writes.
"""

from __future__ import annotations

from .schema import metadata

# Tables every node holds whole: read with any organization's rows, never written per event.
REFERENCE_TABLES: dict[str, str] = {
    "wt_meta": "the server's own values (the cursor-signing secret): global, a few rows",
    "signing_keys": "the server's checkpoint-signing keys, the same for every organization",
    "api_tokens": (
        "a request's token is found by its hash before its organization is known; small, "
        "read on every request, written when a token is made, changed or used (at most once "
        "a minute); its writes for read replicas are in token_writes, distributed"
    ),
}

# Tables Citus leaves on the coordinator, neither distributed nor copied.
LOCAL_TABLES: dict[str, str] = {
    "alembic_version": "the schema's revision; migrations run on the coordinator",
}

# An organization is distributed by its own id, everything else by the organization it
# belongs to: all of one organization's rows lie on one node.
DISTRIBUTION_COLUMN: dict[str, str] = {
    table.name: "id" if table.name == "orgs" else "org_id"
    for table in metadata.sorted_tables
    if table.name not in REFERENCE_TABLES
}

# On SQLite these keep `id INTEGER PRIMARY KEY`, SQLite's row number, as their key: it
# hands out their ids, and a SQLite store is one file, never distributed. On PostgreSQL
# their keys are (org_id, id) (migration 0011).
SQLITE_ROWID_KEYS = frozenset({"entities", "webhook_attempts"})


def citus_ddl() -> list[str]:
    """The statements that distribute a migrated PostgreSQL store with Citus: `orgs` first,
    the tables co-located with it, then the reference tables."""
    out = ["CREATE EXTENSION citus;", "SELECT create_distributed_table('orgs', 'id');"]
    out += [
        f"SELECT create_distributed_table('{name}', '{column}', colocate_with => 'orgs');"
        for name, column in DISTRIBUTION_COLUMN.items()
        if name != "orgs"
    ]
    out += [f"SELECT create_reference_table('{name}');" for name in REFERENCE_TABLES]
    return out
