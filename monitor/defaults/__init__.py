"""The starting configuration: a commented monitor.toml and the seed articles.

They ship inside the package and are read through importlib.resources, so that an installed
wheel has them wherever it runs: `monitor init` writes them into a folder of the user's, and
`monitor demo` and the tests read the seeds from here. The checkout's config/ holds the same
files for `make run` (tests/test_package.py keeps the two equal).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from monitor.errors import ConfigError

CONFIG_NAME = "monitor.toml"
SEEDS_NAME = "seeds"


def config_text() -> str:
    """The commented monitor.toml `monitor init` writes."""
    return (files(__name__) / CONFIG_NAME).read_text(encoding="utf-8")


def seeds() -> list[tuple[str, str]]:
    """(file name, text) of each shipped seed article, in name order."""
    folder = files(__name__) / SEEDS_NAME
    return sorted(
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".txt")
    )


def seed_text(stem_prefix: str) -> str:
    """The text of the first shipped seed whose file name starts with `stem_prefix`."""
    for name, text in seeds():
        if name.startswith(stem_prefix):
            return text
    raise FileNotFoundError(stem_prefix)


def write_seeds(folder: Path) -> list[Path]:
    """Copy the shipped seeds into `folder` (created if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in seeds():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def init(folder: Path) -> tuple[Path, list[Path]]:
    """Write monitor.toml and seeds/ into `folder` (`monitor init`): (config, seed files).

    Nothing is written when either already exists: a user's edited config or own seeds are
    never overwritten, nor mixed with ours.
    """
    config = folder / CONFIG_NAME
    seeds_folder = folder / SEEDS_NAME
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder")
    for path in (config, seeds_folder):
        if path.exists() or path.is_symlink():
            raise ConfigError(f"{path} already exists: not overwritten (choose another folder)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        config.write_text(config_text(), encoding="utf-8")
        return config, write_seeds(seeds_folder)
    except OSError as exc:
        raise ConfigError(f"cannot write into {folder}: {exc.strerror or exc}") from None
