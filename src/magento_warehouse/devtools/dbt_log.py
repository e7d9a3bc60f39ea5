"""The statements dbt sent, from its JSON debug log (SQLQuery events)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator


def sql_queries(log: Path) -> Iterator[dict[str, Any]]:
    """The data of each SQLQuery event of `log` (sql, node_info), in the order dbt sent them.

    dbt rolls its log over at 10 MB by default, and the file then holds only the newest
    part: that is an error here, since the statements before it would go unread (run dbt
    with --log-file-max-bytes 0).
    """
    rolled = log.with_name(log.name + ".1")
    if rolled.exists():
        raise ValueError(f"{log} rolled over into {rolled.name}: its first statements are not in it; "
                         "run dbt with --log-file-max-bytes 0")
    for line in log.read_text().splitlines():
        if line.strip():
            event = json.loads(line)
            if event["info"]["name"] == "SQLQuery":
                yield event["data"]


def node_id(query: dict[str, Any]) -> str | None:
    """The unique id of the node that sent a query, None for dbt's own (hooks, introspection)."""
    return (query.get("node_info") or {}).get("unique_id") or None
