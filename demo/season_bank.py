"""The season's exam codes: a tenant each, its bank loaded and changed through the authoring API,
and the truth kept aside.

Every version served has true 3PL parameters, keyed by (question_id, version): a new item gets
fresh ones, a `minor` edit keeps its question's, a `substantive` edit draws new ones (a new item
psychometrically), and a compromised item keeps its version but answers with b lowered by 1.0
(students have seen it beforehand). The choices — which items are edited, retired, compromised —
come from the seed, so the same seed makes the same season (timing noise aside).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace

import httpx
import numpy as np
from sqlalchemy import select, text

from demo.item_bank import ItemSpec, generate_bank
from demo.setup import _list_questions, _ok, ensure_topics, login
from demo.simulator import ApiFailure, TrueItem
from qbank.db import session_scope
from qbank.models import Tenant, User
from qbank.passwords import hash_password

PASSWORD = "qbank-season-2026"


@dataclass
class ExamCode:
    """One exam code of one tenant: its staff tokens, topics, live versions and their truth."""

    name: str  # short label for the table, e.g. "A/S-1"
    tenant_id: uuid.UUID
    tenant_slug: str
    exam_code: str
    seed: int
    tokens: dict[str, str] = field(default_factory=dict)
    topic_ids: dict[str, int] = field(default_factory=dict)
    # (question_id, version) → truth of that version as served (compromise applied).
    truth: dict[tuple[int, int], TrueItem] = field(default_factory=dict)
    # question_id → the live version and its authoring spec (for edits).
    live: dict[int, int] = field(default_factory=dict)
    specs: dict[int, ItemSpec] = field(default_factory=dict)
    added_on: dict[int, int] = field(default_factory=dict)  # question_id → day (0 = initial)
    # question versions that entered pretest during the season: new items and substantive edits
    new_versions: dict[tuple[int, int], int] = field(default_factory=dict)  # → day added
    compromised_anchors: int = 0  # how many of them were anchors of the live set
    compromised: set[int] = field(default_factory=set)  # question ids, once compromised
    compromised_from: int | None = None
    retired: set[int] = field(default_factory=set)
    edits: list[dict] = field(default_factory=list)
    edit_kind_supported: bool = True

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def create_tenant(engine, slug: str, name: str) -> tuple[uuid.UUID, dict[str, str]]:
    """The operator step (`qbank tenant create`) and the tenant's author and publisher."""
    pw = hash_password(PASSWORD)
    emails = {role: f"{role}@{slug}.example" for role in ("author", "publisher")}
    with session_scope(engine) as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            tenant = Tenant(slug=slug, name=name)
            s.add(tenant)
            s.flush()
        for role, email in emails.items():
            if s.scalar(select(User.id).where(User.email == email)) is None:
                s.add(
                    User(
                        tenant_id=tenant.id,
                        email=email,
                        display_name=f"Season {role}",
                        password_hash=pw,
                        roles=[role],
                    )
                )
        return tenant.id, emails


def edit_kind_supported(client: httpx.Client) -> bool:
    """Whether PUT /v1/questions/{id} takes `edit_kind` (read from the API's OpenAPI schema)."""
    spec = client.get("/openapi.json").json()
    return "edit_kind" in json.dumps(spec.get("components", {}).get("schemas", {}))


def open_exam(
    client: httpx.Client,
    engine,
    *,
    name: str,
    slug: str,
    exam_code: str,
    seed: int,
    n_items: int,
    discriminating: bool = False,
) -> ExamCode:
    """Tenant, staff, topics and the initial bank (author imports and submits, publisher approves
    and publishes), all through the authoring API."""
    tenant_id, emails = create_tenant(engine, slug, f"Season tenant {slug}")
    exam = ExamCode(name, tenant_id, slug, exam_code, seed)
    exam.tokens = {role: login(client, email, PASSWORD) for role, email in emails.items()}
    topics, items = generate_bank(seed)
    exam.topic_ids = ensure_topics(client, exam.tokens["author"], topics)
    if discriminating:
        # A small bank of the items that become anchors soonest (a high, b central): the
        # reduced season needs anchors after one night.
        central = [i for i, it in enumerate(items) if abs(it.b) <= 1.2]
        keep = sorted(sorted(central, key=lambda i: -items[i].a)[:n_items])
    else:
        keep = np.linspace(0, len(items) - 1, min(n_items, len(items))).round().astype(int)
    add_items(client, exam, [items[i] for i in keep], day=0)
    exam.edit_kind_supported = edit_kind_supported(client)
    return exam


