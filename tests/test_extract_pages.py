"""Golden pages: each saved page in tests/data/pages/ with a NAME.expected.json next to it is
extracted and held to what a reader of that page would call its article.

`NAME.expected.json`: `url` (the page's address), `title`, `not_article` (null, or the reason
the page is not an article: "consent wall", "paywall stub", "teaser"), `with` (snippets the
text must contain) and `without` (furniture it must not). A regression from a real site
becomes a page and its expectations here, not new test code. bench/extraction.py scores the
same files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.core.encoding import decode_html
from monitor.core.extract import extract_article

PAGES = Path(__file__).parent / "data" / "pages"
EXPECTED = sorted(PAGES.glob("*.expected.json"))


def spec_of(path: Path) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return spec


def test_the_golden_set_has_every_kind_of_odd_page() -> None:
    reasons = {spec_of(path)["not_article"] for path in EXPECTED}
    assert reasons >= {None, "consent wall", "paywall stub", "teaser"}
    names = {path.name.removesuffix(".expected.json") for path in EXPECTED}
    assert {"footer_heavy", "jsonld_body_only", "microdata_body"} <= names


@pytest.mark.parametrize("path", EXPECTED, ids=lambda p: p.name.removesuffix(".expected.json"))
def test_golden_page(path: Path) -> None:
    spec = spec_of(path)
    html = decode_html((PAGES / path.name.replace(".expected.json", ".html")).read_bytes())
    article = extract_article(html, spec["url"])
    assert article.not_article == spec["not_article"]
    if "title" in spec:
        assert article.title == spec["title"]
    text = " ".join(article.text.split())
    missing = [snippet for snippet in spec["with"] if snippet not in text]
    leaked = [snippet for snippet in spec["without"] if snippet in text]
    assert (missing, leaked) == ([], []), article.text
    for paragraph in article.text.split("\n\n") if article.text else ():
        assert paragraph == " ".join(paragraph.split()), repr(paragraph)
