"""Health checks for whatever runs the server (systemd, a load balancer, Kubernetes):

- `GET /healthz`, liveness: the process answers. Nothing else is looked at, so a database
  outage never gets a healthy process restarted.
- `GET /readyz`, readiness: the database answers, its schema is at the revision this
  worktrail migrates to, and the background workers this process runs (the webhook
  delivery worker, when `serve` runs one) are alive. 200 when all are, else 503 naming
  the failing part. Its cost: two small reads of the schema's version table. With read
  replicas, `replicas` names each one's state (ok, down, lagging, not a standby): a
  replica that is not ok only sends its reads to the primary, so it leaves the service
  ready.

Both are outside authentication and the OpenAPI document, and answer JSON.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from anyio import to_thread
from fastapi import APIRouter, Request
from starlette.responses import Response

from ..errors import WorktrailError
from ..store.health import schema_state
from .services import Services, services_of

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    services = services_of(request)
    workers: dict[str, asyncio.Task[None]] = getattr(request.app.state, "workers", {})
    checks = await to_thread.run_sync(_database_checks, services)
    for name, task in workers.items():
        checks[name] = "stopped" if task.done() else "ok"
    ready = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "unready", "checks": checks}
    replicas = await to_thread.run_sync(services.store.replica_states)
    if replicas:
        body["replicas"] = replicas
    return Response(
        orjson.dumps(body), status_code=200 if ready else 503, media_type="application/json"
    )


def _database_checks(services: Services) -> dict[str, str]:
    try:
        revision, head = schema_state(services.store)
    except WorktrailError:  # the store has logged the driver's words
        return {"database": "unreachable", "schema": "unknown"}
    if revision == head:
        schema = "ok"
    else:
        schema = f"at {revision or 'nothing'}, expected {head}: run `worktrail migrate`"
    return {"database": "ok", "schema": schema}
