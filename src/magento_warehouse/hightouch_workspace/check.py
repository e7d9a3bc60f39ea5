"""--check: the project's exposures, the marts' column meta and the dbt Cloud jobs
against the workspace. Each problem is one line naming the sync and the difference.

The schedule rule depends on what triggers the syncs (--orchestrator):
- dbt-cloud (production, dbt_cloud/jobs.yml): Hightouch's dbt Cloud extension runs
  each sync after the dbt Cloud job that builds its upstream: of the scheduled jobs
  whose selector builds the mart, the one that builds the least (crm_realtime, not
  the nightly full build). dbt Cloud job ids come from a file per deployment
  (dbt_cloud/job_ids_prod.yml), as jobs-as-code keeps them out of jobs.yml.
- runner (scripts/run_and_sync.py, the demo): the runner triggers them through the
  API, which Hightouch allows only for syncs with the Manual schedule.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from dbt.cli.main import dbtRunner
from dbt.contracts.graph.manifest import Manifest

from magento_warehouse.hightouch_workspace.workspace import Sync
from magento_warehouse.runner.errors import DbtError, UsageError

ORCHESTRATORS = ("dbt-cloud", "runner")
KEY_FIELD = 3  # Emarsys's email field: what the CRM syncs upsert on


def problems(syncs: list[Sync], manifest: Manifest, *, orchestrator: str,
             jobs: dict[str, frozenset[str]] | None, job_names: dict[str, str]) -> list[str]:
    """Every difference found; empty when the workspace, the project and the jobs agree."""
    found: list[str] = []
    exposures = _hightouch_exposures(manifest)
    by_id = {sync.id: sync for sync in syncs}
    for sync in syncs:
        if not sync.resolution.nodes or sync.disabled:
            continue
        reading = ", ".join(manifest.nodes[node].name for node in sync.resolution.nodes)
        named = sorted(name for name, sync_id in exposures.items() if sync_id == sync.id)
        if not named:
            found.append(f"sync {sync.label}: reads {reading} but no exposure has its sync_id "
                         "(regenerate the exposures file)")
        elif len(named) > 1:
            found.append(f"sync {sync.label}: several exposures have its sync_id: {', '.join(named)}")
        found += _mapping(sync, manifest)
        found += _schedule(sync, orchestrator, jobs, job_names)
    for name, sync_id in sorted(exposures.items()):
        sync = by_id.get(sync_id)
        if sync is None:
            found.append(f"exposure {name}: its sync {sync_id} is gone from the workspace")
        elif sync.disabled:
            found.append(f"sync {sync.label}: disabled in Hightouch, yet exposure {name} still syncs it")
    return found


def mart_mapping(manifest: Manifest, unique_id: str) -> dict[str, int | str]:
    """column -> emarsys_field_id from a mart's column meta (as rendered at parse)."""
    mapping: dict[str, int | str] = {}
    for column in manifest.nodes[unique_id].columns.values():
        meta = {**(column.meta or {}), **(getattr(column.config, "meta", None) or {})}
        if "emarsys_field_id" in meta:
            text = str(meta["emarsys_field_id"]).strip()
            mapping[column.name.lower()] = int(text) if text.isdigit() else text
    return mapping


def _mapping(sync: Sync, manifest: Manifest) -> list[str]:
    marts = [node for node in sync.resolution.nodes if mart_mapping(manifest, node)]
    if str(sync.destination.get("type") or "") != "emarsys" or not marts:
        return []
    if len(marts) > 1:
        return [f"sync {sync.label}: reads several marts with Emarsys field ids ({', '.join(marts)}); "
                "its mapping cannot be checked"]
    mart = manifest.nodes[marts[0]].name
    expected = mart_mapping(manifest, marts[0])
    actual = {column.lower(): target for column, target in sync.field_mapping.items()}
    differences = []
    for column in sorted(expected.keys() | actual.keys()):
        if expected.get(column) != actual.get(column):
            differences.append(f"{column} → {_shown(actual.get(column))} in the sync, "
                               f"{_shown(expected.get(column))} in {mart}")
    problems = [f"sync {sync.label}: field mapping differs from {mart}'s column meta: {difference}"
                for difference in differences]
    key = next((column for column, field_id in expected.items() if field_id == KEY_FIELD), None)
    if key is not None and (sync.sync_key or "").lower() != key:
        problems.append(f"sync {sync.label}: its sync key is {sync.sync_key or 'not set'}, but {mart}'s key "
                        f"column (emarsys_field_id {KEY_FIELD}) is {key}")
    return problems


