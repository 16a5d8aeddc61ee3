"""dbt on a database of its own: events loaded through the real loader, dbt run in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qbank.settings import Settings
from tests.support.dbt import DbtDatabase, make_dbt_database


@pytest.fixture(scope="module")
def dbt_db(tmp_path_factory, settings: Settings) -> Iterator[DbtDatabase]:
    yield from make_dbt_database(tmp_path_factory, settings, "dbt")


@pytest.fixture
def scratch_dbt_db(tmp_path_factory, settings: Settings) -> Iterator[DbtDatabase]:
    yield from make_dbt_database(tmp_path_factory, settings, "dbt_scratch")
