"""deploy/: the systemd units, the Dockerfile and compose.yaml, checked as far as a machine
without a container engine can: parsed, compared with what the service needs, and verified by
`systemd-analyze` when it is installed."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from monitor.config import parse_duration
from tests.support.capabilities import unavailable

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
VENV_BIN = "/opt/monitor/.venv/bin/monitor"
SHUTDOWN_TIMEOUT = timedelta(seconds=20)  # what `monitor run` allows the pass in flight
UNITS = {  # file → the `monitor` command it runs
    "monitor.service": "run",
    "monitor@.service": "run",
    "monitor-migrate.service": "db upgrade",
}
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "RestrictRealtime": "yes",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
}

Unit = dict[str, dict[str, list[str]]]


def read_unit(name: str) -> Unit:
    """systemd's INI dialect: [Section], Key=value, repeatable keys, # and ; comments."""
    sections: Unit = {}
    current: dict[str, list[str]] | None = None
    for line in (DEPLOY / name).read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith(("#", ";")):
            continue
        assert not text.endswith("\\"), f"{name}: keep one setting per line: {text}"
        if text.startswith("[") and text.endswith("]"):
            current = sections.setdefault(text[1:-1], {})
            continue
        key, sep, value = text.partition("=")
        assert sep and current is not None, f"{name}: not Key=value inside a section: {text}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: Unit, section: str, key: str) -> str:
    values = unit[section].get(key, [])
    assert len(values) == 1, f"[{section}] {key}= should be set once, found {values}"
    return values[0]


@pytest.mark.parametrize("name", UNITS)
def test_units_run_monitor_as_an_unprivileged_hardened_user(name: str) -> None:
    unit = read_unit(name)
    assert set(unit) >= {"Unit", "Service"}
    assert one(unit, "Service", "User") == "monitor"
    assert one(unit, "Service", "WorkingDirectory") == "/opt/monitor"
    assert one(unit, "Service", "ExecStart") == f"{VENV_BIN} {UNITS[name]}"
    assert "MONITOR_CONFIG=/etc/monitor/monitor.toml" in unit["Service"]["Environment"]
    for key, value in HARDENING.items():
        assert one(unit, "Service", key) == value
    lines = (DEPLOY / name).read_text(encoding="utf-8").splitlines()
    for before, line in itertools.pairwise(lines):
        if line.split("=", 1)[0] in HARDENING:
            assert before.startswith("#"), f"{name}: no comment line above {line}"


@pytest.mark.parametrize("name", ["monitor.service", "monitor@.service"])
def test_services_restart_on_failure_and_stop_after_the_pass_in_flight(name: str) -> None:
    service = read_unit(name)["Service"]
    assert service["Restart"] == ["on-failure"]
    assert parse_duration(service["RestartSec"][0]) > timedelta(0)
    assert service["KillSignal"] == ["SIGTERM"]
    assert parse_duration(service["TimeoutStopSec"][0]) > SHUTDOWN_TIMEOUT


def test_the_single_service_migrates_first_and_keeps_sqlite_in_its_state_directory() -> None:
    unit = read_unit("monitor.service")
    assert one(unit, "Service", "ExecStartPre") == f"{VENV_BIN} db upgrade"
    assert one(unit, "Service", "EnvironmentFile") == "-/etc/monitor/monitor.env"
    assert one(unit, "Service", "StateDirectory") == "monitor"
    assert one(unit, "Service", "ReadWritePaths") == "/var/lib/monitor"
    environment = unit["Service"]["Environment"]
    assert "MONITOR_DATABASE_URL=sqlite:////var/lib/monitor/monitor.db" in environment


