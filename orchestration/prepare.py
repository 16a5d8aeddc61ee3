"""Prepare what Dagster needs before `dagster dev` or a headless run:

    python -m orchestration.prepare

1. `dbt parse` → dbt_qbank/target/manifest.json (the dbt assets are built from it);
2. DAGSTER_HOME (settings.dagster_home, `.local/dagster`) with its dagster.yaml, and the
   PostgreSQL schema the instance lives in (`orchestration.instance`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestration.instance import ensure_instance_schema
from orchestration.project import dbt_project, prepare_dbt_project
from qbank.settings import Settings, get_settings

DAGSTER_YAML = Path(__file__).with_name("dagster.yaml")


def install_dagster_home(settings: Settings | None = None) -> Path:
    """Create DAGSTER_HOME, (re)install its dagster.yaml and the instance's schema; returns
    the home."""
    settings = settings or get_settings()
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != DAGSTER_YAML.read_bytes():
        shutil.copyfile(DAGSTER_YAML, target)
    ensure_instance_schema(settings)
    return home


def main() -> None:
    settings = get_settings()
    prepare_dbt_project(settings)
    home = install_dagster_home(settings)
    print(f"dbt manifest: {dbt_project.manifest_path}\nDAGSTER_HOME: {home}")


if __name__ == "__main__":
    main()
