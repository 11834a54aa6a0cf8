"""Furniture lines and not-the-article pages, decided from extracted paragraphs (pure)."""

from __future__ import annotations

import pytest

from monitor.core.boilerplate import (
    is_furniture,
    is_onward_link,
    not_article_reason,
    without_furniture,
)

NEWS = (
    "The regional transport authority said on Monday that it would add two night buses to the "
    "airport route from January, after a consultation in which most respondents asked for "
    "later departures. "
) * 3


@pytest.mark.parametrize(
    "line",
    [
        "Read more: Ring road congestion costs hauliers £40m a year",
        "Our Standards: The Thomson Reuters Trust Principles.",
        "Lesen Sie auch: Neue Heizzentrale im Hafenviertel geht in Betrieb",
        "Lea también: Impiden ingreso a Nicaragua a reportero",
        "Share this article",
        "Sign up for our Business Briefing newsletter",
        "Follow The Gleaner on Twitter and Instagram",
        "© 2026 Northern Ledger Media. All rights reserved.",
        "Photo: Reuters / M. Holm",
        "Advertisement",
        "Impressum",
        "This site uses cookies. By continuing to browse you agree to our use of cookies.",
        "Wir verwenden Cookies, um Ihnen das beste Nutzererlebnis zu bieten.",
    ],
)
def test_furniture_lines(line: str) -> None:
    assert is_furniture(line)


@pytest.mark.parametrize(
    "line",
    [
        "Subscribers to the council's alert service were told of the closure at 6am.",
        "Werbung nervt. Tracking nervt. Nerven nervt.",  # prose that opens with a label word
        "Share prices fell 4% in early trading.",
        "Updated figures from the statistics office show a rise in rents.",
        "Subscribe " + "and the words go on past any furniture line's length " * 5,
    ],
)
def test_prose_is_kept(line: str) -> None:
    assert not is_furniture(line)
    assert without_furniture([line]) == [line]


def test_a_consent_dialog_is_a_consent_wall() -> None:
    dialog = [
        "We value your privacy",
        "We and our partners use cookies to store and access information on your device.",
        "Accept all",
        "Manage options",
    ]
    assert not_article_reason(dialog) == "consent wall"


def test_a_short_news_brief_about_cookie_rules_is_an_article() -> None:
    brief = [
        "The data protection authority fined the retailer €2m for setting advertising cookies "
        "before visitors gave their consent, the regulator said on Tuesday."
    ]
    assert not_article_reason(brief) is None


def test_paywall_stub_by_markup_or_by_wording() -> None:
    stub = ["When the Orkney test berths opened in 2004, few investors took tidal turbines."]
    assert not_article_reason(stub, free=False) == "paywall stub"
    assert not_article_reason([*stub, "Subscribe to continue reading"]) == "paywall stub"
    assert not_article_reason(stub) is None
    # The whole article in the page's structured data: not a stub, whatever the markup says.
    assert not_article_reason(stub, free=False, structured_body=True) is None


def test_teaser_needs_a_link_onward_and_little_text() -> None:
    lead = ["Drivers on the valley line will walk out on Saturday and Sunday."]
    assert not_article_reason(lead, onward_link=True) == "teaser"
    assert not_article_reason([*lead, "Continue reading on Partner News"]) == "teaser"
    assert not_article_reason(lead) is None
    assert not_article_reason([NEWS, NEWS], onward_link=True) is None
    # A related link is not the way on to this article.
    related = "Read more: Ring road congestion costs hauliers £40m a year, study finds"
    assert not is_onward_link(related)
    assert is_onward_link("Read the full story")


def test_a_long_article_is_never_rejected() -> None:
    text = [NEWS, "Accept all cookies to continue reading. Already a subscriber?", NEWS]
    assert not_article_reason(text, free=False) is None
