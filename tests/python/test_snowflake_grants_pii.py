"""Who may read what on Snowflake, and where personal data may go.

- Grants: the Hightouch role reads the CRM marts, the reporting role the trading
  marts, and neither reads a current-state, staging or intermediate model. Role
  names come from the environment, with defaults; on DuckDB there are no grants.
- Query tags: every model is tagged by its folder on Snowflake.
- Personal data: columns tagged `meta: {pii: true}` stay out of every mart but the
  CRM marts (by tag, and by name: a trading mart's column may not be named like a
  tagged column of the models it reads).
- Time: the Snowflake SQL of staging and marts builds timestamps as timestamp_ntz
  in UTC only (never a plain TIMESTAMP, which follows TIMESTAMP_TYPE_MAPPING, nor
  the session's current time); source freshness takes max() of the bare column.

No Snowflake account is reachable: the project is parsed for a snowflake target,
built in full (seeds, current-state, staging, marts) for one under fakesnow and its
source freshness checked there,
in a subprocess that runs this file as a script (fakesnow patches the Snowflake
connector, which must not reach the pytest process). The statements dbt sent are
read from its JSON log and parsed with sqlglot's Snowflake dialect.

The emulator harness (magento_warehouse.devtools.emulator) adapts what fakesnow
cannot run (no grants, no session query tag, no column list in `create table ...
as`), as its emulator_gaps.yml lists; the project's SQL is not adapted, and dbt
logs each statement before the connector sees it, so the logged SQL is dbt's own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlglot
import yaml
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from magento_warehouse.devtools.emulator import emulated_snowflake
from magento_warehouse.devtools.emulator.landing import LABEL_COLUMNS, first_batch, landing_tables

from project_graph import PROJECT, REPO, ancestors, is_pii, layer, pii_exposures, project_models


# The emulated build sets the role names through the environment; a parse without
# them must give the defaults.
ROLE_ENV = {"DBT_HIGHTOUCH_ROLE": "EMARSYS_SYNC_READER", "DBT_REPORTING_ROLE": "TRADING_READER"}
DEFAULT_ROLES = {"DBT_HIGHTOUCH_ROLE": "HIGHTOUCH", "DBT_REPORTING_ROLE": "REPORTING"}
QUERY_TAGS = {"base": "magento_current_state", "history": "magento_history", "staging": "magento_staging",
              "intermediate": "magento_staging", "crm": "crm", "trading": "trading"}
HELPER_TIMEOUT_SECONDS = 600


# --- fixtures ---------------------------------------------------------------------


def snowflake_profiles(folder: Path) -> Path:
    """A snowflake profile that `dbt parse` accepts; parsing never connects."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profiles.yml").write_text(yaml.safe_dump({"magento_warehouse": {"target": "snowflake", "outputs": {
        "snowflake": {"type": "snowflake", "account": "parse_only", "user": "parse_only", "password": "unused",
                      "role": "TRANSFORMER", "warehouse": "TRANSFORMING", "database": "ANALYTICS", "schema": "DBT",
                      "threads": 1}}}}))
    return folder


def parse(profiles_dir: Path, target_path: Path) -> dict:
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(["parse", "--project-dir", str(REPO), "--profiles-dir", str(profiles_dir),
                                 "--target-path", str(target_path), "--quiet"])
    assert result.success, result.exception
    return json.loads((target_path / "manifest.json").read_text())


@pytest.fixture(scope="module")
def snowflake_manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("snowflake_parse")
    with pytest.MonkeyPatch.context() as patch:
        for name in ROLE_ENV:
            patch.delenv(name, raising=False)
        return parse(snowflake_profiles(work / "profiles"), work / "target")


@pytest.fixture(scope="module")
def duckdb_manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("duckdb_parse")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBT_DUCKDB_PATH", str(work / "unused.duckdb"))
        return parse(REPO, work / "target")


