"""The demo tenant, its staff and students, and the item bank loaded through the authoring API."""

from __future__ import annotations

import json
import uuid

import httpx
import redis
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert

from demo.item_bank import ItemSpec, TopicSpec
from demo.simulator import ApiFailure, TrueItem
from qbank.db import session_scope
from qbank.models import Tenant, User
from qbank.passwords import hash_password
from serving_api.services.exposure import counter_key, today

TENANT_SLUG = "demo-med"
STAFF = {
    "admin": ("admin@demo-med.example", "Avery Admin", ["admin"]),
    "author": ("author@demo-med.example", "Ada Author", ["author"]),
    "publisher": ("publisher@demo-med.example", "Pat Publisher", ["publisher"]),
    "student": ("student@demo-med.example", "Sam Student", ["student"]),
}
DEMO_PASSWORD = "qbank-demo-2026"
# One class: the demo student's percentile is over the ~1,650 simulated students who answer the
# same exam code (two cohorts left the demo student alone in a third, "50th of 1").
DEMO_COHORT = "class-2026"


def new_exposure_day(redis_url: str, namespace: str, tenant_id: uuid.UUID) -> int:
    """Operator step: clear today's daily exposure counters of the demo tenant.

    A demo run packs weeks of students into minutes and every run reuses the same questions, so
    a second run on the same day would start with items at the daily cap (500) and adaptive
    selection would work around them. Each run therefore stands for a new day. The API forgets
    the items it learned were capped within a minute. Returns the number of counters cleared."""
    client = redis.Redis.from_url(redis_url)
    try:
        pattern = counter_key(namespace, tenant_id, "*", today())
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


def ensure_tenant(engine) -> uuid.UUID:
    """The operator step (`qbank tenant create`), idempotent; staff share the demo password."""
    with session_scope(engine) as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == TENANT_SLUG))
        if tenant is None:
            tenant = Tenant(slug=TENANT_SLUG, name="Demo Medical School")
            s.add(tenant)
            s.flush()
        pw = hash_password(DEMO_PASSWORD)
        for email, name, roles in STAFF.values():
            s.execute(
                insert(User)
                .values(
                    tenant_id=tenant.id,
                    email=email,
                    display_name=name,
                    password_hash=pw,
                    roles=roles,
                    cohort=DEMO_COHORT,
                )
                .on_conflict_do_nothing()
            )
        # Accounts made by an earlier demo (another cohort then) join the class too.
        s.execute(
            text(
                "UPDATE users SET cohort = :c WHERE tenant_id = :t AND 'student' = ANY(roles) "
                "AND cohort <> :c"
            ),
            {"c": DEMO_COHORT, "t": tenant.id},
        )
        return tenant.id


def create_students(engine, tenant_id: uuid.UUID, prefix: str, n: int) -> list[str]:
    """Bulk-create simulated students (operator seeding: one shared password hash, so 1,800
    students do not cost 1,800 argon2 hashes); returns their e-mails."""
    pw = hash_password(DEMO_PASSWORD)
    emails = [f"{prefix}-{i:05d}@sim.demo-med.example" for i in range(n)]
    rows = [
        dict(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            email=e,
            display_name=f"Simulated {prefix} {i}",
            password_hash=pw,
            roles=["student"],
            cohort=DEMO_COHORT,
        )
        for i, e in enumerate(emails)
    ]
    with session_scope(engine) as s:
        s.execute(insert(User).values(rows).on_conflict_do_nothing())
    return emails


def login(client: httpx.Client, email: str, password: str = DEMO_PASSWORD) -> str:
    r = client.post("/v1/auth/login", json={"email": email, "password": password})
    if r.status_code != 200:
        raise ApiFailure(f"login {email}: HTTP {r.status_code} {r.text[:200]}")
    return r.json()["access_token"]