def add_items(client: httpx.Client, exam: ExamCode, items: list[ItemSpec], day: int) -> list[int]:
    """Import (submitted), approve and publish `items`; returns their question ids."""
    body = "\n".join(
        json.dumps(it.payload() | {"topic_id": exam.topic_ids[it.topic_code]}) for it in items
    )
    report = _ok(
        client.post(
            "/v1/questions/import?submit=true",
            content=body.encode(),
            headers=exam.headers("author") | {"Content-Type": "application/x-ndjson"},
        ),
        "import",
    )
    if report["rejected"]:
        bad = [ln for ln in report["lines"] if ln["status"] == "rejected"][:3]
        raise ApiFailure(f"import rejected {report['rejected']} lines, e.g. {bad}")
    by_ref = {ln["external_ref"]: ln["question_id"] for ln in report["lines"]}
    qids = []
    for it in items:
        qid = by_ref[it.external_ref]
        _approve_publish(client, exam, qid, 1)
        exam.truth[(qid, 1)] = TrueItem(a=it.a, b=it.b, c=it.c, key=it.correct_label)
        exam.live[qid] = 1
        exam.specs[qid] = it
        exam.added_on[qid] = day
        if day > 0:
            exam.new_versions[(qid, 1)] = day
        qids.append(qid)
    return qids


def _approve_publish(client: httpx.Client, exam: ExamCode, qid: int, version: int) -> None:
    pub = exam.headers("publisher")
    _ok(client.post(f"/v1/questions/{qid}/versions/{version}/approve", json={}, headers=pub),
        f"approve {qid} v{version}")  # fmt: skip
    _ok(
        client.post(
            f"/v1/questions/{qid}/versions/{version}/publish",
            json={"exam_codes": [exam.exam_code]},
            headers=pub,
        ),
        f"publish {qid} v{version}",
    )


def new_items_for_day(exam: ExamCode, day: int, n: int) -> list[ItemSpec]:
    """`n` fresh items written for `day` (another draw of the generator: new vignettes, options
    and true parameters), with references unique in the tenant."""
    _, pool = generate_bank(exam.seed * 1000 + day)
    rng = np.random.default_rng([exam.seed, day, 1])
    picked = rng.choice(len(pool), size=n, replace=False)
    return [replace(pool[i], external_ref=f"D{day}-{pool[i].external_ref}") for i in picked]


def _edited_spec(spec: ItemSpec, kind: str, day: int) -> ItemSpec:
    if kind == "minor":  # wording only: same item psychometrically
        return replace(spec, stem_md=spec.stem_md.rstrip(".") + f" (wording revised, day {day}).")
    # substantive: a new lead-in and the options reordered (a different item to answer)
    options = spec.options[1:] + spec.options[:1]
    correct = "ABCDE"[options.index(spec.options["ABCDE".index(spec.correct_label)])]
    return replace(
        spec,
        lead_in=spec.lead_in.replace("Which of the following", "Which one of these options")
        + " (revised)",
        options=options,
        correct_label=correct,
    )


def edit_items(
    client: httpx.Client, exam: ExamCode, day: int, n_minor: int, n_substantive: int
) -> list[dict]:
    """Edit live items of the initial bank (never a compromised one): a new version through
    PUT (with `edit_kind` when the API takes it), submitted, approved and published."""
    rng = np.random.default_rng([exam.seed, day, 2])
    candidates = sorted(
        q for q, d in exam.added_on.items()
        if d == 0 and q not in exam.compromised and q not in exam.retired
    )  # fmt: skip
    picked = rng.choice(candidates, size=n_minor + n_substantive, replace=False)
    kinds = ["minor"] * n_minor + ["substantive"] * n_substantive
    done = []
    for qid, kind in zip((int(q) for q in picked), kinds, strict=True):
        done.append(edit_item(client, exam, qid, kind, day, rng))
    return done


def edit_item(
    client: httpx.Client, exam: ExamCode, qid: int, kind: str, day: int, rng: np.random.Generator
) -> dict:
    """One edit of a live item: PUT (with `edit_kind` when the API takes it), submit, approve,
    publish; the new version's truth is the old one (`minor`) or new parameters."""
    author = exam.headers("author")
    spec = _edited_spec(exam.specs[qid], kind, day)
    body = spec.payload() | {"topic_id": exam.topic_ids[spec.topic_code]}
    body.pop("external_ref")
    if exam.edit_kind_supported:
        body["edit_kind"] = kind
    out = _ok(client.put(f"/v1/questions/{qid}", json=body, headers=author), f"edit {qid}")
    version = max(v["version"] for v in out["versions"])
    _ok(client.post(f"/v1/questions/{qid}/versions/{version}/submit", json={}, headers=author),
        f"submit {qid} v{version}")  # fmt: skip
    _approve_publish(client, exam, qid, version)
    old = exam.truth[(qid, exam.live[qid])]
    if kind == "minor":
        new = old
    else:
        new = TrueItem(
            a=float(rng.lognormal(np.log(1.2), 0.25)),
            b=float(rng.normal(0, 1)),
            c=float(rng.uniform(0.10, 0.25)),
            key=spec.correct_label,
        )
        exam.new_versions[(qid, version)] = day
    exam.truth[(qid, version)] = replace(new, key=spec.correct_label)
    exam.live[qid] = version
    exam.specs[qid] = spec
    rec = {"day": day, "question_id": qid, "version": version, "kind": kind}
    exam.edits.append(rec)
    return rec


