"""The layout shows the flow: the pure core (monitor.core) imports nothing of the edges, so
parsing, extracting and deciding stay functions of their arguments, tested with plain data."""

from __future__ import annotations

import ast
from pathlib import Path

import monitor.core

CORE = Path(monitor.core.__file__).parent
# Ours that the core may use, and the libraries that do I/O, which it must not.
OURS_ALLOWED = ("monitor.core", "monitor.errors")
IO_LIBRARIES = ("httpx", "httpcore", "sqlalchemy", "alembic", "apscheduler", "typer", "smtplib")


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "monitor":
                names.update(f"monitor.{alias.name}" for alias in node.names)
    return names


def test_the_core_imports_nothing_of_the_edges() -> None:
    offending = {
        f"{path.relative_to(CORE.parent)}: {name}"
        for path in CORE.rglob("*.py")
        for name in imports_of(path)
        if (name.startswith("monitor") and not name.startswith(OURS_ALLOWED))
        or name.split(".")[0] in IO_LIBRARIES
    }
    assert sorted(offending) == []


def test_the_core_is_where_the_pure_modules_are() -> None:
    pure = {path.stem for path in CORE.glob("*.py")} - {"__init__"}
    assert {"decide", "extract", "diff", "fingerprint", "topics", "urls"} <= pure
