"""The authoring workflow: versions, their states, publications per exam code.

    draft → review → approved → published → retired        (review → draft with a comment)

Authors create and edit drafts and submit them; publishers return, approve, publish and retire;
admins may do all (the routes declare who). Editing a published (or retired) question makes a new
draft version: the live one keeps serving until the new one is published. Publishing is an upsert
of the (question, tenant, exam code) publication, announced to API processes by NOTIFY.
"""

from __future__ import annotations

import uuid

import orjson
from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from qbank.models import (
    Question,
    QuestionOption,
    QuestionPublication,
    QuestionVersion,
    Topic,
    VersionTransition,
)
from serving_api.errors import ApiError, not_found
from serving_api.schemas.questions import (
    OptionOut,
    QuestionContent,
    QuestionOut,
    QuestionSummary,
    VersionOut,
)
from serving_api.security import Principal
from serving_api.services.notify import PUBLICATION_CHANNEL

# (from_state, action) → to_state
TRANSITIONS = {
    ("draft", "submit"): "review",
    ("review", "return"): "draft",
    ("review", "approve"): "approved",
    ("approved", "publish"): "published",
    ("published", "publish"): "published",  # make the live version live in more exam codes
    ("published", "retire"): "retired",
}


async def load_question(session: AsyncSession, principal: Principal, question_id: int) -> Question:
    q = await session.scalar(
        select(Question)
        .where(Question.id == question_id, Question.tenant_id == principal.tenant_id)
        .options(selectinload(Question.versions).selectinload(QuestionVersion.options))
        .execution_options(populate_existing=True)
    )
    if q is None:
        raise not_found(f"question {question_id}")
    return q


async def live_map(session: AsyncSession, question_ids: list[int]) -> dict[int, dict[str, int]]:
    """question id → {exam code: live version number}."""
    rows = await session.execute(
        select(
            QuestionPublication.question_id, QuestionPublication.exam_code, QuestionVersion.version
        )
        .join(QuestionVersion, QuestionVersion.id == QuestionPublication.question_version_id)
        .where(QuestionPublication.question_id.in_(question_ids))
    )
    out: dict[int, dict[str, int]] = {q: {} for q in question_ids}
    for qid, code, ver in rows:
        out[qid][code] = ver
    return out


async def question_out(session: AsyncSession, q: Question) -> QuestionOut:
    live = (await live_map(session, [q.id]))[q.id]
    roots = {v.id: v.version for v in q.versions}
    return QuestionOut(
        id=q.id,
        external_ref=q.external_ref,
        created_at=q.created_at,
        live=live,
        versions=[
            VersionOut(
                id=v.id,
                version=v.version,
                state=v.state,
                topic_id=v.topic_id,
                stem_md=v.stem_md,
                lead_in=v.lead_in,
                options=[OptionOut(label=o.label, text_md=o.text_md) for o in v.options],
                correct_label=v.correct_label,
                rationale_md=v.rationale_md,
                difficulty_label=v.difficulty_label,
                bloom_level=v.bloom_level,
                tags=v.tags,
                assets=v.assets,
                references=v.references,
                review_comment=v.review_comment,
                edit_kind=v.edit_kind,
                item_root_version=roots.get(v.item_root_version_id, v.version),
                created_by=v.created_by,
                created_at=v.created_at,
                live_in=sorted(code for code, ver in live.items() if ver == v.version),
            )
            for v in q.versions
        ],
    )


async def check_topic(session: AsyncSession, principal: Principal, topic_id: int) -> None:
    tenant = await session.scalar(select(Topic.tenant_id).where(Topic.id == topic_id))
    if tenant != principal.tenant_id:
        raise ApiError(422, f"topic {topic_id} does not exist in your tenant; create it first")


def _version_from(
    content: QuestionContent, q: Question, version: int, principal: Principal
) -> QuestionVersion:
    v = QuestionVersion(
        question_id=q.id,
        tenant_id=principal.tenant_id,
        version=version,
        state="draft",
        created_by=principal.user_id,
    )
    _apply(v, content)
    v.options = [QuestionOption(label=o.label, text_md=o.text_md) for o in content.options]
    return v


def _apply(v: QuestionVersion, content: QuestionContent) -> None:
    v.topic_id = content.topic_id
    v.stem_md = content.stem_md
    v.lead_in = content.lead_in
    v.rationale_md = content.rationale_md
    v.correct_label = content.correct_label
    v.difficulty_label = content.difficulty_label
    v.bloom_level = content.bloom_level
    v.tags = content.tags
    v.assets = list(content.assets)
    v.references = list(content.references)


def _transition(
    session: AsyncSession,
    principal: Principal,
    v: QuestionVersion,
    from_state: str | None,
    to_state: str,
    comment: str | None = None,
) -> None:
    session.add(
        VersionTransition(
            tenant_id=principal.tenant_id,
            question_version_id=v.id,
            from_state=from_state,
            to_state=to_state,
            actor_id=principal.user_id,
            comment=comment,
        )
    )


