"""The fleet benchmark's two projects (this project's fleet, plain dbt's) on the same change logs."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from magento_warehouse.engine_package import link_engine_package
from magento_warehouse.paths import project_dir


REPO = project_dir()


BIN = REPO / ".venv" / "bin" if (REPO / ".venv" / "bin" / "dbt").exists() else Path(sys.executable).parent


PYTHON, DBT = BIN / "python", BIN / "dbt"


KEYS = 500  # distinct entity_ids per change log: 2,000 events are mostly updates


EVENT_SPACING_MS = 10_000  # one event every 10 s per table


EPOCH_MS = 1_767_225_600_000  # 2026-01-01 UTC


BASE_DIR = Path("models/staging/magento/base")


@dataclass
class Fleet:
    """A generated dbt project and the command of its few-minute cycle."""

    name: str
    root: Path
    cycle: list[str]
    times: dict[str, list[float]] = field(default_factory=dict)
    dbt_seconds: dict[str, list[float]] = field(default_factory=dict)  # run_results.json elapsed_time

    def dbt_flags(self) -> list[str]:
        return ["--project-dir", str(self.root), "--profiles-dir", str(self.root)]


def table_names(count: int) -> list[str]:
    width = max(4, len(str(count)))
    return [f"t{i:0{width}d}" for i in range(1, count + 1)]


def write_profile(root: Path, db: Path, schema: str, threads: int) -> None:
    (root / "profiles.yml").write_text(
        "magento_warehouse:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n"
        f"      path: \"{db}\"\n      schema: {schema}\n      threads: {threads}\n")


def write_sources(models: Path, tables: list[str]) -> None:
    models.mkdir(parents=True, exist_ok=True)
    listed = "".join(f"      - name: {table}\n" for table in tables)
    (models / "_sources.yml").write_text(
        f"version: 2\nsources:\n  - name: magento\n    schema: streamkap\n    tables:\n{listed}")


def write_project_fleet(root: Path, db: Path, tables: list[str], threads: int) -> None:
    """This project's macros and dbt_project.yml, one cdc_current_state line per table."""
    base = root / BASE_DIR
    base.mkdir(parents=True)
    shutil.copy(REPO / "dbt_project.yml", root / "dbt_project.yml")
    shutil.copytree(REPO / "macros", root / "macros")
    link_engine_package(root)
    write_profile(root, db, "main", threads)
    write_sources(root / "models/staging/magento", tables)
    for table in tables:
        (base / f"base_magento__{table}.sql").write_text(
            f"{{{{ streamkap_cdc.cdc_current_state('magento', '{table}', unique_key='entity_id') }}}}\n")
    (root / "selectors.yml").write_text(
        "selectors:\n  - name: fleet\n    definition:\n      method: path\n"
        f"      value: {BASE_DIR.as_posix()}\n")


BASELINE_MODEL = """\
{{{{ config(materialized='incremental', incremental_strategy='merge', unique_key='entity_id') }}}}

select * from {{{{ source('magento', '{table}') }}}}
{{% if is_incremental() %}}
where _streamkap_ts_ms > (select max(_streamkap_ts_ms) from {{{{ this }}}})
{{% endif %}}
qualify row_number() over (
    partition by entity_id order by _streamkap_source_ts_ms desc, _streamkap_offset desc) = 1
"""


def write_baseline_fleet(root: Path, db: Path, tables: list[str], threads: int) -> None:
    """N plain dbt incremental models on the same change logs, in schema `baseline`."""
    models = root / "models"
    models.mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: fleet_baseline\nversion: '1.0.0'\nconfig-version: 2\nprofile: magento_warehouse\n"
        "model-paths: ['models']\n")
    write_profile(root, db, "baseline", threads)
    write_sources(models, tables)
    for table in tables:
        (models / f"base_magento__{table}.sql").write_text(BASELINE_MODEL.format(table=table))


EVENTS_SQL = """
select
    ((i * 7919 + {t}) % {keys})::integer as entity_id,
    'SKU-' || {t} || '-' || ((i * 7919 + {t}) % {keys}) as sku,
    'Item ' || (i % 977) as name,
    (i % 3)::smallint as status,
    ((i % 500) + 0.99)::decimal(12, 4) as price,
    (i % 40)::integer as qty,
    to_timestamp(({epoch} + i * {spacing}) / 1000)::timestamp as updated_at,
    {epoch} + i * {spacing} as _streamkap_source_ts_ms,
    {epoch} + i * {spacing} + 700 as _streamkap_ts_ms,
    i::bigint as _streamkap_offset,
    case when i % 50 = 49 then 'true' else 'false' end as __deleted
from range({first}, {last}) as r(i)
"""


def events_sql(table_number: int, first: int, count: int) -> str:
    return EVENTS_SQL.format(t=table_number, keys=KEYS, epoch=EPOCH_MS, spacing=EVENT_SPACING_MS,
                             first=first, last=first + count)


def land_change_logs(db: Path, tables: list[str], events: int) -> None:
    """One change log of `events` events per table, in schema streamkap."""
    with duckdb.connect(str(db)) as con:
        con.execute("create schema if not exists streamkap")
        con.execute("begin")
        for number, table in enumerate(tables, start=1):
            con.execute(f"create or replace table streamkap.{table} as {events_sql(number, 0, events)}")
        con.execute("commit")


def append_events(db: Path, tables: list[str], landed: dict[str, int], count: int) -> None:
    """Appends `count` later events to each of `tables`; `landed` counts each log's events."""
    with duckdb.connect(str(db)) as con:
        con.execute("begin")
        for table in tables:
            number = int(table[1:])
            con.execute(f"insert into streamkap.{table} {events_sql(number, landed[table], count)}")
            landed[table] += count
        con.execute("commit")


def tables_to_change(tables: list[str], share: float, round_number: int) -> list[str]:
    """A different `share` of the tables each round."""
    count = max(1, round(len(tables) * share))
    start = round_number * count
    return [tables[(start + i) % len(tables)] for i in range(count)]


def project_cycle_label() -> list[str]:
    return ["scripts/run_and_sync.py", "--selector", "fleet", "--only-changed"]


def make_fleets(work: Path, db: Path, tables: list[str], threads: int) -> tuple[Fleet, Fleet]:
    """Both projects, and a copy of this project's scripts/ taken now, like its macros/."""
    project_root, baseline_root = work / "project", work / "baseline"
    write_project_fleet(project_root, db, tables, threads)
    write_baseline_fleet(baseline_root, db, tables, threads)
    scripts = shutil.copytree(REPO / "scripts", work / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    project = Fleet("project", project_root, [])
    project.cycle = [str(PYTHON), str(scripts / "run_and_sync.py"), "--selector", "fleet", "--only-changed",
                     *project.dbt_flags()]
    baseline = Fleet("baseline", baseline_root, [])
    baseline.cycle = [str(DBT), "run", "--quiet", *baseline.dbt_flags()]
    return project, baseline
