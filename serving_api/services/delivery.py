"""Quiz delivery: serve the next item, record answers, marks, and seal the quiz.

Each call works from the quiz's state as this process last read or wrote it (`quiz_cache`), or
reads it in one round trip (`quiz_state.load_state`); decides in memory (θ by EAP, selection by
irt_models over the cached live pool); counts the exposure in Redis (one atomic round trip, only
for the item actually served); and writes the change together with its event in one statement,
guarded by the state version it worked from. State lives in PostgreSQL only: the usual
next → answer → next of a student costs one statement each.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import numpy as np
from psycopg import AsyncConnection

from ingestion.events import AnswerSubmitted, QuestionMarked, QuestionServed, QuizFinished
from serving_api import metrics
from serving_api.errors import ApiError
from serving_api.security import Principal
from serving_api.services import selection
from serving_api.services.content import ContentCache, VersionContent
from serving_api.services.exam_pool import ExamPool, ExamPoolCache
from serving_api.services.exposure import ExposureCounter, Served
from serving_api.services.outbox import event_params, outbox_from
from serving_api.services.quiz_cache import QuizStateCache
from serving_api.services.quiz_state import (
    QuizState,
    ServedItem,
    load_state,
    now_ms_local,
    scaled_score,
)
from serving_api.services.scored import counted_on_answer, counted_on_seal, revealable

# Every write starts by updating the session row where `state_version` is still the one the
# request worked from (serving_api.services.quiz_cache): the rest of the statement reads that
# CTE's output, so on another version nothing is written and no row comes back. The row lock
# makes racing writes of one quiz take turns, and the loser sees the new version.
_GUARD = "WHERE id = %(quiz)s AND state_version = %(sv)s AND status = 'active'"

SERVE_SQL = f"""
WITH ses AS (
  UPDATE quiz_sessions SET state_version = state_version + 1,
                           sh_rejected = sh_rejected || %(rejected)s::bigint[]
  {_GUARD}
  RETURNING state_version
), ins AS (
  INSERT INTO quiz_items (quiz_id, tenant_id, question_id, question_version_id, version, topic_id,
                          position, is_pretest, a, b, c, calibrated, parameter_set_id)
  SELECT %(quiz)s, %(tenant)s, %(question)s, %(qv)s, %(version)s, %(topic)s, %(position)s,
         %(pretest)s, %(a)s, %(b)s, %(c)s, %(calibrated)s, %(set_id)s
  FROM ses
  ON CONFLICT DO NOTHING
  RETURNING id
), ev AS ({outbox_from("ins")})
SELECT ins.id, ses.state_version FROM ins, ses
"""

# A scored answer (serving_api.services.scored) is counted in performance_counters by the
# statement that makes it scored: `%(scored)s` is `scored.counted_on_answer` of the quiz and item.
COUNT_ANSWER = """
INSERT INTO performance_counters AS pc (user_id, exam_code, topic_id, tenant_id, answered, correct)
SELECT %(user)s, %(exam)s, %(topic)s, %(tenant)s, 1, %(correct)s::int FROM {src} WHERE %(scored)s
ON CONFLICT (user_id, exam_code, topic_id)
DO UPDATE SET answered = pc.answered + 1, correct = pc.correct + excluded.correct
"""

ANSWER_SQL = f"""
WITH ses AS (
  UPDATE quiz_sessions SET state_version = state_version + 1, theta = %(theta)s, theta_se = %(se)s
  {_GUARD}
  RETURNING state_version
), ins AS (
  INSERT INTO user_responses (quiz_item_id, quiz_id, tenant_id, user_id, question_id,
                              question_version_id, selected_label, is_correct, time_taken_ms)
  SELECT %(item)s, %(quiz)s, %(tenant)s, %(user)s, %(question)s, %(qv)s, %(selected)s,
         %(correct)s, %(ms)s
  FROM ses
  ON CONFLICT (quiz_item_id) DO NOTHING
  RETURNING id
), ev AS ({outbox_from("ins")}), cnt AS ({COUNT_ANSWER.format(src="ins")})
SELECT ins.id, ses.state_version FROM ins, ses
"""

CHANGE_SQL = f"""
WITH ses AS (
  UPDATE quiz_sessions SET state_version = state_version + 1, theta = %(theta)s, theta_se = %(se)s
  {_GUARD}
  RETURNING state_version
), upd AS (
  UPDATE user_responses
     SET selected_label = %(selected)s, is_correct = %(correct)s, time_taken_ms = %(ms)s,
         revision = revision + 1, updated_at = now()
   WHERE quiz_item_id = %(item)s AND revision = %(revision)s AND EXISTS (SELECT 1 FROM ses)
  RETURNING id
), ev AS ({outbox_from("upd")}), cnt AS (
  -- An answer already counted moves between right and wrong (no path changes a scored answer
  -- today: only an active linear exam's answers change, and those count from the seal).
  UPDATE performance_counters SET correct = correct + %(correct)s::int - %(was_correct)s::int
   WHERE user_id = %(user)s AND exam_code = %(exam)s AND topic_id = %(topic)s
     AND %(scored)s AND EXISTS (SELECT 1 FROM upd)
)
SELECT upd.id, ses.state_version FROM upd, ses
"""

MARK_SQL = f"""
WITH ses AS (
  UPDATE quiz_sessions SET state_version = state_version + 1
  {_GUARD}
  RETURNING state_version
), upd AS (
  UPDATE quiz_items SET marked = %(marked)s
   WHERE quiz_id = %(quiz)s AND position = %(position)s AND EXISTS (SELECT 1 FROM ses)
  RETURNING id
), ev AS ({outbox_from("upd")})
SELECT upd.id, ses.state_version FROM upd, ses
"""

SEAL_SQL = f"""
WITH ses AS (
  UPDATE quiz_sessions
     SET state_version = state_version + 1, status = %(status)s, finished_at = now(),
         theta = %(theta)s, theta_se = %(se)s, raw_score = %(raw)s, scaled_score = %(scaled)s
  {_GUARD}
  RETURNING id, state_version
), ev AS ({outbox_from("ses")}), cnt AS (
  -- Sealing an exam makes its answers scored (serving_api.services.scored): counted now, in the
  -- statement that seals it. `%(newly_scored)s` is `scored.counted_on_seal` of the quiz.
  INSERT INTO performance_counters AS pc (user_id, exam_code, topic_id, tenant_id, answered, correct)
  SELECT r.user_id, %(exam)s, i.topic_id, r.tenant_id, count(*), count(*) FILTER (WHERE r.is_correct)
  FROM user_responses r JOIN quiz_items i ON i.id = r.quiz_item_id
  WHERE r.quiz_id = %(quiz)s AND NOT i.is_pretest AND %(newly_scored)s AND EXISTS (SELECT 1 FROM ses)
  GROUP BY r.user_id, i.topic_id, r.tenant_id
  ON CONFLICT (user_id, exam_code, topic_id)
  DO UPDATE SET answered = pc.answered + excluded.answered, correct = pc.correct + excluded.correct
)
SELECT id, state_version FROM ses
"""

# The expired exams to seal, oldest first (serving_api.services.seal_sweep).
EXPIRED_SQL = """
SELECT id, tenant_id FROM quiz_sessions
WHERE status = 'active' AND expires_at <= now()
ORDER BY expires_at LIMIT %s
"""
OWN_EXPIRED_SQL = """
SELECT id FROM quiz_sessions
WHERE user_id = %s AND tenant_id = %s AND status = 'active' AND expires_at <= now()
"""
# One sweeper at a time across the API processes (key: "qbank seal sweep").
SWEEP_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext('qbank seal sweep'))"
SWEEP_UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtext('qbank seal sweep'))"


class ConnectionSource(Protocol):
    """Where a step gets its PostgreSQL connection (the API's GatedConnectionPool)."""

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection]: ...


# (connection, quiz id, tenant id) → the quiz as stored, or None.
StateReader = Callable[[AsyncConnection, uuid.UUID, uuid.UUID], Awaitable["QuizState | None"]]


class StaleState(Exception):
    """The state a request worked from is not, or may not be, the stored one: read it again."""


def own_quiz(st: QuizState | None, principal: Principal, quiz_id: uuid.UUID) -> QuizState:
    """The quiz if the caller owns it; another student's quiz is indistinguishable from none."""
    if st is None or st.user_id != principal.user_id:
        raise ApiError(404, f"quiz {quiz_id} not found")
    return st


def item_view(st: QuizState, item: ServedItem, content: VersionContent) -> dict:
    view = content.student_view()
    view["position"] = item.position
    view["marked"] = item.marked
    # The student's own choice, in every mode (the navigator shows it too); never the key.
    view["selected"] = item.selected
    return view


def navigator(st: QuizState, contents: dict[int, VersionContent]) -> dict:
    """Every served position of a quiz, for a navigator: what was chosen and marked; whether it
    was right only where the quiz's answers are revealable (serving_api.services.scored)."""
    show = revealable(st.mode, st.status)
    return {
        "quiz_id": st.id,
        "status": st.status,
        "mode": st.mode,
        "adaptive": st.adaptive,
        "num_questions": st.num_questions,
        "served": len(st.items),
        "answered": st.answered_count,
        "expires_at": st.expires_at,
        # Linear exams may go back to any served item; the others answer in order, once.
        "revisitable": st.is_linear_exam and st.status == "active",
        "items": [
            {
                "position": i.position,
                "question_id": i.question_id,
                "topic": contents[i.version_id].topic,
                "answered": i.answered,
                "marked": i.marked,
                "selected": i.selected,
                "correct": bool(i.is_correct) if show and i.answered else None,
            }
            for i in st.items
        ],
    }


def final_score(st: QuizState) -> tuple[int, int, float, float]:
    """(raw score, number scored, θ, SE): served scored items; unanswered ones count as wrong."""
    from irt_models.ability import eap

    scored = [i for i in st.items if not i.is_pretest]
    if not scored:
        return 0, 0, 0.0, 1.0
    correct = np.array([bool(i.is_correct) for i in scored])
    est = eap(correct, [i.a for i in scored], [i.b for i in scored], [i.c for i in scored])
    return int(correct.sum()), len(scored), est.theta, est.se


class Delivery:
    ATTEMPTS = 4  # a cached state, then fresh reads while concurrent requests keep winning

    def __init__(
        self,
        pg: ConnectionSource,
        states: QuizStateCache,
        contents: ContentCache,
        pools: ExamPoolCache,
        exposure: ExposureCounter,
        randomesque_k: int = 1,
        read_state: StateReader = load_state,
    ):
        """The collaborators a delivery step uses, and nothing else of the process: connections
        to PostgreSQL, this process's copies of quiz states, version contents and live pools,
        the exposure counter, the selection's randomesque k, and how a quiz state is read
        (`quiz_state.load_state`; tests hand in their own)."""
        self.pg = pg
        self.states = states
        self.contents = contents
        self.pools = pools
        self.exposure = exposure
        self.randomesque_k = randomesque_k
        self.read_state = read_state

    async def _run(self, principal: Principal, quiz_id: uuid.UUID, step):
        """`step(conn, st, cached)` on this process's copy of the quiz state if it has one, else
        (and again, whenever the step finds its state outdated) on a fresh read."""
        cache = self.states
        async with self.pg.connection() as conn:
            st = cache.take(quiz_id, principal.tenant_id, principal.user_id)
            for _attempt in range(self.ATTEMPTS):
                cached = st is not None
                if cached:
                    metrics.QUIZ_STATE_FROM_CACHE.inc()
                else:
                    metrics.QUIZ_STATE_FROM_DATABASE.inc()
                    st = own_quiz(
                        await self.read_state(conn, quiz_id, principal.tenant_id),
                        principal,
                        quiz_id,
                    )
                try:
                    out = await step(conn, st, cached)
                except StaleState:
                    metrics.QUIZ_STATE_STALE.inc()
                    st = None
                    continue
                except ApiError:
                    if cached:  # errors are decided on a fresh read
                        metrics.QUIZ_STATE_STALE.inc()
                        st = None
                        continue
                    cache.give(st)
                    raise
                cache.give(st)
                return out
        raise ApiError(409, "the quiz is being changed by other requests just now; try again")

    # ------------------------------------------------------------------ reads
    async def read(self, principal: Principal, quiz_id: uuid.UUID, *, admin: bool = False):
        """The quiz as stored, for the caller (or, with `admin`, any quiz of their tenant). An
        exam past its time is sealed first (seal on read; the sweep does it for the rest), so
        no read shows an expired exam as active."""
        async with self.pg.connection() as conn:
            return await self._read(conn, principal, quiz_id, admin)

    async def _read(self, conn, principal: Principal, quiz_id: uuid.UUID, admin: bool = False):
        for _attempt in range(self.ATTEMPTS):
            st = await self.read_state(conn, quiz_id, principal.tenant_id)
            if not (admin and st is not None):
                st = own_quiz(st, principal, quiz_id)
            if not st.expired:
                return st
            with contextlib.suppress(StaleState):  # changed meanwhile: read it again
                await self._seal(conn, st, "expired")
            self.states.take(st.id, st.tenant_id, st.user_id)  # drop an old copy
        raise ApiError(409, "the quiz is being changed by other requests just now; try again")

    async def seal_own_expired(self, principal: Principal) -> None:
        """Seal-on-read for a list of the caller's quizzes (history)."""
        async with self.pg.connection() as conn:
            rows = await (
                await conn.execute(OWN_EXPIRED_SQL, (principal.user_id, principal.tenant_id))
            ).fetchall()
        for (quiz_id,) in rows:
            await self.read(principal, quiz_id)

    async def items(self, principal: Principal, quiz_id: uuid.UUID) -> dict:
        async with self.pg.connection() as conn:
            st = await self._read(conn, principal, quiz_id)
            contents = await self.contents.get_many(conn, [i.version_id for i in st.items])
        return navigator(st, contents)

    async def item_at(self, principal: Principal, quiz_id: uuid.UUID, position: int) -> dict:
        """The view `next` gives, of any served position (no key while the quiz is active, and
        none afterwards either: the report has it)."""
        async with self.pg.connection() as conn:
            st = await self._read(conn, principal, quiz_id)
            item = st.item_at(position)
            if item is None:
                raise ApiError(
                    404,
                    f"position {position} has not been served in this quiz "
                    f"({len(st.items)} so far)",
                )
            content = await self.contents.get(conn, item.version_id)
        return self._next_out(st, st.status, item_view(st, item, content))

    async def seal_expired(self, limit: int = 200) -> int:
        """Seals exams whose time ran out (any tenant), exactly as `finish` would, each with
        its quiz_finished event in the same statement. Several processes may run it: an
        advisory lock keeps one sweeping, and the state-version guard makes a quiz sealed
        twice impossible anyway. Returns the number sealed."""
        sealed = 0
        async with self.pg.connection() as conn:
            locked = (await (await conn.execute(SWEEP_LOCK_SQL)).fetchone())[0]
            if not locked:
                return 0
            try:
                rows = await (await conn.execute(EXPIRED_SQL, (limit,))).fetchall()
                for quiz_id, tenant_id in rows:
                    st = await self.read_state(conn, quiz_id, tenant_id)
                    if st is None or not st.expired:
                        continue  # finished meanwhile
                    try:
                        await self._seal(conn, st, "expired")
                    except StaleState:
                        continue  # answered just now: the next sweep scores what is stored
                    self.states.take(st.id, st.tenant_id, st.user_id)
                    sealed += 1
            finally:
                await conn.execute(SWEEP_UNLOCK_SQL)
        return sealed

    # ------------------------------------------------------------------ next
    async def next_item(self, principal: Principal, quiz_id: uuid.UUID, skip: bool = False) -> dict:
        async def step(conn, st: QuizState, cached: bool) -> dict:
            return await self._next_step(conn, st, cached, skip)

        return await self._run(principal, quiz_id, step)

    async def _next_step(self, conn, st: QuizState, cached: bool, skip: bool = False) -> dict:
        await self._require_active(conn, st, cached)
        cur = st.current
        if cur is not None and skip and not st.is_linear_exam:
            raise ApiError(
                409,
                "only a linear exam can leave an item unanswered and go on; answer position "
                f"{cur.position} first",
            )
        # A linear exam moves on from an unanswered item when asked (skip) or when it is marked;
        # it stays answerable by position until the exam is finished.
        if cur is not None and not (st.is_linear_exam and (cur.marked or skip)):
            if cached:  # answering with what is stored, not with a copy
                raise StaleState
            content = await self.contents.get(conn, cur.version_id)
            return self._next_out(st, "active", item_view(st, cur, content))
        if len(st.items) >= st.num_questions:
            if cached:
                raise StaleState
            return self._next_out(st, "complete", None)
        pool = await self.pools.get(st.tenant_id, st.exam_code)
        pick = await self._choose(st, pool, len(st.items) + 1)
        if pick is None:
            await self._seal(conn, st, "pool_exhausted")
            metrics.POOL_EXHAUSTED.inc()
            return self._next_out(st, "pool_exhausted", None)
        return await self._record_serve(conn, st, pool, *pick)

    def _next_out(self, st: QuizState, status: str, item: dict | None) -> dict:
        return {
            "quiz_id": st.id,
            "status": status,
            "position": item["position"] if item else None,
            "num_questions": st.num_questions,
            "answered": st.answered_count,
            "item": item,
            "expires_at": st.expires_at,
        }

    async def _choose(self, st: QuizState, pool: ExamPool, position: int):
        """(pool index, is_pretest) of the item to serve, counted in Redis; None: nothing left."""
        exposure = self.exposure
        attempts = 8
        for attempt in range(attempts):
            capped = exposure.capped(st.tenant_id)
            choice = selection.choose(st, pool, position, capped, randomesque_k=self.randomesque_k)
            if choice.index is None:
                return None
            if choice.cap_relaxed:
                metrics.CAP_RELAXATIONS.inc()
            if choice.sh_redraws:
                metrics.SH_REDRAWS.inc(choice.sh_redraws)
            if choice.scored_uncalibrated:
                metrics.SCORED_UNCALIBRATED.inc()
            qid = int(pool.question_ids[choice.index])
            # Items other processes just capped are learned one refusal at a time; after a few,
            # serve the choice anyway rather than end the quiz (the cap is soft, quotas are not).
            force = choice.cap_relaxed or attempt == attempts - 1
            served = await exposure.try_serve(st.tenant_id, qid, force=force)
            if served:
                if served is Served.OVER_CAP and not choice.cap_relaxed:
                    # Forced after refusals over an item at its cap: a relaxation like any other.
                    metrics.CAP_RELAXATIONS.inc()
                return choice.index, choice.is_pretest, choice.rejected_question_ids
            metrics.CAP_REFUSALS.inc()  # another process filled its cap just now: choose again
        raise AssertionError("unreachable: the last attempt always counts")

    async def _record_serve(
        self, conn, st: QuizState, pool: ExamPool, idx: int, is_pretest: bool, rejected: tuple
    ) -> dict:
        position = len(st.items) + 1
        qid = int(pool.question_ids[idx])
        content = await self.contents.get(conn, int(pool.version_ids[idx]))
        calibrated = bool(pool.calibrated[idx])
        # Lineage: the set whose parameters chose and score this item (None: cold-start defaults).
        set_id = pool.parameter_set_id if calibrated else None
        a, b, c = float(pool.a[idx]), float(pool.b[idx]), float(pool.c[idx])
        event = QuestionServed(
            tenant_id=st.tenant_id,
            user_id=st.user_id,
            quiz_id=st.id,
            question_id=qid,
            question_version_id=int(pool.version_ids[idx]),
            version=int(pool.versions[idx]),
            position=position,
            topic_id=int(pool.topic_ids[idx]),
            is_pretest=is_pretest,
            parameter_set_id=set_id,
            a_used=a,
            b_used=b,
            c_used=c,
        )
        params = {
            "quiz": st.id,
            "sv": st.state_version,
            "tenant": st.tenant_id,
            "question": qid,
            "qv": int(pool.version_ids[idx]),
            "version": int(pool.versions[idx]),
            "topic": int(pool.topic_ids[idx]),
            "position": position,
            "pretest": is_pretest,
            "a": a,
            "b": b,
            "c": c,
            "calibrated": calibrated,
            "set_id": set_id,
            "rejected": list(rejected),
            **event_params(event),
        }
        row = await (await conn.execute(SERVE_SQL, params)).fetchone()
        if row is None:  # the quiz changed meanwhile: this exposure was not used
            await self.exposure.release(st.tenant_id, qid)
            raise StaleState
        metrics.items_served(st.mode, st.adaptive, is_pretest).inc()
        item = ServedItem(
            row[0], qid, params["qv"], params["version"], params["topic"], position, is_pretest,
            False, params["a"], params["b"], params["c"], params["calibrated"], None, None, None,
            now_ms_local(),
        )  # fmt: skip
        st.items.append(item)
        st.sh_rejected = [*st.sh_rejected, *rejected]
        st.state_version = row[1]
        return self._next_out(st, "active", item_view(st, item, content))

    # ------------------------------------------------------------------ answer
    async def answer(
        self,
        principal: Principal,
        quiz_id: uuid.UUID,
        selected: str,
        time_taken_ms: int | None,
        position: int | None,
    ) -> dict:
        async def step(conn, st: QuizState, cached: bool) -> dict:
            return await self._answer_step(conn, st, cached, selected, time_taken_ms, position)

        return await self._run(principal, quiz_id, step)

    async def _answer_step(
        self,
        conn,
        st: QuizState,
        cached: bool,
        selected: str,
        time_taken_ms: int | None,
        position: int | None,
    ) -> dict:
        await self._require_active(conn, st, cached)
        item = self._answerable(st, position)
        content = await self.contents.get(conn, item.version_id)
        if selected not in content.labels:
            labels = "".join(sorted(content.labels))
            raise ApiError(
                422,
                f"option {selected!r} does not exist for this item (options {labels[0]}–{labels[-1]})",
            )
        correct = selected == content.correct_label  # the version that was served
        changing = item.answered
        if time_taken_ms is not None:
            ms = time_taken_ms
        else:
            ms = max(0, int(now_ms_local() - item.served_ms))
        theta, se, posterior = st.ability_after(item, correct)
        revision = (item.revision or 0) + 1
        event = AnswerSubmitted(
            tenant_id=st.tenant_id,
            user_id=st.user_id,
            quiz_id=st.id,
            question_id=item.question_id,
            question_version_id=item.version_id,
            version=item.version,
            position=item.position,
            selected=selected,
            is_correct=correct,
            time_taken_ms=ms,
            revision=revision,
        )
        params = {
            "item": item.id,
            "quiz": st.id,
            "sv": st.state_version,
            "tenant": st.tenant_id,
            "user": st.user_id,
            "question": item.question_id,
            "qv": item.version_id,
            "selected": selected,
            "correct": correct,
            "ms": ms,
            "theta": theta,
            "se": se,
            "revision": item.revision,
            "exam": st.exam_code,
            "topic": item.topic_id,
            "scored": counted_on_answer(st.mode, st.status, item.is_pretest),
            "was_correct": bool(item.is_correct),
            **event_params(event),
        }
        row = await (await conn.execute(CHANGE_SQL if changing else ANSWER_SQL, params)).fetchone()
        if row is None:
            raise StaleState
        item.selected, item.is_correct, item.revision = selected, correct, revision
        st.theta, st.theta_se, st.state_version = theta, se, row[1]
        st.ability_posterior = posterior
        metrics.answers(st.mode, changing).inc()
        out = {"quiz_id": st.id, "position": item.position, "recorded": True, "revision": revision}
        if st.mode == "tutor":
            out.update(
                correct=correct,
                correct_label=content.correct_label,
                rationale_html=content.rationale_html,
                calibrated_b=item.b if item.calibrated else None,
                theta=theta,
                se=se,
            )
        return out

    def _answerable(self, st: QuizState, position: int | None) -> ServedItem:
        cur = st.current
        if position is None:
            if cur is None:
                raise ApiError(409, "no item is waiting for an answer: call GET next first")
            return cur
        item = st.item_at(position)
        if item is None:
            raise ApiError(409, f"position {position} has not been served in this quiz")
        # A linear exam, like a paper one, can be answered in any order and changed until it
        # is finished; elsewhere the next item depends on the answers, which are final.
        revisit = st.is_linear_exam
        if item.answered and not revisit:
            raise ApiError(
                409,
                f"position {position} is already answered and answers are final"
                + (" (the next item depends on it)" if st.adaptive else ""),
            )
        if item is not cur and not revisit:
            raise ApiError(
                409,
                f"only the item being served ({'position ' + str(cur.position) if cur else 'none now'}) can be "
                "answered: answers are given in order here (only a linear exam goes back)",
            )
        return item

    # ------------------------------------------------------------------ mark
    async def mark(
        self, principal: Principal, quiz_id: uuid.UUID, position: int, marked: bool
    ) -> dict:
        async def step(conn, st: QuizState, cached: bool) -> dict:
            await self._require_active(conn, st, cached)
            item = st.item_at(position)
            if item is None:
                raise ApiError(409, f"position {position} has not been served in this quiz")
            if item.marked == marked:
                if cached:
                    raise StaleState
            else:
                event = QuestionMarked(
                    tenant_id=st.tenant_id,
                    user_id=st.user_id,
                    quiz_id=st.id,
                    question_id=item.question_id,
                    position=position,
                    marked=marked,
                )
                params = {
                    "quiz": st.id,
                    "sv": st.state_version,
                    "position": position,
                    "marked": marked,
                    **event_params(event),
                }
                row = await (await conn.execute(MARK_SQL, params)).fetchone()
                if row is None:
                    raise StaleState
                item.marked, st.state_version = marked, row[1]
            return {
                "quiz_id": st.id,
                "position": position,
                "marked": marked,
                "revisitable": st.is_linear_exam,
            }

        return await self._run(principal, quiz_id, step)

    # ------------------------------------------------------------------ finish
    async def finish(self, principal: Principal, quiz_id: uuid.UUID) -> QuizState:
        """Seals an active quiz (scored from exactly the stored answers); the state as stored."""

        async def step(conn, st: QuizState, cached: bool) -> QuizState:
            if st.status != "active":
                if cached:
                    raise StaleState
                return st
            await self._seal(conn, st, "expired" if st.expired else "finished")
            return await self.read_state(conn, quiz_id, principal.tenant_id)

        return await self._run(principal, quiz_id, step)

    async def _require_active(self, conn, st: QuizState, cached: bool) -> None:
        if st.status == "active" and st.expired:
            if cached:
                raise StaleState
            await self._seal(conn, st, "expired")
        if st.status == "expired":
            raise ApiError(
                409,
                f"the time for this exam ran out at {st.expires_at:%Y-%m-%d %H:%M} UTC; "
                f"see the report at /v1/quizzes/{st.id}/report",
            )
        if st.status != "active":
            raise ApiError(
                409, f"quiz is {st.status}; see the report at /v1/quizzes/{st.id}/report"
            )

    async def _seal(self, conn, st: QuizState, status: str) -> None:
        raw, n_scored, theta, se = final_score(st)
        scaled = scaled_score(theta)
        event = QuizFinished(
            tenant_id=st.tenant_id,
            user_id=st.user_id,
            quiz_id=st.id,
            status=status,
            score=raw,
            num_scored=n_scored,
            theta=theta,
            se=se,
            scaled_score=scaled,
        )
        params = {
            "quiz": st.id,
            "sv": st.state_version,
            "status": status,
            "theta": theta,
            "se": se,
            "raw": raw,
            "scaled": scaled,
            "exam": st.exam_code,
            "newly_scored": counted_on_seal(st.mode, st.status, status),
            **event_params(event),
        }
        row = await (await conn.execute(SEAL_SQL, params)).fetchone()
        if row is None:  # answered or sealed meanwhile: score what is stored now
            raise StaleState
        metrics.QUIZZES_FINISHED.labels(status).inc()
        st.status, st.state_version = status, row[1]