class Emulated:
    """The build of the whole project for a snowflake target under fakesnow."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.summary = json.loads((work / "summary.json").read_text())
        self.manifest = json.loads((work / "target" / "manifest.json").read_text())
        self.statements = self.sent("run")  # (node unique_id or "", sql)

    def sent(self, phase: str) -> list[tuple[str, str]]:
        statements = []
        for line in (self.work / "logs" / phase / "dbt.log").read_text().splitlines():
            event = json.loads(line) if line.strip() else None
            if event and event["info"]["name"] == "SQLQuery":
                node = (event["data"].get("node_info") or {}).get("unique_id") or ""
                statements.append((node, event["data"]["sql"]))
        return statements

    def relation(self, unique_id: str) -> str:
        return self.manifest["nodes"][unique_id]["relation_name"].lower()

    def compiled(self, unique_id: str) -> str:
        node = self.manifest["nodes"][unique_id]
        return (self.work / "target" / "compiled" / PROJECT / node["original_file_path"]).read_text()


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Emulated:
    work = tmp_path_factory.mktemp("snowflake_grants")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "MAGENTO_LANDING_", "SNOWFLAKE_"))}
    env.update(ROLE_ENV, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    process = subprocess.run([sys.executable, __file__, str(work)], cwd=work, env=env, capture_output=True,
                             text=True, timeout=HELPER_TIMEOUT_SECONDS)
    if process.returncode != 0 or not (work / "summary.json").exists():
        pytest.fail(f"the fakesnow build failed (exit {process.returncode}):\n"
                    f"{process.stdout[-4000:]}\n{process.stderr[-4000:]}")
    return Emulated(work)


def parse_snowflake(sql: str) -> exp.Expr:
    parsed = [e for e in sqlglot.parse(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
              if e is not None and not isinstance(e, exp.Semicolon)]
    assert len(parsed) == 1, sql
    return parsed[0]


# --- grants and query tags ---------------------------------------------------------


def test_grants_give_each_role_its_marts_only(snowflake_manifest: dict) -> None:
    by_layer: dict[str, set[str]] = {}
    for node in project_models(snowflake_manifest).values():
        grants = node["config"].get("grants") or {}
        by_layer.setdefault(layer(node), set()).add(json.dumps(grants, sort_keys=True))
    assert by_layer["crm"] == {json.dumps({"select": [DEFAULT_ROLES["DBT_HIGHTOUCH_ROLE"]]})}
    assert by_layer["trading"] == {json.dumps({"select": [DEFAULT_ROLES["DBT_REPORTING_ROLE"]]})}
    assert {"base", "staging", "intermediate"} <= set(by_layer)
    for name in set(by_layer) - {"crm", "trading"}:
        assert by_layer[name] == {"{}"}, name
    seeds = [n for n in snowflake_manifest["nodes"].values() if n["resource_type"] == "seed"]
    assert seeds and all(not n["config"].get("grants") for n in seeds)


def test_grants_are_empty_on_duckdb(duckdb_manifest: dict) -> None:
    """DuckDB has no grants (dbt-duckdb warns when a model has some): none are configured there."""
    models = project_models(duckdb_manifest)
    assert {layer(n) for n in models.values()} >= {"crm", "trading"}
    assert [n["name"] for n in models.values() if n["config"].get("grants")] == []


def test_every_model_has_its_folders_query_tag(snowflake_manifest: dict) -> None:
    models = project_models(snowflake_manifest).values()
    assert {layer(n) for n in models} >= set(QUERY_TAGS)
    for node in models:
        tag = node["config"].get("query_tag")
        assert tag == QUERY_TAGS.get(layer(node), tag) and tag, node["name"]


def marts_and_upstream(manifest: dict) -> set[str]:
    models = project_models(manifest)
    marts = [uid for uid, n in models.items() if n["original_file_path"].startswith("models/marts/")]
    return {uid for uid in [*marts, *(a for m in marts for a in ancestors(manifest, m))] if uid in models}


def test_emulated_build_succeeds(emulated: Emulated) -> None:
    """Every mart and every model upstream of one (the grants' and personal data's scope) builds."""
    for phase in ("seed", "run"):
        outcome = emulated.summary["phases"][phase]
        failed = [(r["unique_id"], r["message"]) for r in outcome["results"] if r["status"] != "success"]
        assert outcome["success"] and failed == [], (phase, outcome["exception"], failed)
    run = emulated.summary["phases"]["run"]["results"]
    built = {r["unique_id"] for r in run if r["unique_id"].startswith("model.")}
    assert built == marts_and_upstream(emulated.manifest)
    assert {layer(emulated.manifest["nodes"][uid]) for uid in built} == set(QUERY_TAGS)


def test_emulated_build_grants_select_to_the_roles_from_the_environment(emulated: Emulated) -> None:
    models = {uid: n for uid, n in project_models(emulated.manifest).items()
              if uid in marts_and_upstream(emulated.manifest)}
    expected = set()
    for uid, node in models.items():
        if layer(node) in ("crm", "trading"):
            role = ROLE_ENV["DBT_HIGHTOUCH_ROLE" if layer(node) == "crm" else "DBT_REPORTING_ROLE"]
            expected.add((uid, emulated.relation(uid), "SELECT", role))
    sent = set()
    for node, sql in emulated.statements:
        if not re.match(r"\s*(grant|revoke)\b", sql, re.IGNORECASE):
            continue
        tree = parse_snowflake(sql)
        assert isinstance(tree, exp.Grant), f"not a grant: {sql}"
        table = tree.args["securable"]
        for privilege in tree.args["privileges"]:
            for principal in tree.args["principals"]:
                sent.add((node, ".".join(p.name for p in table.parts).lower(), privilege.this.name.upper(),
                          principal.this.name))
    assert sent == expected
    assert len({e[0] for e in expected}) == len([n for n in models.values() if layer(n) in ("crm", "trading")])


def test_grants_follow_each_mart_table_they_grant_on(emulated: Emulated) -> None:
    """dbt-snowflake replaces a mart's table each run (grants go with it), then grants again."""
    for uid, node in project_models(emulated.manifest).items():
        if layer(node) not in ("crm", "trading"):
            continue
        sent = [sql.lstrip().lower() for n, sql in emulated.statements if n == uid]
        create = next(i for i, sql in enumerate(sent) if sql.startswith("create or replace"))
        grant = next(i for i, sql in enumerate(sent) if sql.startswith("grant select"))
        assert create < grant, node["name"]


