"""The landing schema as the warehouse reports it, read through dbt's own connection."""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from magento_warehouse.scaffold.layout import OPERATION, QUOTED_COLUMNS_VAR, STREAMKAP_COLUMNS, ScaffoldError


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
            except FileExistsError:  # another run (lint, the Snowflake check) linked it meanwhile
                if not (link.is_symlink() and link.resolve() == source):
                    raise
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
