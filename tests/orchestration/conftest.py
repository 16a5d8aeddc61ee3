"""Orchestration tests: the manifest is prepared explicitly (not by `dagster dev`), and every
asset runs in-process against this run's PostgreSQL database and Kafka topic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from qbank.settings import Settings


@pytest.fixture(scope="session")
def dbt_manifest(settings: Settings, migrated_db: str) -> Path:
    from orchestration.project import dbt_project, prepare_dbt_project

    prepare_dbt_project(settings)
    assert dbt_project.manifest_path.exists()
    return dbt_project.manifest_path


@pytest.fixture(scope="session")
def defs(dbt_manifest: Path, kafka_topic: str) -> dg.Definitions:
    from orchestration.definitions import build_definitions

    return build_definitions()


@pytest.fixture(scope="module")
def instance(tmp_path_factory) -> Iterator[dg.DagsterInstance]:
    """One instance per module, so later runs load what earlier runs stored (IO manager)."""
    with dg.DagsterInstance.local_temp(str(tmp_path_factory.mktemp("dagster"))) as inst:
        yield inst
