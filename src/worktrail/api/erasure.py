"""Erasure of a person (the right to be forgotten), owners only:

    POST /api/v1/users/{id}/erase   → 200 {"data": {"events_redacted", "values_redacted",
                                     "entities_redacted", "legacy_events_kept", "event", …}}

Their name, email and the free text they wrote read "[erased]" in every event and every
API from then on; hashes, the chain, the Merkle tree and proofs stay valid (personal
values are hashed as salted commitments: docs/integrity.md). An event held by a legal
hold refuses it: 409 naming the holds (`holds`), nothing erased. Again: 200, nothing more
to do.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path
from starlette.responses import Response

from ..auth import check_owner
from ..model import MAX_ID
from ..web.deps import PrincipalDep, ServicesDep

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.post(
    "/{user_id}/erase",
    summary="Erase a person's name, email and free text from the history (owners)",
)
def erase_user(
    user_id: Annotated[int, Path(ge=1, le=MAX_ID)], principal: PrincipalDep, services: ServicesDep
) -> Response:
    check_owner(principal)
    summary = services.writer.erase_person(principal, user_id)
    return Response(orjson.dumps({"data": summary}), media_type="application/json")
