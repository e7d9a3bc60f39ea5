"""Writes the dbt exposures of the Hightouch workspace's syncs, or checks them (--check).

Reads the workspace through Hightouch's REST API (models, syncs, destinations,
every page), resolves each sync's model to the dbt models it reads, and writes
models/<workspace>-hightouch-sync-exposures.yml: one exposure per such sync that
is enabled.

--check changes nothing and exits 1 naming each problem: a sync reading a dbt
model without an exposure, an exposure whose sync is gone or disabled, a field
mapping or sync key unlike the mart's column meta, a schedule unlike what
--orchestrator needs (check.py), or a generated file out of date.

Environment: HIGHTOUCH_API_KEY (never printed), HIGHTOUCH_API_URL (default
https://api.hightouch.com), as for the runner.

Exit codes: 0 written, or clean; 1 --check found problems; 2 Hightouch refused a
call; 3 bad arguments or environment, a dbt error, or two syncs making one
exposure name; 6 the Hightouch API could not be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dbt.contracts.graph.manifest import Manifest

from magento_warehouse.hightouch_workspace import check, exposures
from magento_warehouse.hightouch_workspace.resolve import sql_dialect
from magento_warehouse.hightouch_workspace.workspace import Sync, Workspace, syncs
from magento_warehouse.runner.cli_types import positive_float, positive_int
from magento_warehouse.runner.dbt_phase import dbt_flags, parse_project, project_dir
from magento_warehouse.runner.errors import EXIT_HIGHTOUCH_UNREACHABLE, DbtError, UsageError
from magento_warehouse.runner.hightouch import HightouchClient, HightouchError, HightouchUnreachable, RetryPolicy
from magento_warehouse.runner.hightouch_phase import api_base_url

EXIT_OK, EXIT_PROBLEMS, EXIT_API, EXIT_USAGE = 0, 1, 2, 3


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hightouch_exposures", description=__doc__.split("\n\n")[0],
                                     allow_abbrev=False)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 naming each difference between the workspace and the project")
    parser.add_argument("--workspace", default="magento-retail",
                        help="the workspace's slug, for the file name and the sync links (default magento-retail)")
    parser.add_argument("--output", type=Path, default=None, metavar="PATH",
                        help="the file to write or check (default models/<workspace>-hightouch-sync-exposures.yml, "
                             "where Hightouch's own exposures sync writes)")
    parser.add_argument("--orchestrator", choices=check.ORCHESTRATORS, default="dbt-cloud",
                        help="what triggers the syncs, for --check's schedule rule: dbt-cloud (default, "
                             "production: each sync runs after the dbt Cloud job building its mart) or runner "
                             "(scripts/run_and_sync.py triggers them: Manual schedules)")
    parser.add_argument("--dbt-cloud-jobs", type=Path, default=None, metavar="PATH",
                        help="the jobs as code (default dbt_cloud/jobs.yml in the project)")
    parser.add_argument("--dbt-cloud-job-ids", type=Path, default=None, metavar="PATH",
                        help="job name -> dbt Cloud job id (default dbt_cloud/job_ids_prod.yml in the project)")
    parser.add_argument("--owner-name", default="CRM team", help="the exposures' owner (default CRM team)")
    parser.add_argument("--owner-email", default="crm@example.com", help="the owner's email")
    parser.add_argument("--page-size", type=positive_int, default=100, help="objects per API page (default 100)")
    parser.add_argument("--http-timeout", type=positive_float, default=30.0, metavar="SECONDS")
    parser.add_argument("--project-dir", default=None)
    parser.add_argument("--profiles-dir", default=None)
    parser.add_argument("--target", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.vars = args.state = None  # the runner's dbt flags this program does not take
    try:
        return run(args)
    except (UsageError, exposures.NameClash, DbtError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except HightouchUnreachable as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_HIGHTOUCH_UNREACHABLE
    except HightouchError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_API


def run(args: argparse.Namespace) -> int:
    base_url = api_base_url()
    api_key = os.environ.get("HIGHTOUCH_API_KEY", "").strip()
    if not api_key:
        raise UsageError("HIGHTOUCH_API_KEY is not set; it is needed to read the Hightouch workspace")
    if not args.workspace or "/" in args.workspace or args.workspace.startswith("."):
        raise UsageError(f"--workspace must be the workspace's slug, got {args.workspace!r}")
    client = HightouchClient(api_key, base_url, timeout=args.http_timeout, retry=RetryPolicy(retries=3))
    workspace = Workspace.read(client, page_size=args.page_size)
    manifest = parse_project(args)
    root = project_dir(args)
    job_names = check.job_ids(args.dbt_cloud_job_ids or root / "dbt_cloud" / "job_ids_prod.yml")
    found = syncs(workspace, manifest, dialect=sql_dialect(manifest.metadata.adapter_type))
    owner = {"name": args.owner_name, "email": args.owner_email}
    text = exposures.render(exposures.build(found, manifest, workspace=args.workspace, owner=owner,
                                            job_names=job_names), args.workspace)
    path = args.output or exposures.file_path(root, args.workspace)
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    current = path.read_text() if path.exists() else None
    if args.check:
        return _check(args, found, manifest, job_names, stale=(
            current is not None and "Generated by scripts/hightouch_exposures.py" in current and current != text),
            shown=shown)
    if current != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    written = [sync for sync in found if sync.resolution.nodes and not sync.disabled]
    print(f"{shown}: {len(written)} exposure(s), one per enabled sync reading a dbt model")
    for sync in found:
        if not sync.resolution.nodes:
            print(f"  no exposure for sync {sync.label}: {sync.resolution.note}")
        elif sync.disabled:
            print(f"  no exposure for sync {sync.label}: it is disabled in Hightouch")
    return EXIT_OK


def _check(args: argparse.Namespace, found: list[Sync], manifest: Manifest, job_names: dict[str, str], *,
           stale: bool, shown: Path) -> int:
    jobs = None
    if args.orchestrator == "dbt-cloud":
        jobs = check.scheduled_jobs(args.dbt_cloud_jobs or project_dir(args) / "dbt_cloud" / "jobs.yml", manifest,
                                    dbt_flags(args))
    problems = check.problems(found, manifest, orchestrator=args.orchestrator, jobs=jobs, job_names=job_names)
    if stale:  # Hightouch's own file at that path is never compared: it is not this program's output
        problems.append(f"{shown} is out of date with the workspace: run scripts/hightouch_exposures.py")
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) between Hightouch workspace {args.workspace} and the project",
              file=sys.stderr)
        return EXIT_PROBLEMS
    synced = sum(1 for sync in found if sync.resolution.nodes and not sync.disabled)
    print(f"Hightouch workspace {args.workspace}: {synced} sync(s) reading dbt models, each with its "
          f"exposure, field mapping and schedule ({args.orchestrator}) in agreement with the project")
    return EXIT_OK


def entry_point() -> None:
    sys.exit(main())
