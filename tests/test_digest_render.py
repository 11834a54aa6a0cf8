"""Rendering a digest (pure): subject, both parts, escaping, headers, and a phone-width check."""

from __future__ import annotations

import email
import email.policy
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from monitor.digest.content import (
    ChangedItem,
    Digest,
    Link,
    NewItem,
    Piece,
    RemovedItem,
    TopicSection,
)
from monitor.digest.render import message_id, plain, render, safe_href, subject, to_email
from tests.support.browser import chromium_installed, launch_chromium

SENDER = "monitor <monitor@example.org>"
END = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
LONG_URL = "https://www.example-news-outlet.com/" + "very-long-path-segment-" * 12 + "x.html"


def sample_digest(recipient: str = "desk@example.org") -> Digest:
    """A digest with every kind of item, and the web's worst: markup, long words, URLs."""
    chips = TopicSection(
        topic="chip-exports",
        new=(
            NewItem(
                Link("US widens export controls on AI accelerators", LONG_URL, "Reuters"),
                also=("The Verge", "Ars Technica", "SCMP"),
                also_more=2,
            ),
            NewItem(Link("<script>alert(1)</script> & friends", "https://a.example/1", "Wire")),
            NewItem(Link("Nvidia shares " + "A" * 90, "javascript:alert(1)", "evil.example")),
        ),
        changed=(
            ChangedItem(
                Link("US tightens export controls on AI chips", "https://b.example/2", "FT"),
                change_class="headline",
                title_diff=(
                    Piece("delete", "Commerce Department"),
                    Piece("insert", "US"),
                    Piece("equal", " tightens export controls on "),
                    Piece("delete", "advanced "),
                    Piece("equal", "AI chips"),
                ),
                snippets=(
                    (
                        Piece("ellipsis", "… "),
                        Piece("equal", "licences for shipments to data centres in "),
                        Piece("delete", "a longer list of"),
                        Piece("insert", "forty-three"),
                        Piece("equal", " countries, according to the Federal Register."),
                    ),
                    (Piece("insert", "<b>not bold</b>"),),
                ),
                more_snippets=1,
            ),
        ),
        removed=(RemovedItem(Link("Chipmaker denies report", "https://c.example/3", "SCMP")),),
    )
    deepseek = TopicSection(
        topic="deepseek",
        new=(NewItem(Link("DeepSeek releases a new model", "https://d.example/4", "TechCrunch")),),
    )
    return Digest(
        recipient=recipient,
        period_start=datetime(2026, 11, 21, 7, 0, tzinfo=UTC),
        period_end=END,
        timezone="Europe/London",
        sections=(chips, deepseek),
        new_count=4,
        changed_count=1,
        removed_count=1,
    )


def sample_message() -> EmailMessage:
    digest = sample_digest()
    return to_email(
        render(digest),
        sender=SENDER,
        recipient=digest.recipient,
        message_id=message_id(digest.recipient, END, SENDER),
        date=END,
    )


def test_subject_has_counts_and_the_local_day_never_a_headline() -> None:
    digest = sample_digest()
    assert subject(digest) == "monitor: 4 new, 1 changed, 1 removed — 22 Nov 2026"
    empty = Digest("d@x.org", END, END, "Asia/Tokyo", (), 0, 0, 0)
    assert subject(empty) == "monitor: nothing new — 22 Nov 2026"


def test_text_part_lists_groups_changes_and_removals() -> None:
    text = render(sample_digest()).text
    assert "4 new, 1 changed, 1 removed" in text
    assert "Sat 21 Nov 2026 07:00 – Sun 22 Nov 2026 07:00 (Europe/London)" in text
    assert "== chip-exports ==" in text and "== deepseek ==" in text
    assert "also: The Verge, Ars Technica, SCMP, +2" in text
    assert "* [headline] US tightens export controls on AI chips" in text
    assert "Headline: [-Commerce Department-] {+US+} tightens export controls on" in text
    assert "> … licences for shipments to data centres in [-a longer list of-] {+forty-three+}" in (
        text
    )
    assert "(+1 more changes)" in text
    assert "Removed\n* Chipmaker denies report" in text
    assert "<script>alert(1)</script> & friends" in text  # plain text: literal, not HTML
    assert LONG_URL in text


