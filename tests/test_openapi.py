"""The OpenAPI document tells the truth: schemathesis runs every operation against it, with
a fixed seed and a bounded number of examples, and every check it has passes — status
codes, content types, response schemas, required headers, Allow on 405, authentication,
and schema-violating data rejected — but one: positive data acceptance, which would need
business rules in the schema ("the referenced project exists", "the sync token is
current"); those answers are 4xx the document lists.

The store holds a small organization, so that some generated ids exist."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from worktrail.app import create_app
from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.store import open_store
from worktrail.write import create_organization

SEED = 20261207
EXAMPLES = 12
# A request too large to read is refused as well: 413, 414 and 431 count as rejections.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "414", "415"]
REJECTIONS += ["422", "429", "431"]


def config(token: str, org_id: int) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": EXAMPLES},
            "checks": {
                "positive_data_acceptance": {"enabled": False},
                "negative_data_rejection": {"expected-statuses": REJECTIONS},
            },
            "auth": {
                "openapi": {
                    "bearerAuth": {"bearer": token},
                    "trackerOAuth": {"api_key": f"OAuth {token}"},
                    "trackerOrg": {"api_key": str(org_id)},
                }
            },
        }
    )


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    path: Path = tmp_path_factory.mktemp("openapi") / "openapi.db"
    settings_ = Settings(
        database_url=f"sqlite:///{path}",
        secret="openapi",
        rate_limit_per_minute=0,
        auth_failures_per_minute=0,
    )
    store = open_store(settings_)
    store.migrate()
    org = create_organization(store, "Acme", "Olivia Owner", "olivia@acme.test")
    _, token = create_token(store, org.org_id, org.owner_id, "openapi")
    app = create_app(settings_, store)
    with TestClient(app) as client:  # a small tree, so that some ids exist
        headers = {"Authorization": f"Bearer {token}"}
        ws = client.post("/api/v1/workspaces", json={"name": "Eng"}, headers=headers).json()
        project = client.post(
            "/api/v1/projects",
            json={"name": "Launch", "workspace": ws["data"]["id"]},
            headers=headers,
        ).json()
        client.post(
            "/api/v1/tasks",
            json={"name": "Plan", "project": project["data"]["id"]},
            headers=headers,
        )
    yield schemathesis.openapi.from_asgi("/openapi.json", app, config=config(token, org.org_id))
    store.close()


schema = schemathesis.pytest.from_fixture("api")


# one test running every operation as a subtest: ~2 minutes on a quiet machine, several
# when it is busy, beyond the suite's 300 s per-test limit
@pytest.mark.timeout(900)
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_to_the_document(case: Any) -> None:
    case.call_and_validate()


def test_the_document_names_every_error_shape(api: Any) -> None:
    document = api.raw_schema
    operations = [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) > 90
    for path, method, operation in operations:
        responses = operation["responses"]
        assert {"400", "404", "405", "413", "429", "500", "503"} <= set(responses), (path, method)
        assert responses["405"]["headers"]["Allow"]["required"] is True
        assert responses["503"]["headers"]["Retry-After"]["required"] is True
        native = path.startswith("/api/v1/") and not path.startswith("/api/v1/subscribed")
        media = next(iter(responses["404"]["content"]))
        assert (media == "application/problem+json") == native, (path, media)
        assert "security" in operation, (path, method)
