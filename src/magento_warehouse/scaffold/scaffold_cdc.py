"""Scaffolds the Magento sources, current-state models and their properties from the landing schema.

Reads the Streamkap landing schema (one change log per replicated Magento table)
through dbt's own connection (`dbt run-operation scaffold_landing_columns`, in-process,
so the same for DuckDB and Snowflake targets; dbt runs with the project's
dbt_project.yml and macros only, so a project whose models refer to a table not yet
scaffolded still works) and writes or updates, in the dbt project:

  models/staging/magento/_magento__sources.yml
      one entry per landing table: its columns with data_type, not_null (severity
      warn) on the key columns and the table's streamkap_events_are_placeable test;
      the source's column quoting, from var magento_landing_quoted_columns;
  models/staging/magento/base/base_magento__<table>.sql
      the one-line current-state model, when missing (existing files are kept);
  models/staging/magento/base/_magento__base_models.yml
      description, cdc_matches_change_log, cdc_newest_events_applied, and unique/not_null on the key (a composite
      key: not_null on each column and unique_combination on all of them).

Hand edits are kept: descriptions, extra tests, config (per-table freshness
included), column descriptions and comments. The scaffold only adds what is missing,
and a second run changes nothing. A column's data_type is the warehouse's, set when
the column is added or has none; a different type reported later (a type change, or
the same column read from Snowflake instead of DuckDB) is printed, and written only
with --update-types.

Primary keys come from scripts/scaffold/magento_primary_keys.csv (the primary keys
of Magento Open Source's db_schema.xml files), from the unique_key of an existing
model, or from --pk, which overrides both. A landing table with no known key is
reported and skipped (not an error). A key column missing from its landing table is
an error. A landing table without Streamkap's metadata columns is reported and skipped.

A table whose change log is gone from the landing schema is reported; --prune
deletes its source entry, model and properties (and source columns no longer landed).

--check writes nothing and exits 1 when a run with the same options would change a
file: a landing table, model, properties entry, column, data_type or required test is
missing (each is printed); with --prune, something gone is left to delete; with
--update-types, a type differs.

Exit codes: 0 done, or up to date with --check; 1 --check: the project is behind the
landing schema; 2 bad arguments; 3 error (dbt could not read the landing schema, it
has no tables, a key column is missing, a YAML file cannot be read, or on Snowflake the
landing columns' letter case contradicts var magento_landing_quoted_columns).

dbt's log of the operation: target/scaffold_cdc_project/logs/dbt.log.

Examples (from the project folder):
  .venv/bin/python scripts/scaffold_cdc.py            # scaffold against the default target
  .venv/bin/python scripts/scaffold_cdc.py --check    # CI: fail when the project is behind
  .venv/bin/python scripts/scaffold_cdc.py --pk acme_rule=rule_id --pk acme_rule_store=rule_id,store_id
  DBT_DUCKDB_PATH=/tmp/demo.duckdb .venv/bin/python scripts/scaffold_cdc.py
  .venv/bin/python scripts/scaffold_cdc.py --target prod --vars '{magento_landing_schema: STREAMKAP}'
"""

from __future__ import annotations

import argparse
import ast
import csv
import io
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.error import YAMLError

EXIT_OK, EXIT_BEHIND, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3

SOURCE_NAME = "magento"
SOURCES_FILE = Path("models/staging/magento/_magento__sources.yml")
BASE_DIR = Path("models/staging/magento/base")
PROPERTIES_FILE = BASE_DIR / "_magento__base_models.yml"
MODEL_PREFIX = "base_magento__"
KEYS_FILE = Path(__file__).resolve().with_name("magento_primary_keys.csv")
OPERATION = "scaffold_landing_columns"
# Where the keys of a list item start in the files: source tables, their columns, models.
SOURCE_TABLE_COLUMN, SOURCE_COLUMN_COLUMN, PROPERTIES_COLUMN = 8, 12, 4

# Streamkap's metadata columns, present in every change log.
STREAMKAP_COLUMNS = {
    "_streamkap_source_ts_ms": "Streamkap: commit time of the change in MySQL, epoch milliseconds.",
    "_streamkap_ts_ms": "Streamkap: when Streamkap processed the event, epoch milliseconds.",
    "_streamkap_offset": "Streamkap: offset of the event; orders events of the same commit time.",
    "__deleted": "Streamkap: true when the event is a delete.",
}
PLACEABLE_TEST = "streamkap_events_are_placeable"
QUOTED_COLUMNS_VAR = "magento_landing_quoted_columns"
QUOTING_COMMENT = (
    'Landing columns named in tests: quoted when Streamkap lands "quoted lowercase"\n'
    f"columns (var {QUOTED_COLUMNS_VAR}), else bare (UPPERCASE unquoted)."
)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
MODEL_CALL = re.compile(
    r"cdc_current_state\(\s*'(?P<source>\w+)'\s*,\s*'(?P<table>\w+)'\s*,\s*unique_key\s*=\s*(?P<key>'[^']*'|\[[^\]]*\])"
)

