"""Config: the shipped file is valid; every kind of mistake is refused with file and key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import format_duration, load_config, parse_duration
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    """A config file in tmp_path, beside a seeds folder with one seed (the default path)."""
    (tmp_path / "seeds").mkdir(exist_ok=True)
    (tmp_path / "seeds" / "one.txt").write_text("A seed article.\n", encoding="utf-8")
    path = tmp_path / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_is_valid_and_names_the_three_topics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    config = load_config(ROOT / "config" / "monitor.toml")
    assert [t.name for t in config.topics] == ["deepseek", "chip-exports", "stargate"]
    assert config.sources, "the shipped config names real sources"
    assert config.database.url == f"sqlite:///{ROOT / 'config' / 'monitor.db'}"
    shipped = sorted(p.name for p in config.seeds_dir.glob("*.txt"))
    assert len(shipped) == 2
    shared = ROOT.parent / "shared" / "seeds"
    if shared.is_dir():  # the project's source of truth, beside the checkout
        assert shipped == sorted(p.name for p in shared.glob("*.txt"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(minutes=90)),
        (" 500ms ", timedelta(milliseconds=500)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["soon", "", "10", "5 parsecs", "h1"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert parse_duration(format_duration(timedelta(days=2, seconds=5))) == timedelta(
        days=2, seconds=5
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[polling]\ninterval = "soon"\n',
            "monitor.toml: polling.interval: 'soon' is not a duration",
        ),
        ('[polling]\nintervall = "1h"\n', "monitor.toml: polling.intervall: unknown key"),
        ('[fetch]\nconcurrency = "many"\n', "monitor.toml: fetch.concurrency:"),
        ('[fetch]\ntimeout = "fast"\n', "monitor.toml: fetch.timeout: 'fast' is not a duration"),
        ('[polling]\nrecheck = ["1h", "later"]\n', "monitor.toml: polling.recheck[1]: 'later'"),
        (
            '[[topics]]\nname = "x"\n',
            "monitor.toml: topics[0].keywords: a topic needs keywords, a query or like",
        ),
        (
            '[[topics]]\nname = "a"\nkeywords = ["a"]\n[[topics]]\nname = "x"\n'
            'query = "chip* AND (Nvidia OR"\n',
            "monitor.toml: topics[1].query: column 21: the query ends where a term was expected",
        ),
        (
            '[[topics]]\nname = "x"\nquery = "headline:chips"\n',
            "monitor.toml: topics[0].query: column 1: unknown field 'headline'",
        ),
        (
            "[[topics]]\nname = \"x\"\nquery = '''\nchips AND\n  (a NEAR/3 NOT b)'''\n",
            "monitor.toml: topics[0].query: line 2, column 6: NEAR/3 joins terms",
        ),
        (
            '[[topics]]\nname = "x"\nlike = ["no-such-seed"]\n',
            "monitor.toml: topics[0].like[0]: 'no-such-seed' is neither a seed id nor a file",
        ),
        (
            '[[sources]]\nname = "a"\nurl = "ftp://x"\n',
            "monitor.toml: sources[0].url: 'ftp://x' is not an http(s) URL",
        ),
        (
            '[[sources]]\nname = "a"\nkind = "carrier-pigeon"\nurl = "https://x.org/"\n',
            "monitor.toml: sources[0].kind:",
        ),
        (
            '[[sources]]\nname = "a"\nurl = "https://x.org/a"\n'
            '[[sources]]\nname = "a"\nurl = "https://x.org/b"\n',
            "monitor.toml: sources[1].name: duplicate name 'a'",
        ),
        ("[polling\n", "monitor.toml: "),
        (
            '[[sources]]\nname = "a"\nkind = "page"\nurl = "https://x.org/"\n',
            "monitor.toml: sources[0].links: a page source needs a CSS selector",
        ),
        (
            '[[sources]]\nname = "a"\nurl = "https://x.org/"\nlinks = "a"\n',
            "monitor.toml: sources[0].links: only page sources take 'links'",
        ),
        (
            '[[sources]]\nname = "a"\nkind = "page"\nurl = "https://x.org/"\nlinks = "a["\n',
            "monitor.toml: sources[0].links: invalid CSS selector 'a['",
        ),
        (
            '[[sources]]\nname = "a"\nkind = "page"\nurl = "https://x.org/"\nlinks = "a"\n'
            'include = "(unclosed"\n',
            "monitor.toml: sources[0].include: '(unclosed' is not a regular expression",
        ),
        (
            '[[sources]]\nname = "a"\nkind = "sitemap"\nurl = "https://x.org/s.xml"\n'
            'max_age = "recent"\n',
            "monitor.toml: sources[0].max_age: 'recent' is not a duration",
        ),
        ("colour = 1\n", "monitor.toml: colour: unknown key"),
        ('[polling]\ninterval = "0s"\n', "monitor.toml: polling.interval: '0s' must be longer"),
        ('[smtp]\nca_file = "relay-ca.pem"\n', "monitor.toml: smtp.ca_file: no such file: /"),
    ],
)
def test_mistakes_are_refused_with_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 2"):
        load_config(write(tmp_path, "[polling]\ninterval = \n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_paths_are_relative_to_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    monkeypatch.chdir("/")
    config = load_config(write(tmp_path, '[database]\nurl = "sqlite:///data/m.db"\n'))
    assert config.database.url == f"sqlite:///{tmp_path.resolve() / 'data' / 'm.db'}"
    assert config.seeds_dir == tmp_path.resolve() / "seeds"
    (tmp_path / "relay-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    with_ca = load_config(write(tmp_path, '[smtp]\nca_file = "relay-ca.pem"\n'))
    assert with_ca.smtp.ca_file == tmp_path.resolve() / "relay-ca.pem"


def test_database_url_from_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITOR_DATABASE_URL", "postgresql+psycopg://u@db/monitor")
    config = load_config(write(tmp_path, '[database]\nurl = "sqlite:///m.db"\n'))
    assert config.database.url == "postgresql+psycopg://u@db/monitor"