def test_html_part_escapes_web_text_and_keeps_only_http_links() -> None:
    page = render(sample_digest()).html
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in page
    assert "&lt;b&gt;not bold&lt;/b&gt;</ins>" in page
    assert "javascript:" not in page
    assert f'href="{html.escape(LONG_URL)}"' in page
    assert "<del " in page and ">a longer list of</del>" in page
    assert ">forty-three</ins>" in page
    assert "<style" not in page  # inline styles only: mail clients drop style blocks
    widths = [int(w) for w in re.findall(r"(?<![-\w])width:\s*(\d+)px", page)]
    assert all(width <= 400 for width in widths)
    assert "max-width:640px" in page and "overflow-wrap:anywhere" in page


def test_safe_href() -> None:
    assert safe_href("https://x.org/a") == "https://x.org/a"
    assert safe_href("HTTP://x.org/") == "HTTP://x.org/"
    for url in ("javascript:alert(1)", "data:text/html,x", "vbscript:x", "//x.org", "x"):
        assert safe_href(url) == ""


def test_message_is_multipart_alternative_with_headers() -> None:
    raw = sample_message().as_bytes(policy=email.policy.SMTP)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["Subject"] == "monitor: 4 new, 1 changed, 1 removed — 22 Nov 2026"
    assert parsed["To"] == "desk@example.org"
    assert parsed["From"] == SENDER
    assert parsed["Date"] == "Sun, 22 Nov 2026 07:00:00 +0000"
    assert re.fullmatch(
        r"<digest\.20261122T0700Z\.[0-9a-f]{16}@example\.org>", parsed["Message-ID"]
    )
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78  # quoted-printable, no long lines


def test_message_id_is_stable_per_recipient_and_period() -> None:
    first = message_id("desk@example.org", END, SENDER)
    assert first == message_id("DESK@example.org", END, SENDER)
    assert first != message_id("other@example.org", END, SENDER)


@pytest.mark.parametrize(
    ("recipient", "sender"),
    [
        ("desk@example.org\r\nBcc: spy@evil.example", SENDER),
        ("desk@example.org\n", SENDER),
        ("desk@example.org", "monitor <monitor@example.org>\r\nBcc: spy@evil.example"),
        ("desk@example.org", "monitor\n <monitor@example.org>"),
    ],
)
def test_line_breaks_in_addresses_are_refused(recipient: str, sender: str) -> None:
    with pytest.raises(ValueError, match="line"):
        to_email(
            render(sample_digest()),
            sender=sender,
            recipient=recipient,
            message_id="<x@example.org>",
            date=END,
        )


def test_plain_marks() -> None:
    assert plain((Piece("equal", "a "), Piece("delete", "b"), Piece("insert", "c"))) == (
        "a [-b-] {+c+}"
    )


# ---------------------------------------------------------------- in a real browser

PHONE = 400  # CSS pixels: a narrow phone held upright

# What overflows the phone's width: the page's scroll width, every element whose right edge
# lies past the viewport (tag and the start of its text), and the height of the content.
_MEASURE = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.getBoundingClientRect().right > width + 0.5) {
      wide.push(el.tagName.toLowerCase() + " " + (el.textContent || "").trim().slice(0, 40));
    }
  }
  return {
    scrollWidth: document.documentElement.scrollWidth,
    height: Math.ceil(document.body.getBoundingClientRect().height),
    wide: wide,
  };
}"""


@dataclass(frozen=True)
class Layout:
    """How a page lays out at phone width, as a reader's screen would show it."""

    scroll_width: int  # wider than PHONE: the reader scrolls sideways
    height: int
    wide: tuple[str, ...]  # elements that stick out past the right edge


def phone_page(browser: Browser, page_html: str) -> Page:
    page = browser.new_page(viewport={"width": PHONE, "height": 800})
    page.set_content(page_html, wait_until="load")
    return page


def measure(browser: Browser, page_html: str) -> Layout:
    page = phone_page(browser, page_html)
    try:
        found = page.evaluate(_MEASURE)
    finally:
        page.close()
    return Layout(int(found["scrollWidth"]), int(found["height"]), tuple(found["wide"]))


