"""The BI checks run against marts that dbt really built, in a database of this session.

The database, the loader and the in-process dbt runner are the dbt tests' own
(`tests/dbt/conftest.py`); this file adds the BI history (`seed.py`) and one `dbt build`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qbank.settings import Settings
from tests.bi.seed import BiSeed, seed_history
from tests.support.dbt import DbtDatabase, make_dbt_database


@pytest.fixture(scope="session")
def bi_database(tmp_path_factory, settings: Settings) -> Iterator[DbtDatabase]:
    yield from make_dbt_database(tmp_path_factory, settings, "bi")


@pytest.fixture(scope="session")
def seeded(bi_database: DbtDatabase) -> BiSeed:
    return seed_history(bi_database)


@pytest.fixture(scope="session")
def marts_db(bi_database: DbtDatabase, seeded: BiSeed) -> DbtDatabase:
    """The seeded database after `dbt build` (models and every dbt test) succeeded."""
    result = bi_database.dbt("build")
    if not result.success:
        failed = {
            k: v for k, v in bi_database.run_results().items() if v not in ("success", "pass")
        }
        pytest.fail(f"dbt build failed on the BI seed: {failed or result.exception}")
    return bi_database
