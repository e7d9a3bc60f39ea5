"""The conventions in dbt-bouncer.yml hold on the project, and each one catches its breach.

The project is parsed once; every case copies the manifest, breaks one convention the
way a contributor would (a rename, a dropped description or test, a source read from
staging...), runs the dbt-bouncer CLI on it and expects exactly the rules it breaks to
fail, naming the resource. Every entry of the config must fail on some case.
"""

from __future__ import annotations

import copy
import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import yaml

from conftest import REPO, parse_project
from manifest_breaches import (
    PROJECT,
    model_id,
    rename,
    drop_model_description,
    drop_column_description,
    drop_tests,
    set_constraints,
    add_column_primary_keys,
    set_access,
    drop_contract,
    add_parent,
    swap_source,
    combine,
    move,
    move_properties,
    drop_source_freshness,
    drop_source_description,
    drop_hightouch_key,
    expose_protected_model,
    drop_exposure_field,
)

CONFIG = REPO / "dbt-bouncer.yml"
EVALUATOR_EXCEPTIONS = REPO / "seeds/dbt_project_evaluator_exceptions.csv"
BOUNCER = Path(sys.executable).with_name("dbt-bouncer")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return parse_project(tmp_path_factory.mktemp("conventions") / "target")


def bounce(manifest: dict, work: Path) -> tuple[int, list[dict]]:
    """Run dbt-bouncer with the project's config on `manifest`; its exit code and failures."""
    artifacts = work / "artifacts"
    artifacts.mkdir(parents=True)
    (artifacts / "manifest.json").write_text(json.dumps(manifest))
    config = yaml.safe_load(CONFIG.read_text())
    config["dbt_artifacts_dir"] = str(artifacts)
    # Relative to the config file, which moves to `work`: point back at the project's checks.
    config["custom_checks_dir"] = str(REPO / config["custom_checks_dir"])
    config_file = work / "dbt-bouncer.yml"
    config_file.write_text(yaml.safe_dump(config))
    output = work / "failures.json"
    run = subprocess.run(
        [str(BOUNCER), "run", "--config-file", str(config_file), "--output-file", str(output),
         "--output-only-failures"],
        capture_output=True, text=True, cwd=work,
    )
    assert output.exists(), run.stdout + run.stderr
    return run.returncode, json.loads(output.read_text())


# The config entries (by index) each breach case made fail, filled in as the cases run.
CAUGHT: dict[str, set[int]] = {}

