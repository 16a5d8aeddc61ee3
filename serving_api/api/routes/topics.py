"""The topic hierarchy of a tenant (ltree paths of `t<id>` labels)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from qbank.models import Topic
from serving_api.deps import ANY_USER, STAFF, get_session
from serving_api.errors import ApiError
from serving_api.schemas.topics import TopicCreate, TopicOut
from serving_api.security import Principal
from serving_api.services.topic_paths import path_name

router = APIRouter(prefix="/topics", tags=["topics"])


def topic_out(t: Topic, names: dict[int, str]) -> TopicOut:
    return TopicOut(
        id=t.id,
        name=t.name,
        parent_id=t.parent_id,
        blueprint_code=t.blueprint_code,
        path=t.path,
        path_name=path_name(t.path, names),
    )


@router.post("", response_model=TopicOut, status_code=201)
async def create_topic(
    body: TopicCreate,
    principal: Principal = Depends(STAFF),
    session: AsyncSession = Depends(get_session),
) -> TopicOut:
    """Create a topic (under `parent_id` if given); sibling names are unique."""
    parent_path = None
    if body.parent_id is not None:
        parent = await session.get(Topic, body.parent_id)
        if parent is None or parent.tenant_id != principal.tenant_id:
            raise ApiError(422, f"parent topic {body.parent_id} does not exist in your tenant")
        parent_path = parent.path
    clash = await session.scalar(
        select(Topic.id).where(
            Topic.tenant_id == principal.tenant_id,
            Topic.parent_id.is_(None)
            if body.parent_id is None
            else Topic.parent_id == body.parent_id,
            func.lower(Topic.name) == body.name.lower(),
        )
    )
    if clash:
        raise ApiError(409, f"topic {body.name!r} already exists here (id {clash})")
    new_id = await session.scalar(text("SELECT nextval(pg_get_serial_sequence('topics', 'id'))"))
    topic = Topic(
        id=new_id,
        tenant_id=principal.tenant_id,
        parent_id=body.parent_id,
        name=body.name,
        blueprint_code=body.blueprint_code,
        path=f"{parent_path}.t{new_id}" if parent_path else f"t{new_id}",
    )
    session.add(topic)
    await session.commit()
    names = dict(
        (
            await session.execute(
                select(Topic.id, Topic.name).where(
                    Topic.tenant_id == principal.tenant_id,
                    text("topics.path @> CAST(:path AS ltree)").bindparams(path=topic.path),
                )
            )
        ).all()
    )
    return topic_out(topic, names)


@router.get("", response_model=list[TopicOut])
async def list_topics(
    principal: Principal = Depends(ANY_USER), session: AsyncSession = Depends(get_session)
) -> list[TopicOut]:
    """Every topic of the caller's tenant, parents before children."""
    rows = list(
        await session.scalars(
            select(Topic).where(Topic.tenant_id == principal.tenant_id).order_by(Topic.path)
        )
    )
    names = {t.id: t.name for t in rows}  # the whole tree is here: path names need no query
    return [topic_out(t, names) for t in rows]