async def create_question(
    session: AsyncSession,
    principal: Principal,
    content: QuestionContent,
    external_ref: str | None,
    submit: bool = False,
) -> Question:
    """A new question with version 1 as a draft (or submitted to review)."""
    await check_topic(session, principal, content.topic_id)
    if external_ref and await session.scalar(
        select(Question.id).where(
            Question.tenant_id == principal.tenant_id, Question.external_ref == external_ref
        )
    ):
        raise ApiError(409, f"external_ref {external_ref!r} is already used by another question")
    q = Question(
        tenant_id=principal.tenant_id, external_ref=external_ref, created_by=principal.user_id
    )
    session.add(q)
    await session.flush()
    v = _version_from(content, q, 1, principal)
    session.add(v)
    await session.flush()
    _transition(session, principal, v, None, "draft")
    if submit:
        v.state = "review"
        _transition(session, principal, v, "draft", "review")
    await session.flush()
    return q


async def edit_question(
    session: AsyncSession,
    principal: Principal,
    question_id: int,
    content: QuestionContent,
    edit_kind: str | None = None,
) -> Question:
    """Edit the draft in place, or start a new draft version from a published/retired one.

    Once the question has been published, the edit states its kind (SPEC §3): `minor` keeps the
    psychometric item of the version it replaces (`item_root_version_id`), so the new version is
    served with the item's calibrated parameters once published and its responses pool with the
    item's; `substantive` starts a new item (uncalibrated, pretest). A pending draft keeps the
    kind it was created with unless the edit gives another.
    """
    q = await load_question(session, principal, question_id)
    await check_topic(session, principal, content.topic_id)
    latest = q.versions[-1]
    if latest.state in ("review", "approved"):
        raise ApiError(
            409,
            f"version {latest.version} is in {latest.state}; a publisher must return it to draft "
            "before it can be edited",
        )
    was_published = [v for v in q.versions if v.state in ("published", "retired")]
    if not was_published and edit_kind is not None:
        raise ApiError(
            422,
            f"edit_kind: question {q.id} has never been published, so there are no calibrated "
            "parameters to keep or drop; leave edit_kind out",
        )
    new_version = latest.state != "draft"
    if was_published and edit_kind is None and (new_version or latest.edit_kind is None):
        live = latest if new_version else was_published[-1]
        raise ApiError(
            422,
            f"edit_kind is required: question {q.id} has been published (version "
            f"{live.version}); say 'minor' (wording or a typo: the new version keeps its "
            "calibrated parameters) or 'substantive' (a new item: uncalibrated, back to pretest)",
        )
    if not new_version:
        _apply(latest, content)
        latest.updated_at = func.now()
        if edit_kind is not None and edit_kind != latest.edit_kind:
            replaced = next(v for v in reversed(q.versions) if v.version < latest.version)
            _set_kind(latest, replaced, edit_kind)
        await session.execute(
            delete(QuestionOption).where(QuestionOption.question_version_id == latest.id)
        )
        for o in content.options:
            session.add(
                QuestionOption(question_version_id=latest.id, label=o.label, text_md=o.text_md)
            )
        await session.flush()
    else:  # published or retired: the live version is untouched
        v = _version_from(content, q, latest.version + 1, principal)
        _set_kind(v, latest, edit_kind)
        session.add(v)
        await session.flush()
        _transition(
            session,
            principal,
            v,
            None,
            "draft",
            f"new version from {latest.version} ({edit_kind} edit: "
            + (
                "keeps the calibrated parameters of its item)"
                if edit_kind == "minor"
                else "a new, uncalibrated item)"
            ),
        )
        await session.flush()
    return q


def _set_kind(v: QuestionVersion, replaced: QuestionVersion, edit_kind: str | None) -> None:
    """A minor edit stays in the psychometric item of the version it replaces."""
    v.edit_kind = edit_kind
    v.item_root_version_id = (
        (replaced.item_root_version_id or replaced.id) if edit_kind == "minor" else None
    )


def _find_version(q: Question, version: int) -> QuestionVersion:
    for v in q.versions:
        if v.version == version:
            return v
    raise not_found(f"version {version} of question {q.id}")


