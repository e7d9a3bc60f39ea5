"""make bench-lag runs end to end (a short stream) and ends with the line its users read."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_the_lag_benchmark_measures_both_streams_and_reports_the_ratios(tmp_path: Path) -> None:
    output = tmp_path / "lag.md"
    done = subprocess.run([sys.executable, str(REPO / "scripts/bench_lag.py"), "--hours", "0.25",
                           "--events-per-cycle", "200", "--output", str(output)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"lag: rows read per cycle (\d+\.\d\d) of no lag \(worst cycle (\d+\.\d\d)\)", last)
    assert match, last
    # Both streams read rows every measured cycle; the table is written for the docs.
    read = [int(n.replace(",", "")) for n in re.findall(r"cycle \d+/\d+, ([\d,]+) rows read", done.stdout)]
    assert len(read) == 6 and min(read) > 0
    assert "| ratio |" in output.read_text()
