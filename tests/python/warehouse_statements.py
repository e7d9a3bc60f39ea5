"""Which statements Snowflake answers without a running warehouse.

Cloud services answer SHOW and DESCRIBE, session, transaction and access-control
statements, and DDL that writes no rows; any other statement (a SELECT over a table or
view, INFORMATION_SCHEMA's included, DML, MERGE, CREATE TABLE AS) needs the session's
warehouse, which resumes for it. Read by the tests of what a cycle sends.
"""

from __future__ import annotations

import re

COMMENT = re.compile(r"/\*.*?\*/|--[^\n]*", re.S)
# Statements cloud services answer: metadata, session and transaction control, access
# control, and DDL that writes no rows (CREATE ... IF NOT EXISTS without AS, ADD COLUMN
# IF NOT EXISTS, a comment). Anything else needs the warehouse.
CLOUD_SERVICES = [re.compile(pattern, re.I | re.S) for pattern in (
    r"^(show|describe|desc|use)\s",
    r"^alter\s+session\s",
    r"^(grant|revoke)\s",
    r"^(begin|commit|rollback|start\s+transaction)\b",
    r"^create\s+schema\s+if\s+not\s+exists\s+\S+$",
    r"^create\s+(transient\s+)?table\s+if\s+not\s+exists\s+[^\s(]+\s*\((?!.*\)\s*as\s*\(?\s*(select|with)\b).*\)$",
    r"^alter\s+table\s+\S+\s+add\s+column\s+if\s+not\s+exists\s+\S+\s+\w+$",
    r"^alter\s+table\s+\S+\s+(set\s+comment\s*=\s*'(?:[^']|'')*'|unset\s+comment)$",
)]


def needs_warehouse(sql: str) -> bool:
    text = " ".join(COMMENT.sub(" ", sql).split()).rstrip(";").strip()
    return bool(text) and not any(pattern.match(text) for pattern in CLOUD_SERVICES)