# check name(s), what is broken, the resource the failure must name, the breach ---------
BREACHES = [
    # A change log may feed only the models named after it: the source rule fails too.
    (("check_model_names", "check_source_feeds_only_its_own_models"), "current-state model without base_magento__",
     "base_magento__sales_order", rename("base_magento__sales_order", "sales_order")),
    ("check_model_names", "staging model without stg_magento__", "stg_magento__orders",
     rename("stg_magento__orders", "magento_orders")),
    # The history model is no longer named after its change log, so the source rule fails too.
    (("check_model_names", "check_source_feeds_only_its_own_models"), "history model without history_magento__",
     "history_magento__sales_order", rename("history_magento__sales_order", "sales_order_history")),
    ("check_model_names", "intermediate model without int_<entity>__",
     "int_products__store_attributes",
     rename("int_products__store_attributes", "product_store_attributes")),
    ("check_model_names", "CRM mart named like a fact", "crm_contacts",
     rename("crm_contacts", "fct_contacts")),
    ("check_model_names", "trading mart without fct_/dim_/rpt_", "rpt_sales_by_hour_store",
     rename("rpt_sales_by_hour_store", "sales_by_hour")),
    ("check_model_directories", "a layer folder outside staging/intermediate/marts", "rpt_stock_levels",
     move("rpt_stock_levels", "models/reports")),
    ("check_model_directories", "a marts folder named by model type", "rpt_stock_levels",
     move("rpt_stock_levels", "models/marts/reports")),
    ("check_model_directories", "a staging folder that is not a source system", "stg_magento__customers",
     move("stg_magento__customers", "models/staging/customers")),
    ("check_model_documented_in_same_directory", "properties in another folder", "dim_products",
     move_properties("dim_products", "models/marts/crm/_crm__models.yml")),
    ("check_model_description_populated", "model without description", "stg_magento__orders",
     drop_model_description("stg_magento__orders")),
    ("check_model_column_description_populated", "public model column without description", "crm_contacts",
     drop_column_description("crm_contacts", "first_name")),
    ("check_source_description_populated", "change log without description", "sales_order",
     drop_source_description("sales_order")),
    ("check_exposure_description_populated", "sync without description", "hightouch_emarsys_contacts_website_1",
     drop_exposure_field("hightouch_emarsys_contacts_website_1", "description")),
    ("check_model_has_unique_test", "one-column grain without unique", "dim_products",
     drop_tests("dim_products", "unique")),
    ("check_model_has_unique_test", "composite grain without unique_combination", "rpt_sales_by_hour_store",
     drop_tests("rpt_sales_by_hour_store", "unique_combination")),
    ("check_model_has_unique_test", "current-state model without unique", "base_magento__sales_order",
     drop_tests("base_magento__sales_order", "unique")),
    ("check_model_has_constraints", "mart without primary_key constraint", "fct_order_lines",
     set_constraints("fct_order_lines", [])),
    ("check_model_single_primary_key", "a composite key as two column primary keys", "rpt_sales_by_hour_store",
     add_column_primary_keys("rpt_sales_by_hour_store", ["store_id", "hour_start_at"])),
    # The sync of a mart that is no longer public breaks the exposure rule as well.
    (("check_model_access", "check_exposure_based_on_non_public_models"), "CRM mart no longer public",
     "crm_new_customers",
     set_access("crm_new_customers", "protected")),
    (("check_model_has_contracts_enforced", "check_model_contract_enforced_for_public_model"),
     "CRM mart without contract", "crm_abandoned_carts", drop_contract("crm_abandoned_carts")),
    ("check_model_contract_enforced_for_public_model", "public model without contract", "dim_products",
     set_access("dim_products", "public")),
    ("check_source_freshness_populated", "change log without freshness (null)", "sales_order",
     drop_source_freshness("sales_order", "null")),
    ("check_source_freshness_populated", "change log without freshness (empty)", "store",
     drop_source_freshness("store", "empty")),
    # A change log read by any other model breaks the source rule as well.
    (("check_lineage_source_cannot_be_used", "check_source_feeds_only_its_own_models"),
     "staging model reading a change log", "stg_magento__orders",
     add_parent("stg_magento__orders", f"source.{PROJECT}.magento.sales_order_item")),
    (("check_lineage_source_cannot_be_used", "check_source_feeds_only_its_own_models"),
     "mart reading a change log", "dim_products",
     add_parent("dim_products", f"source.{PROJECT}.magento.catalog_product_entity")),
    ("check_source_feeds_only_its_own_models", "a change log read by another table's history model",
     "sales_order_item", swap_source("history_magento__sales_order", "sales_order", "sales_order_item")),
    (("check_model_max_upstream_dependencies", "check_source_feeds_only_its_own_models"),
     "current-state model reading two change logs", "base_magento__sales_order",
     add_parent("base_magento__sales_order", f"source.{PROJECT}.magento.sales_order_item")),
    ("check_model_max_upstream_dependencies", "a seventh parent", "crm_abandoned_carts",
     combine(*(add_parent("crm_abandoned_carts", model_id(p)) for p in
               ("stg_magento__customer_groups", "stg_magento__websites")))),
    ("check_model_does_not_rejoin_upstream_concepts", "a rejoin through a single-child model",
     "crm_customer_order_summary",
     combine(add_parent("crm_customer_order_summary", model_id("stg_magento__order_payments")),
             add_parent("crm_customer_order_summary", model_id("base_magento__sales_order_payment")))),
    ("check_model_max_fanout", "a fourth child", "stg_magento__products",
     add_parent("crm_new_customers", model_id("stg_magento__products"))),
    ("check_exposure_has_meta_keys", "sync without meta.hightouch", "hightouch_emarsys_contacts_website_1",
     drop_hightouch_key("hightouch_emarsys_contacts_website_1", None)),
    ("check_exposure_has_meta_keys", "sync without its sync_id", "hightouch_emarsys_abandoned_carts",
     drop_hightouch_key("hightouch_emarsys_abandoned_carts", "sync_id")),
    ("check_exposure_based_on_non_public_models", "sync of a protected model", "hightouch_emarsys_contacts_website_1",
     expose_protected_model("hightouch_emarsys_contacts_website_1", "fct_order_lines")),
    ("check_exposure_has_owner", "sync without owner", "hightouch_emarsys_new_customers_website_2",
     drop_exposure_field("hightouch_emarsys_new_customers_website_2", "owner")),
]


def test_the_project_keeps_its_conventions(manifest: dict, tmp_path: Path) -> None:
    code, failures = bounce(manifest, tmp_path)
    assert failures == [] and code == 0


def checks_of(breach: tuple) -> set[str]:
    return {breach[0]} if isinstance(breach[0], str) else set(breach[0])


