"""A pytest plugin: one line per skip reason at the end of a run, and the MONITOR_REQUIRE switch
checked at start (see tests/support/capabilities.py).

pytest's own short summary prints one line per place a test was skipped from, so 47 tests
parametrised over PostgreSQL print 47 identical lines; a reason is what a reader needs, once,
with its count.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.support.capabilities import required

_SUMMARISE_SKIPS = pytest.StashKey[bool]()  # set when this plugin replaced pytest's skip lines


@pytest.hookimpl(trylast=True)  # after the terminal reporter exists
def pytest_configure(config: pytest.Config) -> None:
    """Refuse a mistyped MONITOR_REQUIRE before any test runs, and take the skips out of
    pytest's short summary (`-rs`, part of `-ra`): `pytest_terminal_summary` prints them."""
    try:
        required()
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and "s" in reporter.reportchars:
        reporter.reportchars = reporter.reportchars.replace("s", "")
        config.stash[_SUMMARISE_SKIPS] = True


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The reason a test was skipped, as given to pytest.skip or a skip marker."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def skip_lines(reports: list[pytest.TestReport | pytest.CollectReport]) -> list[str]:
    """'47 tests skipped: <reason>', one line per reason, the most frequent first."""
    counts = Counter(skip_reason(report) for report in reports)
    return [
        f"{count} {'test' if count == 1 else 'tests'} skipped: {reason}"
        for reason, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The skips pytest would have listed, one line per reason."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped or not terminalreporter.config.stash.get(_SUMMARISE_SKIPS, False):
        return
    terminalreporter.write_sep("=", "skipped, by reason")
    for line in skip_lines(skipped):
        terminalreporter.write_line(line)