NEW_SOURCES_FILE = """\
version: 2

sources:
  - name: magento
    description: >
      Streamkap change logs of the Magento 2 MySQL database: one append-only table per
      replicated Magento table, holding Magento's columns plus Streamkap's metadata
      (`_streamkap_source_ts_ms`, `_streamkap_ts_ms`, `_streamkap_offset`, `__deleted`).
      Every insert, update and delete is one row. The current-state models in `base/`
      turn each log into the table as it is now.
    database: "{{ var('magento_landing_database', env_var('DBT_MAGENTO_LANDING_DATABASE', env_var('MAGENTO_LANDING_DATABASE', target.database))) }}"
    schema: "{{ var('magento_landing_schema', env_var('DBT_MAGENTO_LANDING_SCHEMA', env_var('MAGENTO_LANDING_SCHEMA', 'streamkap'))) }}"
""" + "".join(f"    # {line}\n" for line in QUOTING_COMMENT.splitlines()) + """\
    quoting:
      column: "{{ var('magento_landing_quoted_columns', false) | string | lower == 'true' }}"
    config:
      # Ingestion time: the change log is fresh when Streamkap keeps delivering.
      # max() reads the bare column, so Snowflake answers it from micro-partition
      # metadata instead of scanning the log; only its one result is converted.
      # Spelled by var magento_landing_quoted_columns (no column lookup per table).
      loaded_at_query: "select {{ epoch_ms_to_timestamp('max(' ~ cdc_landing_column('_streamkap_ts_ms') ~ ')') }} from {{ this }}"
      freshness:
        warn_after: {count: 30, period: minute}
        error_after: {count: 6, period: hour}
    tables:
"""
NEW_PROPERTIES_FILE = "version: 2\n\nmodels:\n"


class ScaffoldError(Exception):
    """An error the user must fix; the message says what and where."""


# --- landing schema, through dbt -----------------------------------------------------


@dataclass
class LandingTable:
    name: str
    columns: dict[str, str] = field(default_factory=dict)  # lower-case name -> data type
    stored: dict[str, str] = field(default_factory=dict)  # lower-case name -> name as the warehouse stores it


@dataclass
class Landing:
    database: str
    schema: str
    tables: dict[str, LandingTable]
    target_type: str = ""  # dbt's adapter type: snowflake, duckdb
    quoted_columns: bool = False  # var magento_landing_quoted_columns as dbt resolved it


def data_type(raw: str, precision: int | None, scale: int | None) -> str:
    """The warehouse's type, lower case, with precision and scale of fixed-point numbers."""
    text = str(raw).strip().lower()
    if text in ("number", "decimal", "numeric") and precision is not None:
        return f"{text}({precision},{scale or 0})"
    return text


def dbt_args(args: argparse.Namespace) -> list[str]:
    """The options passed through to dbt (the project is passed by read_landing)."""
    passed = []
    if args.profiles_dir:
        passed += ["--profiles-dir", str(args.profiles_dir)]
    if args.target:
        passed += ["--target", args.target]
    if args.vars:
        passed += ["--vars", args.vars]
    return passed


def operation_project(project_dir: Path) -> Path:
    """A project with `project_dir`'s dbt_project.yml and macros, and no model.

    The operation only needs the project's configuration, vars and macros. Leaving the
    models out keeps it quick and lets it run while a model refers to something the
    scaffold is about to add (dbt would refuse to parse that project). It lives in the
    project's target/ folder, so dbt's partial parsing speeds up the next run.
    """
    folder = project_dir / "target" / "scaffold_cdc_project"
    folder.mkdir(parents=True, exist_ok=True)
    config_text = (project_dir / "dbt_project.yml").read_text()
    config_file = folder / "dbt_project.yml"
    if not config_file.exists() or config_file.read_text() != config_text:
        config_file.write_text(config_text)
    try:
        config = YAML(typ="safe").load(config_text) or {}
    except YAMLError as error:
        raise ScaffoldError(f"{project_dir / 'dbt_project.yml'} is not valid YAML: {error}") from error
    linked = list(config.get("macro-paths") or ["macros"]) + [config.get("packages-install-path") or "dbt_packages"]
    for relative in linked:
        source, link = (project_dir / relative).resolve(), folder / relative
        if link.is_symlink() and link.resolve() == source:
            continue
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.is_dir():
            shutil.rmtree(link)
        if source.is_dir():
            link.parent.mkdir(parents=True, exist_ok=True)
            try:
                link.symlink_to(source, target_is_directory=True)
            except OSError:  # no symlinks here: a copy
                shutil.copytree(source, link)
    return folder


