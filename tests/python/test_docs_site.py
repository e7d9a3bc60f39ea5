"""The generated dbt docs site, opened in a real headless Chromium.

The module builds a fresh DuckDB warehouse with the CDC simulator, runs
`dbt seed`, `dbt run` and `dbt docs generate` on the local default target into a
temporary target folder, serves that folder on 127.0.0.1 and opens it with
Playwright driving Debian's chromium (scripts/install_chromium.sh installs it;
no browser is downloaded). It checks that:

- the lineage graph of `crm_abandoned_carts` draws its Magento sources, the
  current-state models (base_magento__*), the staging models and its Hightouch
  exposure, and nothing outside that lineage;
- the mapping from mart column to Emarsys field can be read in the site: on the
  exposure's page (a table, with the sync's link, destination and schedule, from
  the description scripts/hightouch_exposures.py writes) and in the mart's column
  table;
- the site opens on the project's overview (the `__overview__` doc block,
  models/overview.md), not dbt's default welcome page.

How the drawn graph is read: the docs site is an AngularJS app whose `graph`
service holds the cytoscape instance that paints the DAG on a canvas
(`graph_element`, set when the graph is rendered). After the test clicks the
site's own "View Lineage Graph" and "View Fullscreen" buttons, the app selects
`+crm_abandoned_carts+` and lays the result out; the test then asks that
cytoscape instance which nodes and edges are visible and where they are drawn,
so it checks what the user sees rather than re-reading manifest.json. The
expected lineage (all ancestors through the parent map, the exposures through
the child map) comes from the generated manifest.

The test saves a screenshot of the lineage graph to
docs/images/crm_abandoned_carts_lineage.png on every run; the README shows it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

# The module-scoped fixtures docs_site and browser are used by name.
from docs_site_browser import (  # noqa: F401
    TIMEOUT_MS,
    VIEWPORT,
    Browser,
    Page,
    browser,
    docs_site,
    new_page,
    open_docs_page,
)
from project_graph import ancestors

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "images" / "crm_abandoned_carts_lineage.png"

PROJECT = "magento_warehouse"
MART = f"model.{PROJECT}.crm_abandoned_carts"
EXPOSURE = f"exposure.{PROJECT}.hightouch_emarsys_abandoned_carts"

# The lineage the issue names: Magento sources, their current-state models, the
# staging models and the Hightouch exposure. The test also checks every other
# ancestor of the mart that the manifest lists.
REQUIRED_LINEAGE = {
    f"source.{PROJECT}.magento.quote",
    f"source.{PROJECT}.magento.quote_item",
    f"source.{PROJECT}.magento.sales_order",
    f"source.{PROJECT}.magento.store",
    f"model.{PROJECT}.base_magento__quote",
    f"model.{PROJECT}.base_magento__quote_item",
    f"model.{PROJECT}.base_magento__sales_order",
    f"model.{PROJECT}.base_magento__store",
    f"model.{PROJECT}.stg_magento__quotes",
    f"model.{PROJECT}.stg_magento__quote_items",
    f"model.{PROJECT}.stg_magento__orders",
    f"model.{PROJECT}.stg_magento__stores",
    EXPOSURE,
}
# One path of edges from a Magento table to Emarsys, each drawn as an arrow.
REQUIRED_EDGES = {
    (f"source.{PROJECT}.magento.quote", f"model.{PROJECT}.base_magento__quote"),
    (f"model.{PROJECT}.base_magento__quote", f"model.{PROJECT}.stg_magento__quotes"),
    (f"model.{PROJECT}.stg_magento__quotes", MART),
    (MART, EXPOSURE),
}

# The docs site's graph state, read from its AngularJS `graph` service and the
# cytoscape instance it renders with. Positions are in pixels of the canvas.
READ_GRAPH_JS = """
() => {
    const injector = window.angular && angular.element(document.body).injector();
    if (!injector) { return null; }
    const graph = injector.get('graph');
    const cy = graph.graph_element;
    if (!cy) { return null; }
    const canvas = cy.container().getBoundingClientRect();
    return {
        orientation: graph.orientation,
        width: canvas.width,
        height: canvas.height,
        nodes: cy.nodes(':visible').map(n => {
            const box = n.renderedBoundingBox();
            return {id: n.id(), label: n.data('label'), x1: box.x1, y1: box.y1, x2: box.x2, y2: box.y2};
        }),
        edges: cy.edges(':visible').map(e => [e.source().id(), e.target().id()]),
    };
}
"""



# ---------------------------------------------------------------- lineage


def wait_for_drawn_graph(page: Page, select: str) -> dict[str, Any]:
    """The fullscreen graph once the app has selected `select` and the layout has settled."""
    selector_box = page.locator("input[ng-model='selectorService.selection.dirty.include']")
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    previous = None
    while time.monotonic() < deadline:
        graph = page.evaluate(READ_GRAPH_JS)
        if (
            graph
            and graph["orientation"] == "fullscreen"
            and graph["nodes"]
            and selector_box.input_value() == select
            and graph == previous  # unchanged since the last look: layout and fit are done
        ):
            return graph
        previous = graph
        page.wait_for_timeout(300)
    raise AssertionError(f"the lineage graph of {select} was not drawn within {TIMEOUT_MS} ms: {previous}")


def check_lineage_graph(page: Page, docs_site: dict[str, Any]) -> None:
    manifest = docs_site["manifest"]
    upstream = ancestors(manifest, MART)
    downstream_exposures = {c for c in manifest["child_map"][MART] if c.startswith("exposure.")}
    assert REQUIRED_LINEAGE - {EXPOSURE} <= upstream, "the manifest lost part of the mart's lineage"
    assert EXPOSURE in downstream_exposures

    open_docs_page(page, docs_site, MART, "crm_abandoned_carts")
    # The site's own buttons: the round launcher opens the lineage panel, its
    # expand button the fullscreen graph of +crm_abandoned_carts+.
    page.locator("[ng-click='onLauncherClick()']").click()
    page.locator("a[ng-click='showExpanded()']").click()
    graph = wait_for_drawn_graph(page, "+crm_abandoned_carts+")

    drawn = {node["id"] for node in graph["nodes"]}
    expected = upstream | downstream_exposures | {MART}
    assert REQUIRED_LINEAGE <= drawn, f"missing from the drawn lineage: {sorted(REQUIRED_LINEAGE - drawn)}"
    assert expected <= drawn, f"ancestors not drawn: {sorted(expected - drawn)}"
    # Only the mart's lineage: no other mart, source or exposure (its unit tests may show).
    unrelated = {n for n in drawn - expected if not n.startswith("unit_test.")}
    assert not unrelated, f"drawn but not in the lineage: {sorted(unrelated)}"
    edges = {tuple(edge) for edge in graph["edges"]}
    assert REQUIRED_EDGES <= edges, f"edges not drawn: {sorted(REQUIRED_EDGES - edges)}"
    for node in graph["nodes"]:
        inside = node["x1"] >= 0 and node["y1"] >= 0 and node["x2"] <= graph["width"] and node["y2"] <= graph["height"]
        assert inside, f"{node['id']} is drawn outside the graph canvas: {node}"
    labels = {node["id"]: node["label"] for node in graph["nodes"]}
    assert labels[f"source.{PROJECT}.magento.quote"] == "magento.quote"
    assert labels[EXPOSURE] == manifest["exposures"][EXPOSURE]["label"]

    # For the screenshot, hide the mart's unit tests (resources filter, as a
    # user would) so the lineage reads left to right on one screen.
    page.locator("[data-form-type='resource_types'] select").click()
    page.locator("[data-form-type='resource_types'] li", has_text=re.compile(r"^\s*unit[ _]tests\s*$", re.I)).click()
    page.locator("#submit-graph-selection").click()
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        graph = wait_for_drawn_graph(page, "+crm_abandoned_carts+")
        shown = {node["id"] for node in graph["nodes"]}
        if not any(n.startswith("unit_test.") for n in shown) or time.monotonic() > deadline:
            break
    assert not any(n.startswith("unit_test.") for n in shown), "the resources filter did not hide unit tests"
    assert expected <= shown, f"filtering unit tests hid part of the lineage: {sorted(expected - shown)}"
    page.mouse.move(VIEWPORT["width"] // 2, 5)  # no tooltip over the graph
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.wait_for_timeout(300)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))


# ---------------------------------------------------------------- Emarsys mapping


def emarsys_field_ids(manifest: dict[str, Any]) -> dict[str, int]:
    """The mart's columns with their Emarsys field ids (column meta, vars resolved)."""
    columns = manifest["nodes"][MART]["columns"]
    ids = {name: col["meta"]["emarsys_field_id"] for name, col in columns.items() if "emarsys_field_id" in col["meta"]}
    assert ids, "no column of crm_abandoned_carts carries meta.emarsys_field_id"
    return ids


