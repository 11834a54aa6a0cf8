"""Files of the checkout the tests share, and seed folders for test configs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SEEDS = ROOT / "config" / "seeds"
"""The seed articles `make run` uses."""

UNRELATED_SEED = (
    "The harbour city's council voted on Monday to keep its night trams running through the "
    "winter, after a petition signed by more than twelve thousand residents asked it to."
)


def unrelated_seeds(folder: Path) -> Path:
    """folder/seeds with one seed no test article copies: a config must name a folder with
    seeds, and tests that are not about seeds should not see their stories folded."""
    seeds = folder / "seeds"
    seeds.mkdir(parents=True, exist_ok=True)
    (seeds / "unrelated.txt").write_text(UNRELATED_SEED + "\n", encoding="utf-8")
    return seeds