def read_landing(project_dir: Path, passthrough: list[str]) -> Landing:
    """Runs the scaffold_landing_columns operation in-process and returns what it logged."""
    from dbt.cli.main import dbtRunner

    logged: list[str] = []
    errors: list[str] = []

    def collect(event: Any) -> None:
        message = getattr(event.data, "msg", "") or ""
        if event.info.name == "JinjaLogInfo" and message.startswith(OPERATION + " "):
            logged.append(message[len(OPERATION) + 1 :])
        elif event.info.level == "error" and message:
            errors.append(message)

    project = operation_project(project_dir)
    result = dbtRunner(callbacks=[collect]).invoke(
        ["run-operation", OPERATION, "--project-dir", str(project), *passthrough,
         "--log-level", "none", "--log-level-file", "debug"]  # errors are reported below
    )
    if not result.success or not logged:
        detail = "\n".join(filter(None, [str(result.exception or ""), *errors])) or "no output"
        raise ScaffoldError(f"dbt could not read the landing schema (dbt run-operation {OPERATION}):\n{detail}")
    payload = json.loads(logged[-1])
    tables: dict[str, LandingTable] = {}
    for row in payload["columns"]:
        table = tables.setdefault(row["table"].lower(), LandingTable(row["table"].lower()))
        table.columns[row["column"].lower()] = data_type(
            row["data_type"], row.get("numeric_precision"), row.get("numeric_scale")
        )
        table.stored[row["column"].lower()] = row["column"]
    return Landing(payload["database"], payload["schema"], tables, payload.get("target_type", ""),
                   bool(payload.get("quoted_columns")))


def letter_case_problem(landing: Landing) -> str | None:
    """Why the landing columns' letter case contradicts var magento_landing_quoted_columns, if it does.

    Snowflake resolves an unquoted name upper-case and a quoted one as written, so the
    source's column tests and freshness query find the columns only when the var says
    how Streamkap spells them. DuckDB resolves names in any case: nothing to check.
    """
    if landing.target_type != "snowflake":
        return None
    quoted = landing.quoted_columns
    wrong = [f'{table.name}."{stored}"' for table in landing.tables.values()
             if all(c in table.columns for c in STREAMKAP_COLUMNS)
             for stored in table.stored.values() if stored != (stored.lower() if quoted else stored.upper())]
    if not wrong:
        return None
    shown = ", ".join(wrong[:3]) + (", ..." if len(wrong) > 3 else "")
    where = f"{len(wrong)} column(s) of landing schema {landing.database}.{landing.schema}"
    if quoted:
        return (f"var {QUOTED_COLUMNS_VAR} is true (\"quoted lowercase\" landing columns), but {where} are stored "
                f"in another case: {shown}. Set {QUOTED_COLUMNS_VAR}: false for UPPERCASE unquoted columns "
                "(Streamkap's default), or match Streamkap's letter case setting")
    return (f"{where} are stored in lower or mixed case (\"quoted lowercase\"): {shown}. Set var "
            f"{QUOTED_COLUMNS_VAR}: true (dbt_project.yml or --vars), or land UPPERCASE unquoted "
            "columns (Streamkap's letter case setting)")


# --- primary keys --------------------------------------------------------------------


@dataclass(frozen=True)
class KnownKey:
    columns: tuple[str, ...]
    comment: str = ""  # Magento's comment of the table
    module: str = ""


def load_keys(path: Path) -> dict[str, KnownKey]:
    """table -> key, from the CSV of Magento's primary keys."""
    try:
        with path.open(newline="") as file:
            rows = list(csv.DictReader(file))
    except OSError as error:
        raise ScaffoldError(f"cannot read the primary keys file {path}: {error}") from error
    keys = {}
    for number, row in enumerate(rows, start=2):
        try:
            table, columns = row["table"].strip().lower(), tuple(row["primary_key"].lower().split())
        except (KeyError, AttributeError) as error:
            raise ScaffoldError(f"{path}:{number}: expected columns table,primary_key,module,comment") from error
        if not IDENTIFIER.fullmatch(table) or not columns or not all(IDENTIFIER.fullmatch(c) for c in columns):
            raise ScaffoldError(f"{path}:{number}: not a table and its key columns: {row}")
        keys[table] = KnownKey(columns, (row.get("comment") or "").strip(), (row.get("module") or "").strip())
    return keys


def pk_option(text: str) -> tuple[str, tuple[str, ...]]:
    """Parses --pk TABLE=COL[,COL...]."""
    table, _, columns = text.partition("=")
    names = tuple(c.strip().lower() for c in columns.split(","))
    if not IDENTIFIER.fullmatch(table.strip()) or not all(IDENTIFIER.fullmatch(c) for c in names):
        raise argparse.ArgumentTypeError(f"expected TABLE=COLUMN or TABLE=COLUMN,COLUMN, got {text!r}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r} repeats a column")
    return table.strip().lower(), names


