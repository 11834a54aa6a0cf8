"""dedupe_quality: precision and recall of near-duplicate detection on a labelled set, with a
threshold sweep.

The set lives in tests/data/dedupe/ (see its README.md): the two seeds, twelve articles written
for this project about DeepSeek, US chip export controls and Stargate (shared names, numbers and
quotes), copies of each with one kind of perturbation (labelled duplicate), and distinct articles
on the same events (labelled not duplicate). `pairs.json` holds the labels. This module is also
what generated the copies and the labels, deterministically:

    .venv/bin/python -m bench.dedupe_quality --write

rewrites tests/data/dedupe/copies/, headlines.json and pairs.json from the hand-written texts
(articles/, distinct/, seeds/). The benchmark and tests/test_dedupe_quality.py only read files.

The decision measured is monitor's own: the two texts' LSH band hashes (fingerprint.fingerprint)
must share a band, and fingerprint.is_near_duplicate(similarity(...)) must hold. The sweep varies
fingerprint.JACCARD_MIN (equivalently, the threshold on fingerprint.score) from 0.30 to 0.80 with
the containment rule unchanged. The baseline in each row is plain Jaccard >= the same threshold,
computed exactly (no LSH) and without the containment rule: what the containment rule and the
banding add or cost. Precision and recall are of "duplicate" over the labelled pairs.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from bench import Options, Report, Row
from monitor.core import fingerprint as fp
from monitor.core.normalize import normalize_text

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "dedupe"
THRESHOLDS = [round(0.30 + 0.05 * step, 2) for step in range(11)]  # 0.30 … 0.80

# ---------------------------------------------------------------- the hand-written texts

SEEDS = ("seeds/000_9edbe6fc9148524f.txt", "seeds/002_55b491fe1faf6718.txt")

# path -> (topic, headline). The seeds have no headline of their own (a seed is its text).
ARTICLES: dict[str, tuple[str, str]] = {
    "articles/deepseek-app-store.txt": (
        "deepseek",
        "Chinese start-up DeepSeek overtakes ChatGPT on US App Store",
    ),
    "articles/deepseek-nvidia-selloff.txt": (
        "deepseek",
        "Nvidia loses $589 billion in record rout as DeepSeek rattles investors",
    ),
    "articles/deepseek-liang-profile.txt": (
        "deepseek",
        "Liang Wenfeng, the quant trader behind DeepSeek",
    ),
    "articles/deepseek-cost-claims.txt": (
        "deepseek",
        "What DeepSeek's $5.6 million training bill leaves out",
    ),
    "articles/chips-diffusion-rule.txt": (
        "chips",
        "US caps AI chip exports to most of the world in new three-tier rule",
    ),
    "articles/chips-diffusion-industry.txt": (
        "chips",
        "Cloud giants parse AI diffusion rule's quotas and trusted-operator status",
    ),
    "articles/chips-h20-charge.txt": (
        "chips",
        "Nvidia expects $5.5 billion charge as US curbs H20 sales to China",
    ),
    "articles/chips-singapore-case.txt": (
        "chips",
        "Singapore charges three in server fraud case tied to Nvidia chips",
    ),
    "articles/stargate-white-house.txt": (
        "stargate",
        "Trump unveils $500 billion Stargate AI venture with OpenAI, SoftBank, Oracle",
    ),
    "articles/stargate-musk-doubts.txt": (
        "stargate",
        "Musk says Stargate backers 'don't actually have the money'",
    ),
    "articles/stargate-abilene-site.txt": (
        "stargate",
        "Abilene campus is first Stargate site, 1.2 gigawatts at full build-out",
    ),
    "articles/stargate-financing.txt": (
        "stargate",
        "SoftBank in talks to borrow $16 billion for Stargate stake",
    ),
}

# Distinct articles (only ever the "b" of a pair): path -> (topic, headline, {a: kind}).
# Every distinct article is paired with every seed and article; the hard pairs get a kind
# of their own, the others "same_topic" or "other_topic".
DISTINCT: dict[str, tuple[str, str, dict[str, str]]] = {
    "distinct/deepseek-brief.txt": (
        "deepseek",
        "DeepSeek tops App Store",
        {
            "articles/deepseek-app-store.txt": "same_event",
            SEEDS[0]: "same_event",
            SEEDS[1]: "same_event",
        },
    ),
    "distinct/chips-stocks-same-disclaimer.txt": (
        "chips",
        "Chip stocks slide after Nvidia flags H20 hit",
        {
            "articles/deepseek-nvidia-selloff.txt": "same_disclaimer",
            "articles/chips-h20-charge.txt": "same_event",
        },
    ),
    "distinct/newsletter-roundup.txt": (
        "deepseek",
        "Morning briefing: the app, the chips and the money",
        {
            "articles/deepseek-app-store.txt": "quotes_lead",
            "articles/chips-h20-charge.txt": "quotes_lead",
            "articles/stargate-white-house.txt": "quotes_lead",
        },
    ),
    "distinct/abilene-follow-up.txt": (
        "stargate",
        "Residents pack county meeting on Stargate data center",
        {"articles/stargate-abilene-site.txt": "same_furniture"},
    ),
    "distinct/diffusion-explainer.txt": (
        "chips",
        "The AI diffusion rule explained",
        {
            "articles/chips-diffusion-rule.txt": "same_event",
            "articles/chips-diffusion-industry.txt": "same_event",
        },
    ),
    "distinct/hodl-crypto-dip.txt": (
        "deepseek",
        "Bitcoin slides below $98,000 as DeepSeek shock hits risk assets",
        {SEEDS[0]: "same_disclaimer"},
    ),
    "distinct/hodl-flash.txt": (
        "deepseek",
        "Flash: Nvidia down 17%",
        {SEEDS[0]: "boilerplate_mostly"},
    ),
    "distinct/stargate-oped.txt": (
        "stargate",
        "Judge Stargate by its megawatts, not its press releases",
        {
            "articles/stargate-white-house.txt": "same_event",
            "articles/stargate-musk-doubts.txt": "same_event",
        },
    ),
}

# Pairs of seeds and articles about one event, some quoting the same statements word for word.
SAME_EVENT = {
    (SEEDS[0], SEEDS[1]): "same_event",
    (SEEDS[0], "articles/deepseek-app-store.txt"): "same_event",
    (SEEDS[1], "articles/deepseek-app-store.txt"): "same_event",
    ("articles/deepseek-app-store.txt", "articles/deepseek-nvidia-selloff.txt"): "same_event",
    ("articles/deepseek-app-store.txt", "articles/deepseek-cost-claims.txt"): "same_event",
    ("articles/chips-diffusion-rule.txt", "articles/chips-diffusion-industry.txt"): (
        "shared_quotes"
    ),
    ("articles/stargate-white-house.txt", "articles/stargate-musk-doubts.txt"): "shared_quotes",
    ("articles/stargate-white-house.txt", "articles/stargate-abilene-site.txt"): "same_event",
}

ALT_HEADLINES = {
    SEEDS[0]: "DeepSeek's AI assistant dethrones ChatGPT in 17 days",
    SEEDS[1]: "DeepSeek hits No. 1 on App Store, questions over export curbs",
    "articles/deepseek-app-store.txt": "DeepSeek chatbot is America's most downloaded app",
    "articles/deepseek-nvidia-selloff.txt": "Nvidia sheds nearly 17% on DeepSeek fears",
    "articles/deepseek-liang-profile.txt": "Who is Liang Wenfeng, DeepSeek's reclusive founder?",
    "articles/deepseek-cost-claims.txt": "Fact check: did DeepSeek really train V3 for $5.6m?",
    "articles/chips-diffusion-rule.txt": "Biden's parting shot: global caps on AI chips",
    "articles/chips-diffusion-industry.txt": "Inside the 160-page AI chip export rule",
    "articles/chips-h20-charge.txt": "Nvidia takes $5.5bn hit on China chip licence rule",
    "articles/chips-singapore-case.txt": "Three charged in Singapore over AI server shipments",
    "articles/stargate-white-house.txt": "Stargate: $500bn AI push launched at White House",
    "articles/stargate-musk-doubts.txt": "Musk and Altman clash over Stargate funding",
    "articles/stargate-abilene-site.txt": "Stargate's first data center rises near Abilene",
    "articles/stargate-financing.txt": "How SoftBank plans to pay for Stargate",
}

# ---------------------------------------------------------------- perturbations

SYNDICATION_DISCLAIMER = (
    "This story was produced by our partners and is republished here under a content-sharing "
    "agreement. The views and opinions expressed are those of the original authors and do not "
    "necessarily reflect the views of this website or its owners. We have not independently "
    "verified every claim, and readers are encouraged to consult the original source for "
    "updates and corrections."
)
DISCLAIMER_OPENINGS = (
    "Disclaimer: All materials on this site",
    "This article is provided for general information only",
)
COURIER_LINES = (  # the page furniture that came with stargate-abilene-site.txt
    "Big Country Courier | News",
    "Subscribe for $1 a week",
    "Local Business",
    "Most Read",
    "1. Wylie ISD",
    "2. Police identify",
    "3. Hardin-Simmons",
    "4. New taqueria",
    "5. Burn ban",
    "Sign up for the Courier",
    "Big Country Courier, 101",
)


@dataclass(frozen=True)
class Site:
    """Page furniture that a main-text extractor might leave around and inside an article."""

    top: tuple[str, ...]
    inline: tuple[str, ...]  # inserted between paragraphs, one every few
    bottom: tuple[str, ...]


SITES = (
    Site(
        top=(
            "Skip to main content",
            "TechWire Daily | Home | AI | Chips | Cloud | Policy | Markets | Podcasts | Events | "
            "Deals | Reviews | Newsletters | Jobs",
            "Sign in | Subscribe: 3 months for $1 | Give a gift",
            "We use cookies and similar technologies to improve your experience, personalise "
            "content and ads, and analyse our traffic. By continuing to browse you agree to our "
            "use of cookies. Manage preferences | Accept all",
            "Home > Technology > Artificial Intelligence",
            "Listen to this article: 5 minutes",
        ),
        inline=(
            "Advertisement",
            "Read more: Ten AI tools our editors use every day, and the ones we gave up on",
            "Advertisement - scroll to continue",
            "Related: Inside the race to build the world's biggest data centers",
        ),
        bottom=(
            "Share this article: Facebook X LinkedIn Reddit WhatsApp Email Copy link",
            "Join the conversation: 214 comments. Log in or create a free account to comment. "
            "Please read our community guidelines before posting.",
            "Most popular",
            "1. The best budget laptops for students this year, tested and ranked",
            "2. Apple's next iPhone could drop the physical buttons entirely, leak suggests",
            "3. How to stop your smart TV from tracking everything you watch",
            "4. Samsung confirms the release date for its new folding phones",
            "5. The streaming price hikes coming this spring, and how to avoid them",
            "More from TechWire Daily",
            "Review: the noise-cancelling headphones that finally beat Sony",
            "Why your next car might not have a radio",
            "The password manager you should switch to now",
            "Sign up for the TechWire Daily newsletter and get the biggest tech stories "
            "delivered to your inbox every morning. You can unsubscribe at any time.",
            "About us | Contact | Careers | Advertise | Licensing | Terms of service | Privacy "
            "policy | Cookie settings | Accessibility statement",
            "TechWire Daily is part of TechWire Media Group, a leading digital publisher. "
            "Copyright 2025 TechWire Media Group. All rights reserved.",
        ),
    ),
    Site(
        top=(
            "Menu | Search | The Ledger",
            "World | US | Business | Technology | Science | Health | Opinion | Sport | Video | "
            "Audio | Crosswords",
            "Live: markets update. Dow 42,150 +0.4% | S&P 500 5,980 +0.2% | Nasdaq 19,600 -0.1% "
            "| Oil 74.20 +1.1%",
            "Breaking news alerts: turn on notifications to get the biggest stories first",
            "Technology | Analysis",
        ),
        inline=(
            "Story continues below advertisement",
            "Recommended: Why the Fed is in no hurry to cut rates, whatever the markets hope",
            "Story continues below advertisement",
            "Recommended: The five charts that explain the global economy right now",
        ),
        bottom=(
            "Topics: Artificial intelligence, Semiconductors, China, Trade policy, Markets",
            "Reprints and permissions | Send us a tip | Report an error",
            "More from The Ledger",
            "Oil prices climb as supply concerns mount in the Middle East",
            "Airline stocks rally on strong holiday bookings and cheaper fuel",
            "Housing starts fall to their lowest level in four years",
            "What the new tax rules mean for your retirement savings",
            "Opinion: The case for a four-day working week",
            "Watch: our reporters answer your questions about the economy",
            "Get unlimited access to The Ledger for just $1 for your first month. Cancel "
            "anytime. Already a subscriber? Sign in.",
            "Help centre | Corrections | Accessibility | Sitemap | Archive | Do not sell or "
            "share my personal information | Terms and conditions | Privacy notice",
            "The Ledger Ltd 2025. Registered in England and Wales, company number 01234567. "
            "Registered office: 1 Fleet Place, London.",
        ),
    ),
    Site(
        top=(
            "AsiaTech Post",
            "Home Latest China Tech Big Tech Start-ups Gadgets Science Video Podcasts Events",
            "Download our app | Newsletter | Log in | Subscribe",
            "Trending: DeepSeek | Huawei | TikTok | Electric vehicles | Chips | Tariffs",
        ),
        inline=(
            "[Sign up for our weekly China tech newsletter, free every Friday]",
            "Read also: China's EV makers push into Southeast Asia as price war deepens",
            "[Sign up for our weekly China tech newsletter, free every Friday]",
            "Read also: Shenzhen's drone makers look beyond the US market",
        ),
        bottom=(
            "Copyright AsiaTech Post. This article may not be reproduced, redistributed or "
            "republished in any form without prior written permission.",
            "Trending now",
            "Xiaomi unveils its first electric SUV, priced below Tesla's Model Y",
            "Hong Kong to offer fast-track visas for AI researchers and engineers",
            "Why Shenzhen's hardware makers are moving production to Vietnam",
            "Alibaba Cloud cuts prices again as competition heats up",
            "Tencent's new game breaks download records in its first week",
            "Opinion: what Beijing's stimulus means for tech start-ups",
            "Most commented",
            "Is the smartphone era over? Readers respond",
            "The gadgets we could not live without this year",
            "Follow us on Facebook, X, Instagram, YouTube and LinkedIn for the latest news",
            "Privacy | Terms | Contact | Work with us | Advertise | Corrections | About",
            "AsiaTech Post is an independent publication based in Hong Kong.",
        ),
    ),
)

# Sub-editing: a word or a phrase in a few sentences changed, as a republisher's desk does it.
SUBSTITUTIONS = {
    "said": "stated",
    "says": "claims",
    "about": "roughly",
    "company": "firm",
    "companies": "firms",
    "however": "though",
    "But": "Yet",
    "also": "additionally",
    "expected": "forecast",
    "percent": "per cent",
    "billion": "bn",
    "million": "mn",
    "chips": "semiconductors",
    "processors": "chips",
    "large": "big",
    "new": "fresh",
    "more than": "over",
    "according to": "per",
    "which": "that",
    "build": "construct",
    "announced": "unveiled",
    "because": "as",
    "would": "will",
    "United States": "US",
    "U.S.": "US",
    "US": "American",
    "American": "US",
    "week": "seven days",
    "on Monday": "on Monday morning",
    "on Tuesday": "earlier this week",
}
_SUBSTITUTION = re.compile(
    r"\b(" + "|".join(re.escape(k) for k in sorted(SUBSTITUTIONS, key=len, reverse=True)) + r")"
    r"(?![\w.])"
)
_ABBREVIATIONS = ("Mr.", "Mrs.", "Dr.", "U.S.", "U.K.", "No.", "St.", "p.m.", "a.m.", "vs.")
_SENTENCE_END = re.compile(r"(?<=[.!?])([\"”’']?)\s+(?=[\"“A-Z0-9])")


def paragraphs(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def sentences(paragraph: str) -> list[str]:
    """The paragraph's sentences (a simple splitter that knows a few abbreviations)."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(paragraph):
        end = match.start() + len(match.group(1))
        piece = paragraph[start:end]
        if piece.endswith(_ABBREVIATIONS) or re.search(r"\b[A-Z]\.$", piece):
            continue  # "U.S. officials", "K. Shanmugam": not a sentence end
        pieces.append(piece)
        start = match.end()
    pieces.append(paragraph[start:])
    return [piece for piece in pieces if piece.strip()]