def test_the_worker_template_is_for_postgresql_and_names_its_instance() -> None:
    unit = read_unit("monitor@.service")
    assert "PostgreSQL" in (DEPLOY / "monitor@.service").read_text(encoding="utf-8")
    assert "%i" in one(unit, "Service", "SyslogIdentifier")
    assert one(unit, "Service", "EnvironmentFile") == "/etc/monitor/monitor.env"  # required
    assert "StateDirectory" not in unit["Service"]
    assert not any("sqlite" in value for value in unit["Service"]["Environment"])
    assert "monitor-migrate.service" in one(unit, "Unit", "After").split()
    assert "monitor-migrate.service" in one(unit, "Unit", "Wants").split()
    assert one(read_unit("monitor-migrate.service"), "Service", "Type") == "oneshot"


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        unavailable("systemd", "systemd-analyze is not installed (Debian: the systemd package)")
    version = subprocess.run([analyze, "--version"], capture_output=True, text=True, check=False)
    match = re.match(r"systemd (\d+)", version.stdout)
    if match is None or int(match[1]) < 250:
        unavailable("systemd", "systemd-analyze verify --root needs systemd 250 or later")
    system_units = next(
        (p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()),
        None,
    )
    if system_units is None:
        unavailable("systemd", "no systemd unit directory to verify against")
    # A root with the system's units, our units and a stand-in for the venv's `monitor`.
    shutil.copytree(system_units, tmp_path / "usr/lib/systemd/system", symlinks=True)
    units = tmp_path / "etc/systemd/system"
    units.mkdir(parents=True)
    for name in UNITS:
        shutil.copy(DEPLOY / name, units / name)
    executable = tmp_path / VENV_BIN.lstrip("/")
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    for name in ("monitor.service", "monitor@1.service", "monitor-migrate.service"):
        result = subprocess.run(
            [analyze, "verify", f"--root={tmp_path}", "--man=no", "--generators=no", name],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        # Unknown keys and bad values are warnings on stderr with exit code 0: refuse them too.
        assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_runs_unprivileged_with_a_healthcheck_and_sigterm() -> None:
    instructions = dockerfile_instructions()
    values = {word: rest for word, rest in instructions}  # the last of each
    assert values["FROM"].startswith("python:3.11-slim")
    assert values["USER"] not in {"root", "0", "0:0"}
    assert "HEALTHCHECK" in values
    assert values["STOPSIGNAL"] == "SIGTERM"
    assert '"/data"' in values["VOLUME"]
    env = " ".join(rest for word, rest in instructions if word == "ENV")
    assert "MONITOR_CONFIG=/app/config/monitor.toml" in env
    assert "RUN monitor init /app/config" in [f"{word} {rest}" for word, rest in instructions]
    assert values["ENTRYPOINT"] == '["docker-entrypoint.sh"]'
    entrypoint = DEPLOY / "docker-entrypoint.sh"
    assert os.access(entrypoint, os.X_OK)
    script = entrypoint.read_text(encoding="utf-8")
    assert "monitor db upgrade" in script and "exec monitor run" in script


def test_dockerfile_installs_the_locked_dependencies_and_a_built_wheel_not_the_tree() -> None:
    instructions = dockerfile_instructions()
    stages = [rest for word, rest in instructions if word == "FROM"]
    assert stages == ["python:3.11-slim AS build", "python:3.11-slim"]
    image = instructions[[word for word, _ in instructions].index("FROM", 1) :]
    build = instructions[: len(instructions) - len(image)]
    assert any(word == "RUN" and "pip wheel" in rest for word, rest in build)
    runs = [rest for word, rest in image if word == "RUN"]
    assert any("pip install" in run and "-r /tmp/requirements.txt" in run for run in runs)
    assert any("from=build" in run and "--no-deps /dist/*.whl" in run for run in runs)
    assert not any(" -e " in run or "pip install ." in run for run in runs)
    copied = [rest for word, rest in image if word == "COPY"]
    assert "requirements/run.txt /tmp/requirements.txt" in copied
    assert not any(source in rest for rest in copied for source in ("monitor/", "config/"))


def test_every_path_the_dockerfile_copies_exists_and_is_not_ignored() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    sources = []
    for word, rest in dockerfile_instructions():
        if word == "COPY" and "--from=" not in rest:
            parts = [p for p in rest.split() if not p.startswith("--")]
            sources += parts[:-1]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source.rstrip("/") in kept, f"{source} is excluded by Dockerfile.dockerignore"


def test_compose_has_postgres_a_one_shot_migration_and_workers() -> None:
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    # Always, without a YAML parser: the three services, in the order they start.
    services_block = text.split("\nservices:\n", 1)[1].split("\nvolumes:\n", 1)[0]
    names = re.findall(r"^  ([\w-]+):$", services_block, re.MULTILINE)
    assert names == ["postgres", "migrate", "monitor"]
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "monitor"}
    postgres, migrate, monitor = (services[n] for n in ("postgres", "migrate", "monitor"))
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(v.split(":")[0] in compose["volumes"] for v in postgres["volumes"])
    assert migrate["command"] == ["monitor", "db", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert monitor["command"] == ["monitor", "run"]
    assert monitor["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert parse_duration(monitor["stop_grace_period"]) > SHUTDOWN_TIMEOUT
    for service in (migrate, monitor):
        url = service["environment"]["MONITOR_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://monitor:")
        assert url.endswith("@postgres:5432/monitor")
        assert "../config:/app/config:ro" in service["volumes"]
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
