"""Round-trip YAML edits that keep hand edits and comments, and the snippets the scaffold adds."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.error import YAMLError

from magento_warehouse.scaffold.layout import (
    KnownKey,
    MODEL_PREFIX,
    PLACEABLE_TEST,
    SOURCE_COLUMN_COLUMN,
    SOURCE_NAME,
    STREAMKAP_COLUMNS,
    ScaffoldError,
)


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
            f"  - streamkap_cdc.cdc_matches_change_log:\n"
            f"      arguments: {{source_name: {SOURCE_NAME}, table_name: {table}, unique_key: {key[0]}}}\n"
            f"  - streamkap_cdc.cdc_newest_events_applied:\n"
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
        f"  - streamkap_cdc.cdc_matches_change_log:\n"
        f"      arguments: {{source_name: {SOURCE_NAME}, table_name: {table}, unique_key: {listed}}}\n"
        f"  - streamkap_cdc.cdc_newest_events_applied:\n"
        f"      arguments: {{source_name: {SOURCE_NAME}, table_name: {table}, unique_key: {listed}}}\n"
        f"  - unique_combination:\n"
        f"      arguments: {{columns: {listed}}}\n"
        f"columns:\n" + "".join(f"  - name: {c}\n    data_tests: [not_null]\n" for c in key)
    )
