"""`python -m bench --quick` runs end to end and prints its table (numbers are not judged)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)  # a fresh clone installs urlwatch for the peers bench first
def test_quick_benchmark_prints_every_row() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split()[:4] == ["name", "metric", "monitor", "baseline"] for line in lines)
    assert any(line.startswith("poll pass, feeds changed (200)") for line in lines)
    assert any(line.startswith("poll pass, not modified (304)") for line in lines)
    assert any(line.startswith("start-up, monitor list --json") for line in lines)
