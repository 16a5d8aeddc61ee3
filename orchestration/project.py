"""The dbt project as Dagster sees it, and the step that prepares its manifest.

`dagster dev` re-parses the project on load (`prepare_if_dev`). Everything else — `make ui`,
`make materialize`, the test suite — prepares it explicitly first:

    python -m orchestration.project      # dbt parse → dbt_qbank/target/manifest.json
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.dbt_env import DBT_EXECUTABLE, DBT_PROJECT_DIR, export_dbt_env
from qbank.settings import Settings, get_settings

log = logging.getLogger("qbank.orchestration")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# What `dbt parse` leaves that the definitions and later dbt invocations read.
PARSE_OUTPUTS = ("manifest.json", "partial_parse.msgpack", "semantic_manifest.json")


def prepare_dbt_project(settings: Settings | None = None) -> None:
    """`dbt parse` into the project's target dir: manifest.json, and partial_parse.msgpack that
    every dagster-dbt invocation copies to start from (no database access).

    The parse writes into a directory of its own and the files are then renamed into place:
    a process loading the definitions meanwhile (`make ui`, another run, a parallel test
    worker) reads the old manifest or the new one, never half of one."""
    export_dbt_env(settings or get_settings())
    target = Path(dbt_project.manifest_path).parent  # target_path is relative to the project
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".parse-", dir=target) as scratch:
        subprocess.run(
            [DBT_EXECUTABLE, "parse", "--quiet", "--target-path", scratch],
            cwd=dbt_project.project_dir,
            env=os.environ.copy(),
            check=True,
        )
        for name in PARSE_OUTPUTS:
            if (Path(scratch) / name).exists():
                os.replace(Path(scratch) / name, target / name)


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
