"""Near-duplicate detection on the real seed articles, copies of them and distinct
articles on the same event that reuse the same names and numbers."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core import fingerprint as fp
from monitor.core.fingerprint import (
    BANDS,
    NUM_PERM,
    ROWS,
    SHINGLE_WORDS,
    Similarity,
    band_hashes,
    fingerprint,
    is_near_duplicate,
    minhash,
    score,
    shingles,
    similarity,
)
from monitor.core.normalize import content_hash

SEED_DIR = Path(__file__).resolve().parent.parent / "config" / "seeds"
SEEDS = {path.stem: path.read_text(encoding="utf-8") for path in sorted(SEED_DIR.glob("*.txt"))}

DISCLAIMER = (
    "The views expressed in this article are those of the author and do not necessarily "
    "reflect the official policy or position of this publication. Nothing in this article "
    "constitutes investment, legal or tax advice; readers should do their own research "
    "before making any financial decision."
)
WRAPPER_TOP = (
    "Advertisement\n"
    "Subscribe to our free daily newsletter and never miss the biggest stories in tech, "
    "markets and crypto. Sign up now.\n"
    "Share this article: Facebook Twitter LinkedIn Email"
)
WRAPPER_BOTTOM = (
    "Read more: The ten best AI tools of the year, ranked by our editors\n"
    "Follow us on X and Telegram for breaking news.\n"
    "Copyright 2025 Global Tech Daily Media Ltd. All rights reserved. This material may not "
    "be published, broadcast, rewritten or redistributed."
)


def unwrap(text: str) -> str:
    """One line per paragraph, as extracted article text comes."""
    return "\n".join(" ".join(p.split()) for p in text.strip().split("\n\n"))


# Distinct articles on the same event: same names and numbers, their own wording.
DISTINCT = {
    "wire": unwrap(
        """
DeepSeek, the Hangzhou artificial intelligence lab founded by Liang Wenfeng, on Monday
topped the list of free iPhone downloads in the United States, pushing OpenAI's ChatGPT down
to second place on the App Store.

The chatbot app was released on January 10 and took just over two weeks to reach the top
spot, according to rankings tracked by app analytics firms. It also led the charts in
Britain and China.

The company says its V3 model cost less than $6 million to train, a sliver of the sums spent
by American rivals, and that it relied on roughly 2,000 Nvidia H800 processors, a slower
part that Nvidia designed to comply with U.S. rules on chip sales to China.

Liang, who previously ran the quantitative hedge fund High-Flyer, has rarely spoken to the
press. In a rare interview last year he said the lab was focused on research rather than on
turning a profit.

Analysts cautioned that the training figure covers only the final run and excludes earlier
experiments, staff and the hardware itself. Even so, investors took notice: shares in
chipmakers and power utilities fell sharply in early trading as traders questioned whether
the industry's spending plans were justified.

OpenAI did not respond to a request for comment. Apple declined to comment on the rankings.
"""
    ),
    "policy": unwrap(
        """
For three years Washington has tried to slow China's progress in artificial intelligence by
cutting off its access to the most capable chips. DeepSeek's sudden popularity is the
strongest challenge yet to that strategy.

The startup, led by Liang Wenfeng, reports that it trained its latest model on H800
accelerators from Nvidia. Those chips were legal to ship to China when DeepSeek bought them;
the Commerce Department banned their export in October 2023 after concluding that they were
too close to the restricted H100.

Supporters of the controls argue that the episode shows the rules are working as intended:
DeepSeek had to squeeze performance out of older hardware, and its engineers have said
publicly that a lack of computing power is their main constraint. Critics counter that a
bill of roughly $6 million for a model that rivals the best American systems proves that
restrictions only push Chinese developers to become more efficient.

The outgoing Biden administration issued a further set of rules in January that would cap
the number of advanced processors most countries can import. The incoming Trump
administration has not said whether it will keep them.

Lawmakers from both parties have called for a review. Several asked whether DeepSeek
obtained restricted chips through third countries, a question the company has not addressed.
Nvidia said in a statement that DeepSeek's work was an excellent advance and fully compliant
with export rules.
"""
    ),
    "markets": unwrap(
        """
Nvidia lost close to $600 billion in market value on Monday, the largest one-day drop for
any company in Wall Street history, as investors digested claims from Chinese upstart
DeepSeek that it can build leading AI models at a fraction of the usual cost.

