"""The scaffold's plan: every file a run would write or delete, and what it reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from magento_warehouse.scaffold.landing import Landing, LandingTable, letter_case_problem
from magento_warehouse.scaffold.layout import (
    BASE_DIR,
    KEYS_FILE,
    KnownKey,
    MODEL_PREFIX,
    NEW_PROPERTIES_FILE,
    NEW_SOURCES_FILE,
    PLACEABLE_TEST,
    PROPERTIES_COLUMN,
    PROPERTIES_FILE,
    QUOTED_COLUMNS_VAR,
    QUOTING_COMMENT,
    SOURCES_FILE,
    SOURCE_COLUMN_COLUMN,
    SOURCE_NAME,
    SOURCE_TABLE_COLUMN,
    STREAMKAP_COLUMNS,
    ScaffoldError,
    model_key,
    model_sql,
)
from magento_warehouse.scaffold.yaml_edit import (
    NOT_NULL_SNIPPET,
    Report,
    add_test,
    dump,
    entries,
    generic_test_name,
    insert_in_order,
    key_text,
    listing,
    load,
    nested,
    properties_snippet,
    remove_item,
    source_column,
    source_table_snippet,
    tests_of,
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
