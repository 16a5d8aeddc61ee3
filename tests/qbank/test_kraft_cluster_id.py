"""scripts/stack.py formats Kafka's storage with a cluster id StorageTool can parse."""

from __future__ import annotations

import uuid

from qbank.settings import PROJECT_ROOT
from tests.support.modules import load_file


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch) -> None:
    """A first byte of 0xf8 encodes to '-' (base64url index 62): `-t -abc…` failed the format
    of a fresh clone one time in 64. The id is drawn again, as Kafka's own Uuid.randomUuid does."""
    stack = load_file(PROJECT_ROOT / "scripts" / "stack.py", "qbank_stack")
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" + bytes(15))])
    monkeypatch.setattr(stack.uuid, "uuid4", lambda: next(draws))
    cluster_id = stack.kraft_cluster_id()
    assert cluster_id == "EAAAAAAAAAAAAAAAAAAAAA"
    assert len(cluster_id) == 22
