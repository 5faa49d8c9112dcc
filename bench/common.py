"""Shared pieces of the benchmarks: summaries and result files (load: bench/load.py)."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worktrail.auth import Principal
    from worktrail.store import Store

RESULTS = Path(__file__).resolve().parent / "results"


def summary(samples: list[float]) -> dict[str, float]:
    """Median with min and max (and p99 when there are enough samples)."""
    ordered = sorted(samples)
    out = {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "runs": len(ordered),
    }
    if len(ordered) >= 20:
        out["p99"] = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return out


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def write_results(name: str, results: dict[str, Any], table: list[list[str]]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2, default=str))
    header, *rows = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def print_table(table: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for n, row in enumerate(table):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def ingest_records(first: int, project_id: int, size: int = 1000) -> list[dict[str, Any]]:
    """One batch for POST /api/v1/changes: half snapshots creating tasks, half explicit
    changes with idempotency keys; record numbers `first` + 1 onwards."""
    records: list[dict[str, Any]] = []
    for i in range(size):
        n = first + i + 1
        if i % 2 == 0:
            state = {"name": f"task {n}", "project": project_id, "tags": ["x"]}
            records.append({"type": "task", "id": f"t-{n}", "state": state})
        else:
            records.append(
                {
                    "op": "change",
                    "type": "task",
                    "id": f"t-{n - 1}",
                    "changes": [{"field": "notes", "new": f"n{n}"}],
                    "idempotency_key": f"k-{n}",
                }
            )
    return records


@dataclass(frozen=True)
class Project:
    """An organization with its owner, a workspace and a project in it: where the
    benchmarks that build their own store write."""

    org_id: int
    owner_id: int
    owner: Principal
    project_id: int


def new_project(store: Store, name: str) -> Project:
    """Create an organization called `name` (owner `owner@<name>.test`), a workspace and a
    project, in a migrated store."""
    from worktrail.auth import principal_for_user
    from worktrail.model import EntityType
    from worktrail.write import Writer, create_organization

    slug = name.lower().replace(" ", "-")
    org = create_organization(store, name, "Owner", f"owner@{slug}.test")
    user = store.get_entity(org.org_id, org.owner_id)
    assert user is not None
    owner = principal_for_user(user)
    writer = Writer(store)
    workspace = writer.create(owner, EntityType.WORKSPACE, {"name": name}).entity
    project = writer.create(owner, EntityType.PROJECT, {"name": "P", "workspace": workspace.id})
    return Project(org.org_id, org.owner_id, owner, project.entity.id)
