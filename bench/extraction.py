"""extraction: how much of the right text monitor's extractor keeps, and at what CPU cost,
against trafilatura's default configuration in the same run.

Two corpora:

- **trafilatura-eval**: `<repo>/../shared/corpora/trafilatura-eval/` (real pages from the web,
  gzipped, with `with`/`without` snippets per page; see its README). Skipped, with a note, when
  the folder is absent.
- **our news pages**: the saved pages of `tests/data/pages/` that carry expected snippets
  (`*.expected.json`) and the article pages of the demo newsroom (`monitor.demo`), whose
  expected text and furniture are known exactly.

Score = the share of snippets on the right side over all pages: a `with` snippet found in the
extracted text, a `without` snippet absent from it (trafilatura's own evaluation counts so).
Whitespace is collapsed on both sides before comparing. Every page is decoded once, as the
pipeline decodes it (`monitor.core.encoding.decode_html`), and both extractors get the same
string.

monitor: `monitor.core.extract.extract_article(html, url).text` (the text that is stored;
the headline is a field of its own). Baseline: `trafilatura.extract(html)` with every option at
its default (its output is the main text, no headline either). CPU ms per page is the median of
`time.process_time()` around each call (one call per page, the two extractors taking turns
page by page; `--quick`: the first 100 pages of the corpus by file name, and our pages).
"""

from __future__ import annotations

import gzip
import json
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import Options, Report, Row
from monitor.core.encoding import decode_html
from monitor.core.extract import extract_article
from monitor.demo import content, newsroom

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpora" / "trafilatura-eval"
PAGES = ROOT / "tests" / "data" / "pages"
QUICK_PAGES = 100


@dataclass(frozen=True)
class Page:
    """One page to extract, with the snippets a right extraction keeps and leaves out."""

    name: str
    url: str | None
    html: str
    with_: tuple[str, ...]
    without: tuple[str, ...]


@dataclass(frozen=True)
class Score:
    right: int
    total: int
    cpu_ms: tuple[float, ...]

    @property
    def share(self) -> float:
        return self.right / self.total if self.total else 0.0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.cpu_ms) if self.cpu_ms else 0.0


Extractor = Callable[[str, str | None], str]


def collapse(text: str) -> str:
    return " ".join(text.split())


def corpus_pages(folder: Path = CORPUS, limit: int | None = None) -> Iterator[Page]:
    """The pages of trafilatura's evaluation corpus whose file is present, by file name."""
    entries = json.loads((folder / "evaldata.json").read_text(encoding="utf-8"))
    by_file: dict[str, tuple[str, dict[str, Any], Path]] = {}
    for url, entry in entries.items():
        path = folder / "html" / f"{entry['file']}.gz"
        if path.is_file():
            by_file.setdefault(entry["file"], (url, entry, path))
    names = sorted(by_file)[:limit] if limit else sorted(by_file)
    for name in names:
        url, entry, path = by_file[name]
        yield Page(
            name=name,
            url=url,
            html=decode_html(gzip.decompress(path.read_bytes())),
            with_=tuple(entry.get("with") or ()),
            without=tuple(entry.get("without") or ()),
        )


def saved_pages(folder: Path = PAGES) -> Iterator[Page]:
    """tests/data/pages/NAME.html with NAME.expected.json ({"url", "with", "without"})."""
    for expected in sorted(folder.glob("*.expected.json")):
        spec = json.loads(expected.read_text(encoding="utf-8"))
        html_path = folder / (expected.name.removesuffix(".expected.json") + ".html")
        if "with" not in spec:
            continue
        yield Page(
            name=html_path.name,
            url=spec.get("url"),
            html=decode_html(html_path.read_bytes()),
            with_=tuple(spec.get("with") or ()),
            without=tuple(spec.get("without") or ()),
        )


# What the demo newsroom puts around every article (monitor.demo.newsroom): never its text.
DEMO_FURNITURE = (
    "Updated", "Most read", "Related stories", "More from our technology desk",
    "All rights reserved", "Privacy", "We use cookies", "Share:", "Copy link", "Trending",
    "Live markets", "Our Standards", "Trust Principles", "All quotes delayed",
    *newsroom.MOST_READ, *newsroom.TRENDING, *newsroom.ADS,
)  # fmt: skip


def demo_pages() -> Iterator[Page]:
    """Every article of the demo newsroom, as each of its two outlets dresses it."""
    articles = [a for a in vars(content).values() if isinstance(a, newsroom.Article)]
    for feed in ("daily-demo-tech", "pacific-wire"):
        room = newsroom.Newsroom(content.OUTLETS.values(), content.FEEDS)
        for article in articles:
            room.publish(article, feed)
            html = room.article_html(article.slug, "http://127.0.0.1:8000")
            assert html is not None, article.slug
            yield Page(
                name=f"demo {feed} {article.slug}",
                url=f"http://127.0.0.1:8000/{feed}/{article.slug}",
                html=html.decode(),
                with_=article.paragraphs,
                without=(*DEMO_FURNITURE, f"By {article.byline}"),
            )


def ours(html: str, url: str | None) -> str:
    return extract_article(html, url).text


def trafilatura_default(html: str, url: str | None) -> str:
    import trafilatura

    return trafilatura.extract(html) or ""


def score(pages: Sequence[Page], *extractors: Extractor) -> list[Score]:
    """Each extractor's score and CPU times on `pages`; the extractors take turns page by
    page, so a change in the machine's load falls on all of them alike."""
    right = [0] * len(extractors)
    cpu: list[list[float]] = [[] for _ in extractors]
    total = 0
    for page in pages:
        total += len(page.with_) + len(page.without)
        for index, extractor in enumerate(extractors):
            started = time.process_time()
            text = extractor(page.html, page.url)
            cpu[index].append((time.process_time() - started) * 1000)
            found = collapse(text)
            right[index] += sum(collapse(s) in found for s in page.with_)
            right[index] += sum(collapse(s) not in found for s in page.without)
    return [Score(r, total, tuple(c)) for r, c in zip(right, cpu, strict=True)]


def _measure(label: str, pages: Sequence[Page], report: Report) -> None:
    mine, base = score(pages, ours, trafilatura_default)
    report.rows += [
        Row(f"extraction, {label}", "score (share right)", mine.share, base.share),
        Row(f"extraction, {label}", "CPU ms per page (median)", mine.median_ms, base.median_ms),
    ]
    report.notes.append(
        f"{label}: monitor {mine.share:.4f} ({mine.right}/{mine.total} snippets right), "
        f"CPU ms per page p90 {_p90(mine.cpu_ms):.1f}; trafilatura default {base.share:.4f} "
        f"({base.right}/{base.total}), p90 {_p90(base.cpu_ms):.1f}"
    )


def _p90(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else 0.0


def run(options: Options) -> Report:
    report = Report()
    limit = QUICK_PAGES if options.quick else None
    if (CORPUS / "evaldata.json").is_file():
        pages = list(corpus_pages(limit=limit))
        _measure(f"trafilatura-eval ({len(pages)} pages)", pages, report)
    else:
        report.notes.append(f"trafilatura-eval skipped: no corpus at {CORPUS}")
    news = list(saved_pages()) + list(demo_pages())
    _measure(f"our news pages ({len(news)})", news, report)
    report.notes.append(
        "score = share of with/without snippets on the right side; baseline = "
        "trafilatura.extract(html) with its defaults; CPU = median process time per page"
    )
    return report
