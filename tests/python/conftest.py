"""Fixtures that run dbt in-process on throwaway DuckDB files.

`cdc_project` builds a small dbt project from this repository's own
dbt_project.yml, macros, generic tests and the streamkap_cdc package, with landing
tables and current-state models chosen by the test, so each test exercises the real
CDC engine quickly.
`change_event` builds the change events tests land by hand; the hypothesis profiles
of the property-based tests are registered here, once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import duckdb
import pytest
import yaml
from dbt.cli.main import dbtRunner, dbtRunnerResult
from dbt.contracts.graph.manifest import Manifest
from dbt.parser.manifest import extended_mashumaro_encoder, extended_mashumuro_decoder
from hypothesis import HealthCheck, settings
from magento_warehouse.devtools.emulator.harness import PARSE_STATES_VARIABLE
from magento_warehouse.engine_package import link_engine_package

REPO = Path(__file__).resolve().parents[2]

LANDING_SCHEMA = "streamkap"
STREAMKAP_COLUMNS = ["_streamkap_source_ts_ms", "_streamkap_ts_ms", "_streamkap_offset", "__deleted"]

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
# dbt's debug log file costs every in-process run time; a test that reads the log asks for
# it, and DBT_LOG_LEVEL_FILE=debug keeps the others' for a look after a failure.
os.environ.setdefault("DBT_LOG_LEVEL_FILE", "none")

# The property-based tests' profiles; HYPOTHESIS_PROFILE picks one (default ci).
for _name, _examples in (("ci", 50), ("thorough", 300)):
    settings.register_profile(_name, max_examples=_examples, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="session", autouse=True)
def emulator_parse_states(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Emulated Snowflake runs of this session (both xdist workers' under `make test`)
    start from each other's dbt parse of the same project, vars and environment."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    os.environ[PARSE_STATES_VARIABLE] = str(shared / "emulator_parse_states")


# The files that run longest, longest first: xdist (`make test`: --dist loadfile
# --no-loadscope-reorder) hands out whole files in collection order, and a long file handed
# out last would leave the other worker idle at the end.
LONGEST_FILES = (
    "test_crm_incremental_properties.py", "test_cycle_cost.py", "test_cdc_properties.py", "test_demo.py",
    "test_snowflake_identifier_case.py", "test_project_build.py", "test_cdc_current_state.py",
    "test_cdc_history_properties.py", "test_scaffold.py", "test_snowflake_check.py", "test_cdc_faults.py",
    "test_snowflake_noop_cycle.py", "test_operations.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


def property_settings(ci_examples: int | None = None) -> settings:
    """The profile HYPOTHESIS_PROFILE names; `ci_examples` sets a test's own example count
    under the ci profile (a slower property runs fewer)."""
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    profile = settings.get_profile(name)
    if name == "ci" and ci_examples is not None:
        return settings(profile, max_examples=ci_examples)
    return profile


def change_event(source_ms: int, offset: int | None, ts_ms: int | None = None, deleted: Any = "false",
                 **columns: Any) -> dict[str, Any]:
    """A Streamkap change event: the Magento `columns`, then Streamkap's metadata (epoch
    milliseconds; ingestion defaults to the commit time)."""
    return {**columns, "_streamkap_source_ts_ms": source_ms, "_streamkap_offset": offset,
            "_streamkap_ts_ms": source_ms if ts_ms is None else ts_ms, "__deleted": deleted}


class SecondEvents:
    """Events of a widget-like table, timed in seconds after `t0`, ingested half a second
    after their commit unless `ts` says; offsets from a counter of their own unless `off` says."""

    def __init__(self, t0: int) -> None:
        self.t0 = t0
        self.offsets = itertools.count(1)

    def __call__(self, key: Any, name: str | None = None, *, src: int, off: int | None = None, ts: int | None = None,
                 deleted: Any = "false", **columns: Any) -> dict[str, Any]:
        return change_event(self.t0 + src * 1000, next(self.offsets) if off is None else off,
                            self.t0 + (src if ts is None else ts) * 1000 + 500, deleted,
                            entity_id=key, name=name, **columns)


def run_dbt(args: list[str], project_dir: Path, *, expect_success: bool = True,
            manifest: Manifest | None = None) -> dbtRunnerResult:
    """Invoke dbt in this process against `project_dir` (on `manifest`, when given, without parsing)."""
    result = dbtRunner(manifest=manifest).invoke(
        [*args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir), "--quiet"]
    )
    if expect_success and not result.success:
        raise AssertionError(f"dbt {' '.join(args)} failed: {result.exception or result.result}")
    return result


# The partial-parse state of this process's last parse_project: the next target starts from
# it, and dbt reparses what changed (it checks files, vars, profile and environment itself).
_PROJECT_PARSE_STATE: list[bytes] = []


def parse_project(target: Path) -> dict[str, Any]:
    """This project's manifest, parsed into `target`."""
    state = target / "partial_parse.msgpack"
    if _PROJECT_PARSE_STATE and not state.exists():
        target.mkdir(parents=True, exist_ok=True)
        state.write_bytes(_PROJECT_PARSE_STATE[-1])
    result = dbtRunner().invoke(["parse", "--project-dir", str(REPO), "--profiles-dir", str(REPO),
                                 "--target-path", str(target), "--quiet"])
    assert result.success, result.exception
    _PROJECT_PARSE_STATE[:] = [state.read_bytes()]
    return json.loads((target / "manifest.json").read_text())


