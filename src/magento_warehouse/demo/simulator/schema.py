"""Magento 2 tables replicated by Streamkap, as they land in the warehouse.

Every landing table carries Magento 2's complete column set for its table, in
Magento's order, then Streamkap's metadata columns. The columns are Magento's own
facts, kept in `magento_columns.json` (merged from the db_schema.xml files of every
module that declares a column of the table, e.g. sales_order from Magento_Sales,
Magento_GiftMessage and Magento_Paypal). This module only reads that file, so it
also loads on its own (the Snowflake emulator harness reads it).

Landing types are the ones Streamkap's Debezium-based MySQL connector gives each
MySQL type, spelled for DuckDB (all are valid Snowflake types too):

    tinyint, boolean, smallint            -> smallint
    smallint unsigned, mediumint          -> integer
    int                                   -> integer
    int unsigned, bigint                  -> bigint
    decimal(p,s)                          -> decimal(p,s)
    float, double                         -> double
    char, varchar, text, json, blobs      -> varchar
    date                                  -> date
    datetime, timestamp                   -> timestamp

An unsigned type widens to the next signed one so that every MySQL value fits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

COLUMNS_FILE = Path(__file__).resolve().with_name("magento_columns.json")

STREAMKAP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_streamkap_source_ts_ms", "bigint"),
    ("_streamkap_ts_ms", "bigint"),
    ("_streamkap_offset", "bigint"),
    ("__deleted", "varchar"),
)

_INTEGERS = {
    # MySQL type: (landing type when signed, when unsigned)
    "boolean": ("smallint", "smallint"),
    "tinyint": ("smallint", "smallint"),
    "smallint": ("smallint", "integer"),
    "mediumint": ("integer", "integer"),
    "int": ("integer", "bigint"),
    "bigint": ("bigint", "bigint"),
}
_TEXTS = {"char", "varchar", "text", "mediumtext", "longtext", "json",
          "binary", "varbinary", "blob", "mediumblob", "longblob"}
_TIMESTAMPS = {"datetime", "timestamp"}


@dataclass(frozen=True)
class MagentoColumn:
    """One column as Magento declares it (see `magento_columns.json`)."""

    name: str
    type: str
    length: int | None
    precision: int | None
    scale: int | None
    unsigned: bool
    nullable: bool
    default: str | None
    identity: bool
    module: str

    @property
    def landing_type(self) -> str:
        """The column's DuckDB type in the landing table (see the module docstring)."""
        if self.type in _INTEGERS:
            return _INTEGERS[self.type][self.unsigned]
        if self.type == "decimal":
            return f"decimal({self.precision},{self.scale})"
        if self.type in ("float", "double", "real"):
            return "double"
        if self.type in _TEXTS:
            return "varchar"
        if self.type == "date":
            return "date"
        if self.type in _TIMESTAMPS:
            return "timestamp"
        raise ValueError(f"no landing type for MySQL type {self.type!r} of column {self.name}")

    @property
    def initial_value(self) -> Any:
        """What a new row holds until the shop sets it: Magento's declared default,
        else NULL, else (NOT NULL without a default) a plain value of the type.
        CURRENT_TIMESTAMP defaults stay None here: the shop always sets those
        columns (created_at, updated_at) itself."""
        if self.identity or self.default == "CURRENT_TIMESTAMP":
            return None
        if self.default is not None and self.default != "NULL":  # Magento spells SQL NULL "NULL"
            return _typed(self.landing_type, self.default)
        if self.nullable:
            return None
        return _typed(self.landing_type, None)


def _typed(landing_type: str, text: str | None) -> Any:
    """`text` (a declared default) as a value of `landing_type`; None gives the
    type's plain value (0, '', the epoch)."""
    if landing_type in ("smallint", "integer", "bigint"):
        return int(text or 0)
    if landing_type.startswith("decimal") or landing_type == "double":
        return Decimal(text or 0)
    if landing_type == "date":
        return date.fromisoformat(text) if text else date(1970, 1, 1)
    if landing_type == "timestamp":
        return datetime.fromisoformat(text) if text else datetime(1970, 1, 1)
    return text or ""


@dataclass(frozen=True)
class Table:
    name: str
    primary_key: str
    columns: tuple[tuple[str, str], ...]
    magento_columns: tuple[MagentoColumn, ...] = field(default=(), compare=False, repr=False)

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def ddl(self, schema: str) -> str:
        cols = ",\n    ".join(f"{n} {t}" for n, t in self.columns + STREAMKAP_COLUMNS)
        return f"create table if not exists {schema}.{self.name} (\n    {cols}\n)"


def load_tables(path: Path = COLUMNS_FILE) -> dict[str, Table]:
    """The landing tables described by the column file at `path`, in its order."""
    spec = json.loads(path.read_text(encoding="utf-8"))
    fields = spec["fields"]
    tables = {}
    for name, table in spec["tables"].items():
        columns = tuple(MagentoColumn(**dict(zip(fields, column))) for column in table["columns"])
        (primary_key,) = table["primary_key"]  # every landing table has a one-column key
        tables[name] = Table(name, primary_key, tuple((c.name, c.landing_type) for c in columns), columns)
    return tables


TABLES: dict[str, Table] = load_tables()

ROW_DEFAULTS: dict[str, dict[str, Any]] = {
    name: {column.name: column.initial_value for column in table.magento_columns}
    for name, table in TABLES.items()
}
"""Per table, a new row as Magento inserts it before the shop sets any column."""


def new_row(table: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A row of `table` with every Magento column, in the landing table's order:
    the defaults, then `fields` (which must all be columns of the table)."""
    defaults = ROW_DEFAULTS[table]
    row = defaults | fields
    if len(row) != len(defaults):
        raise KeyError(f"not columns of {table}: {sorted(fields.keys() - defaults.keys())}")
    return row
