"""Simulated students taking quizzes against a running API while a test breaks things.

`StudentTraffic` runs in a background thread with its own event loop. Each student starts a
quiz, asks for the next item, answers it, ... finishes, and starts again; a failed step is
retried after a short pause (the way the student page retries). Every request is recorded with
the phase the test was in when it was sent, its status (or the exception) and its duration, so a
test can say "while Kafka was down, every request succeeded within 1 s".
"""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass

import httpx


@dataclass(frozen=True, slots=True)
class Call:
    phase: str
    step: str
    status: int | None  # None: no HTTP response (the exception is in `error`)
    error: str | None
    seconds: float
    body: bytes  # kept for failures only
    ended: float  # time.monotonic() when the answer (or the error) came


class StudentTraffic:
    def __init__(
        self,
        base_url: str,
        tokens: list[str],
        exam_code: str,
        *,
        num_questions: int = 6,
        think: tuple[float, float] = (0.02, 0.12),
        timeout: float = 20.0,
        seed: int = 0,
    ):
        self.base_url = base_url
        self.tokens = tokens
        self.exam_code = exam_code
        self.num_questions = num_questions
        self.think = think
        self.timeout = timeout
        self.seed = seed
        self.phase = "start"
        self.calls: list[Call] = []
        self.quizzes: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> StudentTraffic:
        self._thread = threading.Thread(target=self._run, name="student-traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(self.timeout + 10)
        assert not self._thread.is_alive(), "the students did not stop"
        if self._failure is not None:
            raise self._failure

    def wait_for(self, phase: str, successes: int, timeout: float = 60.0) -> None:
        """Block until `successes` requests of `phase` succeeded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for c in list(self.calls) if c.phase == phase and c.status in (200, 201)) >= (
                successes
            ):
                return
            time.sleep(0.05)
        raise AssertionError(f"only {self.summary(phase)} in phase {phase!r} after {timeout}s")

    # ------------------------------------------------------------------ figures
    def of(self, phase: str | None = None) -> list[Call]:
        return [c for c in list(self.calls) if phase is None or c.phase == phase]

    def summary(self, phase: str | None = None) -> dict:
        calls = self.of(phase)
        secs = sorted(c.seconds for c in calls)
        return {
            "requests": len(calls),
            "statuses": dict(Counter(c.status if c.status else c.error for c in calls)),
            "p50_ms": round(statistics.median(secs) * 1000, 1) if secs else None,
            "max_ms": round(secs[-1] * 1000, 1) if secs else None,
        }

    # ------------------------------------------------------------------ the students
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by stop()
            self._failure = exc

    async def _main(self) -> None:
        # Idle connections are dropped by the client before uvicorn's keep-alive timeout (5 s)
        # closes them: with both at 5 s, a request sent on a connection at the instant the
        # server closes it ends in a ReadError (seen in a Kafka-outage run: 2 requests of
        # 1,197, on connections idle since the students' first burst). A browser retries such
        # a request on a new connection; these students would count it as a failure.
        limits = httpx.Limits(max_connections=len(self.tokens) + 4, keepalive_expiry=1.0)
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, limits=limits
        ) as client:
            await asyncio.gather(*(self._student(client, i, t) for i, t in enumerate(self.tokens)))

    async def _call(self, client: httpx.AsyncClient, step: str, method: str, path: str, **kw):
        phase = self.phase
        t0 = time.perf_counter()
        try:
            r = await client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.calls.append(
                Call(
                    phase,
                    step,
                    None,
                    type(exc).__name__,
                    time.perf_counter() - t0,
                    b"",
                    time.monotonic(),
                )
            )
            return None
        ok = r.status_code < 400
        self.calls.append(
            Call(
                phase,
                step,
                r.status_code,
                None,
                time.perf_counter() - t0,
                b"" if ok else r.content,
                time.monotonic(),
            )
        )
        return r

    async def _student(self, client: httpx.AsyncClient, i: int, token: str) -> None:
        rnd = random.Random(self.seed * 1000 + i)
        headers = {"Authorization": f"Bearer {token}"}
        await asyncio.sleep(rnd.uniform(0, 0.3))
        quiz, step = None, "start"
        while not self._stop.is_set():
            if step == "start":
                body = {
                    "exam_code": self.exam_code,
                    "mode": rnd.choice(["tutor", "exam"]),
                    "adaptive": rnd.random() < 0.5,
                    "num_questions": self.num_questions,
                }
                r = await self._call(
                    client, "start", "POST", "/v1/quizzes", json=body, headers=headers
                )
                if r is not None and r.status_code == 201:
                    quiz, step = r.json()["id"], "next"
                    self.quizzes.add(quiz)
            elif step == "next":
                r = await self._call(
                    client, "next", "GET", f"/v1/quizzes/{quiz}/next", headers=headers
                )
                if r is not None and r.status_code == 200:
                    status = r.json()["status"]
                    step = {"active": "answer", "complete": "finish"}.get(status, "start")
            elif step == "answer":
                body = {"selected": rnd.choice("ABCD"), "time_taken_ms": rnd.randint(500, 30_000)}
                r = await self._call(
                    client,
                    "answer",
                    "POST",
                    f"/v1/quizzes/{quiz}/answers",
                    json=body,
                    headers=headers,
                )
                if r is not None and r.status_code in (200, 409):  # 409: already answered
                    step = "next"
            else:
                r = await self._call(
                    client, "finish", "POST", f"/v1/quizzes/{quiz}/finish", headers=headers
                )
                if r is not None and r.status_code == 200:
                    step = "start"
            ok = r is not None and r.status_code < 400
            await asyncio.sleep(rnd.uniform(*self.think) if ok else 0.2)
