"""Schemathesis against the API's own OpenAPI document, with a valid token of each role.

Every role runs the operations it may call (the others answer 403 by design, proven operation by
operation in tests/serving_api/test_security.py::test_role_matrix) through schemathesis's
example, coverage (boundary and invalid values) and fuzzing phases (fuzzing in one thread). Checks: no 5xx, every
documented response conforms to its schema, content type and headers. Path parameters are
sometimes real quizzes, questions and users, bodies sometimes a real exam code or topic
(tests/reliability/st_hooks.py), so generated input reaches the code behind the 404s.

The server has a tenant of its own (the admin's fuzzed PATCHes touch only throwaway users) and a
Redis namespace of its own (fuzzed logins fill only its own login throttle).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import jsonschema
import orjson
import pytest

from qbank.settings import PROJECT_ROOT
from tests.reliability.services import LOGS
from tests.support.api_server import start_server, stop_server
from tests.support.banks import seed_bank
from tests.support.people import make_user

ST = str(Path(sys.executable).parent / "st")  # schemathesis's CLI, next to this Python
CHECKS = (
    "not_a_server_error,response_schema_conformance,content_type_conformance,"
    "response_headers_conformance"
)
# role → the operations it may call (regex on the path), max examples per operation.
ROLES = {
    "student": (r"^/v1/(quizzes|me|topics$|exam-codes)", 12),
    "author": (r"^/v1/(questions|topics)", 8),
    "publisher": (r"^/v1/questions", 6),
    "admin": (r"^/(v1/users|v1/auth|v1/me$|health|ready|metrics)", 10),
}


@pytest.fixture(scope="module")
def schema_target(rel_db, rel_engine, settings):
    bank = seed_bank(rel_engine, settings, n_students=0, per_topic=4)
    throwaway = [make_user(rel_engine, bank.tenant, f"spare{k}", ["student"]) for k in range(2)]
    server = start_server(
        "rel-schema", {"DATABASE_URL": rel_db, "REDIS_NAMESPACE": f"rel-schema-{uuid.uuid4().hex}"}
    )
    student = bank.student.headers
    with httpx.Client(base_url=server.url, timeout=30) as c:
        quizzes = []
        for mode, adaptive in (("tutor", True), ("exam", False), ("exam", True)):
            r = c.post(
                "/v1/quizzes",
                json={
                    "exam_code": bank.exam,
                    "mode": mode,
                    "adaptive": adaptive,
                    "num_questions": 4,
                },
                headers=student,
            )
            assert r.status_code == 201, r.text
            quizzes.append(r.json()["id"])
            c.get(f"/v1/quizzes/{quizzes[-1]}/next", headers=student)
        questions = [q["id"] for q in c.get("/v1/questions", headers=bank.author.headers).json()]
    ids = {
        "quiz_ids": quizzes,
        "question_ids": questions[:6],
        "user_ids": [str(u.id) for u in throwaway],
        "body": {
            "/v1/quizzes": {"exam_code": bank.exam},
            "/v1/questions": {"topic_id": bank.topics["Renal"]},
        },
    }
    yield server, bank, ids
    stop_server(server)


# Phase → schemathesis workers (threads). Fuzzing runs in one thread: Hypothesis describes
# strategies with `ast.parse`, which on CPython 3.11 is not thread-safe ("SystemError: AST
# constructor recursion depth mismatch"); two threads intermittently turned that into a
# FlakyFailure, reported as one failed operation with every generated case passing.
PHASES = {"examples,coverage": 2, "fuzzing": 1}


def run_schemathesis(
    url: str, token: str, paths: str, max_examples: int, ids: dict, name: str, phases: str
):
    LOGS.mkdir(parents=True, exist_ok=True)
    name = f"{name}-{phases.replace(',', '-')}"
    report = LOGS / f"schemathesis-{name}.xml"
    cmd = [
        ST, "run", f"{url}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--include-path-regex", paths,
        "--phases", phases,
        # Hypothesis health checks (filtering, slowness on a shared 2-core machine) fail a phase
        # without any failing case; the API's own checks stay on.
        "--suppress-health-check", "all",
        "--checks", CHECKS,
        "--max-examples", str(max_examples),
        "--workers", str(PHASES[phases]),
        "--seed", "2026",
        "--request-timeout", "10",
        "--no-color",
        "--report", "junit", "--report-junit-path", str(report),
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.reliability.st_hooks"}
    # The project's `tests` package before site-packages: looker-sdk (dagster-looker's
    # dependency) installs a top-level `tests` package there, which would shadow ours.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["QBANK_ST_IDS"] = orjson.dumps(ids).decode()
    r = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=170)
    (LOGS / f"schemathesis-{name}.txt").write_text(r.stdout + r.stderr)
    return r


def test_every_role_gets_no_server_error_and_schema_conformant_responses(schema_target):
    server, bank, ids = schema_target
    cases = {}
    for role, (paths, n) in ROLES.items():
        token = getattr(bank, role).token
        for phases in PHASES:
            r = run_schemathesis(server.url, token, paths, n, ids, role, phases)
            tail = r.stdout[-6000:]
            assert r.returncode == 0, f"schemathesis as {role} ({phases}):\n{tail}"
            generated = re.search(r"(\d+) generated", r.stdout)
            assert generated and "Errored" not in r.stdout, tail
            cases[f"{role} {phases}"] = int(generated.group(1))
    print(f"schemathesis cases: {cases} total {sum(cases.values())}")
    assert sum(cases.values()) > 1500
    # Nothing answered 5xx, even where schemathesis's checks would not look.
    log = server.logs()
    statuses = [orjson.loads(ln)["status"] for ln in log.splitlines() if '"msg":"request"' in ln]
    assert len(statuses) >= sum(cases.values())
    assert not [s for s in statuses if s >= 500]
    assert "Traceback" not in log


def test_a_real_422_matches_the_documented_error_schema(schema_target):
    """The OpenAPI document describes the error body the API really sends."""
    server, bank, _ids = schema_target
    spec = httpx.get(server.url + "/openapi.json").json()
    error_schema = spec["components"]["schemas"]["HTTPValidationError"]
    for body in ({"exam_code": bank.exam, "num_questions": 0}, {"exam_code": "NOPE"}):
        r = httpx.post(server.url + "/v1/quizzes", json=body, headers=bank.student.headers)
        assert r.status_code == 422
        jsonschema.validate(r.json(), error_schema)
    metrics = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    assert httpx.get(server.url + "/metrics").headers["content-type"].startswith("text/plain")
