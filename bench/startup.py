"""startup: the wall time of the read commands, as a user starts them, against `python -c pass`.

A read command (`list`, `show`, `diff`, `status`) answers from the database and fetches
nothing, so what the user waits for is mostly Python starting and importing: the command must
not pay for the pipeline, the extractor or the HTTP client (tests/test_startup.py guards the
modules; this measures the time). Each command runs as its own process (the `monitor` console
script beside this Python, else `python -c`) on a small SQLite file made before timing: a few
sources and a few dozen stories, `show` and `diff` on a story with two versions. The baseline
is the interpreter starting and doing nothing, `python -c pass`, measured in the same rounds:
the ratio is monitor / baseline, so lower is faster. Each number is the median of N runs
(N = --repeat, else REPEAT; `--quick`: QUICK_REPEAT, no warm-up), the commands interleaved
round by round so that a busy moment of the shared machine hits them all alike; the notes add
each process's CPU time, which such a moment disturbs less. The target is absolute
(TARGET_SECONDS of wall time per command), so the notes say whether each command met it.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from bench import Options, Report, Row, environment_without, toml_string
from monitor.config import CONFIG_ENV, DATABASE_ENV

REPEAT, QUICK_REPEAT = 11, 1
TARGET_SECONDS = 0.3
SOURCES = 6
STORIES = 40
TOPICS = {
    "deepseek": ["DeepSeek", "Liang Wenfeng"],
    "chip-exports": ["export controls", "chip ban", "H20"],
    "stargate": ["Stargate"],
}
SOURCE_NAMES = tuple(f"outlet-{index}" for index in range(SOURCES))
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PARAGRAPH = (
    "The Commerce Department said on Tuesday that licences for shipments of advanced chips "
    "to data centres in {n} countries would be reviewed case by case, a change from the rule "
    "announced in January that set fixed quotas for each country."
)


def monitor_command() -> list[str]:
    """How a user starts monitor: the console script of this environment when installed."""
    script = Path(sys.executable).with_name("monitor")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from monitor.cli import main; main()"]


def write_config(
    folder: Path,
    url: str | None = None,
    topics: Mapping[str, list[str]] = TOPICS,
    sources: Sequence[str] = SOURCE_NAMES,
) -> Path:
    """folder/monitor.toml with its seeds folder and a database: `url`, else a SQLite file
    beside it."""
    seeds = folder / "seeds"
    seeds.mkdir()
    (seeds / "seed-one.txt").write_text(PARAGRAPH.format(n=43) + "\n", encoding="utf-8")
    url = url or "sqlite:///" + str(folder / "small.db")
    lines = ["[database]", f"url = {toml_string(url)}"]
    for name, keywords in topics.items():
        lines += ["[[topics]]", f"name = {toml_string(name)}", f"keywords = {json.dumps(keywords)}"]
    for index, name in enumerate(sources):
        lines += [
            "[[sources]]",
            f"name = {toml_string(name)}",
            f'url = "https://outlet-{index}.example.org/rss.xml"',
        ]
    path = folder / "monitor.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fill_database(config: Path) -> int:
    """Migrate the config's database and store STORIES stories, every third with two versions;
    returns the id of a story with two versions (for `show` and `diff`)."""
    from monitor.app import app_context
    from monitor.store import db
    from monitor.store.models import Story, StoryTopic, Version

    with app_context(config, migrate=False) as app:
        db.upgrade(app.engine)
        app.sync()
        names = list(TOPICS)
        changed = 0
        with app.sessions.begin() as session:
            for index in range(STORIES):
                seen = NOW - timedelta(hours=index % 20)
                versions = 2 if index % 3 == 0 else 1
                story = Story(
                    url=f"https://outlet-{index % SOURCES}.example.org/story/{index}",
                    source_id=index % SOURCES + 1,
                    first_seen_at=seen,
                    title=f"Export controls, story {index}: licences reviewed case by case",
                    status="active",
                    version_count=versions,
                    last_changed_at=seen + timedelta(hours=1) if versions > 1 else None,
                    change_class="minor" if versions > 1 else None,
                    recheck_step=0,
                )
                story.topics = [StoryTopic(topic=names[index % len(names)], terms=["H20"])]
                session.add(story)
                session.flush()
                for number in range(1, versions + 1):
                    text = "\n\n".join(PARAGRAPH.format(n=40 + number + p) for p in range(8))
                    session.add(
                        Version(
                            story_id=story.id,
                            number=number,
                            fetched_at=seen + timedelta(hours=number - 1),
                            title=story.title,
                            text=text,
                            content_hash=f"{index:04d}-{number}",
                            change_class="minor" if number > 1 else None,
                        )
                    )
                if versions > 1:
                    changed = story.id
    return changed


class Sample(NamedTuple):
    wall: float  # seconds, start to exit
    cpu: float  # user + system seconds of the process: less disturbed by a busy machine


def _measure(command: Sequence[str], env: dict[str, str]) -> Sample:
    """One process, start to exit; it must succeed and print something. Its CPU time is
    the difference in this process's children's rusage (no other child runs meanwhile)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or (command[-1] != "pass" and not done.stdout.strip()):
        raise RuntimeError(
            f"startup is broken: {' '.join(command)} exited {done.returncode}: "
            f"{done.stderr.decode(errors='replace').strip()}"
        )
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Sample(wall, cpu)