def retire_items(client: httpx.Client, exam: ExamCode, day: int, n: int) -> list[int]:
    rng = np.random.default_rng([exam.seed, day, 3])
    candidates = sorted(
        q for q, d in exam.added_on.items()
        if d == 0 and q not in exam.compromised and q not in exam.retired
    )  # fmt: skip
    picked = [int(q) for q in rng.choice(candidates, size=n, replace=False)]
    for qid in picked:
        _ok(
            client.post(
                f"/v1/questions/{qid}/versions/{exam.live[qid]}/retire",
                json={},
                headers=exam.headers("publisher"),
            ),
            f"retire {qid}",
        )
        exam.retired.add(qid)
        exam.live.pop(qid)
    return picked


def choose_compromised(
    engine, exam: ExamCode, n: int, min_b: float | None = None
) -> tuple[list[int], int]:
    """The items that leak: drawn (by the seed) among the anchors of the live set — items with
    n ≥ 500 and SE(b) ≤ 0.15, the ones every cohort sees — so that their drift is an anchor's
    drift; with `min_b`, among the anchors of true b ≥ min_b first (`Plan.compromise_min_b`).
    When fewer than `n` anchors exist yet, the rest from the initial items the truth makes
    most precise (highest a, b in [0, 1.6]). Never an edited or retired item. Returns the ids
    and how many of them were anchors."""
    with engine.connect() as c:
        anchors = {
            int(r[0])
            for r in c.execute(
                text(
                    "SELECT p.question_id FROM item_parameters p JOIN item_parameter_sets s "
                    "ON s.id = p.set_id WHERE s.tenant_id = :t AND s.exam_code = :e "
                    "AND s.status = 'active' AND p.n_respondents >= 500 AND p.se_b <= 0.15"
                ),
                {"t": exam.tenant_id, "e": exam.exam_code},
            )
        }
    edited = {e["question_id"] for e in exam.edits}
    usable = sorted(
        q for q in exam.live if exam.added_on.get(q) == 0 and q not in edited
    )  # fmt: skip
    rng = np.random.default_rng([exam.seed, 4])
    pool = [q for q in usable if q in anchors]
    first = [q for q in pool if min_b is None or exam.truth[(q, exam.live[q])].b >= min_b]
    picked = [int(q) for q in rng.choice(first, size=min(n, len(first)), replace=False)]
    if len(picked) < n and len(first) < len(pool):
        then = [q for q in pool if q not in first]
        picked += [
            int(q) for q in rng.choice(then, size=min(n - len(picked), len(then)), replace=False)
        ]
    if len(picked) < n:
        rest = [
            q for q in usable if q not in picked and 0 <= exam.truth[(q, exam.live[q])].b <= 1.6
        ]
        rest.sort(key=lambda q: -exam.truth[(q, exam.live[q])].a)
        picked += rest[: n - len(picked)]
    return picked, sum(q in anchors for q in picked)


def compromise(
    engine, exam: ExamCode, n: int, day: int, shift: float, min_b: float | None
) -> list[int]:
    """From `day` on `n` items answer with b moved by `shift` (the plan's `compromise_shift`),
    drawn as `choose_compromised` says (`min_b`: the plan's `compromise_min_b`)."""
    qids, exam.compromised_anchors = choose_compromised(engine, exam, n, min_b)
    for qid in qids:
        key = (qid, exam.live[qid])
        t = exam.truth[key]
        exam.truth[key] = replace(t, b=t.b + shift)
        exam.compromised.add(qid)
    exam.compromised_from = day
    return qids


def verify_live(client: httpx.Client, exam: ExamCode) -> None:
    """The API's view of the bank matches ours (what is live, in which version)."""
    api_live = {
        q["id"]: q["live"].get(exam.exam_code)
        for q in _list_questions(client, exam.headers("author"))
        if exam.exam_code in (q.get("live") or {})
    }
    ours = dict(exam.live)
    if {q: v for q, v in api_live.items() if v is not None} != ours:
        diff = set(api_live.items()) ^ set(ours.items())
        raise ApiFailure(f"{exam.name}: live versions differ from the API's: {sorted(diff)[:6]}")
