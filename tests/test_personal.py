"""Personal values hashed as salted commitments: the test vector of docs/integrity.md,
checked against worktrail and against a plain reading of the text; new events carry a
salt per personal value; events of version 1 verify as they always did."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from worktrail.chain import canonical_bytes, event_hash
from worktrail.integrity.commitments import commitment, unb64url
from worktrail.integrity.events import rendered_body
from worktrail.verify import verify_chain

from .conftest import Org, Tree
from .tamper import rebuild, sql

DOC = Path(__file__).resolve().parent.parent / "docs" / "integrity.md"


def vector() -> dict[str, Any]:
    text = DOC.read_text()
    section = text[text.index("## Personal values") : text.index("## The Merkle tree")]
    [block] = re.findall(r"```json\n(.*?)```", section, re.S)
    found: dict[str, Any] = json.loads(block)
    return found


def test_the_documented_vector() -> None:
    v = vector()
    salt = base64.urlsafe_b64decode(v["salt"] + "=")
    assert salt == bytes(range(32))
    value = v["event"]["after"]["text"]
    digest = hashlib.sha256(salt + json.dumps(value).encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == v["commitment"]
    assert commitment(unb64url(v["salt"]), value) == v["commitment"]
    body = rendered_body(v["event"])
    assert body["after"]["text"] == {"$c": v["commitment"]}
    assert event_hash(body) == v["event"]["hash"]
    text = DOC.read_text()
    assert canonical_bytes(body).decode() in text  # the hashed body as the text shows it
    erased = {**v["event"], **v["erased"]}
    assert event_hash(rendered_body(erased)) == v["event"]["hash"]
    # a value, a salt or a commitment altered: another hash
    for change in (
        {"after": {"task": 5, "text": "Looks bad"}},
        {"personal": {"/after/text": "B" + v["salt"][1:]}},
        {"personal": {"/after/text": {"$c": "B" + v["commitment"][1:]}}},
    ):
        assert event_hash(rendered_body({**v["event"], **change})) != v["event"]["hash"]


def test_new_events_commit_each_personal_value_with_its_own_salt(org: Org, tree: Tree) -> None:
    org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": "write the plan"})
    events = org.get("/api/v1/events", params={"order": "oldest", "limit": 100}).json()["data"]
    updated = events[-1]
    assert updated["schema_version"] == 2
    assert sorted(updated["personal"]) == [
        "/actor/email",
        "/actor/name",
        "/after/notes",
        "/changes/0/new",
    ]
    salts = list(updated["personal"].values())
    assert len(set(salts)) == 4 and all(len(unb64url(s)) == 32 for s in salts)
    assert updated["after"]["notes"] == "write the plan"  # readable as ever
    assert event_hash(rendered_body(updated)) == updated["hash"]
    created = events[0]  # the organization's own first event: no actor, nothing personal
    assert "personal" not in created
    one = org.get(f"/api/v1/events/{updated['id']}").json()
    assert one == updated
    ndjson = org.get("/api/v1/events", params={"format": "ndjson", "limit": 1000}).text
    assert json.loads(ndjson.splitlines()[0])["personal"] == updated["personal"]


def test_events_of_version_1_still_verify(org: Org, tree: Tree) -> None:
    """An event written before commitments: its values hashed as they are."""
    events = org.get("/api/v1/events", params={"order": "oldest", "limit": 100}).json()["data"]
    last = events[-1]
    old = {**last, "schema_version": 1}
    old.pop("personal")
    digest = event_hash(rendered_body(old))
    sql(
        org.store,
        "UPDATE events SET schema_version = 1, personal = NULL, hash = :h "
        "WHERE org_id = :o AND seq = :s",
        h=digest,
        o=org.id,
        s=last["seq"],
    )
    sql(org.store, "UPDATE orgs SET last_hash = :h WHERE id = :o", h=digest, o=org.id)
    rebuild(org.store, org.id)
    sql(org.store, "DELETE FROM checkpoints WHERE org_id = :o", o=org.id)
    assert verify_chain(org.store, org.id).ok
    stored = org.get(f"/api/v1/events/{last['id']}").json()
    assert stored["schema_version"] == 1 and "personal" not in stored
    assert event_hash(rendered_body(stored)) == digest
