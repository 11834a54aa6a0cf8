"""Change classes (pure): what kind of edit a new version is."""

from __future__ import annotations

import pytest

from monitor.core.changes import classify, is_removal
from monitor.core.diff import VersionText, compute_diff

TEXT = (
    "The Commerce Department announced new export controls on Wednesday.\n\n"
    "The rules cover a wider range of accelerators and require licences for shipments "
    "to data centres in a longer list of countries.\n\n"
    "Chipmakers said they were still studying the text, which runs to 200 pages."
)
TITLE = "Commerce tightens export controls on AI chips"


def class_of(new_title: str, new_text: str) -> str:
    old = VersionText(title=TITLE, text=TEXT)
    new = VersionText(title=new_title, text=new_text)
    return classify(compute_diff(old, new), TITLE, new_title, TEXT)


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("US tightens export controls on AI chips", TEXT, "headline"),
        (TITLE.upper(), TEXT, "minor"),
        (TITLE, TEXT.replace("Wednesday.", "Wednesday!"), "minor"),
        (TITLE, TEXT.replace("accelerators", "acclerators"), "minor"),  # a typo, 1 character
        (TITLE, TEXT.replace("200 pages", "210 pages"), "edit"),  # a number is never minor
        (TITLE, TEXT.replace("a longer list of", "forty-three"), "edit"),
        (TITLE, TEXT.replace("Chipmakers said they were still studying the text", "X"), "edit"),
        (
            "US tightens export controls on AI chips",
            "Officials declined to comment on the new rules.\n\nMore details will follow.",
            "major",
        ),
        (TITLE, TEXT + "\n\n" + TEXT + "\n\n" + TEXT, "major"),
    ],
)
def test_classes(title: str, text: str, expected: str) -> None:
    assert class_of(title, text) == expected


@pytest.mark.parametrize(
    ("status", "final_url", "removed"),
    [
        (404, None, True),
        (410, None, True),
        (500, None, False),
        (200, "https://x.org/", True),
        (200, "https://x.org/index.html", True),
        (200, "https://x.org/news/story-2", False),
        (200, "https://x.org/news/story", False),
    ],
)
def test_removal(status: int, final_url: str | None, removed: bool) -> None:
    assert is_removal(status, "https://x.org/news/story", final_url) is removed
