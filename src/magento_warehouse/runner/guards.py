"""What stops a run before it builds: another run of the checkout (the lock), another
process holding the DuckDB file."""

from __future__ import annotations

import argparse
import fcntl
import os
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb
import yaml
from dbt.adapters.contracts.connection import Credentials
from dbt.config.profile import Profile, read_profile
from dbt.config.project import load_raw_project
from dbt.config.renderer import ProfileRenderer

from magento_warehouse.runner.dbt_phase import profiles_dir, project_dir
from magento_warehouse.runner.errors import RunLocked, UsageError, WarehouseBusy


LOCK_FILE = "run_and_sync.lock"


@contextmanager
def run_lock(path: Path, selector: str) -> Iterator[None]:
    """Holds an exclusive lock on `path` for the run, or raises RunLocked at once."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Never deleted: a run deleting it could let the next two runs lock two different files.
        path.touch()
    except OSError as error:
        raise UsageError(f"cannot create the lock file {path}: {error.strerror}") from None
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = " ".join(handle.read().split())
            raise RunLocked(f"another run holds the lock {path}" + (f" ({holder})" if holder else "")
                            + "; this run stops without building or syncing, the next one catches up") from None
        handle.seek(0)
        handle.truncate()
        started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        handle.write(f"pid {os.getpid()}, selector {selector}, started {started}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)  # still locked here: nobody reads a finished run as the holder


def profile_credentials(args: argparse.Namespace) -> Credentials | None:
    """The target's credentials, read as dbt reads the profile with the run's flags;
    None when the profile cannot be read (dbt reports that better when it opens it)."""
    try:
        renderer = ProfileRenderer(yaml.safe_load(args.vars or "") or {})
        profile_name = renderer.render_value(load_raw_project(str(project_dir(args))).get("profile"))
        return Profile.from_raw_profiles(read_profile(str(profiles_dir(args))), profile_name, renderer,
                                         target_override=args.target).credentials
    except Exception:  # noqa: BLE001
        return None


def check_duckdb_file(args: argparse.Namespace) -> None:
    """Raises WarehouseBusy when another process holds the profile's DuckDB file.

    dbt would fail on it with a stack trace per attempt; asking DuckDB first
    gives one message naming the file. Reads the profile as dbt would, with the
    run's flags.
    """
    credentials = profile_credentials(args)
    path = Path(str(getattr(credentials, "path", "")))
    if credentials is None or credentials.type != "duckdb" or not path.is_file():
        return  # :memory:, MotherDuck, or not created yet
    try:
        duckdb.connect(str(path)).close()
    except duckdb.IOException as error:
        text = str(error)
        if "lock" not in text.lower():
            return
        holder = re.search(r"Conflicting lock is held in (.+?) \(PID (\d+)\)", text)
        raise WarehouseBusy(
            f"the DuckDB file {path} is held by another process"
            + (f" (PID {holder.group(2)}, {holder.group(1)})" if holder else f": {text}")
            + "; DuckDB lets one process at a time write to it. Nothing was built or synced; "
              "the next run catches up once the file is free") from None
    except duckdb.Error:
        return  # not a lock: dbt reports it
