"""Quiz delivery: serve the next item, record answers, marks, and seal the quiz.

Each call works from the quiz's state as this process last read or wrote it (`quiz_cache`), or
reads it in one round trip (`quiz_state.load_state`); decides in memory (θ by EAP, selection by
irt_models over the cached live pool); counts the exposure in Redis (one atomic round trip, only
for the item actually served); and writes the change together with its event in one statement,
guarded by the state version it worked from. State lives in PostgreSQL only: the usual
next → answer → next of a student costs one statement each.
"""

from __future__ import annotations

import uuid

import numpy as np

from ingestion.events import AnswerSubmitted, QuestionMarked, QuestionServed, QuizFinished
from serving_api import metrics
from serving_api.errors import ApiError
from serving_api.runtime import Runtime
from serving_api.security import Principal
from serving_api.services import selection
from serving_api.services.content import VersionContent
from serving_api.services.exposure import Served
from serving_api.services.item_pool import ItemPool
from serving_api.services.outbox import event_params, outbox_from
from serving_api.services.quiz_state import (
    QuizState,
    ServedItem,
    load_state,
    now_ms_local,
    scaled_score,
)

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
), ev AS ({outbox_from("ins")})
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
), ev AS ({outbox_from("upd")})
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
), ev AS ({outbox_from("ses")})
SELECT id, state_version FROM ses
"""


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
    # A linear exam shows the current choice of a revisited item; nothing else leaks the key.
    view["selected"] = item.selected if st.is_linear_exam else None
    return view


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

    def __init__(self, runtime: Runtime):
        self.rt = runtime

    async def _run(self, principal: Principal, quiz_id: uuid.UUID, step):
        """`step(conn, st, cached)` on this process's copy of the quiz state if it has one, else
        (and again, whenever the step finds its state outdated) on a fresh read."""
        cache = self.rt.quiz_states
        async with self.rt.pg.connection() as conn:
            st = cache.take(quiz_id, principal.tenant_id, principal.user_id)
            for _attempt in range(self.ATTEMPTS):
                cached = st is not None
                if cached:
                    metrics.QUIZ_STATE_FROM_CACHE.inc()
                else:
                    metrics.QUIZ_STATE_FROM_DATABASE.inc()
                    st = own_quiz(
                        await load_state(conn, quiz_id, principal.tenant_id), principal, quiz_id
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

    # ------------------------------------------------------------------ next
    async def next_item(self, principal: Principal, quiz_id: uuid.UUID) -> dict:
        return await self._run(principal, quiz_id, self._next_step)

    async def _next_step(self, conn, st: QuizState, cached: bool) -> dict:
        await self._require_active(conn, st, cached)
        cur = st.current
        if cur is not None and not (st.is_linear_exam and cur.marked):
            if cached:  # answering with what is stored, not with a copy
                raise StaleState
            content = await self.rt.contents.get(conn, cur.version_id)
            return self._next_out(st, "active", item_view(st, cur, content))
        if len(st.items) >= st.num_questions:
            if cached:
                raise StaleState
            return self._next_out(st, "complete", None)
        pool = await self.rt.pools.get(st.tenant_id, st.exam_code)
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

    async def _choose(self, st: QuizState, pool: ItemPool, position: int):
        """(pool index, is_pretest) of the item to serve, counted in Redis; None: nothing left."""
        exposure = self.rt.exposure
        attempts = 8
        for attempt in range(attempts):
            capped = exposure.capped(st.tenant_id)
            choice = selection.choose(
                st, pool, position, capped, randomesque_k=self.rt.options.randomesque_k
            )
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
        self, conn, st: QuizState, pool: ItemPool, idx: int, is_pretest: bool, rejected: tuple
    ) -> dict:
        position = len(st.items) + 1
        qid = int(pool.question_ids[idx])
        content = await self.rt.contents.get(conn, int(pool.version_ids[idx]))
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
            await self.rt.exposure.release(st.tenant_id, qid)
            raise StaleState
        metrics.ITEMS_SERVED.labels(
            st.mode, str(st.adaptive).lower(), str(is_pretest).lower()
        ).inc()
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
        content = await self.rt.contents.get(conn, item.version_id)
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
            **event_params(event),
        }
        row = await (await conn.execute(CHANGE_SQL if changing else ANSWER_SQL, params)).fetchone()
        if row is None:
            raise StaleState
        item.selected, item.is_correct, item.revision = selected, correct, revision
        st.theta, st.theta_se, st.state_version = theta, se, row[1]
        st.ability_posterior = posterior
        metrics.ANSWERS.labels(st.mode, str(changing).lower()).inc()
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
        revisit = st.is_linear_exam and item.marked
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
                "answered; in a linear exam, mark an item to come back to it",
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
                "revisitable": bool(marked and st.is_linear_exam),
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
            return await load_state(conn, quiz_id, principal.tenant_id)

        return await self._run(principal, quiz_id, step)

    async def _require_active(self, conn, st: QuizState, cached: bool) -> None:
        if st.status == "active" and st.expired:
            if cached:
                raise StaleState
            await self._seal(conn, st, "expired")
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
            **event_params(event),
        }
        row = await (await conn.execute(SEAL_SQL, params)).fetchone()
        if row is None:  # answered or sealed meanwhile: score what is stored now
            raise StaleState
        metrics.QUIZZES_FINISHED.labels(status).inc()
        st.status, st.state_version = status, row[1]
