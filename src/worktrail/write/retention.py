"""Retention runs: each organization's policy (its settings) turned into cutoffs, and its
expired events removed by the store (store/retention.py), whole partitions first where
the database has them. Run by hand (`worktrail retention run`) and in the background
(worker/retention.py); a run is idempotent: a second one finds nothing more to remove.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..diff import now_micros
from ..errors import NotFound
from ..model import Cutoffs, RetentionPolicy, RetentionReport
from ..store import Store

# (organization, events looked at, events to look at)
RunProgress = Callable[[int, int, int], None]


def policy_of(store: Store, org_id: int) -> RetentionPolicy:
    org = store.get_org(org_id)
    if org is None:
        raise NotFound(f"organization {org_id} does not exist")
    return RetentionPolicy.of_settings(org.settings)


def set_policy(store: Store, org_id: int, policy: RetentionPolicy) -> RetentionPolicy:
    """Keep the policy in the organization's settings (like every organization setting,
    outside its history)."""
    store.update_org_settings(org_id, policy.as_settings())
    return policy_of(store, org_id)


def run_retention(
    store: Store,
    org_ids: Iterable[int] | None = None,
    *,
    now: int | None = None,
    dry_run: bool = False,
    progress: RunProgress | None = None,
) -> list[RetentionReport]:
    """Expire what each organization's policy says is due at `now`: partitions whose
    every event is expired and unheld are dropped whole (where the database is
    partitioned), the rest deleted in batches. One report per organization with a policy."""
    at = now_micros() if now is None else now
    orgs = {org.id: org for org in store.list_orgs()}
    wanted = sorted(orgs) if org_ids is None else sorted(org_ids)
    cutoffs: dict[int, Cutoffs] = {}
    for org_id in wanted:
        if org_id not in orgs:
            raise NotFound(f"organization {org_id} does not exist")
        policy = RetentionPolicy.of_settings(orgs[org_id].settings)
        if policy.expires_anything:
            cutoffs[org_id] = policy.cutoffs(at)
    dropped: dict[int, Any] = {}
    if not dry_run and org_ids is None:
        dropped = store.retention.drop_expired_partitions(cutoffs)
    reports = []
    for org_id, cut in cutoffs.items():

        def report(done: int, total: int, org_id: int = org_id) -> None:
            if progress:
                progress(org_id, done, total)

        found = store.retention.expire(org_id, cut, dry_run=dry_run, progress=report)
        from_partitions = dropped.get(org_id)
        if from_partitions:
            found = RetentionReport(
                org_id,
                found.expired + from_partitions[0],
                found.held,
                found.pruned_through,
                tuple(from_partitions[1]),
                dry_run,
            )
        reports.append(found)
    return reports