def test_emulated_build_tags_the_marts_and_views_queries(emulated: Emulated) -> None:
    """Table and view materializations switch the session's query tag around each model."""
    tags: dict[str, set[str]] = {}
    for node, sql in emulated.statements:
        match = re.match(r"\s*alter session set query_tag = '([^']*)'", sql, re.IGNORECASE)
        if match:
            tags.setdefault(node, set()).add(match.group(1))
    for uid in marts_and_upstream(emulated.manifest):
        node = emulated.manifest["nodes"][uid]
        if layer(node) != "base":
            assert tags.get(uid) == {QUERY_TAGS[layer(node)]}, node["name"]


# --- timestamps --------------------------------------------------------------------

NOT_NTZ = {exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPLTZ, exp.DataType.Type.TIMESTAMPTZ}
SESSION_TIME = re.compile(r"\b(to_timestamp|to_timestamp_ltz|to_timestamp_tz|current_timestamp|localtimestamp|"
                          r"getdate|systimestamp)\s*\(", re.IGNORECASE)


def test_snowflake_staging_and_marts_build_timestamps_as_utc_ntz(emulated: Emulated) -> None:
    checked = 0
    for uid in marts_and_upstream(emulated.manifest):
        node = emulated.manifest["nodes"][uid]
        if layer(node) == "base":
            continue
        sql = emulated.compiled(uid)
        tree = parse_snowflake(sql)
        for data_type in tree.find_all(exp.DataType):
            assert data_type.this not in NOT_NTZ, f"{node['name']}: {data_type.parent.sql('snowflake')}"
        for now in tree.find_all(exp.CurrentTimestamp):
            assert now.args.get("sysdate"), f"{node['name']}: {now.sql('snowflake')} is in the session's time zone"
        for func in tree.find_all(exp.Func):
            target_type = func.args.get("target_type")
            if isinstance(target_type, exp.DataType):
                assert target_type.this not in NOT_NTZ, f"{node['name']}: {func.sql('snowflake')}"
        assert not SESSION_TIME.search(re.sub(r"to_timestamp_ntz\s*\(", "", sql, flags=re.IGNORECASE)), node["name"]
        checked += "timestamp_ntz" in sql.lower() or "sysdate()" in sql.lower()
    assert checked >= 10  # the staging models with timestamps, and the marts


def test_snowflake_source_freshness_takes_max_of_the_bare_column(emulated: Emulated) -> None:
    """Snowflake answers max() of a bare column from metadata; the conversion applies to its result."""
    queries = [(node, sql) for node, sql in emulated.sent("freshness") if node.startswith("source.")]
    sources = [uid for uid, n in emulated.manifest["sources"].items() if n["package_name"] == PROJECT]
    assert {node for node, _ in queries} == set(sources)
    for node, sql in queries:
        maxima = list(parse_snowflake(sql).find_all(exp.Max))
        assert len(maxima) == 1 and isinstance(maxima[0].this, exp.Column), sql
        assert maxima[0].this.name.lower() == "_streamkap_ts_ms"
        converted = maxima[0].parent
        target_type, scale = converted.args.get("target_type"), converted.args.get("scale")
        assert target_type is not None and target_type.this == exp.DataType.Type.TIMESTAMPNTZ, sql
        assert scale is not None and scale.name == "3", sql  # milliseconds
    # The emulator's answer: the newest ingestion time of a change log with events, in UTC.
    freshness = json.loads((emulated.work / "target" / "sources.json").read_text())
    results = {r["unique_id"]: r for r in freshness["results"]}
    assert set(results) == set(sources)
    newest = max(row["_streamkap_ts_ms"] for row in first_batch(landing_tables()["sales_order"]))
    got = datetime.fromisoformat(results[f"source.{PROJECT}.magento.sales_order"]["max_loaded_at"])
    assert got == datetime.fromtimestamp(newest / 1000, timezone.utc)


