"""Integrity: what the Merkle tree costs and how fast its proofs are made and checked.

    python -m bench.integrity [--events 1000000] [--backend sqlite|postgres|both]
                              [--rounds 5] [--samples 2000]

On the suite's demo store of `events` events (bench/suite.py builds it once), per database:

- **proof generation**: inclusion proofs of random events at the tree's full size, and
  consistency proofs between random sizes, as the store makes them (one statement of
  point reads); p50 and p99 of `samples` each, and of the whole read an API request does
  (`Reader.inclusion_proof`: the event, the checkpoint, the proof).
- **append and ingest, with and without the tree**: batches of 1,000 events appended in
  one write transaction each (`Store.write` + `append`), and batches of 1,000 sidecar
  records through `ingest` (as POST /api/v1/changes runs them), into organizations of
  the same store; runs with the tree's maintenance and runs without it (the store's
  `grow` made a no-op) take turns within each round, the first of them alternating. The
  figure is the median of the rounds' ratios.
- **bundle verification**: the demo organization's whole history exported as a bundle,
  then checked offline (`verify_bundle`) with one process per CPU and with one;
  events per second.

Every figure is the median of `rounds` runs (proof latencies: of all samples). Results go
to bench/results/integrity-<backend>.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from functools import partial
from typing import Any

from worktrail.auth import principal_for_user
from worktrail.config import Settings
from worktrail.integrity.bundle import default_jobs, verify_bundle
from worktrail.integrity.note import VerifierKey
from worktrail.model import Action, Actor, EntityType, NewEvent, Scope
from worktrail.query import Reader
from worktrail.store import Store
from worktrail.write import Notary, Writer, create_organization, ingest

from .common import ingest_records, percentile, print_table, summary, write_results
from .suite import ROOT, Backend, demo_store

BATCH = 1000
TARGET_PROOF_P99_MS = 5.0
TARGET_TREE_RATIO = 0.90
TARGET_VERIFY_PER_S = 500_000


def _ms(samples: list[float]) -> dict[str, float]:
    return {"p50": percentile(samples, 0.5), "p99": percentile(samples, 0.99), "n": len(samples)}


def _timed(samples: list[float], cpu: list[float], run: Any) -> None:
    """Run `run()`, noting its wall time and its thread's CPU time, in ms: on a shared
    machine the wall time's tail is mostly waits for a CPU (a scheduler's time slice is
    several milliseconds), which the CPU time leaves out."""
    wall, used = time.perf_counter(), time.thread_time()
    run()
    samples.append((time.perf_counter() - wall) * 1000)
    cpu.append((time.thread_time() - used) * 1000)


def proof_figures(store: Store, org_id: int, samples: int) -> dict[str, Any]:
    size = store.head_seq(org_id)
    rng = random.Random(1)
    wall: dict[str, list[float]] = {"inclusion": [], "consistency": [], "request": []}
    cpu: dict[str, list[float]] = {name: [] for name in wall}
    for _ in range(samples):
        index, first = rng.randrange(size), rng.randrange(1, size)
        _timed(
            wall["inclusion"],
            cpu["inclusion"],
            partial(store.integrity.inclusion, org_id, index, size),
        )
        _timed(
            wall["consistency"],
            cpu["consistency"],
            partial(store.integrity.consistency, org_id, first, size),
        )
    reader = Reader.whole(store, org_id)
    latest = reader.checkpoint().tree_size
    for _ in range(samples):
        seq = rng.randrange(1, latest + 1)
        _timed(wall["request"], cpu["request"], partial(reader.inclusion_proof, seq, None))
    out: dict[str, Any] = {"tree_size": size}
    for name, key in (
        ("inclusion", "inclusion_proof"),
        ("consistency", "consistency_proof"),
        ("request", "proof_request_reads"),
    ):
        out[f"{key}_ms"] = _ms(wall[name])
        out[f"{key}_cpu_ms"] = _ms(cpu[name])
    return out


def event_batch(first: int, now: int) -> list[NewEvent]:
    """1,000 events: tasks created, then their tags changed (as bench/peers.py appends)."""
    actor = Actor(7, "Bench Writer", "writer@bench.test")
    out = []
    for n in range(first, first + BATCH, 2):
        before = {"name": f"task {n}", "project": 4197, "tags": [], "notes": "x" * 200}
        after = {**before, "tags": ["needs-review", "urgent"]}
        scopes = [Scope(EntityType.TASK, n + 1), Scope(EntityType.PROJECT, 4197)]
        change = [{"field": "tags", "added": ["needs-review", "urgent"], "removed": []}]
        for action, changes, old, new in (
            (Action.CREATED, [], None, before),
            (Action.UPDATED, change, before, after),
        ):
            out.append(
                NewEvent(action, EntityType.TASK, n + 1, changes, old, new, scopes, actor, now)
            )
    return out


def tree_cost(store: Store, rounds: int, batches: int) -> dict[str, Any]:
    """Appends and ingest with the tree and without it, in turns, into organizations of
    their own (the store's other organizations' trees untouched)."""
    grow = store.integrity.grow
    orgs, principals, projects = {}, {}, {}
    for mode in ("tree", "no_tree"):
        created = create_organization(store, f"Tree cost {mode} {time.time()}", "B", "b@b.test")
        orgs[mode] = created.org_id
        user = store.get_entity(created.org_id, created.owner_id)
        assert user is not None
        principals[mode] = principal_for_user(user)
        writer = Writer(store)
        ws = writer.create(principals[mode], EntityType.WORKSPACE, {"name": "W"}).entity
        values = {"name": "P", "workspace": ws.id}
        projects[mode] = writer.create(principals[mode], EntityType.PROJECT, values).entity.id
    rates: dict[str, list[float]] = {}
    counter = {"tree": 0, "no_tree": 0}
    try:
        for r in range(rounds):  # in turns, each first every other round: drift hits both
            for mode in ("tree", "no_tree") if r % 2 == 0 else ("no_tree", "tree"):
                # without: the store computes and writes no node (the no_tree organization's
                # tree is left incomplete, so it must never get the tree back)
                maintain: Any = grow if mode == "tree" else _no_nodes
                store.integrity.grow = maintain  # type: ignore[method-assign]
                n = counter[mode]
                started = time.perf_counter()
                for b in range(batches):
                    with store.write(orgs[mode]) as tx:
                        for event in event_batch(n + b * BATCH, tx.now):
                            tx.append(event)
                rates.setdefault(f"append_{mode}", []).append(
                    batches * BATCH / (time.perf_counter() - started)
                )
                started = time.perf_counter()
                for b in range(batches):
                    records = ingest_records(n + b * BATCH, projects[mode])
                    ingest(store, principals[mode], records, BATCH)
                rates.setdefault(f"ingest_{mode}", []).append(
                    batches * BATCH / (time.perf_counter() - started)
                )
                counter[mode] += batches * BATCH
    finally:
        store.integrity.grow = grow  # type: ignore[method-assign]
    out: dict[str, Any] = {f"{k}_events_per_s": summary(v) for k, v in rates.items()}
    for kind in ("append", "ingest"):
        pairs = zip(rates[f"{kind}_tree"], rates[f"{kind}_no_tree"], strict=True)
        # the median of each round's ratio: a round's two runs share the machine's mood
        out[f"{kind}_tree_ratio"] = summary([a / b for a, b in pairs])["median"]
    return out


def _no_nodes(*_args: Any) -> list[tuple[Any, ...]]:
    return []


def bundle_figures(store: Store, settings: Settings, org_id: int, rounds: int) -> dict[str, Any]:
    from worktrail.cli_integrity import write_bundle
    from worktrail.model import EventQuery

    path = ROOT / ".data" / f"bundle-{store.dialect_name}.ndjson"
    started = time.perf_counter()
    with path.open("wb") as out:
        count = write_bundle(store, settings, org_id, EventQuery(org_id=org_id), out)
    exported = time.perf_counter() - started
    keys = [
        VerifierKey(Notary(store, settings).origin(org_id), k.public_key)
        for k in store.integrity.signing_keys()
    ]
    jobs = default_jobs()
    rates: dict[str, list[float]] = {"parallel": [], "one_process": []}
    cpu: list[float] = []
    for _ in range(rounds):
        for name, n in (("parallel", jobs), ("one_process", 1)):
            started, cpu_started = time.perf_counter(), _cpu()
            report = verify_bundle(path, keys, n)
            elapsed = time.perf_counter() - started
            if report.events != count:
                raise RuntimeError(f"verified {report.events} events of {count}")
            rates[name].append(count / elapsed)
            if name == "one_process":
                cpu.append(count / (_cpu() - cpu_started))
    return {
        "bundle_events": count,
        "bundle_bytes": path.stat().st_size,
        "bundle_export_events_per_s": count / exported,
        "verify_jobs": jobs,
        "verify_parallel_events_per_s": summary(rates["parallel"]),
        "verify_one_process_events_per_s": summary(rates["one_process"]),
        "verify_one_process_events_per_cpu_s": summary(cpu),
    }


def _cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


FIGURES = ("proofs", "bundle", "tree")


def run_backend(
    kind: str, events: int, rounds: int, samples: int, figures: tuple[str, ...] = FIGURES
) -> dict[str, Any]:
    backend = Backend(kind, ROOT / ".data")
    try:
        url, store, org_id, _ = demo_store(backend, events)
        settings = Settings(
            database_url=url, integrity_key_file=str(ROOT / ".data" / "integrity.key")
        )
        Notary(store, settings).issue(org_id)  # a checkpoint of the whole history
        results: dict[str, Any] = {"backend": kind, "events": store.head_seq(org_id)}
        results["load_average_before"] = os.getloadavg()
        if "proofs" in figures:
            print(f"[{kind}] proofs ...", flush=True)
            results.update(proof_figures(store, org_id, samples))
        if "bundle" in figures:
            print(f"[{kind}] bundle ...", flush=True)
            results.update(bundle_figures(store, settings, org_id, rounds))
        if "tree" in figures:
            print(f"[{kind}] appends and ingest with and without the tree ...", flush=True)
            results.update(tree_cost(store, rounds, batches=5))
        results["load_average_after"] = os.getloadavg()
        store.close()
        return results
    finally:
        backend.close()


def table_for(r: dict[str, Any]) -> list[list[str]]:
    """The table of the figures measured (those of the groups that ran)."""

    def rate(key: str) -> str:
        s = r[key]
        return f"{s['median']:,.0f} ({s['min']:,.0f} to {s['max']:,.0f})"

    def ms(key: str) -> str:
        return f"{r[key]['p50']:.2f} / {r[key]['p99']:.2f}"

    def ok(good: bool) -> str:
        return "yes" if good else "NO"

    rows = [["figure", "value", "target", "met"]]
    if "inclusion_proof_ms" in r:
        p99 = r["inclusion_proof_ms"]["p99"]
        rows += [
            [
                f"inclusion proof at {r['tree_size']:,} events, p50 / p99 ms",
                ms("inclusion_proof_ms"),
                f"p99 ≤ {TARGET_PROOF_P99_MS:g}",
                ok(p99 <= TARGET_PROOF_P99_MS),
            ],
            [
                "inclusion proof, its own CPU time, p50 / p99 ms",
                ms("inclusion_proof_cpu_ms"),
                "",
                "",
            ],
            ["consistency proof, p50 / p99 ms", ms("consistency_proof_ms"), "", ""],
            ["a proof request's reads, p50 / p99 ms", ms("proof_request_reads_ms"), "", ""],
        ]
    if "append_tree_ratio" in r:
        for kind in ("append", "ingest"):
            ratio = r[f"{kind}_tree_ratio"]
            rows += [
                [f"{kind} with the tree, events/s", rate(f"{kind}_tree_events_per_s"), "", ""],
                [f"{kind} without it, events/s", rate(f"{kind}_no_tree_events_per_s"), "", ""],
                [
                    f"{kind}: with / without",
                    f"{ratio:.1%}",
                    f"≥ {TARGET_TREE_RATIO:.0%}",
                    ok(ratio >= TARGET_TREE_RATIO),
                ],
            ]
    if "verify_jobs" in r:
        parallel = r["verify_parallel_events_per_s"]["median"]
        rows += [
            ["bundle export, events/s", f"{r['bundle_export_events_per_s']:,.0f}", "", ""],
            [
                f"bundle verification, {r['verify_jobs']} processes, events/s",
                rate("verify_parallel_events_per_s"),
                f"≥ {TARGET_VERIFY_PER_S:,}",
                ok(parallel >= TARGET_VERIFY_PER_S),
            ],
            [
                "bundle verification, 1 process, events/s",
                rate("verify_one_process_events_per_s"),
                "",
                "",
            ],
            [
                "bundle verification, events per CPU-second",
                rate("verify_one_process_events_per_cpu_s"),
                "",
                "",
            ],
        ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument(
        "--figures", default=",".join(FIGURES), help="a subset of " + ",".join(FIGURES)
    )
    args = parser.parse_args()
    figures = tuple(f.strip() for f in args.figures.split(","))
    kinds = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for kind in kinds:
        results = run_backend(kind, args.events, args.rounds, args.samples, figures)
        table = table_for(results)
        print_table(table)
        suffix = "" if figures == FIGURES else "-" + "-".join(figures)
        path = write_results(f"integrity-{kind}{suffix}", results, table)
        print(f"written to {path}", flush=True)


if __name__ == "__main__":
    main()
