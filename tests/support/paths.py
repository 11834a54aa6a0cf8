"""Files of the checkout the tests share."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SEEDS = ROOT / "config" / "seeds"
"""The seed articles `make run` uses: a test config needs a seeds folder that has seeds."""
