"""The scaffold tests' projects (a copy of this repository's, or its engine only, on a
DuckDB landing schema), the scaffold run in-process, and reading what it wrote."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from magento_warehouse.engine_package import link_engine_package
from magento_warehouse.scaffold import scaffold_cdc

from conftest import write_duckdb_profile

REPO = Path(__file__).resolve().parents[2]
MAGENTO_DIR = Path("models/staging/magento")
SOURCES = MAGENTO_DIR / "_magento__sources.yml"
BASE = MAGENTO_DIR / "base"
PROPERTIES = BASE / "_magento__base_models.yml"
STREAMKAP = "_streamkap_source_ts_ms bigint, _streamkap_ts_ms bigint, _streamkap_offset bigint, __deleted varchar"

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


@pytest.fixture(autouse=True)
def _no_landing_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MAGENTO_LANDING_DATABASE", "MAGENTO_LANDING_SCHEMA", "DBT_PROJECT_DIR", "DBT_PROFILES_DIR"):
        monkeypatch.delenv(name, raising=False)


def make_project(root: Path, *, full: bool) -> Path:
    """A dbt project in `root` on `root/warehouse.duckdb`: a copy of this one, or its engine only."""
    root.mkdir(parents=True)
    shutil.copy(REPO / "dbt_project.yml", root / "dbt_project.yml")
    shutil.copytree(REPO / "macros", root / "macros")
    shutil.copytree(REPO / "tests" / "dbt", root / "tests" / "dbt")
    link_engine_package(root)
    if full:
        for name in ("models", "analyses", "seeds"):
            shutil.copytree(REPO / name, root / name)
        for name in ("selectors.yml", "packages.yml"):
            shutil.copy(REPO / name, root / name)
    else:
        (root / BASE).mkdir(parents=True)
    write_duckdb_profile(root)
    return root


def land(project: Path, *statements: str) -> None:
    """Runs SQL on the project's warehouse, with the landing schema `streamkap`."""
    with duckdb.connect(str(project / "warehouse.duckdb")) as con:
        con.execute("create schema if not exists streamkap")
        for statement in statements:
            con.execute(statement)


def scaffold(project: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Runs the scaffold's main() on `project`; returns its exit code and output."""
    code = scaffold_cdc.main([*args, "--project-dir", str(project), "--profiles-dir", str(project)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def files(project: Path) -> dict[str, bytes]:
    """Every file the scaffold owns, by path."""
    paths = [project / SOURCES, *sorted((project / BASE).glob("*"))]
    return {str(p.relative_to(project)): p.read_bytes() for p in paths if p.is_file()}


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def read_yaml(path: Path) -> Any:
    return load_yaml(path.read_text())


def source_table(project: Path, name: str) -> dict:
    (source,) = [s for s in read_yaml(project / SOURCES)["sources"] if s["name"] == "magento"]
    return next(t for t in source["tables"] if t["name"] == name)


def model_properties(project: Path, name: str) -> dict | None:
    return next((m for m in read_yaml(project / PROPERTIES)["models"] if m["name"] == name), None)


def contains(kept: Any, new: Any, where: str = "") -> None:
    """Everything in `kept` is in `new` (named list items matched by name)."""
    if isinstance(kept, dict):
        assert isinstance(new, dict), where
        for key, value in kept.items():
            assert key in new, f"{where}.{key} was dropped"
            contains(value, new[key], f"{where}.{key}")
    elif isinstance(kept, list) and all(isinstance(i, dict) and "name" in i for i in kept):
        named = {i["name"]: i for i in new if isinstance(i, dict)}
        for item in kept:
            assert item["name"] in named, f"{where}[{item['name']}] was dropped"
            contains(item, named[item["name"]], f"{where}[{item['name']}]")
    else:
        assert kept == new, f"{where}: {kept!r} became {new!r}"


def comments(text: str) -> list[str]:
    return [line.split("#", 1)[1].strip() for line in text.splitlines() if "#" in line]