async def transition(
    session: AsyncSession,
    principal: Principal,
    question_id: int,
    version: int,
    action: str,
    comment: str | None = None,
    exam_codes: list[str] | None = None,
) -> Question:
    q = await load_question(session, principal, question_id)
    v = await session.scalar(
        select(QuestionVersion)
        .where(QuestionVersion.question_id == q.id, QuestionVersion.version == version)
        .with_for_update()
    )
    if v is None:
        raise not_found(f"version {version} of question {q.id}")
    to_state = TRANSITIONS.get((v.state, action))
    if to_state is None:
        allowed = sorted(a for (s, a) in TRANSITIONS if s == v.state)
        raise ApiError(
            409,
            f"cannot {action} version {version}: it is {v.state}"
            + (f" (possible: {', '.join(allowed)})" if allowed else " (no action possible)"),
        )
    from_state = v.state
    if action == "submit":
        newer = [x for x in q.versions if x.version > version]
        if newer:
            raise ApiError(409, f"version {version} is not the latest draft")
    if action in ("return", "approve"):
        v.review_comment = comment
    v.state = to_state
    v.updated_at = func.now()
    _transition(session, principal, v, from_state, to_state, comment)
    if action == "publish":
        await _publish(session, principal, q, v, exam_codes or [])
    elif action == "retire":
        codes = (
            await session.scalars(
                delete(QuestionPublication)
                .where(QuestionPublication.question_version_id == v.id)
                .returning(QuestionPublication.exam_code)
            )
        ).all()
        await _notify(session, principal, codes)
    await session.flush()
    return q


async def _publish(
    session: AsyncSession,
    principal: Principal,
    q: Question,
    v: QuestionVersion,
    exam_codes: list[str],
) -> None:
    codes = sorted(set(exam_codes))
    for code in codes:
        stmt = insert(QuestionPublication).values(
            tenant_id=principal.tenant_id,
            question_id=q.id,
            question_version_id=v.id,
            exam_code=code,
            published_by=principal.user_id,
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["question_id", "tenant_id", "exam_code"],
                set_={
                    "question_version_id": stmt.excluded.question_version_id,
                    "published_by": stmt.excluded.published_by,
                    "published_at": func.now(),
                },
            )
        )
    # A published version that is live nowhere any more has been superseded: retire it.
    superseded = await session.scalars(
        select(QuestionVersion).where(
            QuestionVersion.question_id == q.id,
            QuestionVersion.state == "published",
            QuestionVersion.id != v.id,
            ~select(QuestionPublication.id)
            .where(QuestionPublication.question_version_id == QuestionVersion.id)
            .exists(),
        )
    )
    for old in superseded:
        old.state = "retired"
        _transition(
            session, principal, old, "published", "retired", f"superseded by version {v.version}"
        )
    await _notify(session, principal, codes)


async def _notify(session: AsyncSession, principal: Principal, exam_codes) -> None:
    """Tell every API process (on commit) to reload the live pools of these exam codes."""
    for code in exam_codes:
        payload = orjson.dumps({"tenant_id": str(principal.tenant_id), "exam_code": code}).decode()
        await session.execute(
            text("SELECT pg_notify(:ch, :payload)"), {"ch": PUBLICATION_CHANNEL, "payload": payload}
        )


async def list_questions(
    session: AsyncSession,
    principal: Principal,
    state: str | None,
    topic_id: int | None,
    exam_code: str | None,
    limit: int,
    offset: int,
) -> list[QuestionSummary]:
    latest = (
        select(
            QuestionVersion.question_id,
            func.max(QuestionVersion.version).label("version"),
        )
        .where(QuestionVersion.tenant_id == principal.tenant_id)
        .group_by(QuestionVersion.question_id)
        .subquery()
    )
    q = (
        select(Question.id, Question.external_ref, QuestionVersion)
        .join(latest, latest.c.question_id == Question.id)
        .join(
            QuestionVersion,
            (QuestionVersion.question_id == Question.id)
            & (QuestionVersion.version == latest.c.version),
        )
        .where(Question.tenant_id == principal.tenant_id)
    )
    if state:
        q = q.where(QuestionVersion.state == state)
    if topic_id:
        q = q.where(QuestionVersion.topic_id == topic_id)
    if exam_code:
        q = q.where(
            select(QuestionPublication.id)
            .where(
                QuestionPublication.question_id == Question.id,
                QuestionPublication.exam_code == exam_code,
            )
            .exists()
        )
    rows = (await session.execute(q.order_by(Question.id).limit(limit).offset(offset))).all()
    live = await live_map(session, [r[0] for r in rows]) if rows else {}
    return [
        QuestionSummary(
            id=qid,
            external_ref=ref,
            latest_version=v.version,
            latest_state=v.state,
            topic_id=v.topic_id,
            lead_in=v.lead_in,
            live=live.get(qid, {}),
        )
        for qid, ref, v in rows
    ]


async def resolve_topic_path(
    session: AsyncSession, tenant_id: uuid.UUID, path: str, cache: dict[str, int | None]
) -> int | None:
    """Topic id of a name path like 'Cardiology/ECG' (case-insensitive), or None."""
    key = path.strip().lower()
    if key in cache:
        return cache[key]
    parent: int | None = None
    for name in [p.strip() for p in path.split("/") if p.strip()]:
        cond = Topic.parent_id.is_(None) if parent is None else Topic.parent_id == parent
        parent = await session.scalar(
            select(Topic.id).where(
                Topic.tenant_id == tenant_id, cond, func.lower(Topic.name) == name.lower()
            )
        )
        if parent is None:
            break
    cache[key] = parent
    return parent
