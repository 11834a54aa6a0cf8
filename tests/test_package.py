"""monitor as a package: what the wheel ships, what it declares, what the lock files pin.

A user installs a wheel (`pipx install ./monitor`) and never sees the checkout: the migrations,
the default config and the seeds must be inside it, every import must be a declared dependency,
and `monitor init` must give them a folder to start from. `make run` and `make test` install
the lock files, so those must pin every declared requirement within pyproject's ranges.
"""

from __future__ import annotations

import ast
import ensurepip
import os
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.request
import venv
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from typer.testing import CliRunner

from monitor.cli import cli
from monitor.store.db import HEAD_REVISION

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DEPENDENCIES = [Requirement(r) for r in PYPROJECT["dependencies"]]
EXTRAS = {k: [Requirement(r) for r in v] for k, v in PYPROJECT["optional-dependencies"].items()}
NOT_IMPORTED = {  # declared, never imported by monitor/ itself, and why
    "sniffio": "httpcore retries a failing import of it on every request",
    "lxml-html-clean": "trafilatura needs it; older pips miss lxml's html_clean extra",
    "psycopg": "SQLAlchemy loads it for a postgresql+psycopg:// URL",
}


# ---------------------------------------------------------------- declared dependencies


def imported_top_level_names(folder: Path) -> dict[str, Path]:
    """Every absolute import's top-level name in `folder`'s modules, with one file using it."""
    names: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found = [node.module]
            else:
                continue
            for name in found:
                names.setdefault(name.partition(".")[0], path.relative_to(ROOT))
    return names


def test_every_third_party_import_of_the_package_is_a_declared_dependency() -> None:
    declared = {canonicalize_name(r.name) for r in [*DEPENDENCIES, *EXTRAS["postgres"]]}
    providers = packages_distributions()
    used: set[str] = set()
    for name, where in imported_top_level_names(ROOT / "monitor").items():
        if name in sys.stdlib_module_names or name in {"__future__", "monitor"}:
            continue
        distributions = {canonicalize_name(d) for d in providers.get(name, [])}
        assert distributions, f"{where} imports {name}, which no installed distribution provides"
        assert distributions & declared, (
            f"{where} imports {name} ({', '.join(sorted(distributions))}): "
            "declare it in pyproject.toml's dependencies, then `make lock`"
        )
        used |= distributions & declared
    unexplained = declared - used - set(NOT_IMPORTED)
    assert not unexplained, f"declared but never imported: {sorted(unexplained)}"


# ---------------------------------------------------------------- the lock files

Pins = dict[str, list[tuple[str, str]]]  # name → [(version, marker)]


def read_lock(name: str) -> Pins:
    """The pins of requirements/NAME: `package==version ; marker`, each with its hashes."""
    text = (ROOT / "requirements" / name).read_text(encoding="utf-8")
    pins: Pins = {}
    for line in text.splitlines():
        match = re.match(
            r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\$", line
        )
        if match:
            pins.setdefault(canonicalize_name(match[1]), []).append((match[2], match[3] or ""))
        else:
            assert not line or line[0] in "# ", f"requirements/{name}: unexpected line {line!r}"
    assert "--hash=sha256:" in text, f"requirements/{name} has no hashes"
    return pins


@pytest.mark.parametrize(
    ("lock", "extras"), [("run.txt", ["postgres"]), ("test.txt", ["postgres", "test"])]
)
def test_the_lock_pins_every_declared_requirement_within_its_range(
    lock: str, extras: list[str]
) -> None:
    pins = read_lock(lock)
    for requirement in [*DEPENDENCIES, *(r for extra in extras for r in EXTRAS[extra])]:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"requirements/{lock} lacks {requirement.name}: run `make lock`"
        for version, marker in pins[name]:
            if not marker or Marker(marker).evaluate():
                assert requirement.specifier.contains(version, prereleases=True), (
                    f"requirements/{lock} pins {name}=={version}, outside {requirement}: "
                    "run `make lock`"
                )
        for extra in requirement.extras:  # psycopg[binary]: the extra's packages are pinned
            assert any(p.startswith(f"{name}-{extra}") for p in pins), f"{requirement}"


def test_the_service_runs_the_versions_the_tests_ran() -> None:
    run, test = read_lock("run.txt"), read_lock("test.txt")
    different = {
        name: (pins, test.get(name)) for name, pins in run.items() if test.get(name) != pins
    }
    assert not different, f"run.txt and test.txt disagree (run `make lock`): {different}"