def data_test_results(result: dbtRunnerResult) -> list[Any]:
    """The results of data tests, without those of the project's on-run-start hooks."""
    return [r for r in result.result if r.node.resource_type == "test"]


def dbt_errors(result: dbtRunnerResult) -> str:
    """Every error message of a dbt invocation, as one string."""
    messages = [str(result.exception or "")]
    messages += [str(r.message) for r in (result.result or []) if hasattr(r, "message")]
    return "\n".join(messages)


@dataclass
class LandingTable:
    """A Streamkap change log: Magento-style columns plus Streamkap's metadata."""

    name: str
    columns: dict[str, str]  # Magento columns and their DuckDB types
    key: tuple[str, ...] = ("entity_id",)
    deleted_type: str = "varchar"

    @property
    def all_columns(self) -> list[str]:
        return [*self.columns, *STREAMKAP_COLUMNS]

    def ddl(self) -> str:
        cols = [f"{c} {t}" for c, t in self.columns.items()]
        cols += [f"{c} bigint" for c in STREAMKAP_COLUMNS[:3]] + [f"__deleted {self.deleted_type}"]
        return f"create table {LANDING_SCHEMA}.{self.name} ({', '.join(cols)})"


@dataclass
class CdcProject:
    """A dbt project in a temporary folder, sharing this repository's engine."""

    root: Path
    tables: dict[str, LandingTable] = field(default_factory=dict)
    parsed: SharedParse | None = None  # manifests shared with projects of the same files

    @property
    def db_path(self) -> Path:
        return self.root / "warehouse.duckdb"

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.db_path))

    def add_table(self, table: LandingTable) -> None:
        table = LandingTable(table.name, dict(table.columns), table.key, table.deleted_type)
        self.tables[table.name] = table
        with self.connect() as con:
            con.execute(f"create schema if not exists {LANDING_SCHEMA}")
            con.execute(table.ddl())
        self._write_sources()

    def add_model(self, name: str, sql: str) -> None:
        path = self.root / "models/staging/magento/base" / f"{name}.sql"
        path.write_text(sql)

    def current_state_model(self, table: str, unique_key: Any, **kwargs: Any) -> str:
        """Adds base_magento__<table>, a one-line cdc_current_state call."""
        extra = "".join(f", {k}={v!r}" for k, v in kwargs.items())
        name = f"base_magento__{table}"
        self.add_model(name, f"{{{{ streamkap_cdc.cdc_current_state('magento', '{table}', unique_key={unique_key!r}{extra}) }}}}\n")
        return name

    def data_test(self, model: str, test: str, arguments: dict[str, Any]) -> None:
        """Declares one data test (e.g. `streamkap_cdc.cdc_matches_change_log`) on `model`."""
        (self.root / "models/staging/magento/base" / f"_{model}.yml").write_text(yaml.safe_dump(
            {"version": 2, "models": [{"name": model, "data_tests": [{test: {"arguments": arguments}}]}]}))

    def append(self, table: str, events: Iterable[dict[str, Any]]) -> None:
        """Appends events (dicts keyed by column; missing columns are NULL)."""
        cols = self.tables[table].all_columns
        rows = [tuple(e.get(c) for c in cols) for e in events]
        if not rows:
            return
        with self.connect() as con:
            placeholders = ", ".join("?" for _ in cols)
            con.executemany(f"insert into {LANDING_SCHEMA}.{table} ({', '.join(cols)}) values ({placeholders})", rows)

    def query(self, sql: str) -> list[tuple]:
        with self.connect() as con:
            return con.execute(sql).fetchall()

    def rows(self, relation: str, columns: list[str]) -> set[tuple]:
        return set(self.query(f"select {', '.join(columns)} from {relation}"))

    def dbt(self, *args: str, expect_success: bool = True) -> dbtRunnerResult:
        """Runs dbt; on a shared parse without writing manifest.json and run_results.json
        (a quarter of a small run's time) unless `args` ask for them (--write-json)."""
        shared = self.parsed is not None and args[0] in SharedParse.COMMANDS
        manifest = self.parsed.manifest(self, args) if shared else None
        if shared and "--write-json" not in args:
            args = (*args, "--no-write-json")
        return run_dbt(list(args), self.root, expect_success=expect_success, manifest=manifest)

    def _write_sources(self) -> None:
        # The same tests the project declares on each Magento source table.
        tables = "".join(
            f"""
      - name: {table.name}
        data_tests: [streamkap_cdc.streamkap_events_are_placeable]
        columns:"""
            + "".join(
                f"""
          - name: {key}
            data_tests:
              - not_null:
                  config: {{severity: warn}}"""
                for key in table.key
            )
            for table in self.tables.values()
        )
        (self.root / "models/staging/magento/_magento__sources.yml").write_text(
            textwrap.dedent(
                f"""\
                version: 2
                sources:
                  - name: magento
                    schema: {LANDING_SCHEMA}
                    tables:
                """
            )
            + tables.lstrip("\n")
            + "\n"
        )


