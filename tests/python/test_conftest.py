"""conftest's parse sharing and order of files. cdc projects share a parse only when dbt
would parse them alike: the same files (their own path aside), the same vars and the same
environment (SharedParse). The longest files are collected first (LONGEST_FILES)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import LONGEST_FILES, CdcProject, SharedParse, make_cdc_project

# What a model's config reads while parsing: a var, an environment variable.
MODEL = "{{ config(materialized='table', alias=var('alias', env_var('SHARED_PARSE_ALIAS', 'plain'))) }}\nselect {number} as n\n"


def project(root: Path, shared: SharedParse, n: int) -> CdcProject:
    made = make_cdc_project(root)
    made.parsed = shared
    (made.root / "models" / "numbers.sql").write_text(MODEL.replace("{number}", str(n)))
    return made


def tables(made: CdcProject) -> dict[str, int]:
    names = [name for (name,) in made.query("select table_name from information_schema.tables "
                                            "where table_schema = 'main' and table_type = 'BASE TABLE'")]
    return {name: made.query(f"select n from main.{name}")[0][0] for name in names}


def test_projects_share_a_parse_only_with_the_same_files(tmp_path: Path) -> None:
    shared = SharedParse()
    first, same, other = (project(tmp_path / name, shared, n) for name, n in (("a", 1), ("b", 1), ("c", 2)))
    for made in (first, same, other):
        made.dbt("run")
    assert shared.parses == 2  # b's files are a's
    assert (tables(first), tables(same), tables(other)) == ({"plain": 1}, {"plain": 1}, {"plain": 2})


def test_other_vars_or_environment_parse_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = SharedParse()
    made = project(tmp_path / "a", shared, 1)
    made.dbt("run")
    made.dbt("run", "--vars", "{alias: from_vars}")
    monkeypatch.setenv("SHARED_PARSE_ALIAS", "from_env")
    made.dbt("run")
    assert shared.parses == 3
    assert tables(made) == {"plain": 1, "from_vars": 1, "from_env": 1}


def test_the_longest_files_exist_and_are_collected_first(request: pytest.FixtureRequest) -> None:
    here = Path(__file__).parent
    assert [name for name in LONGEST_FILES if not (here / name).is_file()] == []
    collected = list(dict.fromkeys(item.path.name for item in request.session.items))
    # In a run of the whole suite, the listed files come first, in the listed order.
    if set(LONGEST_FILES) <= set(collected):
        assert collected[:len(LONGEST_FILES)] == list(LONGEST_FILES)
