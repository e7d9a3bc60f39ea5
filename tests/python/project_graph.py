"""The project's models as the manifest shows them: each one's layer, its ancestors, and
which columns carry personal data (`meta: {pii: true}`)."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PROJECT = yaml.safe_load((REPO / "dbt_project.yml").read_text())["name"]


def layer(node: dict) -> str:
    """base, staging, intermediate, crm, trading; another folder of staging/magento or marts by its name."""
    parts = node["original_file_path"].split("/")
    if parts[1] == "marts":
        return parts[2]
    if parts[1] == "staging" and len(parts) > 4:  # models/staging/magento/<folder>/<model>.sql
        return parts[3]
    return parts[1]


def project_models(manifest: dict) -> dict[str, dict]:
    return {uid: n for uid, n in manifest["nodes"].items()
            if n["resource_type"] == "model" and n["package_name"] == PROJECT}


def is_pii(column: dict) -> bool:
    meta = {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}
    return meta.get("pii") is True


def ancestors(manifest: dict, unique_id: str) -> set[str]:
    seen: set[str] = set()
    todo = [unique_id]
    while todo:
        for parent in manifest["parent_map"].get(todo.pop(), []):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def pii_exposures(manifest: dict, output_columns: dict[str, list[str]]) -> list[str]:
    """Every column of a non-CRM mart that is tagged pii, or named like a pii column it reads.

    A mart's columns are the documented ones plus those its SQL returns
    (`output_columns`, by unique_id), since a mart without a contract may return
    columns its YAML leaves out.
    """
    problems = []
    models = project_models(manifest)
    for uid, node in models.items():
        if not node["original_file_path"].startswith("models/marts/") or layer(node) == "crm":
            continue
        upstream_pii = {name.lower() for parent in ancestors(manifest, uid) if parent in models
                        for name, column in models[parent]["columns"].items() if is_pii(column)}
        tagged = [name for name, column in node["columns"].items() if is_pii(column)]
        named = sorted({c.lower() for c in [*node["columns"], *output_columns.get(uid, [])]} & upstream_pii)
        problems += [f"{node['name']}.{name}: tagged pii" for name in tagged]
        problems += [f"{node['name']}.{name}: named like a pii column of a model it reads" for name in named]
    return problems