@pytest.mark.parametrize(("checks", "breach", "resource", "change"), BREACHES, ids=[b[1] for b in BREACHES])
def test_a_broken_copy_fails_on_the_rule(manifest: dict, tmp_path: Path, checks: str | tuple, breach: str,
                                         resource: str, change: Callable[[dict], None]) -> None:
    broken = copy.deepcopy(manifest)
    change(broken)
    code, failures = bounce(broken, tmp_path)
    assert code != 0
    failed_checks = {f["check_run_id"].split(":")[0] for f in failures}
    assert failed_checks == checks_of((checks,)), failures
    CAUGHT[breach] = {int(f["check_run_id"].split(":")[1]) for f in failures}
    assert any(resource in f["failure_message"] or f["check_run_id"].endswith(f":{resource}")
               for f in failures), failures


def test_public_model_rules_spare_the_other_models(manifest: dict, tmp_path: Path) -> None:
    """Column descriptions and contracts are required of public models only."""
    relaxed = copy.deepcopy(manifest)
    drop_column_description("fct_order_lines", "order_status")(relaxed)
    code, failures = bounce(relaxed, tmp_path)
    assert failures == [] and code == 0


def test_recorded_decisions_stay_allowed(manifest: dict) -> None:
    """The evaluator's findings kept as decisions are where the config says they are."""
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    children: dict[str, list[str]] = {}
    for node in models.values():
        for parent in node["depends_on"]["nodes"]:
            children.setdefault(parent.split(".")[-1], []).append(node["name"])
    # Too many joins: the two models the config exempts, and only those, have 7 or more parents.
    assert sorted(n for n, node in models.items() if len(node["depends_on"]["nodes"]) >= 7) == [
        "crm_contacts", "int_products__store_attributes"]
    # Fanout: the two staging models and the CRM email index exempted feed more than 3 models.
    assert sorted(n for n in models if len(children.get(n, [])) > 3) == [
        "int_crm__email_keys", "stg_magento__orders", "stg_magento__stores"]
    # Naming and directories: crm_ and rpt_ models exist where the config allows them.
    assert {n for n in models if n.startswith("crm_")} == {
        n for n, node in models.items() if node["original_file_path"].startswith("models/marts/crm/")}
    assert all(node["original_file_path"].startswith("models/marts/trading/")
               for n, node in models.items() if n.startswith("rpt_"))


def test_every_rule_is_shown_to_catch_its_breach() -> None:
    """Every entry of the config (a check may be configured once per layer) failed on a breach."""
    if len(CAUGHT) < len(BREACHES):
        pytest.skip("runs after every breach case")
    configured = yaml.safe_load(CONFIG.read_text())["manifest_checks"]
    caught = set().union(*CAUGHT.values())
    assert [(i, c["name"]) for i, c in enumerate(configured) if i not in caught] == []


def test_every_declared_primary_key_is_the_tested_grain(manifest: dict) -> None:
    """A model's primary_key constraint and its uniqueness test name the same columns."""
    tests_by_model: dict[str, list[dict]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "test" and node.get("test_metadata"):
            tests_by_model.setdefault(node["attached_node"], []).append(node)
    checked = []
    for uid, model in manifest["nodes"].items():
        if model["resource_type"] != "model":
            continue
        keys = [c["columns"] for c in model["constraints"] if c["type"] == "primary_key"]
        keys += [[name] for name, col in model["columns"].items()
                 if any(c["type"] == "primary_key" for c in col["constraints"])]
        if not keys:
            continue
        assert len(keys) == 1, model["name"]
        key = keys[0]
        uniqueness = set()
        for test in tests_by_model.get(uid, []):
            meta = test["test_metadata"]
            if meta["name"] == "unique":
                uniqueness.add((test["column_name"],))
            elif meta["name"] == "unique_combination":
                uniqueness.add(tuple(meta["kwargs"]["columns"]))
        assert tuple(key) in uniqueness, f"{model['name']}: primary key {key} has no uniqueness test"
        checked.append(model["name"])
    marts = [n["name"] for n in manifest["nodes"].values()
             if n["resource_type"] == "model" and n["original_file_path"].startswith("models/marts/")]
    assert set(marts) <= set(checked)


def test_evaluator_exceptions_name_resources_and_the_rule_that_records_them(manifest: dict) -> None:
    """Each finding kept in dbt-project-evaluator's exceptions seed is a resource of the
    project, and its comment names the dbt-bouncer check that records the same decision."""
    configured = {c["name"] for c in yaml.safe_load(CONFIG.read_text())["manifest_checks"]}
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    sources = {f"{s['source_name']}.{s['name']}" for s in manifest["sources"].values()}
    rows = list(csv.DictReader(EVALUATOR_EXCEPTIONS.open()))
    assert rows
    for row in rows:
        # The evaluator compares with `like`: % any run of characters, _ one character.
        like = re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c)
                                  for c in row["id_to_exclude"]) + "$")
        names = sources if row["fct_name"] == "fct_source_fanout" else models
        assert any(like.match(name) for name in names), row
        cited = set(re.findall(r"dbt-bouncer (check_[a-z_]+)", row["comment"]))
        assert cited and cited <= configured, row