def check_exposure_page(page: Page, docs_site: dict[str, Any]) -> None:
    """The exposure's description, markdown written by scripts/hightouch_exposures.py, reads as a
    page: a link to the sync, its destination and schedule, and a table of column → Emarsys field."""
    manifest = docs_site["manifest"]
    ids = emarsys_field_ids(manifest)
    exposure = manifest["exposures"][EXPOSURE]
    hightouch = exposure["meta"]["hightouch"]

    open_docs_page(page, docs_site, EXPOSURE, exposure["label"])
    details = page.locator(".app-details").first  # the page's; the second is search results
    link = details.locator(f'a[href="{hightouch["url"]}"]')
    assert link.count() >= 1 and link.first.is_visible(), "no visible link to the sync in Hightouch"
    text = " ".join(details.inner_text().split())
    assert f"destination {hightouch['destination_name']} ({hightouch['destination']})" in text
    assert "Schedule: Manual" in text, "the sync's schedule is not on the page"
    table = details.locator("table").filter(has=page.locator("th", has_text="Emarsys field"))
    assert table.count() == 1, "the field mapping is not drawn as a table"
    rows = {}
    for row in table.locator("tbody tr").all():
        cells = [" ".join(cell.split()) for cell in row.locator("td").all_inner_texts()]
        rows[cells[0].removesuffix(" (sync key)")] = cells[1]
    assert rows == {column: str(field_id) for column, field_id in ids.items()}, rows
    assert table.locator("tbody tr", has_text="(sync key)").inner_text().split()[0] == "email"


