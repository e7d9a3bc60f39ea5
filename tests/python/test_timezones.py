"""Nothing depends on the session's time zone: marts, "now" and source freshness.

Magento writes UTC wall-clock times, and the project keeps them as timestamps
without time zone. Two DuckDB warehouses get the same simulated change logs; the
project is built in one with the session in UTC and in the other in
America/Los_Angeles (dbt-duckdb's profile `settings: {TimeZone: ...}`), and every
staging model and mart must hold the same rows. The shop's clock starts just after
midnight UTC, while it is still the day before in Los Angeles, so a date or hour
taken in the session's zone would show.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
import yaml
from dbt.cli.main import dbtRunner
from sqlglot import exp

from conftest import REPO, write_duckdb_profile

from magento_warehouse.scaffold import scaffold_cdc
from magento_warehouse.demo.simulator.simulator import MagentoSimulator, write_batch

ZONES = ("UTC", "America/Los_Angeles")
START = datetime(2024, 6, 1, 0, 20)  # UTC; 17:20 on May 31 in Los Angeles
BATCHES = 2


def profile_with_time_zone(root: Path, zone: str) -> None:
    """The tests' DuckDB profile, with the session's time zone set."""
    write_duckdb_profile(root)
    profiles = yaml.safe_load((root / "profiles.yml").read_text())
    output = profiles["magento_warehouse"]["outputs"]["local"]
    output["settings"] = {"TimeZone": zone}
    (root / "profiles.yml").write_text(yaml.safe_dump(profiles))


def dbt(root: Path, *args: str, expect_success: bool = True) -> Any:
    result = dbtRunner().invoke([*args, "--project-dir", str(REPO), "--profiles-dir", str(root),
                                 "--target-path", str(root / "target"), "--log-path", str(root / "logs"),
                                 "--log-format-file", "json", "--log-level-file", "debug", "--log-file-max-bytes", "0",
                                 "--quiet"])
    assert result.success or not expect_success, f"dbt {' '.join(args)} failed in {root.name}: {result.exception}"
    assert result.exception is None, result.exception
    return result


class Warehouse:
    def __init__(self, root: Path, zone: str) -> None:
        self.root, self.zone = root, zone

    @property
    def db(self) -> Path:
        return self.root / "warehouse.duckdb"

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A connection in the warehouse's zone: views are evaluated in the reader's session."""
        con = duckdb.connect(str(self.db))
        con.execute(f"set TimeZone = '{self.zone}'")
        return con


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Warehouse]:
    work = tmp_path_factory.mktemp("timezones")
    simulator = MagentoSimulator(seed=11, start=START)
    first = Warehouse(work / "utc", "UTC")
    first.root.mkdir()
    with duckdb.connect(str(first.db)) as con:
        write_batch(con, simulator.initial_load())
        for _ in range(BATCHES):
            write_batch(con, simulator.next_batch())
    built = {}
    for zone in ZONES:
        warehouse = first if zone == "UTC" else Warehouse(work / "los_angeles", zone)
        if warehouse is not first:
            warehouse.root.mkdir()
            shutil.copy(first.db, warehouse.db)
        profile_with_time_zone(warehouse.root, zone)
        built[zone] = warehouse
    return built


def as_of() -> datetime:
    """The end of the simulated activity: the marts' windows hold its latest events."""
    return START + timedelta(minutes=5 * BATCHES)


@pytest.fixture(scope="module")
def built(warehouses: dict[str, Warehouse]) -> dict[str, Warehouse]:
    for warehouse in warehouses.values():
        dbt(warehouse.root, "build", "--select", "+path:models/marts", "--resource-type", "seed",
            "--resource-type", "model", "--vars", json.dumps({"as_of": as_of().isoformat(sep=" ")}))
    return warehouses


def normalized(value: Any) -> Any:
    return value.normalize() if isinstance(value, Decimal) else value


def contents(warehouse: Warehouse, relations: list[tuple[str, str]]) -> dict[str, list[tuple]]:
    with warehouse.connect() as con:
        return {f"{schema}.{name}": sorted((tuple(normalized(v) for v in row)
                                            for row in con.execute(f'select * from "{schema}"."{name}"').fetchall()),
                                           key=repr)
                for schema, name in relations}


def project_relations(warehouse: Warehouse) -> list[tuple[str, str]]:
    """Staging views and marts (stg_, int_, crm_, fct_, dim_, rpt_)."""
    with warehouse.connect() as con:
        rows = con.execute("select table_schema, table_name from information_schema.tables "
                           "where regexp_matches(table_name, '^(stg|int|crm|fct|dim|rpt)_')").fetchall()
    return sorted(rows)


