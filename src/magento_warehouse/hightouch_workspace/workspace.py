"""A Hightouch workspace as its REST API lists it, and the facts of each sync the
exposures need: the dbt models it reads, its field mapping and its schedule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dbt.contracts.graph.manifest import Manifest

from magento_warehouse.hightouch_workspace.resolve import Resolution, relation_index, resolve
from magento_warehouse.runner.hightouch import HightouchClient

RESOURCES = ("models", "syncs", "destinations")


@dataclass(frozen=True)
class Workspace:
    models: dict[str, dict[str, Any]]
    syncs: list[dict[str, Any]]
    destinations: dict[str, dict[str, Any]]

    @classmethod
    def read(cls, client: HightouchClient, page_size: int = 100) -> Workspace:
        lists = {resource: client.list_all(resource, page_size=page_size) for resource in RESOURCES}
        return cls.from_lists(lists)

    @classmethod
    def from_lists(cls, lists: dict[str, list[dict[str, Any]]]) -> Workspace:
        # Ids are numbers in some answers and strings in others: keyed as text.
        return cls(models={str(model["id"]): model for model in lists["models"]},
                   syncs=sorted(lists["syncs"], key=lambda sync: _id_order(sync["id"])),
                   destinations={str(dest["id"]): dest for dest in lists["destinations"]})


@dataclass(frozen=True)
class Sync:
    """One sync with what it reads and sends."""

    id: str
    slug: str
    name: str
    disabled: bool
    model: dict[str, Any]
    destination: dict[str, Any]
    resolution: Resolution
    sync_key: str | None
    field_mapping: dict[str, int | str]  # column -> destination field (an Emarsys field id), the key included
    schedule: dict[str, Any]

    @property
    def label(self) -> str:
        """How messages name the sync."""
        return f"{self.slug or self.name} (sync {self.id})"


def syncs(workspace: Workspace, manifest: Manifest, dialect: str | None = None) -> list[Sync]:
    index = relation_index(manifest)
    result = []
    for sync in workspace.syncs:
        model = workspace.models.get(str(sync.get("modelId")), {})
        destination = workspace.destinations.get(str(sync.get("destinationId")), {})
        resolution = resolve(model, manifest, index, dialect) if model else Resolution(
            (), "", f"its model {sync.get('modelId')} is not in the workspace")
        key, mapping = field_mapping(sync.get("configuration") or {})
        model_name = str(model.get("name") or model.get("slug") or f"model {sync.get('modelId')}")
        name = str(sync.get("name") or f"{model_name} → {destination.get('name') or 'destination'}")
        result.append(Sync(str(sync["id"]), str(sync.get("slug") or ""), name, bool(sync.get("disabled")),
                           model, destination, resolution, key, mapping, schedule(sync.get("schedule"))))
    return result


def field_mapping(configuration: dict[str, Any]) -> tuple[str | None, dict[str, int | str]]:
    """The sync key column and every column -> field id, from an Emarsys sync's
    configuration (externalIdMapping for the key, mappings for the rest)."""
    key_mapping = configuration.get("externalIdMapping") or {}
    entries = ([key_mapping] if key_mapping else []) + list(configuration.get("mappings") or [])
    mapping: dict[str, int | str] = {}
    for entry in entries:
        if isinstance(entry, dict) and entry.get("from") is not None and entry.get("to") is not None:
            target = str(entry["to"]).strip()
            mapping[str(entry["from"])] = int(target) if target.isdigit() else target
    key = str(key_mapping["from"]) if key_mapping.get("from") is not None else None
    return key, mapping


def schedule(value: Any) -> dict[str, Any]:
    """A sync's schedule, flattened: {type: manual} when it has none (Hightouch's
    Manual schedule), else its type and what triggers it."""
    if not isinstance(value, dict) or str(value.get("type") or "manual").lower() == "manual":
        return {"type": "manual"}
    kind = str(value["type"])
    detail = value.get("schedule") or {}
    if kind == "dbt-cloud":
        return {"type": kind, "dbt_cloud_job_id": str((detail.get("job") or {}).get("id") or ""),
                "dbt_cloud_account_id": str((detail.get("account") or {}).get("id") or "")}
    if kind == "interval":
        interval = detail.get("interval") or {}
        return {"type": kind, "every": f"{interval.get('quantity')} {interval.get('unit')}"}
    if kind == "cron":
        return {"type": kind, "expression": str(detail.get("expression") or "")}
    return {"type": kind}


def describe_schedule(schedule: dict[str, Any], job_names: dict[str, str]) -> str:
    kind = schedule["type"]
    if kind == "manual":
        return "Manual: triggered through the API (the runner, after it builds the model)"
    if kind == "dbt-cloud":
        job_id = schedule["dbt_cloud_job_id"]
        job = job_names.get(job_id)
        return f"after each successful run of dbt Cloud job {job + ' ' if job else ''}(id {job_id})"
    if kind == "interval":
        return f"every {schedule['every']}"
    if kind == "cron":
        return f"cron {schedule['expression']}"
    return kind


def _id_order(value: Any) -> tuple[int, str]:
    text = str(value)
    return (int(text), "") if text.isdigit() else (1 << 62, text)
