"""Exam integrity (SPEC §4): while an exam runs, nothing a student can reach depends on whether
its answers are right.

The differential test: two students of one cohort with identical histories start the same
linear exam and give one answer each, one right and one wrong. While the exams run, every route
a student may call — found in the app's OpenAPI document, where each operation lists its roles
(`x-qbank-roles`) — is called by both with the same parameters (built from each student's own
ids); after normalising ids, timestamps and the student's own name, e-mail and exam choice, the
responses must be equal. A route the test does not know how to call fails the test, so a new
route is covered or noticed. After both exams are finished, performance must differ (the
test can see a difference when there is one).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field

from sqlalchemy import text

from tests.support.api_server import ARTIFACTS
from tests.support.people import PASSWORD, login, make_user
from tests.support.quizzes import answer, fresh_exam, next_item, start

# Public routes a student can reach: how the test calls them, or why the answer cannot depend on
# one student's answers. Anything else public fails the test until it is listed here.
PUBLIC = {
    ("GET", "/health"): "call",
    ("GET", "/ready"): "call",
    ("POST", "/v1/auth/login"): "call",
    ("GET", "/metrics"): "process-wide Prometheus counters (labels: mode, route, status; no "
    "correctness); they change between any two calls, so they are not compared",
}
# Query parameters: the values each route is called with (None: left out).
QUERY_VALUES = {
    "exam_code": lambda ctx: [None, ctx.exam],
    "skip": lambda ctx: [None, "true"],
    "limit": lambda ctx: [None],
    "offset": lambda ctx: [None],
}

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TS_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}| UTC)?")
JWT_RE = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


@dataclass
class Twin:
    person: object
    exam_quiz: str  # the exam running during the comparison
    choice: str  # its answer
    probe_quiz: str | None = None  # the tutor quiz the test starts while the exam runs
    uuids: dict[str, str] = field(default_factory=dict)  # own ids → <idN>, first seen first

    def normalise(self, route: str, body) -> str:
        if route.startswith(f"/v1/quizzes/{self.exam_quiz}"):
            body = _mask_choice(body)  # the student's own input echoed back is not a leak
        out = json.dumps(body, sort_keys=True)
        out = JWT_RE.sub("<token>", out)
        out = out.replace(self.person.email, "<me>")
        out = UUID_RE.sub(lambda m: self.uuids.setdefault(m[0], f"<id{len(self.uuids)}>"), out)
        return TS_RE.sub("<ts>", out)


def _mask_choice(body):
    if isinstance(body, dict):
        return {
            k: ("<own choice>" if k == "selected" and v is not None else _mask_choice(v))
            for k, v in body.items()
        }
    if isinstance(body, list):
        return [_mask_choice(v) for v in body]
    return body


@dataclass
class Ctx:
    exam: str
    tenant_slug: str


def _history(client, s, exam: str) -> None:
    """A tutor quiz and a sealed exam on the one item, both answered wrong (so the only-
    previously-incorrect filter has something to find)."""
    for mode in ("tutor", "exam"):
        quiz = start(client, s, mode=mode, adaptive=False, exam_code=exam, num_questions=1)
        next_item(client, s, quiz["id"])
        answer(client, s, quiz["id"], "A", time_taken_ms=1000)
        r = client.post(f"/v1/quizzes/{quiz['id']}/finish", headers=s.headers)
        assert r.status_code == 200, r.text


def _student_operations(spec: dict) -> list[tuple[str, str, dict]]:
    ops = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            roles = op.get("x-qbank-roles")
            if roles is None or "student" in roles:
                ops.append((method.upper(), path, op))
    return ops


def _param_sets(method: str, path: str, op: dict, ctx: Ctx, quiz_ids, positions):
    """Every combination of parameters the route is called with, or a reason it cannot be."""
    path_values: list[dict] = [{}]
    query_values: list[dict] = [{}]
    for p in op.get("parameters", []):
        name, where = p["name"], p["in"]
        if where == "path" and name == "quiz_id":
            path_values = [{**pv, "quiz_id": q} for pv in path_values for q in quiz_ids]
        elif where == "path" and name == "position":
            path_values = [
                {**pv, "position": k}
                for pv in path_values
                for k in range(1, positions[pv["quiz_id"]] + 2)  # served, and one more
            ]
        elif where == "query" and name in QUERY_VALUES:
            query_values = [
                {**qv, **({name: v} if v is not None else {})}
                for qv in query_values
                for v in QUERY_VALUES[name](ctx)
            ]
        else:
            raise AssertionError(
                f"{method} {path}: the integrity test does not know how to fill the {where} "
                f"parameter {name!r}; teach it (tests/serving_api/test_exam_integrity.py)"
            )
    return [(path.format(**pv), qv) for pv in path_values for qv in query_values]


def test_no_student_route_reveals_an_active_exam(client, world, engine, api):
    exam, (qid,) = fresh_exam(
        engine, world, per_topic=1, topics={"Arrhythmias": world.topics["Arrhythmias"]}
    )
    cohort = f"twins-{uuid.uuid4().hex[:6]}"
    twins = []
    for choice in ("B", "A"):  # the key is B: one right, one wrong
        person = login(api, make_user(engine, world.a, "twin", ["student"], cohort=cohort))
        _history(client, person, exam)
        quiz = start(client, person, mode="exam", adaptive=False, exam_code=exam, num_questions=1)
        assert next_item(client, person, quiz["id"])["item"]["question_id"] == qid
        answer(client, person, quiz["id"], choice, time_taken_ms=1000)
        twins.append(Twin(person, quiz["id"], choice))

    spec = client.get("/openapi.json").json()
    ops = _student_operations(spec)
    assert len(ops) >= 12, f"only {len(ops)} student routes in the OpenAPI document"
    ctx = Ctx(exam, world.a.slug)
    covered: list[str] = []
    unknown = [f"{m} {p}" for m, p, op in ops if "x-qbank-roles" not in op and (m, p) not in PUBLIC]
    assert not unknown, f"public routes the integrity test does not know: {unknown}"

    # Writes a student may make while the exam runs, each the same for both (and repeatable):
    # a tutor quiz over the previously incorrect items (the filter must not use the running
    # exam's answer), its item, answer and report; only-unseen (nothing is unseen: 422); marking
    # the exam's item.
    writes = {
        ("POST", "/v1/quizzes"),
        ("POST", "/v1/quizzes/{quiz_id}/answers"),
        ("POST", "/v1/quizzes/{quiz_id}/finish"),
        ("POST", "/v1/quizzes/{quiz_id}/items/{position}/mark"),
        ("POST", "/v1/auth/login"),
    }
    student_writes = [(m, p) for m, p, _ in ops if m != "GET"]
    missing = [f"{m} {p}" for m, p in student_writes if (m, p) not in writes]
    assert not missing, f"student write routes the integrity test does not know: {missing}"

    login_body = {}
    login_schema = spec["paths"]["/v1/auth/login"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    login_props = spec["components"]["schemas"][login_schema["$ref"].rsplit("/", 1)[1]][
        "properties"
    ]
    for twin in twins:
        body = {"email": twin.person.email, "password": PASSWORD}
        for name in login_props:  # a login that names the tenant (by its slug)
            if "tenant" in name:
                body[name] = ctx.tenant_slug
        login_body[twin.person.email] = body
    outs = []
    for twin in twins:
        r = client.post("/v1/auth/login", json=login_body[twin.person.email])
        outs.append((r.status_code, twin.normalise("/v1/auth/login", r.json())))
    assert outs[0] == outs[1], outs
    covered.append("POST /v1/auth/login")

    for body in (
        {"only_previously_incorrect": True},
        {"only_unseen": True},
    ):
        outs = []
        for twin in twins:
            r = client.post(
                "/v1/quizzes",
                json={"mode": "tutor", "adaptive": False, "exam_code": exam, "num_questions": 1}
                | body,
                headers=twin.person.headers,
            )
            if r.status_code == 201 and body.get("only_previously_incorrect"):
                twin.probe_quiz = r.json()["id"]
            outs.append((r.status_code, twin.normalise("/v1/quizzes", r.json())))
        assert outs[0] == outs[1], f"POST /v1/quizzes {body} differs:\n{outs[0]}\n{outs[1]}"
    covered.append("POST /v1/quizzes (only_previously_incorrect, only_unseen)")
    assert all(t.probe_quiz for t in twins), "the incorrect filter found nothing for either"

    def compare(method: str, routes: list[tuple[str, dict]], json_body=None) -> None:
        for route_a, route_b, params in routes:
            outs = []
            for twin, route in zip(twins, (route_a, route_b), strict=True):
                r = client.request(
                    method, route, params=params, json=json_body, headers=twin.person.headers
                )
                try:
                    body = r.json()
                except ValueError:
                    body = r.text
                outs.append((r.status_code, twin.normalise(route, body)))
            assert outs[0] == outs[1], (
                f"{method} {route_a} {params} differs between the students:\n{outs[0]}\n{outs[1]}"
            )

    # The probe quiz: its item, a (wrong) answer, finish.
    compare(
        "GET",
        [
            (
                f"/v1/quizzes/{twins[0].probe_quiz}/next",
                f"/v1/quizzes/{twins[1].probe_quiz}/next",
                {},
            )
        ],
    )
    for route in ("answers", "finish"):
        compare(
            "POST",
            [
                (
                    f"/v1/quizzes/{twins[0].probe_quiz}/{route}",
                    f"/v1/quizzes/{twins[1].probe_quiz}/{route}",
                    {},
                )
            ],
            json_body={"selected": "A", "time_taken_ms": 1000} if route == "answers" else None,
        )
    covered += [
        "POST /v1/quizzes/{quiz_id}/answers (tutor probe)",
        "POST /v1/quizzes/{quiz_id}/finish (tutor probe)",
    ]
    compare(
        "POST",
        [
            (
                f"/v1/quizzes/{twins[0].exam_quiz}/items/1/mark",
                f"/v1/quizzes/{twins[1].exam_quiz}/items/1/mark",
                {},
            )
        ],
        json_body={"marked": True},
    )
    covered.append("POST /v1/quizzes/{quiz_id}/items/{position}/mark (the running exam)")

    # Every GET a student may call, for every quiz of theirs and every served position.
    quiz_lists = []
    for twin in twins:
        hist = client.get("/v1/quizzes", params={"limit": 500}, headers=twin.person.headers).json()
        quiz_lists.append([(q["id"], q["served"]) for q in hist])
    assert [len(q) for q in quiz_lists] == [4, 4]  # tutor, exam, the running exam, the probe
    for method, path, op in ops:
        if method != "GET" or (method, path) in PUBLIC and PUBLIC[(method, path)] != "call":
            continue
        sets = [
            _param_sets(method, path, op, ctx, [q for q, _ in ql], dict(ql)) for ql in quiz_lists
        ]
        # Served counts are part of what must be equal: the same calls for both, or a failure.
        assert [q for _, q in sets[0]] == [q for _, q in sets[1]], f"GET {path}: other calls"
        compare("GET", [(ra, rb, q) for (ra, q), (rb, _) in zip(sets[0], sets[1], strict=True)])
        covered.append(f"GET {path} ({len(sets[0])} calls)")

    # Both exams are still running: the comparison was made while they were active.
    with engine.connect() as c:
        statuses = (
            c.execute(
                text("SELECT status FROM quiz_sessions WHERE id = ANY(:ids)"),
                {"ids": [uuid.UUID(t.exam_quiz) for t in twins]},
            )
            .scalars()
            .all()
        )
    assert statuses == ["active", "active"]

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "exam_integrity_routes.txt").write_text("\n".join(covered) + "\n")
    print("\nroutes compared while the exam ran:\n  " + "\n  ".join(covered))

    # Sealed: now the answers count, and the difference shows.
    perf = []
    for twin in twins:
        r = client.post(f"/v1/quizzes/{twin.exam_quiz}/finish", headers=twin.person.headers)
        assert r.status_code == 200
        perf.append(
            client.get(
                "/v1/me/performance", params={"exam_code": exam}, headers=twin.person.headers
            ).json()
        )
    assert perf[0]["overall"]["correct"] == perf[1]["overall"]["correct"] + 1
    assert perf[0]["overall"]["percentile"] > perf[1]["overall"]["percentile"]
