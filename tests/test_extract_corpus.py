"""Extraction quality on trafilatura's evaluation corpus (923 real pages, beside the checkout
at ../shared/corpora/trafilatura-eval/, never copied in): the score measured when extraction
last changed is a floor, so a change that loses text or lets furniture in fails here.

Score = the share of `with`/`without` snippets on the right side over all pages, as
bench/extraction.py counts it (the bench also runs trafilatura's default for comparison).
"""

from __future__ import annotations

import pytest

from bench.extraction import CORPUS, corpus_pages, ours, score
from tests.support.capabilities import unavailable

pytestmark = pytest.mark.integration

SCORE_FLOOR = 0.933  # measured 0.934 (trafilatura's default: 0.918)


@pytest.mark.timeout(300)
def test_extraction_score_on_the_corpus_holds_its_floor() -> None:
    if not (CORPUS / "evaldata.json").is_file():
        unavailable("corpora", f"the extraction corpus is not at {CORPUS}")
    pages = list(corpus_pages())
    assert len(pages) > 800, f"the corpus at {CORPUS} is incomplete: {len(pages)} pages"
    [measured] = score(pages, ours)
    assert measured.share >= SCORE_FLOOR, f"{measured.right}/{measured.total}"
