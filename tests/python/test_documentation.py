"""Every model, every mart column and every macro of the project is documented."""

from __future__ import annotations

import pytest

from conftest import parse_project

DISPATCHED = ("default__", "duckdb__", "snowflake__")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return parse_project(tmp_path_factory.mktemp("docs") / "target")


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
