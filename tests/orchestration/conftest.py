"""Orchestration tests: the manifest is prepared explicitly (not by `dagster dev`), and every
asset runs in-process against this run's PostgreSQL database and Kafka topic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from qbank.settings import Settings
from tests.support.dagster import postgres_instance


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
def instance(request, settings: Settings, migrated_db: str) -> Iterator[dg.DagsterInstance]:
    """One instance per module, in PostgreSQL like the product's (a schema of this run's
    database named for the module): later runs of the module see what earlier runs recorded."""
    schema = "dagster_" + request.module.__name__.rsplit(".", 1)[-1]
    with postgres_instance(settings, schema) as inst:
        yield inst
