"""What a run of the suite says about its skips, and MONITOR_REQUIRE: checked on a small suite
run by pytest in its own process, as a developer or CI would run it."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITE = """
import pytest

from tests.support.capabilities import unavailable


@pytest.mark.parametrize("n", range(3))
def test_on_postgres(n):
    unavailable("postgres", "PostgreSQL tests need a server")


def test_in_chromium():
    unavailable("chromium", "Chromium is not installed")


def test_plain():
    pass
"""


def run_suite(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, require: str | None
) -> pytest.RunResult:
    pytester.makepyfile(test_suite=SUITE)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    if require is None:
        monkeypatch.delenv("MONITOR_REQUIRE", raising=False)
    else:
        monkeypatch.setenv("MONITOR_REQUIRE", require)
    # -ra as in pyproject.toml: the short summary that would list every skip.
    return pytester.runpytest_subprocess(
        "-p", "tests.support.skips", "-ra", "-p", "no:cacheprovider"
    )


def test_skips_are_one_line_per_reason_with_a_count(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_suite(pytester, monkeypatch, require=None)
    result.assert_outcomes(passed=1, skipped=4)
    lines = result.outlines
    assert lines.count("3 tests skipped: PostgreSQL tests need a server") == 1
    assert lines.count("1 test skipped: Chromium is not installed") == 1
    assert not [line for line in lines if line.startswith("SKIPPED")]


def test_a_required_capability_fails_where_it_would_skip(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_suite(pytester, monkeypatch, require="postgres,systemd")
    result.assert_outcomes(passed=1, skipped=1, failed=3)
    reason = "PostgreSQL tests need a server (not skipped: MONITOR_REQUIRE includes postgres)"
    assert result.outlines.count(reason) == 3  # one line under each failure, no traceback
    assert "1 test skipped: Chromium is not installed" in result.outlines
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_an_unknown_capability_is_refused_before_any_test_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_suite(pytester, monkeypatch, require="chromium,postgresql")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.errlines if line] == [
        "ERROR: MONITOR_REQUIRE: unknown postgresql "
        "(known: chromium, postgres, systemd, openssl, corpora)"
    ]