def screenshot(browser: Browser, page_html: str, png: Path) -> None:
    """A PHONE-wide picture of the page, as tall as its content."""
    page = phone_page(browser, page_html)
    try:
        page.screenshot(path=png, full_page=True)
    finally:
        page.close()


def test_html_fits_a_phone_screen_in_chromium(browser: Browser) -> None:
    layout = measure(browser, render(sample_digest()).html)
    assert layout.scroll_width <= PHONE, layout
    assert layout.wide == (), f"elements wider than {PHONE}px: {layout.wide}"
    assert layout.height > 600  # it did render the digest


# ---------------------------------------------------------------- the pictures in docs/


def docs_digest() -> Digest:
    """The digest shown in docs/digest.png and docs/digest.txt."""
    chips = TopicSection(
        topic="chip-exports",
        new=(
            NewItem(
                Link(
                    "US widens export controls on AI accelerators to 43 countries",
                    "https://www.reuters.com/technology/us-widens-export-controls-ai-accelerators-2026-11-21/",
                    "Reuters",
                ),
                also=("The Verge", "Ars Technica", "SCMP"),
                also_more=2,
                snippet=(
                    "WASHINGTON (Reuters) - The U.S. Commerce Department on Friday widened its "
                    "export controls on AI accelerators to data centres in 43 countries. "
                    "Exporters will need a licence for each shipment."
                ),
            ),
            NewItem(
                Link(
                    "Nvidia says new rules will not hit this quarter's revenue",
                    "https://www.theregister.com/2026/11/21/nvidia_export_rules/",
                    "The Register",
                ),
                snippet=(
                    "Nvidia said on Friday that the wider export controls would not change its "
                    "revenue forecast for the quarter, as most of the affected shipments had "
                    "already been licensed under the old rules…"
                ),
            ),
        ),
        changed=(
            ChangedItem(
                Link(
                    "US tightens export controls on AI chips",
                    "https://www.ft.com/content/5e1d2c7a-export-controls",
                    "FT",
                ),
                change_class="headline",
                title_diff=(
                    Piece("delete", "Commerce Department"),
                    Piece("insert", "US"),
                    Piece("equal", " tightens export controls on "),
                    Piece("delete", "advanced "),
                    Piece("equal", "AI chips"),
                ),
                snippets=(
                    (
                        Piece("ellipsis", "… "),
                        Piece("equal", "require licences for shipments to data centres in "),
                        Piece("delete", "a longer list of"),
                        Piece("insert", "forty-three"),
                        Piece(
                            "equal", " countries, according to a notice in the Federal Register."
                        ),
                    ),
                    (
                        Piece("equal", "The rule takes effect in "),
                        Piece("delete", "30"),
                        Piece("insert", "45"),
                        Piece("equal", " days."),
                    ),
                ),
            ),
        ),
        removed=(
            RemovedItem(
                Link(
                    "Chipmaker denies report of smuggled accelerators",
                    "https://www.scmp.com/tech/article/3290001/chipmaker-denies-report",
                    "SCMP",
                ),
                first_seen=datetime(2026, 11, 21, 9, 12, tzinfo=UTC),
                removed_at=datetime(2026, 11, 21, 13, 40, tzinfo=UTC),
            ),
        ),
    )
    deepseek = TopicSection(
        topic="deepseek",
        new=(
            NewItem(
                Link(
                    "DeepSeek releases an open model trained for under $6 million",
                    "https://techcrunch.com/2026/11/21/deepseek-open-model/",
                    "TechCrunch",
                ),
                also=("Bing News",),
                snippet=(
                    "DeepSeek released an open-weight model on Saturday that it said was trained "
                    "for less than $6 million, a fraction of what its US rivals spend."
                ),
            ),
        ),
    )
    return Digest(
        recipient="desk@example.org",
        period_start=datetime(2026, 11, 21, 7, 0, tzinfo=UTC),
        period_end=END,
        timezone="Europe/London",
        sections=(chips, deepseek),
        new_count=3,
        changed_count=1,
        removed_count=1,
    )