def model_key(path: Path) -> tuple[str, ...] | None:
    """The unique_key of an existing one-line current-state model, if it is one."""
    match = MODEL_CALL.search(path.read_text())
    if not match:
        return None
    try:
        key = ast.literal_eval(match["key"])
    except (ValueError, SyntaxError):
        return None
    names = (key,) if isinstance(key, str) else tuple(key)
    return tuple(n.strip().lower() for n in names) if names and all(isinstance(n, str) for n in names) else None


def model_sql(table: str, key: tuple[str, ...]) -> str:
    unique_key = repr(key[0]) if len(key) == 1 else "[" + ", ".join(repr(c) for c in key) + "]"
    return f"{{{{ cdc_current_state('{SOURCE_NAME}', '{table}', unique_key={unique_key}) }}}}\n"


# --- YAML ----------------------------------------------------------------------------


def make_yaml() -> YAML:
    yaml = YAML()  # round-trip: keeps comments, quotes, flow styles and key order
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never re-wrap a line
    yaml.brace_single_entry_mapping_in_flow_sequence = True  # [a, {b: c}] stays as written
    return yaml


YAML_RT = make_yaml()


def dump(document: Any) -> str:
    out = io.StringIO()
    YAML_RT.dump(document, out)
    return out.getvalue()


def load(text: str, path: Path) -> Any:
    try:
        return YAML_RT.load(text)
    except YAMLError as error:
        raise ScaffoldError(f"{path} is not valid YAML: {error}") from error


def nested(snippet: str, column: int) -> Any:
    """Loads `snippet`, a list item whose keys start at `column` in its file.

    Loading it at the indentation it will be written with keeps the columns of its
    end-of-line comments.
    """
    depth = (column - 4) // 2  # mapping levels above the list holding the item
    head = "".join("  " * level + f"k{level}:\n" for level in range(depth)) + "  " * depth + "items:\n"
    lines = snippet.rstrip("\n").splitlines()
    body = [" " * (column - 2) + "- " + lines[0]] + [" " * column + line if line else line for line in lines[1:]]
    document = YAML_RT.load(head + "\n".join(body) + "\n")
    for level in range(depth):
        document = document[f"k{level}"]
    return document["items"][0]


def generic_test_name(test: Any) -> str | None:
    if isinstance(test, str):
        return test
    if isinstance(test, dict) and len(test) == 1:
        return str(next(iter(test)))
    if isinstance(test, dict):
        return test.get("test_name") or test.get("name")
    return None


def tests_of(node: dict) -> list:
    return list(node.get("data_tests") or []) + list(node.get("tests") or [])


def add_test(node: CommentedMap, test: Any, before: str | None = None) -> None:
    """Appends `test` to the node's data_tests (or tests), creating data_tests if needed."""
    for key in ("data_tests", "tests"):
        if isinstance(node.get(key), list):
            node[key].append(test)
            return
    keys = list(node.keys())
    position = keys.index(before) if before in keys else len(keys)
    tests = CommentedSeq([test])
    node.insert(position, "data_tests", tests)


def entries(document: Any, key: str) -> CommentedSeq:
    """The list under `key` of a properties document, created if missing."""
    if not isinstance(document.get(key), list):
        document[key] = CommentedSeq()
    seq = document[key]
    seq.fa.set_block_style()
    return seq


def remove_item(seq: CommentedSeq, item: Any) -> None:
    """Deletes `item` (this very object) from `seq`, moving the comments of the items after it."""
    index = next(i for i, other in enumerate(seq) if other is item)
    del seq[index]


def insert_in_order(seq: CommentedSeq, item: Any, name: str, order: list[str]) -> None:
    """Inserts `item` after the last entry named before `name` in `order`, else first.

    So an entry deleted and scaffolded again comes back where it was.
    """
    rank = {n: i for i, n in enumerate(order)}
    mine = rank.get(name, len(order))
    position = 0
    for index, entry in enumerate(seq):
        other = entry.get("name") if isinstance(entry, dict) else None
        if other in rank and rank[other] < mine:
            position = index + 1
    seq.insert(position, item)


# --- the scaffold --------------------------------------------------------------------


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)  # one per table, in order
    pending: list[str] = field(default_factory=list)  # what --check calls missing
    warnings: list[str] = field(default_factory=list)


def listing(names: list[str], limit: int = 5) -> str:
    """Columns for a progress line: how many, and the first few."""
    shown = ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")
    return f"{len(names)} column{'s' if len(names) != 1 else ''} ({shown})"


def key_text(key: tuple[str, ...]) -> str:
    return key[0] if len(key) == 1 else "(" + ", ".join(key) + ")"


def source_table_snippet(table: str, known: KnownKey | None) -> str:
    about = ""
    if known and (known.comment or known.module):
        about = " (" + "; ".join(filter(None, [known.comment, f"module {known.module}" if known.module else ""])) + ")"
    description = f"Change log of Magento's `{table}` table{about}."
    return (
        f"name: {table}\n"
        f"description: {json.dumps(description)}\n"
        f"data_tests:\n"
        f"  - {PLACEABLE_TEST}\n"
        f"columns: []\n"
    )


