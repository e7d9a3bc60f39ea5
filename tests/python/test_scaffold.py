"""scripts/scaffold_cdc.py against real landing schemas, with real dbt in-process.

Each test builds a dbt project in a temporary folder (a copy of this repository's
project, or a small one with its dbt_project.yml, macros and generic tests) and a
DuckDB landing schema, runs the scaffold's main() and reads the files it wrote. The
Snowflake tests are in test_scaffold_snowflake.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner

# the landing tables the simulator writes
from magento_warehouse.demo.simulator.schema import TABLES as SIMULATOR_TABLES
from magento_warehouse.scaffold import scaffold_cdc

from scaffold_project import (  # noqa: F401  (_no_landing_overrides: an autouse fixture)
    BASE,
    PROPERTIES,
    SOURCES,
    STREAMKAP,
    _no_landing_overrides,
    comments,
    contains,
    files,
    land,
    load_yaml,
    make_project,
    model_properties,
    read_yaml,
    scaffold,
    source_table,
)


# --- the repository's project --------------------------------------------------------


@pytest.fixture(scope="module")
def simulated_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this project over the simulator's landing tables (empty: only columns matter)."""
    project = make_project(tmp_path_factory.mktemp("scaffold") / "project", full=True)
    land(project, *(table.ddl("streamkap") for table in SIMULATOR_TABLES.values()))
    return project


