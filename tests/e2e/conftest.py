"""The end-to-end runs' processes: the outbox relay and a dev-mode API on this run's stack.

Dev mode because the simulated students log in through the dev-only mock-login.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.api_server import ROOT, start_server, stop_server


@pytest.fixture
def relay(kafka_topic, migrated_db):
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    log = (ROOT / "test-artifacts" / "relay-e2e.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingestion.outbox_relay"],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield proc
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def dev_api(migrated_db):
    server = start_server("e2e", {"QBANK_ENV": "dev"})
    yield server
    stop_server(server)