def _located_sentences(text: str) -> list[tuple[int, int, str]]:
    """(paragraph index, sentence index, sentence) for every sentence of the text."""
    return [
        (p, s, sentence)
        for p, paragraph in enumerate(paragraphs(text))
        for s, sentence in enumerate(sentences(paragraph))
    ]


def _rebuild(text: str, change: Callable[[int, int, str], str | None]) -> str:
    """The text with each sentence replaced by change(p, s, sentence); None drops it."""
    out = []
    for p, paragraph in enumerate(paragraphs(text)):
        kept = [
            new
            for s, sentence in enumerate(sentences(paragraph))
            if (new := change(p, s, sentence)) is not None
        ]
        if kept:
            out.append(" ".join(kept))
    return "\n".join(out)


def _edit_sentence(sentence: str, limit: int = 3) -> str:
    count = 0

    def swap(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return SUBSTITUTIONS[match.group(1)] if count <= limit else match.group(1)

    return _SUBSTITUTION.sub(swap, sentence)


def edit_sentences(text: str, name: str, count: int = 3) -> str:
    """`count` sentences (chosen by a seeded generator) each get up to three words swapped."""
    candidates = [
        (p, s)
        for p, s, sentence in _located_sentences(text)
        if len(_SUBSTITUTION.findall(sentence)) >= 2 and not _is_boilerplate(sentence)
    ]
    chosen = set(random.Random(f"{name}:edit").sample(candidates, count))
    return _rebuild(text, lambda p, s, x: _edit_sentence(x) if (p, s) in chosen else x)


def drop_sentences(text: str, name: str, count: int = 3) -> str:
    """`count` sentences dropped, never the first one, chosen by a seeded generator."""
    candidates = [
        (p, s)
        for p, s, sentence in _located_sentences(text)
        if (p, s) != (0, 0) and not _is_boilerplate(sentence)
    ]
    chosen = set(random.Random(f"{name}:drop").sample(candidates, count))
    return _rebuild(text, lambda p, s, x: None if (p, s) in chosen else x)


def _is_boilerplate(sentence: str) -> bool:
    return sentence.startswith(DISCLAIMER_OPENINGS) or sentence.startswith(COURIER_LINES)


def reorder_paragraphs(text: str, name: str) -> str:
    parts = paragraphs(text)
    shuffled = parts[:]
    rng = random.Random(f"{name}:reorder")
    while shuffled == parts:
        rng.shuffle(shuffled)
    return "\n".join(shuffled)


def first_half(text: str) -> str:
    """The leading paragraphs that hold half of the words, and a pointer to the rest."""
    parts, total = paragraphs(text), len(text.split())
    kept: list[str] = []
    while sum(len(p.split()) for p in kept) < total / 2:
        kept.append(parts[len(kept)])
    return "\n".join([*kept, "Read the full story on the publisher's website."])


def wrap_in_furniture(text: str, site: Site) -> str:
    """The article between a site's header and footer, with its promos between paragraphs."""
    parts = paragraphs(text)
    body: list[str] = []
    inline = list(site.inline)
    for index, part in enumerate(parts):
        body.append(part)
        if index % 2 == 1 and index < len(parts) - 1 and inline:
            body.append(inline.pop(0))
    return "\n".join([*site.top, *body, *site.bottom])


def retype(text: str) -> str:
    """Typography a different CMS would produce: curly quotes, dashes, no-break spaces,
    soft hyphens, a zero-width space, and blank lines between paragraphs."""
    text = re.sub(r"\"(\w)", "\u201c\\1", text)
    text = text.replace('"', "\u201d")
    text = re.sub(r"(\w)'(\w)", "\\1\u2019\\2", text)
    text = text.replace(" - ", " \u2014 ")
    text = text.replace("Nvidia", "Nvi\u00addia").replace("billion", "bil\u00adlion")
    text = re.sub(r" (\$?\d[\d,.]*) ", " \\1\u00a0", text)
    text = text.replace(". ", ".\u200b ", 1)
    return "\n\n".join(paragraphs(text))


def remove_disclaimer(text: str) -> str:
    return "\n".join(p for p in paragraphs(text) if not p.startswith(DISCLAIMER_OPENINGS))


def remove_furniture(text: str) -> str:
    return "\n".join(p for p in paragraphs(text) if not p.startswith(COURIER_LINES))


@dataclass(frozen=True)
class Copy:
    headline: str
    text: str


def perturbations(path: str, text: str, headline: str, site: int) -> dict[str, Copy]:
    """Every perturbation that changes this text, by kind."""
    name = Path(path).stem
    alt = ALT_HEADLINES[path]
    copies = {
        "headline_changed": Copy(alt, text),
        "headline_in_text": Copy(
            alt, f"{alt}\nBy our technology staff | Updated 2 hours ago\n{text}"
        ),
        "disclaimer_added": Copy(headline, f"{text}\n{SYNDICATION_DISCLAIMER}"),
        "disclaimer_removed": Copy(headline, remove_disclaimer(text)),
        "furniture_added": Copy(headline, wrap_in_furniture(text, SITES[site])),
        "furniture_removed": Copy(headline, remove_furniture(text)),
        "sentences_edited": Copy(headline, edit_sentences(text, name)),
        "sentences_dropped": Copy(headline, drop_sentences(text, name)),
        "paragraphs_reordered": Copy(headline, reorder_paragraphs(text, name)),
        "first_half": Copy(headline, first_half(text)),
        "retyped": Copy(headline, retype(text)),
        "syndicated": Copy(
            alt,
            wrap_in_furniture(
                drop_sentences(edit_sentences(text, name, 1), name, 1)
                + f"\n{SYNDICATION_DISCLAIMER}",
                SITES[(site + 1) % len(SITES)],
            ),
        ),
    }
    return {
        kind: copy
        for kind, copy in copies.items()
        if kind == "headline_changed" or paragraphs(copy.text) != paragraphs(text)
    }


# ---------------------------------------------------------------- the set


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    duplicate: bool
    kind: str


def topic(path: str) -> str:
    if path in ARTICLES:
        return ARTICLES[path][0]
    if path in DISTINCT:
        return DISTINCT[path][0]
    return "deepseek"  # the seeds


def build(data: Path = DATA) -> tuple[dict[str, str], dict[str, str], list[Pair]]:
    """The copies (path -> text), every headline (path -> headline) and the labelled pairs."""
    originals = [*SEEDS, *ARTICLES]
    texts = {path: (data / path).read_text(encoding="utf-8") for path in originals}
    headlines = {path: ARTICLES[path][1] for path in ARTICLES}
    headlines.update({path: spec[1] for path, spec in DISTINCT.items()})
    copies: dict[str, str] = {}
    pairs: list[Pair] = []
    copies_of: dict[str, list[str]] = defaultdict(list)
    for index, a in enumerate(originals):
        for kind, copy in perturbations(a, texts[a], headlines.get(a, ""), index % 3).items():
            b = f"copies/{Path(a).stem}--{kind}.txt"
            copies[b] = copy.text.rstrip("\n") + "\n"
            headlines[b] = copy.headline
            pairs.append(Pair(a, b, True, kind))
            copies_of[a].append(b)
    for a, b in combinations(originals, 2):
        pairs.append(Pair(a, b, False, _negative_kind(a, b)))
    # Copies of one text against another text of the same event: still not duplicates.
    for (x, y), kind in SAME_EVENT.items():
        pairs += [Pair(y, b, False, f"copy_{kind}") for b in copies_of[x]]
        pairs += [Pair(x, b, False, f"copy_{kind}") for b in copies_of[y]]
    for b, (_, _, hard) in DISTINCT.items():
        pairs += [Pair(a, b, False, hard.get(a) or _negative_kind(a, b)) for a in originals]
    return copies, headlines, pairs


def _negative_kind(a: str, b: str) -> str:
    kind = SAME_EVENT.get((a, b)) or SAME_EVENT.get((b, a))
    if kind:
        return kind
    return "same_topic" if topic(a) == topic(b) else "other_topic"


def write(data: Path = DATA) -> None:
    copies, headlines, pairs = build(data)
    folder = data / "copies"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.txt"):
        old.unlink()
    for path, text in copies.items():
        (data / path).write_text(text, encoding="utf-8")
    (data / "headlines.json").write_text(
        json.dumps(dict(sorted(headlines.items())), indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    (data / "pairs.json").write_text(
        "[\n"
        + ",\n".join(json.dumps(pair.__dict__, ensure_ascii=False) for pair in pairs)
        + "\n]\n",
        encoding="utf-8",
    )


def load(data: Path = DATA) -> tuple[dict[str, str], list[Pair]]:
    """The texts (path -> text) and the labelled pairs, as stored."""
    pairs = [Pair(**row) for row in json.loads((data / "pairs.json").read_text("utf-8"))]
    paths = {p.a for p in pairs} | {p.b for p in pairs}
    return {path: (data / path).read_text(encoding="utf-8") for path in sorted(paths)}, pairs


# ---------------------------------------------------------------- measurement


@dataclass(frozen=True)
class Scored:
    pair: Pair
    sim: fp.Similarity
    shared_bands: int


def score_pairs(texts: dict[str, str], pairs: list[Pair]) -> list[Scored]:
    prints = {path: fp.fingerprint(normalize_text(text)) for path, text in texts.items()}
    scored = []
    for pair in pairs:
        a, b = prints[pair.a], prints[pair.b]
        shared = sum(x == y for x, y in zip(a.bands, b.bands, strict=False))
        scored.append(Scored(pair, fp.similarity(a.shingles, b.shingles), shared))
    return scored


@contextmanager
def jaccard_min(value: float) -> Iterator[None]:
    saved = fp.JACCARD_MIN
    fp.JACCARD_MIN = value
    try:
        yield
    finally:
        fp.JACCARD_MIN = saved


def monitor_says(item: Scored) -> bool:
    """monitor's decision: an LSH candidate, confirmed by is_near_duplicate."""
    return item.shared_bands > 0 and fp.is_near_duplicate(item.sim)


def precision_recall(scored: list[Scored], decide: Callable[[Scored], bool]) -> tuple[float, float]:
    tp = fp_ = fn = 0
    for item in scored:
        said = decide(item)
        tp += said and item.pair.duplicate
        fp_ += said and not item.pair.duplicate
        fn += not said and item.pair.duplicate
    precision = tp / (tp + fp_) if tp + fp_ else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def _jaccard_only(threshold: float, item: Scored) -> bool:
    """The baseline: exact Jaccard alone, no LSH, no containment rule."""
    return item.sim.jaccard >= threshold


def run(options: Options) -> Report:
    texts, pairs = load()
    scored = score_pairs(texts, pairs)
    current = fp.JACCARD_MIN
    rows: list[Row] = []
    for threshold in THRESHOLDS:
        with jaccard_min(threshold):
            precision, recall = precision_recall(scored, monitor_says)
        base_p, base_r = precision_recall(scored, functools.partial(_jaccard_only, threshold))
        label = f"dedupe quality, JACCARD_MIN {threshold:.2f}"
        if abs(threshold - current) < 1e-9:
            label += " (current)"
        rows += [
            Row(label, "precision", precision, base_p),
            Row(label, "recall", recall, base_r),
        ]
    return Report(rows=rows, notes=_notes(texts, scored))


def _notes(texts: dict[str, str], scored: list[Scored]) -> list[str]:
    dups = [s for s in scored if s.pair.duplicate]
    others = [s for s in scored if not s.pair.duplicate]
    originals = [p for p in texts if not p.startswith("copies/")]
    notes = [
        f"{len(scored)} labelled pairs from tests/data/dedupe/: {len(dups)} duplicates "
        f"({len({s.pair.kind for s in dups})} kinds of copy of {len({s.pair.a for s in dups})} "
        f"texts), {len(others)} not ({len(originals)} hand-written texts); rows: monitor = LSH "
        "band shared and is_near_duplicate (containment rule as is), baseline = exact Jaccard "
        "alone at the same threshold",
        f"current thresholds: JACCARD_MIN {fp.JACCARD_MIN}, CONTAINMENT_MIN "
        f"{fp.CONTAINMENT_MIN}, COVERAGE_MIN {fp.COVERAGE_MIN}; bands {fp.BANDS}x{fp.ROWS}",
    ]
    lowest: dict[str, Scored] = {}
    for s in dups:
        if s.pair.kind not in lowest or fp.score(s.sim) < fp.score(lowest[s.pair.kind].sim):
            lowest[s.pair.kind] = s
    notes.append(
        "lowest score of a duplicate, by kind: "
        + ", ".join(
            f"{kind} {fp.score(s.sim):.2f} (J {s.sim.jaccard:.2f}, {s.shared_bands} bands)"
            for kind, s in sorted(lowest.items(), key=lambda kv: fp.score(kv[1].sim))
        )
    )
    highest: dict[str, Scored] = {}
    for s in others:
        if s.pair.kind not in highest or fp.score(s.sim) > fp.score(highest[s.pair.kind].sim):
            highest[s.pair.kind] = s
    notes.append(
        "highest score of a non-duplicate, by kind: "
        + ", ".join(
            f"{kind} {fp.score(s.sim):.2f} (J {s.sim.jaccard:.2f}, containment "
            f"{s.sim.containment:.2f}, coverage {s.sim.coverage:.2f})"
            for kind, s in sorted(highest.items(), key=lambda kv: -fp.score(kv[1].sim))
        )
    )
    contained = [s for s in dups if s.sim.jaccard < fp.JACCARD_MIN]
    if contained:
        worst = min(contained, key=lambda s: min(s.sim.containment, s.sim.coverage / 0.35))
        notes.append(
            f"{len(contained)} duplicates are below JACCARD_MIN and caught by containment "
            f"(kinds: {', '.join(sorted({s.pair.kind for s in contained}))}); the tightest: "
            f"{worst.pair.b} containment {worst.sim.containment:.2f}, coverage "
            f"{worst.sim.coverage:.2f}"
        )
    near = max(others, key=lambda s: s.sim.containment)
    notes.append(
        f"highest containment of a non-duplicate: {near.sim.containment:.2f} with coverage "
        f"{near.sim.coverage:.2f} ({near.pair.kind}: {near.pair.a} / {near.pair.b})"
    )
    notes.append(
        "safe ranges on this set, each holding the other two at their values: " + _margins(scored)
    )
    candidates = [s for s in others if s.shared_bands]
    missed = [s for s in dups if not s.shared_bands]
    notes.append(
        f"LSH: {len(dups) - len(missed)} of {len(dups)} duplicates share a band (fewest shared: "
        f"{min(s.shared_bands for s in dups)} of {fp.BANDS}); {len(candidates)} of {len(others)} "
        "non-duplicates do and are rejected by is_near_duplicate"
    )
    return notes


def _margins(scored: list[Scored]) -> str:
    """For each threshold, the interval of values that keeps precision and recall at 1.0 with
    the other two thresholds unchanged (LSH aside)."""
    j, c, v = fp.JACCARD_MIN, fp.CONTAINMENT_MIN, fp.COVERAGE_MIN
    dups = [s.sim for s in scored if s.pair.duplicate]
    others = [s.sim for s in scored if not s.pair.duplicate]

    def contained(sim: fp.Similarity, cmin: float = c, vmin: float = v) -> bool:
        return sim.containment >= cmin and sim.coverage >= vmin

    def interval(low: list[float], high: list[float]) -> str:
        # safe: value > every "low" and <= every "high"
        lo, hi = max(low, default=0.0), min(high, default=1.0)
        return f"({lo:.2f}, {hi:.2f}]" if lo < hi else f"none (need > {lo:.2f}, <= {hi:.2f})"

    jaccard = interval(
        [x.jaccard for x in others if not contained(x)],
        [x.jaccard for x in dups if not contained(x)],
    )
    containment = interval(
        [x.containment for x in others if x.coverage >= v and x.jaccard < j],
        [x.containment for x in dups if x.jaccard < j],
    )
    coverage = interval(
        [x.coverage for x in others if x.containment >= c and x.jaccard < j],
        [x.coverage for x in dups if x.jaccard < j],
    )
    return f"JACCARD_MIN {jaccard}, CONTAINMENT_MIN {containment}, COVERAGE_MIN {coverage}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dedupe_quality", description=__doc__)
    parser.add_argument("--write", action="store_true", help="regenerate copies/ and pairs.json")
    args = parser.parse_args(argv)
    if args.write:
        write()
        _, _, pairs = build()
        print(f"wrote {DATA}: {len(pairs)} pairs", file=sys.stderr)
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