# ---------------------------------------------------------------- monitor init


def test_init_writes_the_shipped_config_and_seeds_that_the_checkout_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init", "news"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"wrote {Path('news', 'monitor.toml')} and 2 seed articles in {Path('news', 'seeds')}",
        "edit its topics and sources, then start the service:",
        f"  monitor --config {tmp_path / 'news' / 'monitor.toml'} run",
    ]
    written = tmp_path / "news"
    checkout = ROOT / "config"
    assert (written / "monitor.toml").read_text(encoding="utf-8") == (
        checkout / "monitor.toml"
    ).read_text(encoding="utf-8"), "config/monitor.toml and monitor/defaults/ differ"
    seeds = sorted(p.name for p in (written / "seeds").iterdir())
    assert seeds == sorted(p.name for p in (checkout / "seeds").glob("*.txt"))
    for name in seeds:
        assert (written / "seeds" / name).read_bytes() == (checkout / "seeds" / name).read_bytes()
    status = CliRunner().invoke(cli, ["--config", "news/monitor.toml", "sources"])
    assert status.exit_code == 0, status.output
    assert "google-news-deepseek" in status.stdout


def test_init_defaults_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("wrote monitor.toml and 2 seed articles in seeds\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monitor.toml", "seeds"]


@pytest.mark.parametrize("existing", ["monitor.toml", "seeds"])
def test_init_refuses_to_overwrite_with_one_line(tmp_path: Path, existing: str) -> None:
    path = tmp_path / existing
    if existing == "seeds":
        path.mkdir()
        (path / "mine.txt").write_text("my own seed", encoding="utf-8")
    else:
        path.write_text("# my own config\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["init", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"monitor: {path} already exists: not overwritten (choose another folder)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]  # nothing else written
    if existing == "seeds":
        assert [p.name for p in path.iterdir()] == ["mine.txt"]
    else:
        assert path.read_text(encoding="utf-8") == "# my own config\n"


# ---------------------------------------------------------------- the wheel, installed


def _run(*args: str | Path, cwd: Path, timeout: float = 600) -> str:
    """Run a command outside the checkout's environment; its stdout, or fail with its output."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MONITOR_") and k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}
    }
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{args}: exit {result.returncode}\n{result.stdout}{result.stderr}"
    )
    return result.stdout


def _require_an_index() -> None:
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/").rstrip("/")
    try:
        with urllib.request.urlopen(f"{index}/pip/", timeout=15):
            pass
    except OSError as exc:
        pytest.skip(f"no package index at {index} ({exc}): the wheel test installs from it")


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_the_wheel_installs_with_the_pip_python_ships_and_runs_from_anywhere(
    tmp_path: Path,
) -> None:
    """pipx's path: a wheel built from the checkout, installed into a fresh venv with its
    dependencies from the index (not the lock), then used from a folder of the user's."""
    _require_an_index()
    source = tmp_path / "src"  # a clean copy: no stale build/ or egg-info of the checkout
    shutil.copytree(
        ROOT / "monitor", source / "monitor", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python, monitor = env / "bin" / "python", env / "bin" / "monitor"
    stock = _run(python, "-m", "pip", "--version", cwd=tmp_path)
    assert stock.startswith(f"pip {ensurepip.version()} "), stock
    _run(
        python,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "-w",
        tmp_path / "dist",
        source,
        cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "dist").glob("monitor-*.whl")
    _run(python, "-m", "pip", "install", "--quiet", wheel, cwd=tmp_path)

    home = tmp_path / "home"
    home.mkdir()
    where = _run(python, "-c", "import monitor; print(monitor.__file__)", cwd=home)
    assert Path(where.strip()).is_relative_to(env), where

    assert _run(monitor, "init", "news", cwd=home).splitlines()[0] == (
        "wrote news/monitor.toml and 2 seed articles in news/seeds"
    )
    config = str(home / "news" / "monitor.toml")
    upgraded = _run(monitor, "--config", config, "db", "upgrade", cwd=home)
    assert upgraded == f"database schema upgraded from empty to {HEAD_REVISION}\n"
    assert (home / "news" / "monitor.db").is_file()

    demo = _run(monitor, "--config", config, "demo", "--duration", "15", cwd=home, timeout=120)
    assert re.search(r"^\d\d:\d\d \+ new +\[deepseek\] .*story \d+$", demo, re.MULTILINE), demo
    assert "= duplicate of seed 000_9edbe6fc9148524f" in demo, demo
    assert "Demo over after 15 s" in demo, demo