The selloff spread across the semiconductor sector and into companies that supply
electricity and cooling to data centers. The Nasdaq fell about 3 percent.

At the heart of the panic is a technical report in which DeepSeek said the final training
run of its V3 model used 2,048 H800 GPUs for about two months and cost under $6 million at
market rental prices. Its reasoning model R1, released a week earlier, matches OpenAI's o1
on several math and coding benchmarks, and its free assistant app became the most downloaded
on the App Store in the United States over the weekend.

Some strategists called the reaction overdone. Cheaper training, they argued, could expand
demand for computing rather than shrink it, an idea known as the Jevons paradox. Others
noted that DeepSeek's founder, Liang Wenfeng, has said his company still needs more chips
than it can obtain under U.S. export controls.

Nvidia shares recovered part of their losses the next day.
"""
    ),
    "brief": unwrap(
        """
Chinese AI startup DeepSeek, founded by Liang Wenfeng, reached No. 1 among free apps on
Apple's U.S. App Store, ahead of ChatGPT. The company says it trained its model for under $6
million using Nvidia H800 chips, renewing debate over U.S. export controls on advanced
semiconductors to China.
"""
    ),
    # Quotes one sentence of seed 002 word for word, as commentary often does.
    "oped": unwrap(
        """
Every few years an event forces Silicon Valley to question its own assumptions. This week it
was an app.

DeepSeek's assistant did not top the App Store because Americans suddenly cared about
Chinese research labs. It got there because it was free, fast and good enough, and because
its maker, Liang Wenfeng, chose to publish the model for anyone to download.

The detail that rattled executives was the price tag. As one trade publication summarised
it: "The Hangzhou-based startup trained its cutting-edge DeepSeek-V3 model for under $6
million using around 2,000 Nvidia H800 chips." American labs spend that much on a single
week of experiments.

It would be a mistake to read this as proof that export controls have failed. The H800 was a
permitted chip when it was bought, and DeepSeek's own researchers complain about a shortage
of computing power. But it would be an equal mistake to assume that scarcity will stop
determined engineers. Constraints breed invention, and the next surprise may come from
somewhere nobody is watching.
"""
    ),
    # Same site as seed 000, so it ends with the very same disclaimer paragraph.
    "same_site": unwrap(
        """
Bitcoin slipped below $100,000 on Monday as a rout in technology stocks spilled over into
digital assets, with traders blaming the surprise success of Chinese AI startup DeepSeek for
the sudden change in mood.

Ether and Solana fell more than 5 percent each. AI-linked tokens were hit hardest, with
several losing a fifth of their value in a day as investors reconsidered how much the
industry will need to spend on Nvidia hardware such as the H800.

Analysts expect volatility to remain high ahead of the Federal Reserve meeting later this
week.

Disclaimer: All materials on this site are for informational purposes only. None of the
material should be interpreted as investment advice. Please note that despite the nature of
much of the material created and hosted on this website, HODL FM is not a financial
reference resource and the opinions of authors and other contributors are their own and
should not be taken as financial advice. If you require advice of this sort, HODL FM
strongly recommends contacting a qualified industry professional.
"""
    ),
}

# Almost all disclaimer: only the coverage floor keeps it apart from seed 000.
SAME_SITE_BRIEF = unwrap(
    """
Nvidia shares fell 17 percent on Monday after DeepSeek's app topped the App Store.

