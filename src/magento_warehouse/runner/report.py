"""What the runner prints: the dry run's plan, the change check's verdict, the syncs' summary."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Sequence

from dbt.contracts.graph.manifest import Manifest

from magento_warehouse.runner import change_check
from magento_warehouse.runner.dbt_phase import SyncTarget, is_built, node_name
from magento_warehouse.runner.errors import EXIT_USAGE

if TYPE_CHECKING:
    from magento_warehouse.runner.hightouch_phase import SyncOutcome


def one_line(text: str) -> str:
    return " ".join(text.split())


def print_table(header: Sequence[str], rows: list[Sequence[str]]) -> None:
    """Columns separated by two spaces; empty cells shown as '-'."""
    cells = [list(header)] + [[one_line(cell) or "-" for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def print_summary(outcomes: list[SyncOutcome]) -> None:
    print("\nHightouch syncs:")
    print_table(("exposure", "sync id", "upstream", "sync", "run id", "rows", "message"),
                [(o.target.exposure, o.target.sync_id, o.upstream, o.status, o.run_id or "", o.rows or "", o.message)
                 for o in outcomes])


def print_plan(manifest: Manifest, args: argparse.Namespace, selected: set[str], targets: list[SyncTarget]) -> None:
    """The --dry-run listing: what would be built and which syncs would follow."""
    built = sorted((manifest.nodes[node].resource_type, node_name(node))
                   for node in selected if is_built(manifest, node))
    print(f"Dry run: nothing is built and Hightouch is not called.\n\nSelector {args.selector!r} builds:")
    for resource_type, name in built:
        print(f"  {resource_type} {name}")
    if not targets:
        print("\nNo Hightouch sync would be triggered.")
        return
    print(f"\n{len(targets)} Hightouch sync(s) would be triggered, each only if its upstream models succeed:")
    print_table(("exposure", "sync id", "sync name", "upstream models"),
                [(t.exposure, t.sync_id, t.sync_name, ", ".join(sorted(map(node_name, t.upstream)))) for t in targets])
    if not os.environ.get("HIGHTOUCH_API_KEY", "").strip():
        print(f"\nNote: HIGHTOUCH_API_KEY is not set; a real run would stop with exit code {EXIT_USAGE}.")


def print_changes(manifest: Manifest, selected: set[str], unchanged: set[str]) -> None:
    """Which current-state models this run rebuilds, and which it skips for want of new events."""
    current_state = {m for m in selected if change_check.is_current_state_model(manifest, m)}
    skipped = sorted(node_name(m) for m in current_state & unchanged)
    rebuilt = len(current_state) - len(skipped)
    listed = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
    print(f"current-state models: {rebuilt} with new events, {len(skipped)} skipped (nothing new)"
          + (f": {listed}" if skipped else ""), flush=True)