def source_column(name: str, type_: str, key: tuple[str, ...]) -> CommentedMap:
    """A source column entry: name and type; a key column's description and not_null test."""
    if name in key:
        described = "Primary key in Magento." if len(key) == 1 else "Part of the primary key in Magento."
        typed = type_ if re.fullmatch(r"[\w(), ]+", type_) else json.dumps(type_)
        return nested(f"name: {name}\ndata_type: {typed}\ndescription: {described}\n{NOT_NULL_SNIPPET}",
                      SOURCE_COLUMN_COLUMN)
    column = CommentedMap([("name", name), ("data_type", type_)])
    if name in STREAMKAP_COLUMNS:
        column["description"] = DoubleQuotedScalarString(STREAMKAP_COLUMNS[name])
    return column


NOT_NULL_SNIPPET = """\
data_tests:
  - not_null:
      config:
        severity: warn  # such events are left out of the current state
"""


def properties_snippet(table: str, key: tuple[str, ...]) -> str:
    model = MODEL_PREFIX + table
    if len(key) == 1:
        return (
            f"name: {model}\n"
            f"description: Current state of Magento's `{table}` table (relation `{table}`), one row per `{key[0]}`.\n"
            f"data_tests:\n"
            f"  - cdc_matches_change_log:\n"
            f"      arguments: {{source_name: {SOURCE_NAME}, table_name: {table}, unique_key: {key[0]}}}\n"
            f"  - cdc_newest_events_applied:\n"
            f"      arguments: {{source_name: {SOURCE_NAME}, table_name: {table}, unique_key: {key[0]}}}\n"
            f"columns:\n"
            f"  - name: {key[0]}\n"
            f"    data_tests: [unique, not_null]\n"
        )
    listed = "[" + ", ".join(key) + "]"
    per = ", ".join(f"`{c}`" for c in key)
    return (
        f"name: {model}\n"
        f"description: Current state of Magento's `{table}` table (relation `{table}`), one row per ({per}).\n"
        f"data_tests:\n"
        f"  - cdc_matches_change_log:\n"
        f"      arguments: {{source_name: {SOURCE_NAME}, table_name: {table}, unique_key: {listed}}}\n"
        f"  - cdc_newest_events_applied:\n"
        f"      arguments: {{source_name: {SOURCE_NAME}, table_name: {table}, unique_key: {listed}}}\n"
        f"  - unique_combination:\n"
        f"      arguments: {{columns: {listed}}}\n"
        f"columns:\n" + "".join(f"  - name: {c}\n    data_tests: [not_null]\n" for c in key)
    )