def test_snowflake_contracts_declare_timestamp_ntz(snowflake_manifest: dict, duckdb_manifest: dict) -> None:
    for manifest, wanted in ((snowflake_manifest, "timestamp_ntz"), (duckdb_manifest, "timestamp")):
        types = {c["data_type"] for n in project_models(manifest).values() if n["config"]["contract"]["enforced"]
                 for name, c in n["columns"].items() if name.endswith("_at")}
        assert types == {wanted}


# --- personal data ----------------------------------------------------------------

PII_NAMES = {"email", "first_name", "last_name", "date_of_birth", "birth_date", "telephone", "street", "city",
             "postcode"}


def trading_output_columns(emulated: Emulated) -> dict[str, list[str]]:
    """The columns each non-CRM mart's compiled SQL returns (star expanded through its CTEs)."""
    columns = {}
    for uid, node in project_models(emulated.manifest).items():
        if node["original_file_path"].startswith("models/marts/") and layer(node) != "crm":
            tree = qualify(parse_snowflake(emulated.compiled(uid)), dialect="snowflake",
                           validate_qualify_columns=False)
            names = [name.lower() for name in tree.named_selects]  # Snowflake folds unquoted names
            assert names and "*" not in names, f"cannot tell the columns of {node['name']}: {names}"
            columns[uid] = names
    return columns


def test_personal_data_is_tagged_where_it_enters(snowflake_manifest: dict) -> None:
    """Every staging or CRM column named like personal data carries the tag."""
    untagged, tagged = [], set()
    for node in project_models(snowflake_manifest).values():
        if layer(node) not in ("staging", "crm"):
            continue
        for name, column in node["columns"].items():
            if is_pii(column):
                tagged.add(name)
            elif name in PII_NAMES or re.fullmatch(r"customer_(first|last)_name|middle_name", name):
                untagged.append(f"{node['name']}.{name}")
    assert untagged == []
    assert tagged >= PII_NAMES


def test_no_non_crm_mart_exposes_personal_data(emulated: Emulated) -> None:
    output = trading_output_columns(emulated)
    names = {emulated.manifest["nodes"][uid]["name"] for uid in output}
    assert {n for n in names if n.startswith(("fct_", "dim_", "rpt_"))} == names and len(names) >= 5
    for uid, columns in output.items():  # the YAML documents what the SQL returns
        assert set(columns) == set(emulated.manifest["nodes"][uid]["columns"]), uid
    assert pii_exposures(emulated.manifest, output) == []


def test_the_personal_data_check_catches_a_leak(snowflake_manifest: dict) -> None:
    manifest = json.loads(json.dumps(snowflake_manifest))
    models = project_models(manifest)
    fct = next(n for n in models.values() if n["name"] == "fct_order_lines")
    dim = next(n for n in models.values() if n["name"] == "dim_products")
    # A column copied from staging under its own name, and one tagged where it is declared.
    found = pii_exposures(manifest, {fct["unique_id"]: [*fct["columns"], "email"]})
    assert found == ["fct_order_lines.email: named like a pii column of a model it reads"]
    dim["columns"]["sku"].setdefault("config", {})["meta"] = {"pii": True}
    assert "dim_products.sku: tagged pii" in pii_exposures(manifest, {})


# --- the emulated build (run as a script, in a subprocess) ---------------------------


def emulate(work: Path) -> int:
    """Seeds, the marts and what feeds them (the scope of the grants and of personal
    data), source freshness: over the emulator harness, a few change logs with events."""
    with emulated_snowflake(work, REPO) as snowflake:
        snowflake.land_batch(list(LABEL_COLUMNS), first_batch)
        snowflake.dbt("seed", "seed")
        snowflake.dbt("run", "run", "--select", "+path:models/marts")
        snowflake.dbt("freshness", "source", "freshness", "--output", str(work / "target" / "sources.json"))
    return 0


if __name__ == "__main__":
    sys.exit(emulate(Path(sys.argv[1]).resolve()))