def mock_tokens(client: httpx.Client, emails: list[str]) -> list[str]:
    """Tokens for simulated students through the dev-only mock login (no argon2 per student)."""
    out = []
    for e in emails:
        r = client.post("/v1/auth/mock-login", json={"email": e})
        if r.status_code != 200:
            raise ApiFailure(f"mock-login {e}: HTTP {r.status_code} {r.text[:200]}")
        out.append(r.json()["access_token"])
    return out


def _ok(r: httpx.Response, what: str) -> dict | list:
    if r.status_code >= 400:
        raise ApiFailure(f"{what}: HTTP {r.status_code} {r.text[:300]}")
    return r.json()


def ensure_topics(client: httpx.Client, token: str, topics: list[TopicSpec]) -> dict[str, int]:
    """Topic id per blueprint code, creating what is missing (parents first)."""
    h = {"Authorization": f"Bearer {token}"}
    existing = {
        t["blueprint_code"]: t["id"] for t in _ok(client.get("/v1/topics", headers=h), "topics")
    }
    for t in topics:
        if t.blueprint_code in existing:
            continue
        body = {
            "name": t.name,
            "blueprint_code": t.blueprint_code,
            "parent_id": existing[t.parent_code] if t.parent_code else None,
        }
        existing[t.blueprint_code] = _ok(client.post("/v1/topics", json=body, headers=h), "topic")[
            "id"
        ]
    return existing


def load_bank(
    client: httpx.Client,
    tokens: dict[str, str],
    items: list[ItemSpec],
    topic_ids: dict[str, int],
    exam_code: str,
) -> dict[int, TrueItem]:
    """Author imports (JSON lines) and submits; publisher approves and publishes to `exam_code`.
    Questions already in the bank (a second demo) are published to the new exam code."""
    author = {"Authorization": f"Bearer {tokens['author']}"}
    publisher = {"Authorization": f"Bearer {tokens['publisher']}"}
    known = {q["external_ref"]: q for q in _list_questions(client, author)}
    fresh = [it for it in items if it.external_ref not in known]
    if fresh:
        body = "\n".join(
            json.dumps(it.payload() | {"topic_id": topic_ids[it.topic_code]}) for it in fresh
        )
        report = _ok(
            client.post(
                "/v1/questions/import?submit=true",
                content=body.encode(),
                headers=author | {"Content-Type": "application/x-ndjson"},
            ),
            "import",
        )
        if report["rejected"]:
            bad = [ln for ln in report["lines"] if ln["status"] == "rejected"][:3]
            raise ApiFailure(f"import rejected {report['rejected']} lines, e.g. {bad}")
        known = {q["external_ref"]: q for q in _list_questions(client, author)}
    truth: dict[int, TrueItem] = {}
    for it in items:
        q = known[it.external_ref]
        qid, v = q["id"], q["latest_version"]
        if q["latest_state"] == "review":
            _ok(
                client.post(
                    f"/v1/questions/{qid}/versions/{v}/approve", json={}, headers=publisher
                ),
                "approve",
            )
        if exam_code not in q["live"]:
            _ok(
                client.post(
                    f"/v1/questions/{qid}/versions/{v}/publish",
                    json={"exam_codes": [exam_code]},
                    headers=publisher,
                ),
                "publish",
            )
        truth[qid] = TrueItem(a=it.a, b=it.b, c=it.c, key=it.correct_label)
    return truth


def _list_questions(client: httpx.Client, headers: dict) -> list[dict]:
    out, offset = [], 0
    while True:
        page = _ok(
            client.get("/v1/questions", params={"limit": 500, "offset": offset}, headers=headers),
            "list questions",
        )
        out += page
        if len(page) < 500:
            return out
        offset += 500


def next_exam_code(engine) -> str:
    """DEMO-1, DEMO-2, ...: each demo run starts cold on its own exam code, same bank."""
    with engine.connect() as c:
        n = c.execute(
            text(
                "SELECT count(DISTINCT exam_code) FROM question_publications p JOIN tenants t "
                "ON t.id = p.tenant_id WHERE t.slug = :s AND exam_code LIKE 'DEMO-%'"
            ),
            {"s": TENANT_SLUG},
        ).scalar_one()
    return f"DEMO-{n + 1}"