class Scaffold:
    def __init__(self, project_dir: Path, landing: Landing, keys: dict[str, KnownKey],
                 overrides: dict[str, tuple[str, ...]], prune: bool, update_types: bool = False) -> None:
        self.project_dir = project_dir
        self.landing = landing
        self.keys = keys
        self.overrides = overrides
        self.prune = prune
        self.update_types = update_types
        self.report = Report()
        self.files: dict[Path, str | None] = {}  # path -> new content, None to delete

    # paths
    def path(self, relative: Path) -> Path:
        return self.project_dir / relative

    def model_path(self, table: str) -> Path:
        return self.path(BASE_DIR / f"{MODEL_PREFIX}{table}.sql")

    def existing_models(self) -> dict[str, Path]:
        folder = self.path(BASE_DIR)
        found = sorted(folder.glob(f"{MODEL_PREFIX}*.sql")) if folder.is_dir() else []
        return {p.stem[len(MODEL_PREFIX):]: p for p in found}

    def read_document(self, relative: Path, template: str) -> tuple[Any, str | None]:
        path = self.path(relative)
        text = path.read_text() if path.exists() else None
        document = load(text if text is not None and text.strip() else template, path)
        if not isinstance(document, dict):
            raise ScaffoldError(f"{path}: expected a YAML mapping with `version: 2`")
        return document, text

    def plan(self) -> None:
        problem = letter_case_problem(self.landing)
        if problem:
            raise ScaffoldError(problem)
        sources_doc, sources_text = self.read_document(SOURCES_FILE, NEW_SOURCES_FILE)
        source = self.magento_source(sources_doc)
        self.sync_quoting(source)
        tables = entries(source, "tables")
        properties_doc, properties_text = self.read_document(PROPERTIES_FILE, NEW_PROPERTIES_FILE)
        models_seq = entries(properties_doc, "models")
        models = self.existing_models()

        # Keys first: a missing key column is an error before anything is written.
        keys: dict[str, tuple[str, ...]] = {}
        problems = []
        for name, table in sorted(self.landing.tables.items()):
            missing_meta = [c for c in STREAMKAP_COLUMNS if c not in table.columns]
            if missing_meta:
                self.report.warnings.append(
                    f"skipped  {name}: not a Streamkap change log (no {', '.join(missing_meta)})")
                continue
            key, origin = self.key_of(name, models.get(name))
            if key is None:
                self.report.warnings.append(
                    f"skipped  {name}: no known primary key; add it to {KEYS_FILE.name} or pass --pk {name}=COLUMN")
                continue
            absent = [c for c in key if c not in table.columns]
            if absent:
                problems += [f"key column {c!r} of table {name!r} ({origin}) is not a column of landing table "
                             f"{self.landing.schema}.{name}" for c in absent]
                continue
            keys[name] = key
        for table in self.overrides:
            if table not in self.landing.tables:
                self.report.warnings.append(f"warning  --pk {table}: no such landing table")
        if problems:
            raise ScaffoldError("\n".join(problems))

        # Existing entries in their order, then new tables by name, appended.
        by_name = {t.get("name"): t for t in tables if isinstance(t, dict)}
        order = list(by_name) + sorted(n for n in keys if n not in by_name)
        for name in order:
            if name in keys:
                self.scaffold_table(name, keys[name], tables, by_name, models_seq, models, order)

        self.gone(tables, models_seq, models)
        self.files[self.path(SOURCES_FILE)] = self.changed(dump(sources_doc), sources_text)
        self.files[self.path(PROPERTIES_FILE)] = self.changed(dump(properties_doc), properties_text)
        self.files = {p: c for p, c in self.files.items() if c is not _UNCHANGED}

    @staticmethod
    def changed(new: str, old: str | None) -> Any:
        return _UNCHANGED if new == old else new

    def magento_source(self, document: Any) -> CommentedMap:
        sources = entries(document, "sources")
        for source in sources:
            if isinstance(source, dict) and source.get("name") == SOURCE_NAME:
                return source
        source = load(NEW_SOURCES_FILE, self.path(SOURCES_FILE))["sources"][0]
        sources.append(source)
        return source

    def sync_quoting(self, source: CommentedMap) -> None:
        """The source's column quoting, read from var magento_landing_quoted_columns.

        Built-in tests (not_null) name a source column as the YAML writes it, lower case:
        bare, Snowflake resolves it upper-case, which misses "quoted lowercase" columns.
        One setting serves the tests and the freshness query. A value set by hand is kept.
        """
        quoting = source.get("quoting")
        if isinstance(quoting, dict) and "column" in quoting:
            return
        wanted = load(NEW_SOURCES_FILE, self.path(SOURCES_FILE))["sources"][0]["quoting"]
        if isinstance(quoting, dict):
            quoting.insert(len(quoting), "column", wanted["column"])
        else:
            keys = list(source.keys())
            position = next((keys.index(k) for k in ("config", "tables") if k in keys), len(keys))
            source.insert(position, "quoting", wanted)
            source.yaml_set_comment_before_after_key("quoting", before=QUOTING_COMMENT, indent=4)
        self.report.lines.append(f"updated  source {SOURCE_NAME}: column quoting from var {QUOTED_COLUMNS_VAR}")
        self.report.pending.append(f"source {SOURCE_NAME}: quoting.column is not set (from var {QUOTED_COLUMNS_VAR})")

    def key_of(self, table: str, model: Path | None) -> tuple[tuple[str, ...] | None, str]:
        known = self.keys.get(table)
        existing = model_key(model) if model is not None else None
        if table in self.overrides:
            key = self.overrides[table]
            if existing is not None and existing != key:
                self.report.warnings.append(
                    f"warning  {table}: {model.name} keeps unique_key {key_text(existing)}; --pk says {key_text(key)}"
                )  # type: ignore[union-attr]
            return key, "--pk"
        if existing is not None:
            if known is not None and known.columns != existing:
                self.report.warnings.append(
                    f"warning  {table}: {model.name} uses unique_key {key_text(existing)}; "  # type: ignore[union-attr]
                    f"Magento's primary key is {key_text(known.columns)}")
            return existing, model.name  # type: ignore[union-attr]
        if known is not None:
            return known.columns, KEYS_FILE.name
        return None, ""

    def scaffold_table(self, name: str, key: tuple[str, ...], tables: CommentedSeq, by_name: dict,
                       models_seq: CommentedSeq, models: dict[str, Path], order: list[str]) -> None:
        landing = self.landing.tables[name]
        added, updated = [], []

        # 1. source entry
        entry = by_name.get(name)
        if entry is None:
            entry = nested(source_table_snippet(name, self.keys.get(name)), SOURCE_TABLE_COLUMN)
            tables.append(entry)
            by_name[name] = entry
            added.append("source entry")
            self.report.pending.append(f"source table {SOURCE_NAME}.{name} is missing")
            new_entry = True
        else:
            new_entry = False
        column_changes = self.sync_columns(entry, landing, key, new_entry)
        if not new_entry and column_changes:
            updated.append("source " + ", ".join(column_changes))
            self.report.pending += [f"source {SOURCE_NAME}.{name}: {c}" for c in column_changes]
        if not any(generic_test_name(t) == PLACEABLE_TEST for t in tests_of(entry)):
            add_test(entry, PLACEABLE_TEST, before="columns")
            updated.append(f"source +test {PLACEABLE_TEST}")
            self.report.pending.append(f"source {SOURCE_NAME}.{name}: +test {PLACEABLE_TEST}")

        # 2. model
        if name not in models:
            self.files[self.model_path(name)] = model_sql(name, key)
            added.append("model")
            self.report.pending.append(f"model {self.model_path(name).relative_to(self.project_dir)} is missing")

        # 3. properties
        model_name = MODEL_PREFIX + name
        properties = next((m for m in models_seq if isinstance(m, dict) and m.get("name") == model_name), None)
        if properties is None:
            insert_in_order(models_seq, nested(properties_snippet(name, key), PROPERTIES_COLUMN), model_name,
                            [MODEL_PREFIX + n for n in order])
            added.append("properties")
            self.report.pending.append(f"properties of {model_name} are missing from {PROPERTIES_FILE.name}")
        else:
            changes = self.sync_properties(properties, name, key)
            if changes:
                updated.append("properties " + ", ".join(changes))
                self.report.pending += [f"properties of {model_name}: {c}" for c in changes]

        if added and new_entry:
            self.report.lines.append(f"added    {name} (key {key_text(key)}): {', '.join(added + updated)}")
        elif added or updated:
            self.report.lines.append(f"updated  {name}: {', '.join(added + updated)}")

    def sync_columns(self, entry: CommentedMap, landing: LandingTable, key: tuple[str, ...],
                     new_entry: bool) -> list[str]:
        if not isinstance(entry.get("columns"), list):
            entry.insert(len(entry), "columns", CommentedSeq())
        columns: CommentedSeq = entry["columns"]
        columns.fa.set_block_style()
        listed = {c.get("name", "").lower(): c for c in columns if isinstance(c, dict)}
        order = list(landing.columns)
        added, typed, retyped, differing = [], [], [], []
        tested = []
        for name, type_ in landing.columns.items():
            column = listed.get(name)
            if column is None:
                insert_in_order(columns, source_column(name, type_, key), name, order)
                added.append(name)
                continue
            if not column.get("data_type"):
                if "data_type" in column:
                    column["data_type"] = type_
                else:
                    column.insert(1, "data_type", type_)
                typed.append(name)
            elif str(column["data_type"]).lower() != type_:
                if self.update_types:
                    column["data_type"] = type_
                    retyped.append(name)
                else:
                    differing.append(f"{name} {column['data_type']} -> {type_}")
            if name in key and not any(generic_test_name(t) == "not_null" for t in tests_of(column)):
                add_test(column, nested("name: key\n" + NOT_NULL_SNIPPET, SOURCE_COLUMN_COLUMN)["data_tests"][0])
                tested.append(name)
        gone = [n for n in listed if n not in landing.columns]
        changes = []
        if added:
            changes.append(f"+{listing(added)}" if not new_entry else "")
        if typed:
            changes.append(f"data_type of {listing(typed)}")
        if retyped:
            changes.append(f"data_type changed on {listing(retyped)}")
        if differing:
            self.report.warnings.append(
                f"types    {entry.get('name')}: the warehouse reports other types for {len(differing)} "
                f"column(s), kept ({'; '.join(differing[:5])}{'; ...' if len(differing) > 5 else ''}); "
                "--update-types writes them")
        if tested:
            changes.append(f"not_null on {listing(tested)}")
        if gone:
            if self.prune:
                for name in gone:
                    remove_item(columns, listed[name])
                changes.append(f"-{listing(gone)} no longer landed")
            else:
                self.report.warnings.append(
                    f"gone     {entry.get('name')}: source columns no longer landed: {', '.join(gone)} "
                    "(kept; --prune removes them)")
        return [c for c in changes if c]

    def sync_properties(self, properties: CommentedMap, table: str, key: tuple[str, ...]) -> list[str]:
        wanted = nested(properties_snippet(table, key), PROPERTIES_COLUMN)
        changes = []
        if not properties.get("description"):
            properties.insert(1, "description", wanted["description"])
            changes.append("+description")
        model_tests = {generic_test_name(t) for t in tests_of(properties)}
        for test in wanted["data_tests"]:
            if generic_test_name(test) not in model_tests:
                add_test(properties, test, before="columns")
                changes.append(f"+test {generic_test_name(test)}")
        if not isinstance(properties.get("columns"), list):
            properties.insert(len(properties), "columns", CommentedSeq())
        columns = properties["columns"]
        listed = {c.get("name", "").lower(): c for c in columns if isinstance(c, dict)}
        for column in wanted["columns"]:
            mine = listed.get(column["name"])
            if mine is None:
                insert_in_order(columns, column, column["name"], list(key))
                changes.append(f"+column {column['name']}")
                continue
            present = {generic_test_name(t) for t in tests_of(mine)}
            for test in column["data_tests"]:
                if test not in present:
                    add_test(mine, test)
                    changes.append(f"+{test} on {column['name']}")
        return changes

    def gone(self, tables: CommentedSeq, models_seq: CommentedSeq, models: dict[str, Path]) -> None:
        landed = set(self.landing.tables)
        gone_tables: dict[str, list[str]] = {}
        for entry in list(tables):
            name = entry.get("name") if isinstance(entry, dict) else None
            if name and name not in landed:
                gone_tables.setdefault(name, []).append("source entry")
                if self.prune:
                    remove_item(tables, entry)
        for name, path in models.items():
            if name not in landed:
                gone_tables.setdefault(name, []).append("model")
                if self.prune:
                    self.files[path] = None
        for entry in list(models_seq):
            model = entry.get("name", "") if isinstance(entry, dict) else ""
            if model.startswith(MODEL_PREFIX) and model[len(MODEL_PREFIX):] not in landed:
                gone_tables.setdefault(model[len(MODEL_PREFIX):], []).append("properties")
                if self.prune:
                    remove_item(models_seq, entry)
        for name, what in sorted(gone_tables.items()):
            if self.prune:
                self.report.lines.append(f"pruned   {name}: no change log in the landing schema; removed {', '.join(what)}")
                self.report.pending.append(f"table {name} is gone: its {', '.join(what)} to prune")
            else:
                self.report.warnings.append(
                    f"gone     {name}: no change log in the landing schema; {', '.join(what)} kept (--prune removes them)")


