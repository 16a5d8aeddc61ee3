"""The serving process's garbage-collector settings (serving_api.heap)."""

from __future__ import annotations

import gc

from starlette.testclient import TestClient

from qbank.settings import Settings
from serving_api.config import ApiOptions


def test_started_app_freezes_its_startup_heap_and_collects_young_objects_less_often(settings):
    from serving_api.main import create_app

    before = gc.get_threshold()
    try:
        app = create_app(Settings(), ApiOptions(gc_gen0_threshold=12_345))
        gc.unfreeze()
        with TestClient(app) as client:
            assert client.get("/health").status_code == 200
            frozen = gc.get_freeze_count()
            threshold = gc.get_threshold()
        assert frozen > 10_000  # modules, the app and its schemas
        assert threshold == (12_345, max(before[1], 50), max(before[2], 100))
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
