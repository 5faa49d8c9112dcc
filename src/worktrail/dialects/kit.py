"""What every dialect needs besides its own wire format.

- `VendorError`: the base of each dialect's error (HTTP status, message, extra headers);
  each dialect adds what its envelope carries and renders it.
- `JsonResponder`: JSON bodies with the vendor's media type.
- `admit`: the per-client rate limit, refused in the vendor's words.
- `now`: the service's clock, so that time windows can be tested.
- `base_url`: where clients reach this server, for the absolute links vendors give.
- `Names`, `referenced_ids`, `task_of`: the entities a page's renderings name, found by
  walking its events and loaded once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from .. import metrics
from ..errors import WorktrailError
from ..model import ENTITY_SPECS, EntityRow, EntityType, Event
from ..query import Reader
from ..web.services import Services


@dataclass(eq=False)
class VendorError(WorktrailError):
    """An error in a vendor's terms: the HTTP status, the message and extra headers. Each
    dialect's error is a dataclass that adds the fields its envelope carries."""

    # field(): no default, although WorktrailError has a class attribute `status`
    status: int = field()
    message: str = field()
    headers: dict[str, str] = field(default_factory=dict, kw_only=True)

    def __post_init__(self) -> None:
        WorktrailError.__init__(self, self.message, headers=self.headers)


@dataclass(frozen=True)
class JsonResponder:
    """JSON responses with one vendor's media type."""

    media_type: str

    def __call__(
        self,
        body: Any,
        status: int = 200,
        headers: dict[str, str] | None = None,
        *,
        pretty: bool = False,
    ) -> Response:
        option = orjson.OPT_INDENT_2 if pretty else 0
        return Response(
            orjson.dumps(body, option=option),
            status_code=status,
            media_type=self.media_type,
            headers=headers,
        )


def admit(
    services: Services, dialect: str, client: str, refuse: Callable[[float], WorktrailError]
) -> None:
    """Count a request of `client` against the dialect's rate limit; when it is over,
    raise `refuse(seconds to wait)`, the vendor's own 429."""
    wait = services.rate_limiter.check(dialect, client)
    if wait is not None:
        metrics.RATE_LIMITED.labels("requests").inc()
        raise refuse(wait)


def now(services: Services) -> int:
    """Now, in microseconds since the epoch: where time windows end."""
    return services.clock()


def base_url(request: Request, services: Services) -> str:
    """The server's base URL as clients reach it: the configured public URL, else the
    request's own, without a trailing slash."""
    return services.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")


@dataclass(frozen=True)
class Names:
    """The entities a page of events refers to, as they are now, by id: what renderings
    show of them (their names) and link to. Load them once per page (`load`)."""

    entities: Mapping[int, EntityRow]

    @classmethod
    def load(cls, reader: Reader, ids: Iterable[int]) -> Names:
        return cls(reader.names(ids))

    def get(self, entity_id: int, entity_type: EntityType | None = None) -> EntityRow | None:
        """The entity, if it is known (and of `entity_type`, when one is named)."""
        entity = self.entities.get(entity_id)
        if entity is None or (entity_type is not None and entity.type is not entity_type):
            return None
        return entity

    def name(self, entity_id: int, default: str = "") -> str:
        """The entity's current name (a user's, a project's, a task's), else `default`."""
        entity = self.entities.get(entity_id)
        name = entity.state.get("name") if entity is not None else None
        return str(name) if name else default


def referenced_ids(
    events: Iterable[Event], refs: Callable[[EntityType], bool] = lambda _: True
) -> set[int]:
    """The ids the events' changes name in reference fields whose target type `refs`
    accepts (by default every reference: users, projects, parent tasks...)."""
    ids: set[int] = set()
    for event in events:
        fields = ENTITY_SPECS[event.subject_type].fields
        for change in event.changes:
            spec = fields.get(change["field"])
            if spec is None or spec.ref is None or not refs(spec.ref):
                continue
            values = [change.get("old"), change.get("new")]
            values += [*(change.get("added") or ()), *(change.get("removed") or ())]
            ids.update(v for v in values if isinstance(v, int))
    return ids


def task_of(event: Event) -> int | None:
    """The task an event is about: its subject, or the task a comment is on."""
    if event.subject_type is EntityType.TASK:
        return event.subject_id
    if event.subject_type is EntityType.COMMENT:
        task = (event.after or event.before or {}).get("task")
        return task if isinstance(task, int) else None
    return None
