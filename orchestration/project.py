"""The dbt project as Dagster sees it, and the step that prepares its manifest.

`dagster dev` re-parses the project on load (`prepare_if_dev`). Everything else — `make ui`,
`make materialize`, the test suite — prepares it explicitly first:

    python -m orchestration.project      # dbt parse → dbt_qbank/target/manifest.json
"""

from __future__ import annotations

import logging
import os
import subprocess

from dagster_dbt import DbtProject

from orchestration.dbt_env import DBT_EXECUTABLE, DBT_PROJECT_DIR, export_dbt_env
from qbank.settings import Settings, get_settings

log = logging.getLogger("qbank.orchestration")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def prepare_dbt_project(settings: Settings | None = None) -> None:
    """`dbt parse` into the project's target dir: manifest.json, and partial_parse.msgpack that
    every dagster-dbt invocation copies to start from (no database access)."""
    export_dbt_env(settings or get_settings())
    subprocess.run(
        [DBT_EXECUTABLE, "parse", "--quiet", "--target-path", str(dbt_project.target_path)],
        cwd=dbt_project.project_dir,
        env=os.environ.copy(),
        check=True,
    )


def ensure_manifest(settings: Settings | None = None) -> None:
    """Under `dagster dev`, re-parse; elsewhere parse only when no manifest exists yet."""
    export_dbt_env(settings or get_settings())
    dbt_project.prepare_if_dev()
    if not dbt_project.manifest_path.exists():
        log.warning("no dbt manifest at %s: parsing the project now", dbt_project.manifest_path)
        prepare_dbt_project(settings)


if __name__ == "__main__":
    prepare_dbt_project()
    print(f"dbt manifest ready: {dbt_project.manifest_path}")
