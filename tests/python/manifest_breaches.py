"""Ways to break a parsed manifest the way a contributor would, for test_conventions.py:
each returns a change that edits a copy of the manifest in place."""

from __future__ import annotations

from typing import Callable

PROJECT = "magento_warehouse"


def model_id(name: str) -> str:
    return f"model.{PROJECT}.{name}"


def rename(name: str, new_name: str) -> Callable[[dict], None]:
    """A rename; dbt-bouncer names the model by its unique_id, so by the old name."""
    def apply(m: dict) -> None:
        node = m["nodes"][model_id(name)]
        node["name"] = node["alias"] = new_name
    return apply


def drop_model_description(name: str) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        m["nodes"][model_id(name)]["description"] = ""
    return apply


def drop_column_description(name: str, column: str) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        m["nodes"][model_id(name)]["columns"][column]["description"] = ""
    return apply


def drop_tests(name: str, test_name: str) -> Callable[[dict], None]:
    """Remove the model's data tests of one kind (e.g. its `unique` test)."""
    def apply(m: dict) -> None:
        doomed = [uid for uid, n in m["nodes"].items()
                  if n["resource_type"] == "test" and n.get("attached_node") == model_id(name)
                  and (n.get("test_metadata") or {}).get("name") == test_name]
        assert doomed, f"{name} has no {test_name} test to drop"
        for uid in doomed:
            del m["nodes"][uid]
            m["parent_map"].pop(uid, None)
            m["child_map"].pop(uid, None)
        for children in m["child_map"].values():
            children[:] = [c for c in children if c not in doomed]
    return apply


def set_constraints(name: str, constraints: list[dict]) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        m["nodes"][model_id(name)]["constraints"] = constraints
    return apply


def add_column_primary_keys(name: str, columns: list[str]) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        node = m["nodes"][model_id(name)]
        for column in columns:
            node["columns"][column]["constraints"].append(
                {"type": "primary_key", "name": None, "expression": None, "warn_unenforced": True,
                 "warn_unsupported": True, "to": None, "to_columns": []})
    return apply


def set_access(name: str, access: str) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        node = m["nodes"][model_id(name)]
        node["access"] = node["config"]["access"] = access
    return apply


def drop_contract(name: str) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        node = m["nodes"][model_id(name)]
        node["contract"]["enforced"] = False
        node["config"]["contract"]["enforced"] = False
    return apply


def add_parent(name: str, parent_id: str) -> Callable[[dict], None]:
    """`name` now also reads `parent_id` (a ref or a source)."""
    def apply(m: dict) -> None:
        node = m["nodes"][model_id(name)]
        node["depends_on"]["nodes"].append(parent_id)
        if parent_id.startswith("source."):
            _, _, source_name, table = parent_id.split(".")
            node["sources"].append([source_name, table])
        else:
            node["refs"].append({"name": parent_id.split(".")[-1], "package": None, "version": None})
        m["parent_map"][node["unique_id"]].append(parent_id)
        m["child_map"].setdefault(parent_id, []).append(node["unique_id"])
    return apply


def swap_source(name: str, table: str, new_table: str) -> Callable[[dict], None]:
    """`name` reads the change log of `new_table` instead of `table`'s."""
    def apply(m: dict) -> None:
        node = m["nodes"][model_id(name)]
        old_id, new_id = (f"source.{PROJECT}.magento.{t}" for t in (table, new_table))
        node["depends_on"]["nodes"] = [new_id if n == old_id else n for n in node["depends_on"]["nodes"]]
        node["sources"] = [["magento", new_table] if s == ["magento", table] else s for s in node["sources"]]
        m["parent_map"][node["unique_id"]] = [new_id if n == old_id else n
                                             for n in m["parent_map"][node["unique_id"]]]
        m["child_map"][old_id].remove(node["unique_id"])
        m["child_map"].setdefault(new_id, []).append(node["unique_id"])
    return apply


def combine(*changes: Callable[[dict], None]) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        for change in changes:
            change(m)
    return apply


def move(name: str, folder: str) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        node = m["nodes"][model_id(name)]
        node["original_file_path"] = f"{folder}/{name}.sql"
        node["path"] = node["original_file_path"].removeprefix("models/")
        node["patch_path"] = f"{PROJECT}://{folder}/_models.yml"
    return apply


def move_properties(name: str, properties: str) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        m["nodes"][model_id(name)]["patch_path"] = f"{PROJECT}://{properties}"
    return apply


def drop_source_freshness(table: str, shape: str) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        source = m["sources"][f"source.{PROJECT}.magento.{table}"]
        empty = {"warn_after": {"count": None, "period": None},
                 "error_after": {"count": None, "period": None}, "filter": None}
        source["freshness"] = None if shape == "null" else empty
        source["config"]["freshness"] = source["freshness"]
    return apply


def drop_source_description(table: str) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        m["sources"][f"source.{PROJECT}.magento.{table}"]["description"] = ""
    return apply


def exposure(m: dict, name: str) -> dict:
    return m["exposures"][f"exposure.{PROJECT}.{name}"]


def drop_hightouch_key(name: str, key: str | None) -> Callable[[dict], None]:
    """Remove meta.hightouch (key None) or one of its keys."""
    def apply(m: dict) -> None:
        node = exposure(m, name)
        for meta in (node["meta"], node["config"]["meta"]):
            if key is None:
                del meta["hightouch"]
            else:
                del meta["hightouch"][key]
    return apply


def expose_protected_model(name: str, model: str) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        node = exposure(m, name)
        node["depends_on"]["nodes"].append(model_id(model))
        node["refs"].append({"name": model, "package": None, "version": None})
    return apply


def drop_exposure_field(name: str, field: str) -> Callable[[dict], None]:
    def apply(m: dict) -> None:
        node = exposure(m, name)
        if field == "owner":
            node["owner"] = {"name": None, "email": None}
        else:
            node[field] = ""
    return apply
