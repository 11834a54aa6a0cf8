"""The [digest] and [smtp] sections: what the issue's example means, what is refused."""

from __future__ import annotations

import tomllib
from datetime import time
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from monitor.digest.settings import DigestConfig, RecipientConfig, SmtpConfig

EXAMPLE = """
[digest]
time = "07:00"
timezone = "Europe/London"
send_empty = false
[[digest.recipients]]
email = "desk@example.org"
topics = []                  # empty: every topic
[smtp]
host = "localhost"
port = 587
security = "starttls"        # starttls | ssl | none
username = ""
from = "monitor <monitor@example.org>"
"""


class _File(BaseModel):
    """The two sections as monitor.config.Config holds them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    digest: DigestConfig = DigestConfig()
    smtp: SmtpConfig = SmtpConfig()


def test_the_documented_example() -> None:
    config = _File.model_validate(tomllib.loads(EXAMPLE))
    assert config.digest.local_time == time(7, 0)
    assert config.digest.zone.key == "Europe/London"
    assert config.digest.recipients == [RecipientConfig(email="desk@example.org", topics=[])]
    assert config.smtp.from_ == "monitor <monitor@example.org>"
    assert config.smtp.security == "starttls" and config.smtp.port == 587


def test_defaults_need_no_section() -> None:
    config = _File()
    assert config.digest.recipients == [] and config.digest.timezone == "UTC"
    assert SmtpConfig(from_="a@b.org").from_ == "a@b.org"  # by name as well as by alias


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("digest", {"time": "7:00"}, "HH:MM"),
        ("digest", {"time": "24:00"}, "HH:MM"),
        ("digest", {"timezone": "Europe/Londn"}, "not a time zone"),
        ("digest", {"timezone": "../../etc/passwd"}, "not a time zone"),
        ("digest", {"recipients": [{"email": "desk"}]}, "not an email address"),
        ("digest", {"recipients": [{"email": "a@b.org\r\nBcc: c@d.org"}]}, "line breaks"),
        ("digest", {"recipients": [{"email": "a@b.org"}, {"email": "A@b.org"}]}, "twice"),
        ("digest", {"recipients": [{"email": "a@b.org", "topic": []}]}, "Extra inputs"),
        ("digest", {"send_empty": "sometimes"}, "valid boolean"),
        ("digest", {"hour": 7}, "Extra inputs"),
        ("smtp", {"security": "tls"}, "'starttls', 'ssl' or 'none'"),
        ("smtp", {"port": 0}, "greater than or equal to 1"),
        ("smtp", {"from": "monitor"}, "not an email address"),
        ("smtp", {"from": "a@b.org, c@d.org"}, "not one address"),
        ("smtp", {"from": "m <m@b.org>\r\nBcc: c@d.org"}, "one line"),
        ("smtp", {"host": "mail\r\n.example"}, "control characters"),
        ("smtp", {"password": "x"}, "Extra inputs"),
    ],
)
def test_mistakes_are_refused(section: str, values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _File.model_validate({section: values})


def test_sections_are_frozen() -> None:
    config = DigestConfig()
    with pytest.raises(ValidationError):
        config.time = "08:00"  # type: ignore[misc]
