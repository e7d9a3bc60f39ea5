"""Every model, every mart column and every macro of the project is documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dbt.cli.main import dbtRunner

from conftest import REPO

DISPATCHED = ("default__", "duckdb__", "snowflake__")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    target = tmp_path_factory.mktemp("docs") / "target"
    result = dbtRunner().invoke(["parse", "--project-dir", str(REPO), "--profiles-dir", str(REPO),
                                 "--target-path", str(target), "--quiet"])
    assert result.success, result.exception
    return json.loads((target / "manifest.json").read_text())


def project_nodes(manifest: dict, resource_type: str) -> list[dict]:
    return [n for n in manifest["nodes"].values()
            if n["resource_type"] == resource_type and n["package_name"] == manifest["metadata"]["project_name"]]


def test_every_model_is_described(manifest: dict) -> None:
    assert [m["name"] for m in project_nodes(manifest, "model") if not m["description"].strip()] == []


def test_every_mart_column_is_described_and_declared(manifest: dict) -> None:
    for model in project_nodes(manifest, "model"):
        if not model["path"].startswith("marts/"):
            continue
        assert model["columns"], f"{model['name']} documents no column"
        undescribed = [c for c, col in model["columns"].items() if not col["description"].strip()]
        assert undescribed == [], model["name"]


def test_every_macro_is_documented(manifest: dict) -> None:
    ours = [m for m in manifest["macros"].values()
            if m["package_name"] in (manifest["metadata"]["project_name"], "streamkap_cdc")
            and not m["name"].startswith(DISPATCHED)]
    assert ours
    assert sorted(m["name"] for m in ours if not m["description"].strip()) == []