Disclaimer: All materials on this site are for informational purposes only. None of the
material should be interpreted as investment advice. Please note that despite the nature of
much of the material created and hosted on this website, HODL FM is not a financial
reference resource and the opinions of authors and other contributors are their own and
should not be taken as financial advice. If you require advice of this sort, HODL FM
strongly recommends contacting a qualified industry professional.
"""
)

EDITS = {
    # seed 000: two sentences rewritten
    "The most intriguing part of this news update is how DeepSeek surged past other AI "
    "models like Gemini and ChatGPT within just 17 days after launch.": "Remarkably, "
    "DeepSeek needed only 17 days after its launch to overtake Gemini, ChatGPT and the "
    "other big assistants.",
    "The project is expected to create 100,000 jobs.": "Officials say the project could "
    "eventually employ as many as 100,000 people.",
    # seed 002
    "This success serves as a reminder for US tech firms to refocus on innovation.": "US "
    "technology companies, the episode suggests, would do well to return their attention "
    "to innovation.",
    "By January 20, the app had climbed to the top spot on the App Store's Top Free Apps "
    "chart, highlighting its rapid adoption.": "The app reached first place on the App "
    "Store's Top Free Apps chart by January 20, a sign of how quickly it spread.",
}


def paragraphs(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def edit_two_sentences(text: str) -> str:
    text = text.replace("\u2019", "'")
    edited = text
    for old, new in EDITS.items():
        edited = edited.replace(old, new)
    assert sum(old in text for old in EDITS) == 2, "each seed must get exactly two edits"
    return edited


def reorder_paragraphs(text: str) -> str:
    parts = paragraphs(text)
    random.Random(7).shuffle(parts)
    return "\n".join(parts)


def first_half(text: str) -> str:
    """The leading paragraphs holding half of the words, as in a quoted excerpt."""
    parts, total = paragraphs(text), len(text.split())
    kept: list[str] = []
    for part in parts:
        if sum(len(p.split()) for p in kept) >= total / 2:
            break
        kept.append(part)
    return "\n".join(kept)


def drop_words(text: str, fraction: float = 0.05) -> str:
    rng = random.Random(5)
    return "\n".join(
        " ".join(word for word in part.split() if rng.random() >= fraction)
        for part in paragraphs(text)
    )


PERTURBATIONS: dict[str, Callable[[str], str]] = {
    # The headline is not part of the text; some extractors prepend it, though.
    "headline_in_text": lambda text: "DeepSeek tops the App Store, rattling Washington\n" + text,
    "disclaimer_added": lambda text: f"{text}\n{DISCLAIMER}",
    "disclaimer_removed": lambda text: "\n".join(
        p for p in paragraphs(text) if not p.startswith("Disclaimer:")
    ),
    "wrapper_added": lambda text: f"{WRAPPER_TOP}\n{text}\n{WRAPPER_BOTTOM}",
    "two_sentences_edited": edit_two_sentences,
    "paragraphs_reordered": reorder_paragraphs,
    "first_half_only": first_half,
    "five_percent_dropped": drop_words,
    "wrapped_edited_and_dropped": lambda text: PERTURBATIONS["wrapper_added"](
        drop_words(edit_two_sentences(text), 0.02)
    ),
}


def copies() -> list[object]:
    """Every perturbation of every seed it changes (seed 002 has no disclaimer to drop)."""
    return [
        pytest.param(seed, copy, id=f"{seed_name[:3]}-{name}")
        for seed_name, seed in SEEDS.items()
        for name, perturb in PERTURBATIONS.items()
        if (copy := perturb(seed)) != seed
    ]


def shares_a_band(a: str, b: str) -> bool:
    return bool(set(fingerprint(a).bands) & set(fingerprint(b).bands))


def test_the_seeds_are_there() -> None:
    assert len(SEEDS) == 2
    assert all(len(text.split()) > 300 for text in SEEDS.values())


def test_a_new_headline_changes_the_content_hash_but_not_the_fingerprint() -> None:
    seed = SEEDS[min(SEEDS)]
    assert content_hash("DeepSeek overtakes ChatGPT", seed) != content_hash("A new title", seed)
    assert fingerprint(seed) == fingerprint(seed.replace("\n", "\n\n"))  # text only


def test_every_perturbation_is_used() -> None:
    assert len(copies()) == 2 * len(PERTURBATIONS) - 1


@pytest.mark.parametrize(("seed", "copy"), copies())
def test_copies_are_near_duplicates_and_lsh_candidates(seed: str, copy: str) -> None:
    sim = similarity(shingles(seed), shingles(copy))
    assert is_near_duplicate(sim), sim
    assert score(sim) >= fp.JACCARD_MIN
    assert shares_a_band(seed, copy), sim


def same_event_pairs() -> list[tuple[str, str]]:
    texts = {**SEEDS, **DISTINCT}
    return [
        (a, b)
        for a, b in combinations(texts, 2)
        if a in DISTINCT or b in DISTINCT or (a in SEEDS and b in SEEDS)
    ]


@pytest.mark.parametrize(("a", "b"), same_event_pairs())
def test_distinct_articles_on_the_same_event_are_not_near_duplicates(a: str, b: str) -> None:
    texts = {**SEEDS, **DISTINCT}
    sim = similarity(shingles(texts[a]), shingles(texts[b]))
    assert not is_near_duplicate(sim), sim
    assert score(sim) < fp.JACCARD_MIN


def test_a_short_text_sharing_only_boilerplate_is_kept_apart_by_coverage() -> None:
    seed = SEEDS[min(SEEDS)]
    assert "HODL FM" in seed
    sim = similarity(shingles(seed), shingles(SAME_SITE_BRIEF))
    assert sim.containment >= fp.CONTAINMENT_MIN  # mostly the disclaimer, found in the seed
    assert sim.coverage < fp.COVERAGE_MIN
    assert not is_near_duplicate(sim)


def test_distinct_articles_really_share_the_names_and_numbers() -> None:
    for text in DISTINCT.values():
        assert "Liang Wenfeng" in text or "HODL FM" in text
        assert re.search(r"H800|\$6 million|App Store", text)


def test_shingles_are_stable_and_normalised() -> None:
    text = "DeepSeek\u2019s  app \u2014 the \u201ctop\u201d free app\u200b on the App Store."
    assert shingles(text) == shingles('deepseek\'s app - the "top" free app on the app store')
    assert len(shingles(text)) == 10 - SHINGLE_WORDS + 1
    # Pinned: a change here invalidates every stored fingerprint, so SCHEME must change.
    assert shingles("One, two: three four") == {5923900932330864767}
    assert fp.SCHEME == "minhash-v1:blake2b64:w4:m61:p128:b42x3"


def test_short_and_empty_texts() -> None:
    assert len(shingles("just three words")) == 1
    assert shingles("just three words") == shingles("Just, three words.")
    assert shingles("") == frozenset() == shingles(" \u200b - ")
    empty = fingerprint("")
    assert empty.bands == ()
    assert empty.signature == ((1 << 61) - 1,) * NUM_PERM
    assert similarity(frozenset(), frozenset()) == Similarity(0.0, 0.0, 0.0)


def test_minhash_matches_exact_integer_arithmetic() -> None:
    rng = random.Random(3)
    values = [rng.getrandbits(64) for _ in range(1500)] + [0, 1, 2**61 - 1, 2**61, 2**64 - 1]
    prime = (1 << 61) - 1
    expected = [
        min((int(a) * (x % prime) + int(b)) % prime for x in values)
        for a, b in map(fp._permutation, range(NUM_PERM))
    ]
    assert minhash(frozenset(values)).tolist() == expected


def test_signature_estimates_jaccard() -> None:
    seed = SEEDS[min(SEEDS)]
    copy = drop_words(seed, 0.05)
    a, b = fingerprint(seed), fingerprint(copy)
    estimate = np.mean(np.array(a.signature) == np.array(b.signature))
    assert abs(estimate - similarity(a.shingles, b.shingles).jaccard) < 0.15


def test_band_hashes_are_signed_bigints_with_the_band_mixed_in() -> None:
    constant = np.zeros(NUM_PERM, dtype=np.uint64)
    bands = band_hashes(constant)
    assert len(bands) == BANDS and BANDS * ROWS <= NUM_PERM
    assert len(set(bands)) == BANDS  # same values in every band, yet distinct hashes
    assert all(-(2**63) <= band < 2**63 for band in bands)
    assert band_hashes(list(map(int, constant))) == bands
    with pytest.raises(ValueError):
        band_hashes([1, 2, 3])


def test_scheme_names_the_parameters() -> None:
    for value in (SHINGLE_WORDS, NUM_PERM, BANDS, ROWS):
        assert str(value) in fp.SCHEME


@given(st.lists(st.sampled_from(["ab", "cd", "ef", "gh", "ij", "kl"]), max_size=40))
def test_similarity_is_symmetric_and_bounded(tokens: list[str]) -> None:
    half = len(tokens) // 2
    a, b = shingles(" ".join(tokens)), shingles(" ".join(tokens[half:]))
    sim = similarity(a, b)
    assert sim == similarity(b, a)
    assert 0 <= sim.jaccard <= sim.coverage <= sim.containment <= 1
    assert 0 <= score(sim) <= 1
    assert is_near_duplicate(sim) == (score(sim) >= fp.JACCARD_MIN)
