"""The README is the user's manual: every command and config key it must mention, it does."""

from __future__ import annotations

from pathlib import Path

import typer

from monitor.cli import cli
from monitor.config import Config

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def command_names(app: typer.Typer, prefix: str = "") -> list[str]:
    names = [
        f"{prefix}{c.name or c.callback.__name__}" for c in app.registered_commands if c.callback
    ]
    for group in app.registered_groups:
        if group.typer_instance is not None:
            names += command_names(group.typer_instance, f"{prefix}{group.name} ")
    return names


def test_every_command_is_documented() -> None:
    names = command_names(cli)
    assert {"poll", "list", "show", "diff", "run", "db upgrade", "extract"} <= set(names)
    missing = [name for name in names if f"monitor {name}" not in README]
    assert missing == []


def documented(section: str, key: str) -> bool:
    """`section.key` (or `section.key[]…`) written out, or `key` on a row naming `section.`."""
    if f"`{section}.{key}`" in README or f"`{section}.{key}[]" in README:
        return True
    return any(f"`{section}." in line and f"`{key}`" in line for line in README.splitlines())


def test_every_config_section_and_key_is_documented() -> None:
    missing = []
    for section, field in Config.model_fields.items():
        if field.exclude:
            continue
        model = field.annotation
        keys = getattr(model, "model_fields", None)
        if keys is None:  # lists of topics and sources
            continue
        for key, key_field in keys.items():
            name = key_field.alias or key
            if not documented(section, name):
                missing.append(f"{section}.{name}")
    assert missing == []
