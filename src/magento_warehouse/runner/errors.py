"""The runner's exit codes and the errors that end a run early."""

from __future__ import annotations


EXIT_OK, EXIT_BUILD_FAILED, EXIT_SYNC_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_WAREHOUSE_BUSY = 0, 1, 2, 3, 4, 5
# Apart from 2 so a scheduler can tell a network outage (nothing reached Hightouch) from failed syncs.
EXIT_HIGHTOUCH_UNREACHABLE = 6


class UsageError(Exception):
    """Bad arguments or environment, found before anything is built (exit 3)."""


class DbtError(Exception):
    """dbt could not parse the project or list the selector (exit 1)."""


class RunLocked(Exception):
    """Another run holds the lock (exit 4)."""


class WarehouseBusy(Exception):
    """Another process holds the DuckDB file (exit 5)."""