def _schedule(sync: Sync, orchestrator: str, jobs: dict[str, frozenset[str]] | None,
              job_names: dict[str, str]) -> list[str]:
    kind = sync.schedule["type"]
    if orchestrator == "runner":
        if kind != "manual":
            return [f"sync {sync.label}: schedule is {kind}, but the runner triggers it: it must be Manual"]
        return []
    expected = _expected_job(sync, jobs or {})
    if expected is None:
        return [f"sync {sync.label}: no scheduled job in dbt_cloud/jobs.yml builds "
                f"{', '.join(sync.resolution.nodes)}"]
    if kind != "dbt-cloud":
        return [f"sync {sync.label}: schedule is {kind}, but it must run after dbt Cloud job {expected} "
                "(Hightouch's dbt Cloud extension)"]
    job_id = sync.schedule["dbt_cloud_job_id"]
    job = job_names.get(job_id)
    if job != expected:
        shown = f"{job} (id {job_id})" if job else f"id {job_id}, which is not in the job ids file"
        return [f"sync {sync.label}: runs after dbt Cloud job {shown}, but {expected} builds its upstream"]
    return []


def _expected_job(sync: Sync, jobs: dict[str, frozenset[str]]) -> str | None:
    """Of the scheduled jobs that build every dbt model the sync reads, the one building the least."""
    building = [(len(nodes), name) for name, nodes in jobs.items() if set(sync.resolution.nodes) <= nodes]
    return min(building)[1] if building else None


def scheduled_jobs(path: Path, manifest: Manifest, dbt_flags: list[str]) -> dict[str, frozenset[str]]:
    """job name -> the nodes its `dbt build --selector X` step selects, for scheduled jobs."""
    try:
        jobs = (yaml.safe_load(path.read_text()) or {}).get("jobs") or {}
    except (OSError, yaml.YAMLError) as error:
        raise UsageError(f"cannot read the dbt Cloud jobs file {path}: {error}") from None
    selected = {}
    for name, job in jobs.items():
        if not (job.get("triggers") or {}).get("schedule"):
            continue
        selectors = [match.group(1) for step in job.get("execute_steps") or []
                     for match in re.finditer(r"--selector[ =](\S+)", str(step))]
        nodes: set[str] = set()
        for selector in selectors:
            result = dbtRunner(manifest=manifest).invoke(
                ["ls", "--log-level", "none", "--selector", selector, "--output", "json",
                 "--output-keys", "unique_id", *dbt_flags])
            if not result.success or not isinstance(result.result, list):
                raise DbtError(f"dbt could not list selector {selector} of job {name} in {path}: {result.exception}")
            nodes |= {json.loads(line)["unique_id"] for line in result.result}
        selected[name] = frozenset(nodes)
    return selected


def job_ids(path: Path) -> dict[str, str]:
    """dbt Cloud job id -> job name in jobs.yml, from a `name: id` file; empty when there is none."""
    if not path.exists():
        return {}
    try:
        ids = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise UsageError(f"cannot read the dbt Cloud job ids file {path}: {error}") from None
    if not isinstance(ids, dict):
        raise UsageError(f"{path} must map each job of dbt_cloud/jobs.yml to its dbt Cloud job id")
    return {str(job_id): str(name) for name, job_id in ids.items()}


def _hightouch_exposures(manifest: Manifest) -> dict[str, str]:
    """exposure name -> its meta.hightouch.sync_id."""
    found = {}
    for exposure in manifest.exposures.values():
        meta = exposure.meta.get("hightouch")
        if isinstance(meta, dict) and str(meta.get("sync_id") or "").strip():
            found[exposure.name] = str(meta["sync_id"]).strip()
    return found


def _shown(value: Any) -> str:
    return "nothing" if value is None else str(value)