def test_the_session_time_zones_are_the_ones_set(built: dict[str, Warehouse]) -> None:
    for zone, warehouse in built.items():
        result = dbt(warehouse.root, "show", "--inline", "select current_setting('TimeZone') as zone", "--output",
                     "json")
        assert result.result.results[0].agate_table.rows[0]["zone"] == zone


def test_staging_and_marts_hold_the_same_rows_in_any_session_time_zone(built: dict[str, Warehouse]) -> None:
    relations = project_relations(built["UTC"])
    names = {name for _, name in relations}
    assert {"stg_magento__orders", "crm_contacts", "crm_new_customers", "crm_abandoned_carts",
            "fct_order_lines", "rpt_sales_by_hour_store"} <= names
    utc, los_angeles = (contents(built[zone], relations) for zone in ZONES)
    for relation, rows in utc.items():
        assert rows == los_angeles[relation], relation
    # The windows hold rows, so equal results mean something.
    for relation in ("crm_new_customers", "crm_abandoned_carts"):
        assert any(r.endswith(relation) and utc[r] for r in utc), relation
    with built["UTC"].connect() as con:
        (schema,) = con.execute("select table_schema from information_schema.tables "
                                "where table_name = 'rpt_sales_by_hour_store'").fetchone()
        days = con.execute(f"select distinct sales_date from {schema}.rpt_sales_by_hour_store "
                           "where is_today and order_count > 0").fetchall()
    assert days == [(as_of().date(),)], "today is the UTC day of as_of, with sales"


def test_now_is_utc_in_any_session_time_zone(built: dict[str, Warehouse]) -> None:
    """With as_of unset, windows are measured back from the current UTC time."""
    for warehouse in built.values():
        before = datetime.now(timezone.utc).replace(tzinfo=None)
        result = dbt(warehouse.root, "show", "--inline", "select {{ as_of_timestamp() }} as now_utc",
                     "--output", "json")
        after = datetime.now(timezone.utc).replace(tzinfo=None)
        now = result.result.results[0].agate_table.rows[0]["now_utc"]
        assert now.tzinfo is None
        assert before - timedelta(seconds=1) <= now <= after + timedelta(seconds=1), (warehouse.zone, now)


# --- source freshness --------------------------------------------------------------


def freshness_queries(log: Path) -> list[str]:
    sent = []
    for line in log.read_text().splitlines():
        event = json.loads(line) if line.strip() else None
        if event and event["info"]["name"] == "SQLQuery" and "source_query" in event["data"]["sql"]:
            sent.append(event["data"]["sql"])
    return sent


def test_source_freshness_is_the_newest_ingestion_time_in_any_session_time_zone(
    built: dict[str, Warehouse],
) -> None:
    for warehouse in built.values():
        log = warehouse.root / "logs" / "dbt.log"
        log.unlink(missing_ok=True)
        # The simulated shop traded in 2024: stale, so freshness reports errors, not failures to run.
        dbt(warehouse.root, "source", "freshness", "--output", str(warehouse.root / "target" / "sources.json"),
            expect_success=False)
        results = json.loads((warehouse.root / "target" / "sources.json").read_text())["results"]
        assert results and {r["status"] for r in results} <= {"warn", "error"}
        with duckdb.connect(str(warehouse.db)) as con:
            for result in results:
                table = result["unique_id"].split(".")[-1]
                (newest_ms,) = con.execute(f"select max(_streamkap_ts_ms) from streamkap.{table}").fetchone()
                expected = datetime.fromtimestamp(newest_ms / 1000, timezone.utc)
                assert datetime.fromisoformat(result["max_loaded_at"]) == expected, (warehouse.zone, table)
        # The aggregate reads the bare column (Snowflake answers that from metadata).
        queries = freshness_queries(log)
        assert len(queries) == len(results)
        for sql in queries:
            maxima = list(sqlglot.parse_one(sql, read="duckdb").find_all(exp.Max))
            assert len(maxima) == 1 and isinstance(maxima[0].this, exp.Column), sql
            assert maxima[0].this.name == "_streamkap_ts_ms"


def test_the_scaffold_writes_the_projects_freshness() -> None:
    """A sources file the scaffold starts has the project's freshness query and thresholds."""
    template = yaml.safe_load(scaffold_cdc.NEW_SOURCES_FILE)["sources"][0]["config"]
    project = yaml.safe_load((REPO / "models/staging/magento/_magento__sources.yml").read_text())
    assert template == project["sources"][0]["config"]
    # max() of the bare column, spelled as the landing tables spell it (compiled above).
    assert "loaded_at_field" not in template
    assert "'max(' ~ cdc_landing_column('_streamkap_ts_ms') ~ ')'" in template["loaded_at_query"]
