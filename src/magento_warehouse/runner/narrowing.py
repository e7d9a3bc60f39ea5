"""Narrowing a run's selector: --select/--exclude and --sync.

dbt ignores --select and --exclude next to --selector, so the runner combines
them itself: the nodes `dbt ls --select ... --exclude ...` lists (dbt's own
reading of the two, indirect selection of tests included) intersected with the
selector's. --sync NAME adds `+exposure:NAME` the same way, so one sync's
upstream is built under the selector's exclusions (crm_realtime's: no seeds,
views, unit tests or full-scan tests) without repeating them here.
"""

from __future__ import annotations

import argparse
import json

from dbt.cli.main import dbtRunner
from dbt.contracts.graph.manifest import Manifest

from magento_warehouse.runner.dbt_phase import SyncTarget, dbt_flags
from magento_warehouse.runner.errors import DbtError, UsageError


def hightouch_exposures(manifest: Manifest) -> dict[str, str]:
    """Every name --sync accepts (exposure names and sync slugs) -> its exposure's name."""
    names: dict[str, str] = {}
    for exposure in manifest.exposures.values():
        meta = exposure.meta.get("hightouch")
        if not isinstance(meta, dict) or not str(meta.get("sync_id") or "").strip():
            continue
        names[exposure.name] = exposure.name
        slug = str(meta.get("sync_slug") or "").strip()
        if slug:
            names.setdefault(slug, exposure.name)
    return names


def sync_exposures(manifest: Manifest, args: argparse.Namespace) -> list[str]:
    """The exposures --sync names, checked before anything is built."""
    known = hightouch_exposures(manifest)
    unknown = [name for name in args.sync if name not in known]
    if unknown:
        raise UsageError(f"--sync: no Hightouch sync named {', '.join(map(repr, unknown))}; known exposures "
                         f"and sync slugs: {', '.join(sorted(known))}")
    return sorted({known[name] for name in args.sync})


def is_narrowed(args: argparse.Namespace) -> bool:
    return bool(args.select or args.exclude or args.sync)


def narrow(manifest: Manifest, args: argparse.Namespace, selected: set[str], exposures: list[str]) -> set[str]:
    """The selector's nodes that --select/--exclude and --sync also select."""
    if args.select or args.exclude:
        selected = selected & _list(manifest, args, args.select, args.exclude)
    if exposures:
        selected = selected & _list(manifest, args, [f"+exposure:{name}" for name in exposures], [])
    return selected


def only_named(targets: list[SyncTarget], exposures: list[str]) -> list[SyncTarget]:
    """With --sync, only the named syncs run, not those of other exposures the build feeds."""
    return [target for target in targets if target.exposure in exposures] if exposures else targets


def _list(manifest: Manifest, args: argparse.Namespace, select: list[str], exclude: list[str]) -> set[str]:
    selection = (["--select", *select] if select else []) + (["--exclude", *exclude] if exclude else [])
    result = dbtRunner(manifest=manifest).invoke(
        ["ls", "--log-level", "none", *selection, "--output", "json", "--output-keys", "unique_id",
         *dbt_flags(args)])
    if not result.success or not isinstance(result.result, list):
        raise DbtError(f"dbt could not list {' '.join(selection)}: {result.exception}")
    return {json.loads(line)["unique_id"] for line in result.result}
