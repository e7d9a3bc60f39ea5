"""The fleet benchmark's report: medians, ratios, the markdown page and the chart."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from magento_warehouse.devtools.fleet_projects import Fleet, project_cycle_label


FULL_PARSE, PARTIAL_PARSE, NO_OP, CHANGED = "full parse", "partial parse", "cycle, nothing new", "cycle, 10% changed"


FIRST_BUILD = "first build (once)"


CYCLES = (FIRST_BUILD, NO_OP, CHANGED)


ROWS = (FULL_PARSE, PARTIAL_PARSE, NO_OP, CHANGED, FIRST_BUILD)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(project: Fleet, baseline: Fleet, what: str) -> float:
    return median(project.times[what]) / median(baseline.times[what])


def machine_facts() -> list[str]:
    return [
        f"date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}",
        f"Python {platform.python_version()}, dbt-core {version('dbt-core')}, dbt-duckdb {version('dbt-duckdb')}, "
        f"duckdb {version('duckdb')}",
    ]


def markdown(project: Fleet, baseline: Fleet, args: argparse.Namespace, changed: int) -> str:
    lines = [
        "# Fleet benchmark",
        "",
        f"`make bench` (or `make bench FLEET={args.fleet}`) writes this file with `scripts/bench_fleet.py`.",
        "",
        f"- **{args.fleet} change logs** of {args.events:,} events each (a small Magento table: 7 columns and",
        "  Streamkap's 4), one DuckDB file, dbt with "
        f"**{args.threads} threads**.",
        f"- **project**: {args.fleet} one-line `cdc_current_state` models with this project's macros and",
        "  `dbt_project.yml`; its cycle is the few-minute job's command,",
        f"  `{' '.join(project_cycle_label())}`.",
        f"- **baseline**: {args.fleet} plain dbt incremental models (`incremental_strategy='merge'`, "
        "`unique_key='entity_id'`,",
        "  events newer than the target's newest, latest per key with `qualify`); its cycle is `dbt run`.",
        f"- **10% changed**: {args.new_events} new events appended to each of {changed} change logs before the cycle.",
        f"- Medians of {args.repeat} runs in seconds, wall time of each command in its own process",
        "  (process start and dbt's import included); the two fleets' runs interleaved. The ratio",
        "  is project / baseline; lower is better for the project.",
        "",
        "| measured | project (s) | baseline (s) | project / baseline | project: dbt run/build (s) "
        "| baseline: dbt run/build (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for what in ROWS:
        cells = [what, f"{median(project.times[what]):.2f}", f"{median(baseline.times[what]):.2f}",
                 f"{ratio(project, baseline, what):.2f}"]
        for fleet in (project, baseline):
            inside = fleet.dbt_seconds.get(what)
            cells.append(f"{median(inside):.2f}" if inside else "")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "\"dbt run/build\" is `elapsed_time` of the cycle's `run_results.json`: the time `dbt run` (baseline)",
        "or `dbt build` (project) spent running the selected nodes, hooks included (0 when the cycle built",
        "nothing). The rest of a cycle's wall time is process start, dbt's import, parsing and, for the",
        "project, the selector's answer (`dbt ls`) and the query that finds which change logs grew; the",
        "project's runner keeps the parsed manifest and the selector's answer while the project is unchanged.",
        "",
        *[f"- {fact}" for fact in machine_facts()],
        "",
        "![Fleet benchmark](fleet.png)",
        "",
    ]
    return "\n".join(lines)


def plot(project: Fleet, baseline: Fleet, args: argparse.Namespace, path: Path) -> None:
    """Horizontal bars of the medians, the two fleets side by side, the ratio under each label."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    positions = range(len(ROWS))
    height = 0.38
    figure, axes = plt.subplots(figsize=(9, 5))
    for offset, fleet, colour in ((-height / 2, project, "#1f77b4"), (height / 2, baseline, "#aaaaaa")):
        values = [median(fleet.times[what]) for what in ROWS]
        bars = axes.barh([p + offset for p in positions], values, height, label=fleet.name, color=colour)
        axes.bar_label(bars, labels=[f"{v:.1f}s" for v in values], padding=3, fontsize=8)
    axes.set_yticks(list(positions), [f"{what}\nproject / baseline {ratio(project, baseline, what):.2f}"
                                      for what in ROWS], fontsize=9)
    axes.invert_yaxis()
    axes.set_xlabel(f"seconds, median of {args.repeat} runs (first build: one run)")
    axes.set_title(f"{args.fleet} current-state models vs {args.fleet} plain dbt incremental models\n"
                   f"{args.events:,} events per change log, {args.threads} dbt threads, "
                   f"{os.cpu_count()} cores", fontsize=10)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    axes.margins(x=0.12)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
