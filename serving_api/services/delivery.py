"""Quiz delivery: serve the next item, record answers, marks, and seal the quiz.

Each call reads the quiz's state in one round trip (`quiz_state.load_state`), decides in memory
(θ by EAP, selection by irt_models over the cached live pool), counts the exposure in Redis (one
atomic round trip, only for the item actually served) and writes the change together with its
event in one statement. State lives in PostgreSQL only.
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
from serving_api.services.item_pool import ItemPool
from serving_api.services.outbox import event_params, outbox_from
from serving_api.services.quiz_state import QuizState, ServedItem, load_state, scaled_score

_ACTIVE = "EXISTS (SELECT 1 FROM quiz_sessions WHERE id = %(quiz)s AND status = 'active')"

SERVE_SQL = f"""
WITH ins AS (
  INSERT INTO quiz_items (quiz_id, tenant_id, question_id, question_version_id, version, topic_id,
                          position, is_pretest, a, b, c, calibrated)
  SELECT %(quiz)s, %(tenant)s, %(question)s, %(qv)s, %(version)s, %(topic)s, %(position)s,
         %(pretest)s, %(a)s, %(b)s, %(c)s, %(calibrated)s
  WHERE {_ACTIVE}
  ON CONFLICT DO NOTHING
  RETURNING id
), ev AS ({outbox_from("ins")}),
sh AS (UPDATE quiz_sessions SET sh_rejected = sh_rejected || %(rejected)s::bigint[]
       WHERE id = %(quiz)s AND cardinality(%(rejected)s::bigint[]) > 0
         AND EXISTS (SELECT 1 FROM ins))
SELECT id FROM ins
"""

ANSWER_SQL = f"""
WITH ins AS (
  INSERT INTO user_responses (quiz_item_id, quiz_id, tenant_id, user_id, question_id,
                              question_version_id, selected_label, is_correct, time_taken_ms)
  SELECT %(item)s, %(quiz)s, %(tenant)s, %(user)s, %(question)s, %(qv)s, %(selected)s,
         %(correct)s, %(ms)s
  WHERE {_ACTIVE}
  ON CONFLICT (quiz_item_id) DO NOTHING
  RETURNING id
), ev AS ({outbox_from("ins")}),
upd AS (UPDATE quiz_sessions SET theta = %(theta)s, theta_se = %(se)s
        WHERE id = %(quiz)s AND EXISTS (SELECT 1 FROM ins))
SELECT id FROM ins
"""

CHANGE_SQL = f"""
WITH upd AS (
  UPDATE user_responses
     SET selected_label = %(selected)s, is_correct = %(correct)s, time_taken_ms = %(ms)s,
         revision = revision + 1, updated_at = now()
   WHERE quiz_item_id = %(item)s AND revision = %(revision)s AND {_ACTIVE}
  RETURNING id
), ev AS ({outbox_from("upd")}),
ses AS (UPDATE quiz_sessions SET theta = %(theta)s, theta_se = %(se)s
        WHERE id = %(quiz)s AND EXISTS (SELECT 1 FROM upd))
