from __future__ import annotations

from pydantic import BaseModel, Field

from serving_api.schemas.common import Strict


class TopicCreate(Strict):
    name: str = Field(min_length=1, max_length=200, examples=["Cardiology"])
    parent_id: int | None = Field(None, ge=1, description="parent topic; omit for a root topic")
    blueprint_code: str | None = Field(None, max_length=64, examples=["USMLE-1.CV"])


class TopicOut(BaseModel):
    id: int
    name: str
    parent_id: int | None
    blueprint_code: str | None
    path: str = Field(description="ltree of `t<id>` labels, root first")
    path_name: str = Field(
        description="the names along the path, root first", examples=["Cardiology › Arrhythmias"]
    )
