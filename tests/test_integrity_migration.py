"""Migration 0007 builds the Merkle tree of a store's existing events, a batch at a time,
exactly as the write path would have built it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

import worktrail.store
from worktrail.store import Store
from worktrail.store.health import head_revision
from worktrail.verify import verify_chain

from .conftest import Org, Tree

MIGRATIONS = Path(worktrail.store.__file__ or "").parent / "migrations"


def alembic(store: Store, action: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.writer.connect() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)
        conn.commit()


def nodes(store: Store, org_id: int) -> list[tuple[int, bytes]]:
    with store.writer.connect() as conn:
        rows = conn.execute(
            text("SELECT node, hash FROM merkle_nodes WHERE org_id = :o ORDER BY node"),
            {"o": org_id},
        ).all()
    return [(r.node, bytes(r.hash)) for r in rows]


def test_upgrading_builds_the_tree_the_write_path_builds(
    org: Org, other_org: Org, tree: Tree
) -> None:
    for n in range(9):
        org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": f"{n}"})
    store = org.store
    grown = {o: nodes(store, o) for o in (org.id, other_org.id)}
    assert len(grown[org.id]) > 2 * store.head_seq(org.id) - 3
    alembic(store, "downgrade", "0006")
    alembic(store, "upgrade", "head")
    assert store.schema_revision() == head_revision()
    assert {o: nodes(store, o) for o in grown} == grown
    # in small batches too: each batch goes on from the frontier the last one left
    spec = importlib.util.spec_from_file_location(
        "m0007", MIGRATIONS / "versions" / "0007_integrity.py"
    )
    assert spec and spec.loader
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    setattr(migration, "BATCH", 4)  # noqa: B010
    with store.writer.begin() as conn:
        conn.execute(text("DELETE FROM merkle_nodes WHERE org_id = :o"), {"o": org.id})
        migration.build_tree(conn, org.id)
    assert nodes(store, org.id) == grown[org.id]
    assert verify_chain(store, org.id).ok