def test_project_round_trip(simulated_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The committed files keep every description, test and comment; a deleted model comes back identical."""
    project = simulated_project
    before = {path: (project / path).read_text() for path in (SOURCES, PROPERTIES)}

    code, out = scaffold(project, capsys)
    assert code == 0, out
    assert "error" not in out.lower(), out
    for path, text in before.items():
        after = (project / path).read_text()
        contains(load_yaml(text), load_yaml(after), str(path))
        assert comments(after)[: len(comments(text))] == comments(text) or set(comments(text)) <= set(
            comments(after)
        ), f"a comment of {path} was lost"
    landed = duckdb.connect(str(project / "warehouse.duckdb")).execute(
        "select table_name, column_name from information_schema.columns where table_schema = 'streamkap'"
    ).fetchall()
    (source,) = read_yaml(project / SOURCES)["sources"]
    declared = {(t["name"], c["name"]) for t in source["tables"] for c in t["columns"]}
    assert set(landed) <= declared
    for table, _ in landed:
        assert (project / BASE / f"base_magento__{table}.sql").exists(), table
    canonical = files(project)

    code, out = scaffold(project, capsys, "--check")
    assert code == 0, out
    assert "Up to date" in out

    # A model and its properties deleted by hand come back byte for byte.
    (project / BASE / "base_magento__store.sql").unlink()
    text = (project / PROPERTIES).read_text()
    start = text.index("\n  - name: base_magento__store\n")
    end = text.index("\n  - name: ", start + 1)
    (project / PROPERTIES).write_text(text[:start] + text[end:])

    code, out = scaffold(project, capsys)
    assert code == 0, out
    assert "updated  store: model, properties" in out, out
    assert files(project) == canonical


# --- a small project -----------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project", full=False)


CUSTOMER_GROUP = f"""create table streamkap.customer_group (
    customer_group_id integer, customer_group_code varchar, tax_class_id integer, {STREAMKAP})"""
SALES_ORDER = f"""create table streamkap.sales_order (
    entity_id integer, status varchar, grand_total decimal(20,4), created_at timestamp, {STREAMKAP})"""


def test_new_table_is_scaffolded_idempotently_and_hand_edits_survive(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    land(project, CUSTOMER_GROUP)
    code, out = scaffold(project, capsys)
    assert code == 0, out
    assert "added    customer_group (key customer_group_id): source entry, model, properties" in out

    # Source entry: every landing column, with its type; the key's not_null; the placeable test.
    table = source_table(project, "customer_group")
    assert [(c["name"], c["data_type"]) for c in table["columns"]] == [
        ("customer_group_id", "integer"), ("customer_group_code", "varchar"), ("tax_class_id", "integer"),
        ("_streamkap_source_ts_ms", "bigint"), ("_streamkap_ts_ms", "bigint"), ("_streamkap_offset", "bigint"),
        ("__deleted", "varchar"),
    ]  # fmt: skip
    assert table["data_tests"] == ["streamkap_cdc.streamkap_events_are_placeable"]
    assert table["columns"][0]["data_tests"] == [{"not_null": {"config": {"severity": "warn"}}}]
    assert "such events are left out of the current state" in (project / SOURCES).read_text()
    assert read_yaml(project / SOURCES)["sources"][0]["config"]["freshness"]["warn_after"] == {
        "count": 30, "period": "minute"}  # fmt: skip
    # Model and properties, as the README's "Adding a Magento table" asks.
    assert (project / BASE / "base_magento__customer_group.sql").read_text() == (
        "{{ streamkap_cdc.cdc_current_state('magento', 'customer_group', unique_key='customer_group_id') }}\n"
    )
    properties = model_properties(project, "base_magento__customer_group")
    assert properties == {
        "name": "base_magento__customer_group",
        "description": "Current state of Magento's `customer_group` table (relation `customer_group`), "
                       "one row per `customer_group_id`.",
        "data_tests": [
            {"streamkap_cdc.cdc_matches_change_log": {"arguments": {
                "source_name": "magento", "table_name": "customer_group", "unique_key": "customer_group_id"}}},
            {"streamkap_cdc.cdc_newest_events_applied": {"arguments": {
                "source_name": "magento", "table_name": "customer_group", "unique_key": "customer_group_id"}}}],
        "columns": [{"name": "customer_group_id", "data_tests": ["unique", "not_null"]}],
    }  # fmt: skip

    first = files(project)
    code, out = scaffold(project, capsys)
    assert code == 0 and "Up to date" in out, out
    assert files(project) == first, "a second run changed a file"

    # Hand edits: descriptions, an extra test, a config, per-table freshness, a comment.
    sources = (project / SOURCES).read_text()
    sources = sources.replace(
        "      - name: customer_group\n",
        "      - name: customer_group\n"
        "        # Hand-written note about this table.\n"
        "        config:\n"
        "          freshness:\n"
        "            warn_after: {count: 90, period: day}\n",
    )
    sources = sources.replace("          - name: customer_group_code\n",
                              "          - name: customer_group_code\n            description: The group's label.\n")
    generated = "Change log of Magento's `customer_group` table (Customer Group; module Magento_Customer)."
    assert generated in sources
    sources = sources.replace(generated, "Customer groups, by hand.")
    (project / SOURCES).write_text(sources)
    properties_text = (project / PROPERTIES).read_text()
    properties_text = properties_text.replace(
        "        data_tests: [unique, not_null]\n",
        "        description: The group id.\n"
        "        data_tests: [unique, not_null, {accepted_values: {arguments: {values: [0, 1, 2, 3]}}}]\n",
    ).replace(
        "    description: Current state", "    config:\n      tags: [configuration]\n    description: Groups. Current state"
    )
    (project / PROPERTIES).write_text(properties_text)
    land(project, "alter table streamkap.customer_group add column is_default smallint")

    code, out = scaffold(project, capsys)
    assert code == 0, out
    assert "updated  customer_group: source +1 column (is_default)" in out, out
    edited = (project / SOURCES).read_text()
    assert "# Hand-written note about this table." in edited
    table = source_table(project, "customer_group")
    assert table["description"].startswith("Customer groups, by hand")
    assert table["config"] == {"freshness": {"warn_after": {"count": 90, "period": "day"}}}
    assert {"name": "customer_group_code", "data_type": "varchar", "description": "The group's label."} in table[
        "columns"]  # fmt: skip
    assert table["columns"][-1] == {"name": "is_default", "data_type": "smallint"}  # in landing order: added last
    properties = model_properties(project, "base_magento__customer_group")
    assert properties["config"] == {"tags": ["configuration"]}
    assert properties["description"].startswith("Groups. Current state")
    assert properties["columns"][0]["data_tests"][2] == {"accepted_values": {"arguments": {"values": [0, 1, 2, 3]}}}
    assert (project / PROPERTIES).read_text() == properties_text

    edited_files = files(project)
    code, out = scaffold(project, capsys)
    assert code == 0 and "Up to date" in out, out
    assert files(project) == edited_files


def test_unknown_key_is_skipped_and_pk_supplies_keys(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    land(
        project,
        f"create table streamkap.acme_widget (widget_id integer, label varchar, {STREAMKAP})",
        f"create table streamkap.acme_link (a_id integer, b_id integer, qty integer, {STREAMKAP})",
    )
    code, out = scaffold(project, capsys)
    assert code == 0, out
    for table in ("acme_widget", "acme_link"):
        assert f"skipped  {table}: no known primary key" in out
        assert f"--pk {table}=COLUMN" in out
        assert not (project / BASE / f"base_magento__{table}.sql").exists()
    assert "acme" not in (project / SOURCES).read_text()

    # A key column that is not in the landing table is an error, and nothing is written.
    before = files(project)
    code, out = scaffold(project, capsys, "--pk", "acme_widget=id")
    assert code == 3
    assert "'id'" in out and "'acme_widget'" in out and "not a column of landing table" in out
    assert files(project) == before

    code, out = scaffold(project, capsys, "--pk", "acme_widget=widget_id", "--pk", "acme_link=a_id,b_id")
    assert code == 0, out
    assert "added    acme_link (key (a_id, b_id))" in out
    assert (project / BASE / "base_magento__acme_widget.sql").read_text() == (
        "{{ streamkap_cdc.cdc_current_state('magento', 'acme_widget', unique_key='widget_id') }}\n"
    )
    assert (project / BASE / "base_magento__acme_link.sql").read_text() == (
        "{{ streamkap_cdc.cdc_current_state('magento', 'acme_link', unique_key=['a_id', 'b_id']) }}\n"
    )
    link = model_properties(project, "base_magento__acme_link")
    assert link["data_tests"] == [
        {"streamkap_cdc.cdc_matches_change_log": {"arguments": {
            "source_name": "magento", "table_name": "acme_link", "unique_key": ["a_id", "b_id"]}}},
        {"streamkap_cdc.cdc_newest_events_applied": {"arguments": {
            "source_name": "magento", "table_name": "acme_link", "unique_key": ["a_id", "b_id"]}}},
        {"unique_combination": {"arguments": {"columns": ["a_id", "b_id"]}}},
    ]  # fmt: skip
    assert link["columns"] == [{"name": "a_id", "data_tests": ["not_null"]}, {"name": "b_id", "data_tests": ["not_null"]}]
    key_columns = [c for c in source_table(project, "acme_link")["columns"] if c.get("data_tests")]
    assert [c["name"] for c in key_columns] == ["a_id", "b_id"]

    # Later runs take the key from the existing model: no --pk needed.
    code, out = scaffold(project, capsys, "--check")
    assert code == 0 and "Up to date" in out, out

    # What the scaffold wrote builds and its tests pass: a composite-key current state.
    land(
        project,
        "insert into streamkap.acme_link values "
        "(1, 1, 5, 1000, 1010, 1, 'false'), (1, 2, 7, 1000, 1010, 2, 'false'), "
        "(1, 1, 6, 2000, 2010, 3, 'false'), (1, 2, 7, 2000, 2010, 4, 'true')",
    )
    result = dbtRunner().invoke(["build", "--select", "+base_magento__acme_link", "--project-dir", str(project),
                                 "--profiles-dir", str(project), "--quiet"])
    assert result.success, result.exception or [(r.node.name, r.message) for r in result.result]
    tested = {r.node.name for r in result.result if r.node.resource_type == "test"}
    assert any(name.startswith("unique_combination") for name in tested), tested
    assert any(name.startswith("streamkap_cdc_cdc_matches_change_log") for name in tested), tested
    with duckdb.connect(str(project / "warehouse.duckdb")) as con:
        relation = next(
            f"{schema}.acme_link" for (schema,) in con.execute(
                "select table_schema from information_schema.tables where table_name = 'acme_link' "
                "and table_schema <> 'streamkap'").fetchall()
        )  # fmt: skip
        assert con.execute(f"select a_id, b_id, qty from {relation}").fetchall() == [(1, 1, 6)]


def test_check_reports_missing_and_gone(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    land(project, CUSTOMER_GROUP, SALES_ORDER)
    code, out = scaffold(project, capsys, "--check")
    assert code == 1, out
    for missing in (
        "source table magento.customer_group is missing",
        "model models/staging/magento/base/base_magento__sales_order.sql is missing",
        "properties of base_magento__sales_order are missing",
    ):
        assert missing in out, out
    assert not (project / SOURCES).exists() and not list((project / BASE).glob("*")), "--check wrote a file"

    assert scaffold(project, capsys)[0] == 0
    code, out = scaffold(project, capsys, "--check")
    assert code == 0 and "Up to date" in out, out

    # A new landing column puts the project behind.
    land(project, "alter table streamkap.sales_order add column coupon_code varchar")
    code, out = scaffold(project, capsys, "--check")
    assert code == 1 and "source magento.sales_order: +1 column (coupon_code)" in out, out
    assert scaffold(project, capsys)[0] == 0

    # A type that differs is reported, and rewritten only with --update-types.
    land(project, "alter table streamkap.sales_order alter column grand_total type decimal(24,4)")
    code, out = scaffold(project, capsys, "--check")
    assert code == 0, out
    assert "types    sales_order: the warehouse reports other types for 1 column(s), kept " in out
    assert "grand_total decimal(20,4) -> decimal(24,4)" in out
    code, out = scaffold(project, capsys, "--check", "--update-types")
    assert code == 1 and "data_type changed on 1 column (grand_total)" in out, out
    assert scaffold(project, capsys, "--update-types")[0] == 0
    assert {"name": "grand_total", "data_type": "decimal(24,4)"} in source_table(project, "sales_order")["columns"]

    # A landing table that is gone is reported, and only --prune deletes its files.
    land(project, "drop table streamkap.sales_order")
    code, out = scaffold(project, capsys, "--check")
    assert code == 0, out
    assert "gone     sales_order: no change log in the landing schema; source entry, model, properties kept" in out
    code, out = scaffold(project, capsys)
    assert code == 0 and (project / BASE / "base_magento__sales_order.sql").exists()
    code, out = scaffold(project, capsys, "--check", "--prune")
    assert code == 1 and "table sales_order is gone" in out, out
    code, out = scaffold(project, capsys, "--prune")
    assert code == 0 and "pruned   sales_order" in out, out
    assert not (project / BASE / "base_magento__sales_order.sql").exists()
    assert model_properties(project, "base_magento__sales_order") is None
    assert "sales_order" not in (project / SOURCES).read_text()
    assert model_properties(project, "base_magento__customer_group") is not None
    code, out = scaffold(project, capsys, "--check", "--prune")
    assert code == 0, out


QUOTING = "{{ var('magento_landing_quoted_columns', false) | string | lower == 'true' }}"


def key_test_columns(project: Path, quoted: bool) -> list[str]:
    """The column the sources' not_null tests name, as dbt parses it with var magento_landing_quoted_columns."""
    result = dbtRunner().invoke(["parse", "--project-dir", str(project), "--profiles-dir", str(project),
                                 "--target-path", str(project / "target" / f"parse_{quoted}"), "--quiet",
                                 "--vars", json.dumps({"magento_landing_quoted_columns": quoted})])
    assert result.success, result.exception
    return sorted(node.test_metadata.kwargs["column_name"] for node in result.result.nodes.values()
                  if node.resource_type == "test" and node.name.startswith("source_not_null_magento_"))


def test_source_column_quoting_follows_the_landing_case_var(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    land(project, CUSTOMER_GROUP)
    assert scaffold(project, capsys)[0] == 0
    (source,) = read_yaml(project / SOURCES)["sources"]
    assert source["quoting"] == {"column": QUOTING}
    # One source-level setting: no column gains a quote of its own.
    assert all("quote" not in column for table in source["tables"] for column in table["columns"])
    # Quoted lowercase landing columns: the key's test quotes the name; else it stays bare.
    assert key_test_columns(project, True) == ['"customer_group_id"']
    assert key_test_columns(project, False) == ["customer_group_id"]
    canonical = files(project)

    # A sources file without it (an earlier scaffold's) is behind; a run restores it as written.
    text = (project / SOURCES).read_text()
    block = ("    # Landing columns named in tests: quoted when Streamkap lands \"quoted lowercase\"\n"
             "    # columns (var magento_landing_quoted_columns), else bare (UPPERCASE unquoted).\n"
             f"    quoting:\n      column: \"{QUOTING}\"\n")
    assert block in text
    (project / SOURCES).write_text(text.replace(block, ""))
    code, out = scaffold(project, capsys, "--check")
    assert code == 1 and "source magento: quoting.column is not set (from var magento_landing_quoted_columns)" in out
    code, out = scaffold(project, capsys)
    assert code == 0 and "updated  source magento: column quoting" in out, out
    assert files(project) == canonical
    code, out = scaffold(project, capsys)
    assert code == 0 and "Up to date" in out and files(project) == canonical, out

    # A value set by hand is kept.
    (project / SOURCES).write_text(text.replace(f"column: \"{QUOTING}\"", "column: true"))
    code, out = scaffold(project, capsys, "--check")
    assert code == 0, out
    assert read_yaml(project / SOURCES)["sources"][0]["quoting"] == {"column": True}


def test_errors_are_clear(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    land(project)  # an empty landing schema
    code, out = scaffold(project, capsys)
    assert code == 3 and "has no tables" in out and "warehouse.streamkap" in out, out
    with pytest.raises(SystemExit) as exit_info:
        scaffold_cdc.main(["--pk", "acme=a,,b", "--project-dir", str(project)])
    assert exit_info.value.code == 2
    code, out = scaffold(project, capsys, "--target", "no_such_target")
    assert code == 3 and "dbt could not read the landing schema" in out and "no_such_target" in out, out


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        scaffold_cdc.main(["--help"])
    text = capsys.readouterr().out
    for option in ("--check", "--prune", "--update-types", "--pk", "--keys-file", "--target", "--profiles-dir",
                   "--project-dir", "--vars", "Exit codes"):
        assert option in text


def test_keys_file_holds_magento_primary_keys() -> None:
    keys = scaffold_cdc.load_keys(scaffold_cdc.KEYS_FILE)
    assert len(keys) > 300
    assert keys["sales_order"].columns == ("entity_id",)
    assert keys["newsletter_queue_store_link"].columns == ("queue_id", "store_id")
    assert keys["catalog_product_entity"].columns == ("entity_id",)  # Open Source, not Commerce's row_id
