"""What a test needs from the machine, and what happens when the machine lacks it.

A developer without Chromium, PostgreSQL or systemd-analyze gets a skip with the reason. CI
names what it made available in MONITOR_REQUIRE (comma-separated, see .ci/run); a test that
would skip for one of those fails instead, so a broken install step cannot hide behind a green
run.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_ENV = "MONITOR_REQUIRE"
CAPABILITIES = {
    "chromium": "Debian's chromium at /usr/bin/chromium (the digest layout test)",
    "postgres": "a PostgreSQL server named by MONITOR_TEST_DATABASE_URL",
    "systemd": "systemd-analyze 250 or later (the systemd unit checks)",
    "openssl": "the openssl command (the TLS tests' certificates)",
    "corpora": "the shared page corpora at ../shared/corpora/ beside the checkout (extraction)",
}


def required() -> frozenset[str]:
    """The capabilities MONITOR_REQUIRE names; an unknown name is refused, not ignored, so a
    typo in CI cannot turn the switch off."""
    names = {name.strip() for name in os.environ.get(REQUIRE_ENV, "").split(",")}
    names.discard("")
    unknown = sorted(names - CAPABILITIES.keys())
    if unknown:
        raise ValueError(
            f"{REQUIRE_ENV}: unknown {', '.join(unknown)} (known: {', '.join(CAPABILITIES)})"
        )
    return frozenset(names)


def unavailable(capability: str, reason: str) -> NoReturn:
    """Skip the calling test for lack of `capability`, or fail it when MONITOR_REQUIRE names
    that capability: there the skip would hide a test CI is expected to run."""
    assert capability in CAPABILITIES, capability
    if capability in required():
        pytest.fail(f"{reason} (not skipped: {REQUIRE_ENV} includes {capability})", pytrace=False)
    pytest.skip(reason)