SELECT id FROM upd
"""

MARK_SQL = f"""
WITH upd AS (
  UPDATE quiz_items SET marked = %(marked)s
   WHERE quiz_id = %(quiz)s AND position = %(position)s AND marked <> %(marked)s AND {_ACTIVE}
  RETURNING id
), ev AS ({outbox_from("upd")})
SELECT id FROM upd
"""

SEAL_SQL = f"""
WITH upd AS (
  UPDATE quiz_sessions
     SET status = %(status)s, finished_at = now(), theta = %(theta)s, theta_se = %(se)s,
         raw_score = %(raw)s, scaled_score = %(scaled)s
   WHERE id = %(quiz)s AND status = 'active'
  RETURNING id
), ev AS ({outbox_from("upd")})
SELECT id FROM upd
"""


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
    def __init__(self, runtime: Runtime):
        self.rt = runtime

    # ------------------------------------------------------------------ next
    async def next_item(self, principal: Principal, quiz_id: uuid.UUID) -> dict:
        async with self.rt.pg.connection() as conn:
            st = own_quiz(await load_state(conn, quiz_id, principal.tenant_id), principal, quiz_id)
            await self._require_active(conn, st)
            cur = st.current
            if cur is not None and not (st.is_linear_exam and cur.marked):
                content = await self.rt.contents.get(conn, cur.version_id)
                return self._next_out(st, "active", item_view(st, cur, content))
            if len(st.items) >= st.num_questions:
                return self._next_out(st, "complete", None)
            pool = await self.rt.pools.get(st.tenant_id, st.exam_code)
            for _attempt in range(3):
                pick = await self._choose(st, pool, len(st.items) + 1)
                if pick is None:
                    await self._seal(conn, st, "pool_exhausted")
                    metrics.POOL_EXHAUSTED.inc()
                    return self._next_out(st, "pool_exhausted", None)
                served = await self._record_serve(conn, st, pool, *pick)
                if served is not None:
                    return served
                # Lost a race with a concurrent request for the same quiz: read again.
                st = own_quiz(
                    await load_state(conn, quiz_id, principal.tenant_id), principal, quiz_id
                )
                await self._require_active(conn, st)
                cur = st.current
                if cur is not None:
                    content = await self.rt.contents.get(conn, cur.version_id)
                    return self._next_out(st, "active", item_view(st, cur, content))
            raise ApiError(409, "the quiz is being changed by another request; try again")

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
            qid = int(pool.question_ids[choice.index])
            # Items other processes just capped are learned one refusal at a time; after a few,
            # serve the choice anyway rather than end the quiz (the cap is soft, quotas are not).
            force = choice.cap_relaxed or attempt == attempts - 1
            if await exposure.try_serve(st.tenant_id, qid, force=force):
                return choice.index, choice.is_pretest, choice.rejected_question_ids
            metrics.CAP_REFUSALS.inc()  # another process filled its cap just now: choose again
        raise AssertionError("unreachable: the last attempt always counts")

    async def _record_serve(
        self, conn, st: QuizState, pool: ItemPool, idx: int, is_pretest: bool, rejected: tuple
    ) -> dict | None:
        position = len(st.items) + 1
        qid = int(pool.question_ids[idx])
        content = await self.rt.contents.get(conn, int(pool.version_ids[idx]))
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
        )
        params = {
            "quiz": st.id,
            "tenant": st.tenant_id,
            "question": qid,
            "qv": int(pool.version_ids[idx]),
            "version": int(pool.versions[idx]),
            "topic": int(pool.topic_ids[idx]),
            "position": position,
            "pretest": is_pretest,
            "a": float(pool.a[idx]),
            "b": float(pool.b[idx]),
            "c": float(pool.c[idx]),
            "calibrated": bool(pool.calibrated[idx]),
            "rejected": list(rejected),
            **event_params(event),
        }
        row = await (await conn.execute(SERVE_SQL, params)).fetchone()
        if row is None:
            await self.rt.exposure.release(st.tenant_id, qid)
            return None
        metrics.ITEMS_SERVED.labels(
            st.mode, str(st.adaptive).lower(), str(is_pretest).lower()
        ).inc()
        item = ServedItem(
            row[0], qid, params["qv"], params["version"], params["topic"], position, is_pretest,
            False, params["a"], params["b"], params["c"], params["calibrated"], None, None, None, 0,
        )  # fmt: skip
        st.items.append(item)
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
        async with self.rt.pg.connection() as conn:
            st = own_quiz(await load_state(conn, quiz_id, principal.tenant_id), principal, quiz_id)
            await self._require_active(conn, st)
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
            ms = time_taken_ms if time_taken_ms is not None else max(0, item.ms_since_served)
            theta, se = st.ability(extra=(item, correct))
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
            row = await (
                await conn.execute(CHANGE_SQL if changing else ANSWER_SQL, params)
            ).fetchone()
            if row is None:
                raise ApiError(
                    409, f"position {item.position} was answered by a concurrent request"
                )
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
        async with self.rt.pg.connection() as conn:
            st = own_quiz(await load_state(conn, quiz_id, principal.tenant_id), principal, quiz_id)
            await self._require_active(conn, st)
            item = st.item_at(position)
            if item is None:
                raise ApiError(409, f"position {position} has not been served in this quiz")
            if item.marked != marked:
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
                    "position": position,
                    "marked": marked,
                    **event_params(event),
                }
                await conn.execute(MARK_SQL, params)
        return {
            "quiz_id": st.id,
            "position": position,
            "marked": marked,
            "revisitable": bool(marked and st.is_linear_exam),
        }

    # ------------------------------------------------------------------ finish
    async def finish(self, principal: Principal, quiz_id: uuid.UUID) -> QuizState:
        async with self.rt.pg.connection() as conn:
            st = own_quiz(await load_state(conn, quiz_id, principal.tenant_id), principal, quiz_id)
            if st.status == "active":
                await self._seal(conn, st, "expired" if st.expired else "finished")
                st = await load_state(conn, quiz_id, principal.tenant_id)
            return st

    async def _require_active(self, conn, st: QuizState) -> None:
        if st.status == "active" and st.expired:
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
            "status": status,
            "theta": theta,
            "se": se,
            "raw": raw,
            "scaled": scaled,
            **event_params(event),
        }
        row = await (await conn.execute(SEAL_SQL, params)).fetchone()
        if row is not None:
            metrics.QUIZZES_FINISHED.labels(status).inc()
            st.status = status
