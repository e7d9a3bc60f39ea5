"""The source freshness a run has consumed, kept between runs of the few-minute job.

Selectors with `source_status:fresher` (crm_realtime_changed) rebuild only the
current-state models whose change log received events since the previous run.
dbt decides "since" by comparing the freshness in the target folder
(`sources.json`, written by `dbt source freshness`) with the one in `--state`.
dbt Cloud keeps that state itself (a job deferring to itself); a dbt-core
deployment keeps it in a folder, managed here:

- before the build, `dbt source freshness` runs, and a first run (no saved
  state) gets a saved state in which every change log is new;
- after the build, a change log's new freshness is saved only when every
  current-state model reading it succeeded in this run, so a failed or
  unselected model is retried next time.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from dbt.cli.main import dbtRunner
from dbt.contracts.graph.manifest import Manifest

SOURCES_JSON = "sources.json"
LONG_AGO = "1970-01-01T00:00:00Z"


def target_dir(project_dir: str | None) -> Path:
    """Where dbt writes its artifacts, as dbt resolves it by default."""
    if os.environ.get("DBT_TARGET_PATH"):
        return Path(os.environ["DBT_TARGET_PATH"])
    return Path(project_dir or os.environ.get("DBT_PROJECT_DIR") or ".") / "target"


def measure(dbt_flags: list[str], project_dir: str | None, state_dir: Path) -> dict[str, Any]:
    """Runs `dbt source freshness` and makes sure `state_dir` holds a saved state."""
    result = dbtRunner().invoke(["source", "freshness", "--select", "source:*", "--quiet", *dbt_flags])
    current_file = target_dir(project_dir) / SOURCES_JSON
    if not current_file.exists():
        raise RuntimeError(f"dbt source freshness wrote no {current_file}: {result.exception}")
    current = json.loads(current_file.read_text())
    saved_file = state_dir / SOURCES_JSON
    if not saved_file.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        first = copy.deepcopy(current)
        for entry in first["results"]:
            entry["max_loaded_at"] = LONG_AGO
        saved_file.write_text(json.dumps(first))
    return current


def save(current: dict[str, Any], state_dir: Path, manifest: Manifest, statuses: dict[str, str]) -> None:
    """Saves each source's new freshness if all the models reading it succeeded now."""
    previous = {e["unique_id"]: e for e in _results(state_dir / SOURCES_JSON)}
    merged = copy.deepcopy(current)
    kept = []
    for entry in merged["results"]:
        readers = source_readers(manifest, entry["unique_id"])
        consumed = readers and all(statuses.get(model) == "success" for model in readers)
        kept.append(entry if consumed or entry["unique_id"] not in previous else previous[entry["unique_id"]])
    merged["results"] = kept
    (state_dir / SOURCES_JSON).write_text(json.dumps(merged))


def source_readers(manifest: Manifest, source_id: str) -> list[str]:
    """The models that read a source directly: its current-state models."""
    return [child for child in manifest.child_map.get(source_id, []) if child.startswith("model.")]


def _results(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["results"] if path.exists() else []
