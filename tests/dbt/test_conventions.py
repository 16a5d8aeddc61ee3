"""The dbt project's conventions, read from a fresh `dbt parse` (no database needed): every
model, source and snapshot documented; every mart with a primary-key test; staging models in a
folder named for their source; the materializations dbt_project.yml states are the ones used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from orchestration.project import dbt_project, prepare_dbt_project

PK_TESTS = {"unique_combination_of_columns", "unique"}


@pytest.fixture(scope="module")
def manifest() -> dict:
    prepare_dbt_project()
    return json.loads(Path(dbt_project.manifest_path).read_text())


def _nodes(manifest: dict, kind: str) -> list[dict]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == kind]


def test_every_model_source_and_snapshot_is_documented(manifest: dict) -> None:
    nodes = _nodes(manifest, "model") + _nodes(manifest, "snapshot")
    nodes += list(manifest["sources"].values())
    missing = sorted(n["unique_id"] for n in nodes if not n.get("description", "").strip())
    assert not missing, f"undocumented: {missing}"


def test_every_mart_has_a_primary_key_test(manifest: dict) -> None:
    tested: dict[str, set[str]] = {}
    for t in _nodes(manifest, "test"):
        meta = t.get("test_metadata") or {}
        for parent in t["depends_on"]["nodes"]:
            tested.setdefault(parent, set()).add(meta.get("name", ""))
    marts = [m for m in _nodes(manifest, "model") if m["fqn"][1] == "marts"]
    assert marts
    without = sorted(m["name"] for m in marts if not tested.get(m["unique_id"], set()) & PK_TESTS)
    assert not without, f"marts without a primary-key test: {without}"


def test_staging_models_live_in_a_folder_named_for_their_source(manifest: dict) -> None:
    wrong = []
    for m in _nodes(manifest, "model"):
        if m["fqn"][1] != "staging":
            continue
        folder = m["fqn"][2]
        sources = {
            manifest["sources"][s]["source_name"]
            for s in m["depends_on"]["nodes"]
            if s.startswith("source.")
        }
        if sources != {folder}:
            wrong.append(f"{m['name']} in staging/{folder} reads sources {sorted(sources)}")
    assert not wrong, "\n".join(wrong)


def test_dbt_project_states_the_materializations_in_use(manifest: dict) -> None:
    project = yaml.safe_load((Path(dbt_project.project_dir) / "dbt_project.yml").read_text())
    stated = project["models"]["dbt_qbank"]
    wrong = []
    for m in _nodes(manifest, "model"):
        layer = stated
        declared = None
        for part in m["fqn"][1:]:  # folders, then the model itself
            layer = layer.get(part, {})
            declared = layer.get("+materialized", declared)
        used = m["config"]["materialized"]
        if declared != used:
            wrong.append(f"{m['name']}: dbt_project.yml says {declared}, the model is {used}")
    assert not wrong, "\n".join(wrong)
