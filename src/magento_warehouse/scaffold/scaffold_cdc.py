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

Primary keys come from magento_primary_keys.csv, next to this module (the primary keys
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
import os
import sys
from pathlib import Path

from magento_warehouse.scaffold.landing import dbt_args, read_landing
from magento_warehouse.scaffold.layout import KEYS_FILE, NEW_SOURCES_FILE, ScaffoldError, load_keys, pk_option
from magento_warehouse.scaffold.plan import Scaffold

# What callers of the command's module use.
__all__ = ["KEYS_FILE", "NEW_SOURCES_FILE", "load_keys", "main", "read_landing"]

EXIT_OK, EXIT_BEHIND, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3


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