_UNCHANGED: Any = object()


# --- command line --------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scaffold_cdc.py",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 and print what is missing when the project is behind "
                             "the landing schema (with --prune, gone tables count too)")
    parser.add_argument("--prune", action="store_true",
                        help="delete the source entry, model and properties of tables whose change log is "
                             "gone, and source columns no longer landed (default: only report them)")
    parser.add_argument("--update-types", action="store_true",
                        help="also rewrite a column's data_type when the warehouse reports another type "
                             "(default: only report it; types are set on new columns and where missing, "
                             "since DuckDB and Snowflake spell the same column's type differently)")
    parser.add_argument("--pk", action="append", type=pk_option, default=[], metavar="TABLE=COL[,COL]",
                        help="primary key of TABLE, overriding the keys file and existing models; "
                             "a composite key as a,b; repeatable")
    parser.add_argument("--keys-file", type=Path, default=KEYS_FILE,
                        help="CSV of known primary keys, columns table,primary_key,module,comment "
                             "(default: magento_primary_keys.csv of this package)")
    dbt = parser.add_argument_group("passed to dbt")
    dbt.add_argument("--project-dir", type=Path,
                     default=Path(os.environ.get("DBT_PROJECT_DIR", ".")),
                     help="the dbt project to scaffold (default: $DBT_PROJECT_DIR, else the current folder)")
    dbt.add_argument("--profiles-dir", type=Path, help="folder of profiles.yml (default: dbt's own lookup)")
    dbt.add_argument("--target", help="profile target to read the landing schema with (default: the profile's)")
    dbt.add_argument("--vars", help="dbt --vars, e.g. '{magento_landing_schema: STREAMKAP}'")
    args = parser.parse_args(argv)
    args.project_dir = args.project_dir.resolve()
    if not (args.project_dir / "dbt_project.yml").is_file():
        parser.error(f"{args.project_dir} has no dbt_project.yml; pass --project-dir")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        keys = load_keys(args.keys_file)
        print(f"Reading the landing schema through dbt ({'target ' + args.target if args.target else 'default target'})...",
              flush=True)
        landing = read_landing(args.project_dir, dbt_args(args))
        if not landing.tables:
            raise ScaffoldError(f"the landing schema {landing.database}.{landing.schema} has no tables; "
                                "check the target and the magento_landing_database/magento_landing_schema vars")
        scaffold = Scaffold(args.project_dir, landing, keys, dict(args.pk), args.prune, args.update_types)
        scaffold.plan()
    except ScaffoldError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR

    report = scaffold.report
    print(f"{landing.database}.{landing.schema}: {len(landing.tables)} landing tables")
    for line in report.lines if not args.check else []:
        print(line)
    for line in report.warnings:
        print(line)
    if args.check:
        if report.pending or scaffold.files:
            for line in report.pending or ["files differ from the scaffold's layout"]:
                print(f"behind   {line}")
            changed = ", ".join(str(p.relative_to(args.project_dir)) for p in sorted(scaffold.files))
            print(f"Behind the landing schema: a scaffold run would change {changed}.")
            return EXIT_BEHIND
        print("Up to date with the landing schema.")
        return EXIT_OK
    for path, content in sorted(scaffold.files.items()):
        if content is None:
            path.unlink()
            print(f"deleted  {path.relative_to(args.project_dir)}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            print(f"wrote    {path.relative_to(args.project_dir)}")
    if not scaffold.files:
        print("Up to date with the landing schema.")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
