"""Ingest as the store grows: the rate of each 100,000 events of a 1,000,000-event load.

    python -m bench.growth [--backend sqlite|postgres|both] [--events 1000000]
                           [--window 100000]

Batches of 1,000 sidecar records go through `ingest` (as POST /api/v1/changes runs it:
entity state, diffs, external ids, idempotency keys, scopes, the Merkle tree) into one
organization of a fresh store, half of them creating tasks by external id and half changing
them by it, so every batch looks up external ids and keys among all that came before. The
figure is the rate of the last window over the first: flat is 1.0, the target ≥ 0.9.
Results go to bench/results/growth-<backend>.{json,md}.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from worktrail.auth import principal_for_user
from worktrail.config import Settings
from worktrail.model import EntityType
from worktrail.store import open_store
from worktrail.write import Writer, create_organization, ingest

from .common import ingest_records, print_table, write_results
from .suite import Backend

BATCH = 1000
TARGET = 0.9


def load(url: str, events: int, window: int) -> list[float]:
    """Events per second of each `window` events of an `events`-event load."""
    store = open_store(Settings(database_url=url))
    try:
        store.migrate()
        org = create_organization(store, "Growth", "Owner", "owner@growth.test")
        user = store.get_entity(org.org_id, org.owner_id)
        assert user is not None
        owner = principal_for_user(user)
        writer = Writer(store)
        ws = writer.create(owner, EntityType.WORKSPACE, {"name": "Growth"}).entity
        project = writer.create(owner, EntityType.PROJECT, {"name": "P", "workspace": ws.id})
        rates: list[float] = []
        written, started = 0, time.perf_counter()
        for first in range(0, events, BATCH):
            ingest(store, owner, ingest_records(first, project.entity.id), BATCH)
            written += BATCH
            if written % window == 0:
                now = time.perf_counter()
                rates.append(window / (now - started))
                print(f"    {written:>9,} events: {rates[-1]:,.0f} events/s", flush=True)
                started = now
        return rates
    finally:
        store.close()


def run_backend(kind: str, events: int, window: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-growth-") as tmp:
        backend = Backend(kind, Path(tmp))
        try:
            rates = load(backend.url("growth", fresh=True), events, window)
        finally:
            backend.close()
    return {
        "backend": kind,
        "events": events,
        "window": window,
        "events_per_s_by_window": rates,
        "first_window_events_per_s": rates[0],
        "last_window_events_per_s": rates[-1],
        "last_to_first_ratio": rates[-1] / rates[0],
        "target_ratio": TARGET,
    }


def table_for(results: dict[str, Any]) -> list[list[str]]:
    window = results["window"]
    return [
        ["figure", "value", "target"],
        [f"first {window:,} events", f"{results['first_window_events_per_s']:,.0f} events/s", ""],
        [f"last {window:,} events", f"{results['last_window_events_per_s']:,.0f} events/s", ""],
        ["last ÷ first", f"{results['last_to_first_ratio']:.2f}", f"≥ {TARGET}"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=100_000)
    args = parser.parse_args()
    if args.events < args.window or args.window % BATCH:
        parser.error(f"--window must be a multiple of {BATCH} and at most --events")
    kinds = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for kind in kinds:
        print(f"{kind}: ingest of {args.events:,} events ...", flush=True)
        results = run_backend(kind, args.events, args.window)
        table = table_for(results)
        print_table(table)
        print(f"results: {write_results(f'growth-{kind}', results, table)}")


if __name__ == "__main__":
    main()
