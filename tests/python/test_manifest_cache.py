"""The runner keeps the parsed manifest between cycles and parses again whenever
anything parsing reads has changed (magento_warehouse.runner.manifest_cache).

A small real project on DuckDB: each step changes one thing the parse reads (a model,
a macro, a new or removed file, --vars, an env var a model or the profile reads, the
selectors) and the runner's next manifest must show the change. dbt's own parse is
watched (not replaced) to tell a loaded manifest from a parsed one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest
from dbt.cli.main import dbtRunner

from magento_warehouse.runner import manifest_cache
from magento_warehouse.runner import run_and_sync

REPO = Path(__file__).resolve().parents[2]


PROFILE = """\
cache_check:
  target: local
  outputs:
    local:
      type: duckdb
      path: "{{ env_var('CACHE_CHECK_DB', '%s') }}"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    (root / "macros").mkdir()
    (root / "dbt_project.yml").write_text(
        "name: cache_check\nversion: '1.0.0'\nconfig-version: 2\nprofile: cache_check\n")
    (root / "profiles.yml").write_text(PROFILE % (tmp_path / "warehouse.duckdb"))
    (root / "selectors.yml").write_text(
        "selectors:\n  - name: all\n    definition:\n      method: fqn\n      value: '*'\n")
    (root / "models" / "orders.sql").write_text("select 1 as order_id\n")
    (root / "models" / "labelled.sql").write_text(
        "{{ config(alias=env_var('CACHE_CHECK_ALIAS', 'labelled') ~ '_' ~ var('suffix', 'v1')) }}\n"
        "select {{ answer() }} as answer\n")
    (root / "macros" / "answer.sql").write_text("{% macro answer() %}42{% endmacro %}\n")
    kit = root / "packages" / "kit"
    (kit / "macros").mkdir(parents=True)
    (kit / "dbt_project.yml").write_text("name: kit\nversion: '1.0.0'\nconfig-version: 2\n")
    (kit / "macros" / "kit_answer.sql").write_text("{% macro kit_answer() %}7{% endmacro %}\n")
    (root / "packages.yml").write_text("packages:\n  - local: packages/kit\n")
    (root / "dbt_packages").mkdir()
    (root / "dbt_packages" / "kit").symlink_to(kit, target_is_directory=True)  # as `dbt deps` installs it
    # The package's own test project installs it the same way: a link back into the package.
    (kit / "integration_tests" / "dbt_packages").mkdir(parents=True)
    (kit / "integration_tests" / "dbt_packages" / "kit").symlink_to(kit, target_is_directory=True)
    return root


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """The `dbt parse` invocations made meanwhile (dbt still runs them)."""
    seen: list[list[str]] = []
    invoke = dbtRunner.invoke

    def watched(self: dbtRunner, args: list[str], **kwargs: Any) -> Any:
        if args and args[0] == "parse":
            seen.append(list(args))
        return invoke(self, args, **kwargs)

    monkeypatch.setattr(dbtRunner, "invoke", watched)
    monkeypatch.delenv("CACHE_CHECK_ALIAS", raising=False)
    yield seen


def manifest(project: Path, *extra: str) -> Any:
    args = run_and_sync.parse_args(["--selector", "all", "--project-dir", str(project),
                                    "--profiles-dir", str(project), *extra])
    return run_and_sync.parse_project(args)


def touch_later(path: Path, text: str) -> None:
    """Rewrites a file; its modification time moves on even on a coarse clock."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 10**9, before + 10**9))


def node(found: Any, name: str) -> Any:
    return found.nodes[f"model.cache_check.{name}"]


def test_an_unchanged_project_is_loaded_not_parsed_and_equals_a_parse(
        project: Path, parses: list[list[str]]) -> None:
    parsed = manifest(project)
    loaded = manifest(project)

    assert len(parses) == 1
    assert (project / "target" / manifest_cache.CACHE_FILE).exists()
    assert loaded.writable_manifest().to_dict()["nodes"] == parsed.writable_manifest().to_dict()["nodes"]
    assert loaded.parent_map == parsed.parent_map and loaded.child_map == parsed.child_map
    assert loaded.resolve_ref(None, "orders", None, None, "cache_check", None).unique_id == \
        "model.cache_check.orders"  # dbt's lookups are rebuilt on first use


@pytest.mark.parametrize("change", [
    "edit a model", "edit a macro", "edit a local package's macro", "add a model", "remove a model",
    "edit selectors.yml", "edit the profile",
])
def test_a_changed_file_is_parsed_again(project: Path, parses: list[list[str]], change: str) -> None:
    manifest(project)
    models = project / "models"
    if change == "edit a model":
        touch_later(models / "orders.sql", "select 2 as order_id\n")
    elif change == "edit a macro":
        touch_later(project / "macros" / "answer.sql", "{% macro answer() %}43{% endmacro %}\n")
    elif change == "edit a local package's macro":
        touch_later(project / "packages/kit/macros/kit_answer.sql", "{% macro kit_answer() %}8{% endmacro %}\n")
    elif change == "add a model":
        touch_later(models / "refunds.sql", "select 1 as refund_id\n")
    elif change == "remove a model":
        (models / "orders.sql").unlink()
    elif change == "edit selectors.yml":
        touch_later(project / "selectors.yml", (project / "selectors.yml").read_text().replace("all", "every"))
    else:
        touch_later(project / "profiles.yml", (project / "profiles.yml").read_text() + "\n")

    found = manifest(project)

    assert len(parses) == 2, change  # (dbt reads selectors.yml afresh when selecting)
    ids = set(found.nodes)
    if change == "edit a model":
        assert node(found, "orders").raw_code.strip() == "select 2 as order_id"
    elif change == "edit a macro":
        assert "43" in found.macros["macro.cache_check.answer"].macro_sql
    elif change == "edit a local package's macro":
        assert "8" in found.macros["macro.kit.kit_answer"].macro_sql
    elif change == "add a model":
        assert "model.cache_check.refunds" in ids
    elif change == "remove a model":
        assert "model.cache_check.orders" not in ids
    assert manifest(project) is not None and len(parses) == 2  # and kept again


def test_vars_and_env_vars_the_project_reads_are_parsed_again(
        project: Path, parses: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    assert node(manifest(project), "labelled").alias == "labelled_v1"

    assert node(manifest(project, "--vars", "{suffix: v2}"), "labelled").alias == "labelled_v2"
    monkeypatch.setenv("CACHE_CHECK_ALIAS", "tagged")  # read by a model
    assert node(manifest(project, "--vars", "{suffix: v2}"), "labelled").alias == "tagged_v2"
    monkeypatch.setenv("CACHE_CHECK_DB", str(project / "other.duckdb"))  # read by the profile
    manifest(project, "--vars", "{suffix: v2}")
    monkeypatch.setenv("DBT_CACHE_CHECK_ANYTHING", "1")  # DBT_* variables may change dbt's behaviour
    manifest(project, "--vars", "{suffix: v2}")
    monkeypatch.setenv("UNRELATED_VARIABLE", "1")  # read by nothing: the manifest is kept
    assert node(manifest(project, "--vars", "{suffix: v2}"), "labelled").alias == "tagged_v2"

    assert len(parses) == 5


def test_a_damaged_or_foreign_cache_file_means_a_parse(project: Path, parses: list[list[str]]) -> None:
    manifest(project)
    cache = project / "target" / manifest_cache.CACHE_FILE
    cache.write_bytes(cache.read_bytes()[:1000])  # cut short, as by a full disk

    assert "model.cache_check.orders" in manifest(project).nodes
    assert len(parses) == 2
    assert manifest(project) is not None and len(parses) == 2
