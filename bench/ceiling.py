"""The write ceiling of one organization: commits a second with 16 writers on one
organization, against 16 writers on 16 organizations.

    python -m bench.ceiling [--backend sqlite|postgres|both] [--writers 16] [--seconds 15]
                            [--rounds 3]

Each writer is a process of its own with its own store (connection pool), committing
single-event updates of its own task in a loop, as `PATCH /api/v1/tasks/{id}` does through
`Writer.update` (diff, state, event, scopes, Merkle tree, one transaction). An organization's
gapless numbering is a serialization point: its writers take turns on its head row, so one
organization's figure is the ceiling of one tenant; spread over organizations, the writers
only share the database. Results go to bench/results/ceiling-<backend>.{json,md}.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from worktrail.auth import principal_for_user
from worktrail.config import Settings
from worktrail.model import EntityType
from worktrail.store import open_store
from worktrail.write import Writer

from .common import new_project, print_table, summary, write_results
from .suite import Backend


def prepare(url: str, orgs: int, writers: int) -> list[tuple[int, int, int]]:
    """(organization, owner, task) for each writer, over `orgs` organizations."""
    store = open_store(Settings(database_url=url))
    try:
        store.migrate()
        made = [new_project(store, f"Org {n}") for n in range(orgs)]
        out = []
        for w in range(writers):
            org = made[w % orgs]
            task = Writer(store).create(
                org.owner, EntityType.TASK, {"name": f"writer {w}", "project": org.project_id}
            )
            out.append((org.org_id, org.owner_id, task.entity.id))
        return out
    finally:
        store.close()


def _write(
    url: str,
    org_id: int,
    owner_id: int,
    task: int,
    ready: Any,
    start: Any,
    until: Any,
    out: Any,
) -> None:
    store = open_store(Settings(database_url=url, pool_size=1))
    try:
        user = store.get_entity(org_id, owner_id)
        assert user is not None
        owner, writer = principal_for_user(user), Writer(store)
        ready.put(True)
        start.wait()
        commits = 0
        while time.time() < until.value:
            writer.update(owner, EntityType.TASK, task, {"notes": f"n{commits}"})
            commits += 1
        out.put(commits)
    finally:
        store.close()


def commits_per_s(url: str, targets: list[tuple[int, int, int]], seconds: float) -> float:
    context = multiprocessing.get_context("spawn")
    ready, start, out = context.Queue(), context.Event(), context.Queue()
    until = context.Value("d", 0.0)
    procs = [
        context.Process(target=_write, args=(url, *target, ready, start, until, out))
        for target in targets
    ]
    for p in procs:
        p.start()
    for _ in procs:  # every writer started, its store open
        ready.get(timeout=300)
    until.value = time.time() + seconds
    start.set()
    total = sum(int(out.get(timeout=seconds + 120)) for _ in procs)
    for p in procs:
        p.join(30)
    return total / seconds


def run_backend(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, list[float]] = {"one_org": [], "many_orgs": []}
    with tempfile.TemporaryDirectory(prefix="bench-ceiling-") as tmp:
        backend = Backend(kind, Path(tmp))
        try:
            for n in range(args.rounds):
                for name, orgs in (("one_org", 1), ("many_orgs", args.writers)):
                    url = backend.url(f"ceiling_{name}_{n}", fresh=True)
                    targets = prepare(url, orgs, args.writers)
                    figures[name].append(commits_per_s(url, targets, args.seconds))
                    print(
                        f"  {kind} round {n + 1}, {args.writers} writers on {orgs} "
                        f"organization(s): {figures[name][-1]:,.0f} commits/s",
                        flush=True,
                    )
        finally:
            backend.close()
    return {
        "backend": kind,
        "writers": args.writers,
        "seconds": args.seconds,
        "one_org_commits_per_s": summary(figures["one_org"]),
        "many_orgs_commits_per_s": summary(figures["many_orgs"]),
        "cpus": os.cpu_count(),
    }


def table_for(results: dict[str, Any]) -> list[list[str]]:
    def cell(s: dict[str, float]) -> str:
        return f"{s['median']:,.0f} ({s['min']:,.0f} to {s['max']:,.0f})"

    w = results["writers"]
    return [
        ["writers", "commits/s, median (min to max)"],
        [f"{w} on one organization", cell(results["one_org_commits_per_s"])],
        [f"{w} on {w} organizations", cell(results["many_orgs_commits_per_s"])],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kinds = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for kind in kinds:
        print(f"{kind}: {args.writers} writers ...", flush=True)
        results = run_backend(kind, args)
        table = table_for(results)
        print_table(table)
        print(f"results: {write_results(f'ceiling-{kind}', results, table)}")


if __name__ == "__main__":
    main()