def run(options: Options) -> Report:
    repeat = options.repeat or (QUICK_REPEAT if options.quick else REPEAT)
    with (
        tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp,
        environment_without(DATABASE_ENV, CONFIG_ENV),
    ):
        config = write_config(Path(tmp))
        story = fill_database(config)
        base = [*monitor_command(), "--config", str(config)]
        commands = {
            "pass": [sys.executable, "-c", "pass"],
            "list --json": [*base, "list", "--json", "--since", "all"],
            "show": [*base, "show", str(story)],
            "diff": [*base, "diff", str(story), "--no-color"],
            "status --json": [*base, "status", "--json"],
        }
        # The .pyc files a user's installation has: the warm-up writes them even where the
        # environment says not to (else each run would compile monitor's sources again).
        env = {**os.environ, "COLUMNS": "100"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        listed = subprocess.run(commands["list --json"], capture_output=True, env=env, check=True)
        if len(json.loads(listed.stdout)) != STORIES:
            raise RuntimeError(f"startup is broken: list did not show the {STORIES} stories")
        for command in [] if options.quick else commands.values():
            _measure(command, env)  # warm-up: the page cache, the .pyc files
        samples: dict[str, list[Sample]] = {name: [] for name in commands}
        for _ in range(repeat):
            for name, command in commands.items():
                samples[name].append(_measure(command, env))
    wall = {name: statistics.median(s.wall for s in values) for name, values in samples.items()}
    cpu = {name: statistics.median(s.cpu for s in values) for name, values in samples.items()}
    reads = [name for name in commands if name != "pass"]
    rows = [Row(f"start-up, monitor {name}", "s", wall[name], wall["pass"]) for name in reads]
    over = [name for name in reads if wall[name] > TARGET_SECONDS]
    notes = [
        f"{name}: wall {wall[name] * 1000:.0f} ms (median of {repeat}, "
        f"{min(s.wall for s in samples[name]) * 1000:.0f}-"
        f"{max(s.wall for s in samples[name]) * 1000:.0f}), CPU {cpu[name] * 1000:.0f} ms"
        for name in commands
    ]
    notes.append(
        f"wall time of a process, start to exit, on a SQLite file of {STORIES} stories, "
        f"`show` and `diff` of a story with two versions ({monitor_command()[0]}); baseline "
        f"`python -c pass`; ratio = monitor / baseline (lower is faster); target: at most "
        f"{TARGET_SECONDS:g} s each, "
        + (f"missed by {', '.join(over)}" if over else "met by every command")
    )
    return Report(rows, notes)