# The flags besides the project's files that shape what dbt parses.
PARSE_FLAGS = ("--vars", "--target", "--profile")


class SharedParse:
    """Manifests of cdc projects by their files, parse flags and environment, for projects
    made by make_cdc_project, which differ only in their DuckDB file: each set of files,
    flags and environment is parsed once in a process. A full parse of a fresh project
    costs seconds, and dbt's partial parsing starts over when the profile's path differs.
    Each command gets a copy of its own, read back from dbt's partial-parse format, as when
    dbt finds nothing changed (running marks a manifest's nodes compiled)."""

    COMMANDS = ("run", "build", "test", "compile", "seed", "run-operation")  # those that use a manifest

    def __init__(self) -> None:
        self._manifests: dict[tuple, bytes] = {}
        self.parses = 0

    def manifest(self, project: CdcProject, args: tuple[str, ...]) -> Manifest | None:
        """The manifest to run `args` on; None when the project does not parse (the command
        then parses it and reports the error itself)."""
        flags = [arg for i, arg in enumerate(args)
                 if arg in PARSE_FLAGS or (i and args[i - 1] in PARSE_FLAGS)]
        # env_var() is read while parsing; pytest's own variable changes with every test.
        environment = sorted((k, v) for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST")
        key = (_project_files_hash(project.root), tuple(flags), tuple(environment))
        if key not in self._manifests:
            self.parses += 1
            result = run_dbt(["parse", "--no-write-json", *flags], project.root, expect_success=False)
            if not result.success:
                return None
            self._manifests[key] = result.result.to_msgpack(extended_mashumaro_encoder)
        manifest = Manifest.from_msgpack(self._manifests[key], decoder=extended_mashumuro_decoder)
        manifest.build_parent_and_child_maps()
        manifest.build_flat_graph()
        return manifest


SHARED_PARSE = SharedParse()


def _project_files_hash(root: Path) -> str:
    """A hash of a cdc project's files as dbt reads them, the project's own path left out
    (it names the DuckDB file in profiles.yml), with where its packages link to; neither
    the DuckDB file nor dbt's own output counts."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in ("target", "logs") or path.suffix in (".duckdb", ".wal"):
            continue
        if relative.parts[0] == "dbt_packages":
            if path.is_symlink():
                digest.update(f"{relative} -> {path.resolve()}\0".encode())
        elif path.is_file():
            digest.update(f"{relative}\0".encode() + path.read_bytes().replace(str(root).encode(), b"<root>") + b"\0")
    return digest.hexdigest()


def write_duckdb_profile(root: Path, profile: str = "magento_warehouse") -> None:
    """profiles.yml in `root`: one DuckDB file, root/warehouse.duckdb, on one thread."""
    (root / "profiles.yml").write_text(
        textwrap.dedent(
            f"""\
            {profile}:
              target: local
              outputs:
                local:
                  type: duckdb
                  path: "{root / 'warehouse.duckdb'}"
                  schema: main
                  threads: 1
            """
        )
    )


def make_cdc_project(root: Path) -> CdcProject:
    """A project in `root` with this repository's dbt_project.yml, macros, generic tests and package."""
    (root / "models/staging/magento/base").mkdir(parents=True)
    shutil.copy(REPO / "dbt_project.yml", root / "dbt_project.yml")
    shutil.copytree(REPO / "macros", root / "macros")
    shutil.copytree(REPO / "tests/dbt", root / "tests/dbt")
    link_engine_package(root)
    write_duckdb_profile(root)
    return CdcProject(root)


@pytest.fixture
def cdc_project(tmp_path: Path) -> CdcProject:
    project = make_cdc_project(tmp_path / "project")
    project.parsed = SHARED_PARSE
    return project