def write_docs(folder: Path = Path("docs")) -> None:
    """docs/digest.txt, and docs/digest.png when Chromium is there:
    `PYTHONPATH=. .venv/bin/python -c "import tests.test_digest_render as t; t.write_docs()"`"""
    rendered = render(docs_digest())
    folder.mkdir(exist_ok=True)
    (folder / "digest.txt").write_text(
        f"Subject: {rendered.subject}\n\n{rendered.text}", encoding="utf-8"
    )
    if chromium_installed():
        with launch_chromium() as browser:
            screenshot(browser, rendered.html, (folder / "digest.png").resolve())


def test_docs_digest_fits_a_phone_screen(browser: Browser) -> None:
    layout = measure(browser, render(docs_digest()).html)
    assert layout.scroll_width <= PHONE and layout.wide == (), layout


# ---------------------------------------------------------------- diff snippets (pure)


def _snippets(old: str, new: str) -> list[str]:
    from monitor.core.diff import VersionText, compute_diff
    from monitor.digest.snippets import text_snippets

    snippets, more = text_snippets(
        compute_diff(VersionText("", old), VersionText("", new)).segments
    )
    return [plain(snippet) for snippet in snippets] + ([f"+{more}"] if more else [])


ARTICLE = (
    "Officials said the advanced AI chip rules would apply. The rule takes effect in 30 days."
    "\n\nA paragraph nobody edits.\n\nThe last paragraph. It ends here."
)


def test_snippets_are_the_changed_sentences() -> None:
    assert _snippets(ARTICLE, ARTICLE.replace("advanced ", "")) == [
        "Officials said the [-advanced-] AI chip rules would apply."
    ]
    assert _snippets(ARTICLE, ARTICLE.replace("30", "45").replace("ends", "stops")) == [
        "The rule takes effect in [-30-] {+45+} days.",
        "It [-ends-] {+stops+} here.",
    ]
    assert _snippets(ARTICLE, ARTICLE + "\n\nA new paragraph.") == ["{+A new paragraph.+}"]
    assert _snippets(ARTICLE, "Breaking. " + ARTICLE) == ["{+Breaking.+}"]


def test_snippets_are_short() -> None:
    long_sentence = " ".join(f"w{i}" for i in range(60))
    old = f"{long_sentence} target {long_sentence}."
    (snippet,) = _snippets(old, old.replace("target", "goal"))
    assert snippet.startswith("… w40") and snippet.endswith("w19 …")
    (inserted,) = _snippets(ARTICLE, ARTICLE.replace("apply.", "apply " + "and more " * 50 + "."))
    assert inserted.endswith(" …+}.") and inserted.count("more") == 30
    many = ARTICLE.replace("advanced", "new").replace("30", "45").replace("ends", "stops")
    many = many.replace("nobody edits", "somebody edited")
    assert len(_snippets(ARTICLE, many)) == 4 and _snippets(ARTICLE, many)[-1] == "+1"


# ---------------------------------------------------------------- lead snippets (pure)


def test_lead_snippet_is_one_or_two_whole_sentences() -> None:
    from monitor.digest.snippets import lead_snippet

    two = "Mr. Smith of Acme Inc. met U.S. officials on Jan. 5 in Washington. They agreed. Then."
    assert (
        lead_snippet(two)
        == "Mr. Smith of Acme Inc. met U.S. officials on Jan. 5 in Washington. They agreed."
    )
    one = "A first sentence that is already " + "quite long, " * 16 + "ends here. A second one."
    assert lead_snippet(one) == one.removesuffix(" A second one.")  # no room for the second
    assert lead_snippet("The plant draws 1.2 gigawatts of power from the grid, it said.") == (
        "The plant draws 1.2 gigawatts of power from the grid, it said."
    )


def test_lead_snippet_leaves_out_page_furniture() -> None:
    from monitor.digest.snippets import lead_snippet

    text = (
        "Chip rules widen\n\nBy Jane Doe\n\nPhoto: Reuters\n\n"
        "Sign up for our newsletter to get the day's top technology stories first.\n\n"
        "WASHINGTON (Wire) - The rules were widened on Tuesday to cover many more chips."
    )
    assert lead_snippet(text, "Chip rules widen") == (
        "WASHINGTON (Wire) - The rules were widened on Tuesday to cover many more chips."
    )
    assert lead_snippet("") == "" and lead_snippet("Advertisement\n\nBy Jane Doe") == ""
