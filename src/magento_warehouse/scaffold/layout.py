"""What the scaffold writes and where, and the primary keys it knows."""

from __future__ import annotations

import argparse
import ast
import csv
import re
from dataclasses import dataclass
from pathlib import Path


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


PLACEABLE_TEST = "streamkap_cdc.streamkap_events_are_placeable"


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
    return f"{{{{ streamkap_cdc.cdc_current_state('{SOURCE_NAME}', '{table}', unique_key={unique_key}) }}}}\n"