def check_mart_column_table(page: Page, docs_site: dict[str, Any]) -> None:
    ids = emarsys_field_ids(docs_site["manifest"])

    open_docs_page(page, docs_site, MART, "crm_abandoned_carts")
    for column, field_id in ids.items():
        name_cell = page.locator("td:first-child").get_by_text(column, exact=True)
        row = page.locator("tr.column-row").filter(has=name_cell)  # `has` is relative to the row
        row.click()
        details = row.locator("xpath=following-sibling::tr[1]")
        details.wait_for(state="visible")
        text = " ".join(details.inner_text().split())
        assert re.search(rf"emarsys_field_id {field_id}\b", text, re.IGNORECASE), (
            f"{column}: the column details do not show emarsys_field_id {field_id}: {text!r}"
        )


# ---------------------------------------------------------------- overview

OVERVIEW = f"doc.{PROJECT}.__overview__"


def check_landing_page(page: Page, docs_site: dict[str, Any]) -> None:
    overview = docs_site["manifest"]["docs"].get(OVERVIEW)
    assert overview, "the project has no __overview__ doc block"
    # The site's root URL, as a reader opens it: the app routes it to its overview.
    page.goto(docs_site["url"])
    page.get_by_role("heading", name="How data flows").wait_for()
    assert "#!/overview" in page.url, page.url
    text = " ".join(page.locator(".app-details").first.inner_text().split())
    assert "Welcome!" not in text, "dbt's default overview is shown"
    # The flow, the jobs and where to start, as the doc block has them.
    for heading in re.findall(r"^## (.+)$", overview["block_contents"], re.MULTILINE):
        assert page.get_by_role("heading", name=heading).is_visible(), f"section {heading!r} not shown"
    for words in ("Streamkap", "cdc_current_state", "Hightouch", "Emarsys", "crm_realtime", "trading", "nightly"):
        assert words in text, f"the overview does not mention {words}"


# ---------------------------------------------------------------- the tests
# Each test opens its own page; require_browser() runs in the test body, so a
# missing chromium or playwright fails the tests (it never skips them).


def test_lineage_graph_reaches_magento_sources_and_hightouch_exposure(
    browser: Browser | None, docs_site: dict[str, Any] | None
) -> None:
    with new_page(browser) as page:
        assert docs_site is not None
        check_lineage_graph(page, docs_site)


def test_exposure_page_shows_emarsys_field_ids(browser: Browser | None, docs_site: dict[str, Any] | None) -> None:
    with new_page(browser) as page:
        assert docs_site is not None
        check_exposure_page(page, docs_site)


def test_mart_column_table_shows_emarsys_field_ids(browser: Browser | None, docs_site: dict[str, Any] | None) -> None:
    with new_page(browser) as page:
        assert docs_site is not None
        check_mart_column_table(page, docs_site)


def test_site_opens_on_the_project_overview(browser: Browser | None, docs_site: dict[str, Any] | None) -> None:
    with new_page(browser) as page:
        assert docs_site is not None
        check_landing_page(page, docs_site)
