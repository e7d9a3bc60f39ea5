"""OpenLineage events of a cycle, so lineage tools see past the warehouse: which mart
each Hightouch sync read, where it wrote, how many rows, and which build fed it.

Jobs and runs:
  - The build is a job in namespace --openlineage-namespace (default
    magento_warehouse), named run_and_sync.<selector>; its run id is dbt's
    invocation id (run_results.json's metadata.invocation_id). START when dbt
    starts, COMPLETE or FAIL when it ends.
  - Each sync run is a job in namespace `hightouch` named by the exposure's
    meta.hightouch.sync_slug (else the exposure's name). Its input is each model
    the exposure depends on directly, named `database.schema.table` in the
    target's namespace (duckdb://<file>, snowflake://<account>), as dbt's own
    OpenLineage integration names it; its output is the
    destination (meta.hightouch.destination: emarsys://api.emarsys.net unless
    --openlineage-destination says otherwise) named like the job. Its parent
    run facet names the build's run. START when triggered; COMPLETE with the
    row counts (outputStatistics, and the hightouchSyncRun run facet: planned,
    successful and failed rows as Hightouch reports them); FAIL when the run
    failed, timed out or could not be triggered or followed, with the reason.

Off unless --openlineage-url, --openlineage-file or OPENLINEAGE_URL is set;
OPENLINEAGE_DISABLED=true turns it off again. The token comes only from
OPENLINEAGE_API_KEY and is never printed. Sending never fails the cycle: the
first failure prints one warning line and the run sends nothing more, so a dead
endpoint costs at most one --openlineage-timeout.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import attr
from dbt.contracts.graph.manifest import Manifest
from dbt.version import __version__ as dbt_version
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    RunFacet,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
)
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport, TokenProvider

from magento_warehouse.runner.cli_types import positive_float
from magento_warehouse.runner.dbt_phase import SyncTarget
from magento_warehouse.runner.errors import UsageError
from magento_warehouse.runner.guards import profile_credentials
from magento_warehouse.runner.hightouch_phase import SyncOutcome

PRODUCER = "urn:magento-warehouse:run_and_sync"
SYNC_NAMESPACE = "hightouch"
# Where each Hightouch destination writes, for the output dataset's namespace.
DESTINATION_NAMESPACES = {"emarsys": "emarsys://api.emarsys.net"}
SYNC_RUN_FACET_SCHEMA = "HightouchSyncRunFacet.json"
# A fixed namespace for the sync runs' ids: one Hightouch run is always one OpenLineage run.
HIGHTOUCH_RUN_IDS = uuid.UUID("6f1c2b7e-3d4a-5b8c-9e0f-a1b2c3d4e5f6")


@attr.define
class HightouchSyncRunFacet(RunFacet):
    """The sync run as Hightouch reports it; the schema ships beside this module."""

    syncId: str  # noqa: N815 (OpenLineage's camelCase)
    syncRunId: str | None = None  # noqa: N815
    status: str | None = None
    plannedRows: dict[str, int] | None = None  # noqa: N815
    successfulRows: dict[str, int] | None = None  # noqa: N815
    failedRows: dict[str, int] | None = None  # noqa: N815
    _additional_skip_redact: ClassVar[list[str]] = ["syncId", "syncRunId", "status"]

    @staticmethod
    def _get_schema() -> str:
        return f"{sync_run_facet_schema()['$id']}#/$defs/HightouchSyncRunFacet"


@functools.cache
def sync_run_facet_schema() -> dict[str, Any]:
    """The JSON schema of the hightouchSyncRun facet."""
    return json.loads(resources.files(__package__).joinpath(SYNC_RUN_FACET_SCHEMA).read_text())


@dataclass(frozen=True)
class Settings:
    """Where the events go: an HTTP endpoint or a file (one JSON event a line)."""

    url: str | None
    file: Path | None
    endpoint: str
    timeout: float
    namespace: str
    destinations: dict[str, str]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("OpenLineage", "lineage events of the build and of each sync run; "
                                      "off unless a URL or a file is given")
    group.add_argument("--openlineage-url", metavar="URL",
                       help="send the events to this OpenLineage endpoint's base URL (POST <URL>/api/v1/lineage, "
                            "or OPENLINEAGE_ENDPOINT); default: OPENLINEAGE_URL. A bearer token comes only "
                            "from OPENLINEAGE_API_KEY")
    group.add_argument("--openlineage-file", metavar="PATH",
                       help="append the events to this file, one JSON event a line")
    group.add_argument("--openlineage-namespace", default="magento_warehouse", metavar="NAME",
                       help="namespace of the build's job (default: %(default)s); sync runs are in 'hightouch'")
    group.add_argument("--openlineage-destination", action="append", default=[], metavar="NAME=NAMESPACE",
                       help="dataset namespace of a Hightouch destination (meta.hightouch.destination), e.g. "
                            "emarsys=emarsys://my-account (repeatable; default for emarsys: "
                            f"{DESTINATION_NAMESPACES['emarsys']})")
    group.add_argument("--openlineage-timeout", type=positive_float, default=5.0, metavar="SECONDS",
                       help="seconds one event may take to send; the first failure stops sending for the run "
                            "(default: %(default)g)")


def settings(args: argparse.Namespace) -> Settings | None:
    """The checked settings, or None when lineage is off. Raises UsageError naming a bad setting."""
    if args.openlineage_url and args.openlineage_file:
        raise UsageError("--openlineage-url and --openlineage-file: give one of them")
    file = Path(args.openlineage_file) if args.openlineage_file else None
    # The flag wins over the environment's URL: a file asked for on the command line gets the events.
    url = None if file else (args.openlineage_url or os.environ.get("OPENLINEAGE_URL", "")).strip() or None
    if (url is None and file is None) or os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return None
    if url is not None:
        _check_url(url, "--openlineage-url" if args.openlineage_url else "OPENLINEAGE_URL")
    destinations = dict(DESTINATION_NAMESPACES)
    for item in args.openlineage_destination:
        name, _, namespace = item.partition("=")
        if not name.strip() or not re.match(r"^[a-z][a-z0-9+.-]*://\S+$", namespace.strip()):
            raise UsageError(f"--openlineage-destination takes NAME=NAMESPACE, e.g. "
                             f"emarsys=emarsys://my-account; got {item!r}")
        destinations[name.strip()] = namespace.strip()
    endpoint = os.environ.get("OPENLINEAGE_ENDPOINT", "").strip() or "api/v1/lineage"
    return Settings(url, file, endpoint, args.openlineage_timeout, args.openlineage_namespace, destinations)


def _check_url(value: str, setting: str) -> None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number)
    except ValueError as error:
        raise UsageError(f"{setting} is not a valid URL ({error})") from None
    if parts.username is not None or parts.password is not None:
        raise UsageError(f"{setting} must not contain credentials (a token goes in OPENLINEAGE_API_KEY); "
                         "it is not shown here")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        token = os.environ.get("OPENLINEAGE_API_KEY", "").strip()
        shown = value.replace(token, "<redacted>") if token else value  # a token pasted in the wrong variable
        raise UsageError(f"{setting} must be an http(s) URL with a host, e.g. http://localhost:5000; got {shown!r}")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Lineage:
    """Sends the events of one cycle; also the Hightouch phase's SyncObserver."""

    def __init__(self, config: Settings, manifest: Manifest, args: argparse.Namespace) -> None:
        self._config = config
        self._manifest = manifest
        self._args = args
        self._client: OpenLineageClient | None = None
        self._failed = False
        self._token = os.environ.get("OPENLINEAGE_API_KEY", "").strip()
        self.build_job = Job(namespace=config.namespace, name=f"run_and_sync.{args.selector}",
                             facets={"jobType": self._job_type("DBT", "JOB")})
        self.build_run_id: str | None = None
        self._sync_runs: dict[str, str] = {}  # exposure -> OpenLineage run id
        self._dataset_namespace: str | None = None

    # The build.

    def build_started(self, invocation_id: str) -> None:
        self.build_run_id = invocation_id if _is_uuid(invocation_id) else str(uuid.uuid4())
        self._emit(RunState.START, self.build_job, self._build_run())

    def build_ended(self, success: bool) -> None:
        if self.build_run_id is not None:
            self._emit(RunState.COMPLETE if success else RunState.FAIL, self.build_job, self._build_run())

    def _build_run(self) -> Run:
        engine = processing_engine_run.ProcessingEngineRunFacet(version=dbt_version, name="dbt",
                                                                openlineageAdapterVersion=None, producer=PRODUCER)
        return Run(runId=self.build_run_id or "", facets={"processing_engine": engine})

    # The syncs (SyncObserver).

    def sync_triggered(self, target: SyncTarget, run_id: str) -> None:
        self._sync_runs[target.exposure] = str(uuid.uuid5(HIGHTOUCH_RUN_IDS, f"{target.sync_id}/{run_id}"))
        self._emit(RunState.START, self._sync_job(target), self._sync_run(target, None),
                   *self._sync_datasets(target, None))

    def sync_ended(self, outcome: SyncOutcome) -> None:
        target = outcome.target
        state = RunState.COMPLETE if outcome.succeeded else RunState.FAIL
        self._emit(state, self._sync_job(target), self._sync_run(target, outcome), *self._sync_datasets(target, outcome))

    def _sync_job(self, target: SyncTarget) -> Job:
        return Job(namespace=SYNC_NAMESPACE, name=self._meta(target).get("sync_slug") or target.exposure,
                   facets={"jobType": self._job_type("HIGHTOUCH", "SYNC")})

    def _sync_run(self, target: SyncTarget, outcome: SyncOutcome | None) -> Run:
        run_id = self._sync_runs.setdefault(target.exposure, str(uuid.uuid4()))  # a sync never triggered
        facets: dict[str, RunFacet] = {}
        if self.build_run_id is not None:
            facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=self.build_run_id),
                job=parent_run.Job(namespace=self.build_job.namespace, name=self.build_job.name),
                root=parent_run.Root(run=parent_run.RootRun(runId=self.build_run_id),
                                     job=parent_run.RootJob(namespace=self.build_job.namespace,
                                                            name=self.build_job.name)),
                producer=PRODUCER)
        if outcome is not None:
            run = outcome.run
            facets["hightouchSyncRun"] = HightouchSyncRunFacet(
                syncId=target.sync_id, syncRunId=outcome.run_id, status=outcome.status,
                plannedRows=run.planned_rows if run else None, successfulRows=run.successful_rows if run else None,
                failedRows=run.failed_rows if run else None, producer=PRODUCER)
            if not outcome.succeeded:
                facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                    message=self._redact(outcome.message or f"the sync run ended {outcome.status}"),
                    programmingLanguage="python", producer=PRODUCER)
        return Run(runId=run_id, facets=facets)

    def _sync_datasets(self, target: SyncTarget, outcome: SyncOutcome | None) -> tuple[list[InputDataset],
                                                                                        list[OutputDataset]]:
        exposure = self._exposure(target)
        inputs = []
        for unique_id in sorted(self._manifest.parent_map.get(exposure.unique_id, []) if exposure else []):
            node = self._manifest.nodes.get(unique_id)
            if node is not None and node.resource_type in ("model", "seed", "snapshot"):
                inputs.append(InputDataset(namespace=self._warehouse_namespace(), name=self._table_name(node)))
        destination = str(self._meta(target).get("destination") or "").strip()
        if not destination:
            return inputs, []
        facets = {}
        run = outcome.run if outcome is not None else None
        if run is not None and run.successful_rows is not None:
            facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=sum(run.successful_rows.values()), producer=PRODUCER)
        namespace = self._config.destinations.get(destination) or f"{destination}://{destination}"
        return inputs, [OutputDataset(namespace=namespace, name=self._sync_job(target).name, outputFacets=facets)]

    def _exposure(self, target: SyncTarget) -> Any:
        return next((e for e in self._manifest.exposures.values() if e.name == target.exposure), None)

    def _meta(self, target: SyncTarget) -> dict[str, Any]:
        exposure = self._exposure(target)
        meta = exposure.meta.get("hightouch") if exposure is not None else None
        return meta if isinstance(meta, dict) else {}

    def _warehouse_namespace(self) -> str:
        """The target's namespace in OpenLineage's naming: duckdb://<file>, snowflake://<account>."""
        if self._dataset_namespace is None:
            credentials = profile_credentials(self._args)
            kind = getattr(credentials, "type", None) or self._manifest.metadata.adapter_type or "unknown"
            if kind == "duckdb":
                path = str(getattr(credentials, "path", ""))
                where = path if path.startswith(":") or "://" in path else str(Path(path).resolve())
            elif kind == "snowflake":
                where = snowflake_account(str(getattr(credentials, "account", "")))
            else:
                host, port = getattr(credentials, "host", None), getattr(credentials, "port", None)
                where = f"{host}:{port}" if host and port else str(host or getattr(credentials, "database", ""))
            self._dataset_namespace = f"{kind}://{where}"
        return self._dataset_namespace

    @staticmethod
    def _table_name(node: Any) -> str:
        # As the manifest has it, as dbt's own OpenLineage integration names it: one node for both.
        return ".".join(part for part in (node.database, node.schema, node.alias or node.name) if part)

    @staticmethod
    def _job_type(integration: str, job_type: str) -> job_type_job.JobTypeJobFacet:
        return job_type_job.JobTypeJobFacet(processingType="BATCH", integration=integration, jobType=job_type,
                                            producer=PRODUCER)

    # Sending.

    def _emit(self, state: RunState, job: Job, run: Run, inputs: list[InputDataset] | None = None,
              outputs: list[OutputDataset] | None = None) -> None:
        if self._failed:
            return
        try:
            event = RunEvent(eventType=state, eventTime=_now(), run=run, job=job, producer=PRODUCER,
                             inputs=inputs or [], outputs=outputs or [])
            self._transport_client().emit(event)
        except Exception as error:  # noqa: BLE001 (lineage is never worth a failed cycle)
            self._failed = True
            cause = self._redact(" ".join(f"{type(error).__name__}: {error}".split()))[:300]
            print(f"warning: OpenLineage events not sent ({cause}); the run goes on without them", file=sys.stderr)

    def _transport_client(self) -> OpenLineageClient:
        if self._client is None:
            config = self._config
            if config.url is not None:
                auth = ApiKeyTokenProvider({"apiKey": self._token}) if self._token else TokenProvider({})
                # No retries: a second try would double the time a dead endpoint costs the cycle.
                transport = HttpTransport(HttpConfig(url=config.url, endpoint=config.endpoint, timeout=config.timeout,
                                                     auth=auth, retry={"total": 0, "connect": 0, "read": 0}))
            else:
                transport = FileTransport(FileConfig(log_file_path=str(config.file), append=True))
            # The git origin's URL could hold a credential: no source-code facet.
            self._client = OpenLineageClient(transport=transport,
                                             config={"facets": {"source_code_location": {"disabled": True}}})
        return self._client

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "<redacted>") if self._token else text


def snowflake_account(account: str) -> str:
    """The account in OpenLineage's Snowflake namespace: `org-account` as it is; a legacy
    locator with its region and cloud, which Snowflake defaults to us-west-1 and aws."""
    parts = account.strip().split(".")
    if "-" in parts[0] or len(parts) >= 3:
        return account.strip()
    return ".".join([*parts, *["us-west-1", "aws"][len(parts) - 1:]])


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
