"""The web view in a real browser (Debian's Chromium, driven by Playwright) against a
`monitor web` process over a database filled by real polls of the demo newsroom: a reader
filters by topic, opens a changed story and its diff, follows an event to its stories and
loads a topic's chart. Each step's screenshot is saved under the test's tmp path. The
accessibility smoke check looks for landmarks, labelled controls and the contrast of the
diff's colours as the browser computes them from the stylesheet."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page

from monitor.app import open_app
from monitor.demo.webserver import WebServer
from tests.support.browser import launch_chromium
from tests.support.newsroom import filled_newsroom
from tests.test_end_to_end import write_config
from tests.test_service import monitor_process, reap
from tests.test_web_safety import add_hostile_stories

pytestmark = pytest.mark.integration

CORRECTED = "Stargate's first campus in Abilene"
VIEWPORT = {"width": 1200, "height": 900}


@contextmanager
def monitor_web(config: Path) -> Iterator[str]:
    """`monitor web` on a free loopback port; its base URL while the block runs."""
    process = subprocess.Popen(
        monitor_process("--config", str(config), "web", "--listen", "127.0.0.1:0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"serving the web view on (http://127\.0\.0\.1:\d+)/", line)
        assert found, line + (process.stderr.read() if process.stderr else "")
        yield found.group(1)
        process.terminate()
        process.wait(timeout=20)
    finally:
        reap(process)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("browser")
    with filled_newsroom(folder) as filled, monitor_web(filled.config) as base:
        yield base


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        yield opened
    finally:
        opened.close()


def shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=folder / f"{name}.png", full_page=True)
    assert (folder / f"{name}.png").stat().st_size > 10_000


def test_a_reader_filters_by_topic_opens_a_changed_story_and_sees_the_edit(
    site: str, page: Page, tmp_path: Path
) -> None:
    page.goto(f"{site}/?since=all")
    shot(page, tmp_path, "1-coverage")
    assert page.locator("table.stories tbody tr").count() >= 6
    page.get_by_label("Topic").select_option("stargate")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"topic=stargate"))
    assert "since=all" in page.url
    headlines = page.locator("td.headline a").all_inner_texts()
    assert headlines and all("Stargate" in h for h in headlines), headlines
    shot(page, tmp_path, "2-filtered")
    page.get_by_role("link", name=re.compile(re.escape(CORRECTED))).click()
    page.wait_for_url(re.compile(r"/stories/\d+$"))
    assert "about 150 permanent staff" in page.locator("section.text").inner_text()
    shot(page, tmp_path, "3-story")
    page.get_by_role("link", name="edit").click()
    page.wait_for_url(re.compile(r"/diff\?from=1&to=2$"))
    inline = page.locator("section.inline")
    assert inline.locator("del").all_inner_texts() == ["350"]
    assert inline.locator("ins").all_inner_texts() == ["150"]
    assert page.locator(".side-by-side .column").nth(0).locator("del").inner_text() == "350"
    assert page.locator(".side-by-side .column").nth(1).locator("ins").inner_text() == "150"
    assert inline.locator("del").first.is_visible()
    shot(page, tmp_path, "4-diff")


def test_a_reader_follows_an_event_to_its_stories(site: str, page: Page, tmp_path: Path) -> None:
    page.goto(f"{site}/events?since=all")
    event = (
        page.locator("ul.events > li")
        .filter(has_text="Pacific Wire")
        .filter(has_text="The Daily Demo")
    )
    first = event.first
    link = first.get_by_role("link", name="Stories of this event in the coverage list")
    assert not link.is_visible()  # folded until opened
    first.locator("summary").click()
    assert link.is_visible()
    members = first.locator("ol.timeline li").count()
    assert members == 2
    shot(page, tmp_path, "5-events")
    link.click()
    page.wait_for_url(re.compile(r"event=\d+"))
    assert page.locator("table.stories tbody tr").count() == members
    outlets = set(page.locator("table.stories tbody td:nth-child(2)").all_inner_texts())
    assert outlets == {"Pacific Wire", "The Daily Demo"}


def test_a_topic_chart_loads(site: str, page: Page, tmp_path: Path) -> None:
    page.goto(f"{site}/topics/deepseek")
    chart = page.locator("svg.chart")
    box = chart.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 100
    assert chart.locator("rect.bar").count() >= 4  # today's bars and the legend's keys
    assert chart.get_attribute("role") == "img"
    assert "Stories per day about deepseek" in (chart.locator("title").first.text_content() or "")
    legend = chart.locator("text.legend").all_text_contents()
    assert legend == ["new stories", "changed", "removed"]
    assert page.locator("table.voices tbody tr").count() == 2
    shot(page, tmp_path, "6-topic")


# ---------------------------------------------------------------- accessibility smoke check

_LANDMARKS = """() => ({
  banner: document.querySelectorAll("header").length,
  navigation: document.querySelectorAll("nav").length,
  main: document.querySelectorAll("main").length,
  contentinfo: document.querySelectorAll("footer").length,
  h1: document.querySelectorAll("h1").length,
  lang: document.documentElement.lang,
  unlabelled: [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
    .filter(el => el.labels.length === 0 && !el.getAttribute("aria-label"))
    .map(el => el.outerHTML.slice(0, 80)),
})"""

_COLOURS = """(selector) => {
  const el = document.querySelector(selector);
  const style = getComputedStyle(el);
  return {color: style.color, background: style.backgroundColor,
          decoration: style.textDecorationLine};
}"""


def _luminance(css: str) -> float:
    red, green, blue = (int(x) / 255 for x in re.findall(r"\d+", css)[:3])

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two CSS rgb() colours."""
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_accessibility_smoke_check(site: str, page: Page) -> None:
    page.goto(f"{site}/api/stories?since=all")
    stories = page.evaluate("() => JSON.parse(document.body.innerText)")
    changed = next(s for s in stories if s["title"].startswith(CORRECTED))
    for path in (
        "/?since=all",
        "/events",
        f"/stories/{changed['id']}",
        f"/stories/{changed['id']}/diff",
        "/topics/deepseek",
        "/sources",
        "/seeds",
    ):
        page.goto(site + path)
        found = page.evaluate(_LANDMARKS)
        assert found["banner"] >= 1 and found["main"] == 1, path
        assert found["navigation"] >= 1 and found["contentinfo"] >= 1, path
        assert found["h1"] == 1 and found["lang"] == "en", path
        assert found["unlabelled"] == [], path
    page.goto(f"{site}/stories/{changed['id']}/diff")
    for selector, decoration in (
        ("section.inline del", "line-through"),
        ("section.inline ins", "underline"),
    ):
        colours = page.evaluate(_COLOURS, selector)
        assert contrast(colours["color"], colours["background"]) >= 4.5, colours
        assert colours["decoration"] == decoration  # readable without colour
    body = page.evaluate(_COLOURS, "main p")
    assert contrast(body["color"], "rgb(255, 255, 255)") >= 7


# ---------------------------------------------------------------- hostile content


def test_hostile_stories_do_nothing_in_the_browser(
    browser: Browser, tmp_path: Path, web_server: WebServer
) -> None:
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'h.db'}")
    app = open_app(config)
    try:
        first, second = add_hostile_stories(app)
    finally:
        app.close()
    dialogs: list[str] = []
    violations: list[str] = []
    with monitor_web(config) as base:
        page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]

        def dismiss(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", dismiss)
        page.on("console", lambda message: violations.append(message.text))
        try:
            for path in (
                "/?since=all",
                f"/stories/{first}",
                f"/stories/{second}",
                f"/stories/{first}/diff",
                "/sources",
            ):
                page.goto(base + path)
                page.mouse.move(200, 300)
                assert page.evaluate("document.scripts.length") == 0
                assert page.evaluate("document.querySelectorAll('img, iframe, object').length") == 0
                hrefs = page.evaluate("[...document.links].map(a => a.protocol)")
                assert set(hrefs) <= {"http:", "https:"}, hrefs
            page.goto(f"{base}/stories/{second}")
            page.get_by_text("javascript:alert(document.cookie)").click()  # text, not a link
            page.screenshot(path=tmp_path / "hostile.png", full_page=True)
        finally:
            page.close()
    assert dialogs == []
    assert not [v for v in violations if "Content Security Policy" in v], violations
    assert page.url.startswith(base)


# ---------------------------------------------------------------- the pictures in docs/


def write_docs(folder: Path = Path("docs")) -> None:
    """docs/web-coverage.png, web-diff.png and web-topic.png, from the demo newsroom:
    `PYTHONPATH=. .venv/bin/python -c "import tests.test_web_browser as t; t.write_docs()"`"""
    with (
        tempfile.TemporaryDirectory() as work,
        filled_newsroom(Path(work)) as filled,
        monitor_web(filled.config) as base,
        launch_chromium() as chromium,
    ):
        page = chromium.new_page(viewport={"width": 1100, "height": 700})
        page.goto(f"{base}/?since=all")
        page.screenshot(path=folder / "web-coverage.png", full_page=True)
        page.get_by_role("link", name=re.compile(re.escape(CORRECTED))).click()
        page.get_by_role("link", name="edit").click()
        page.wait_for_url(re.compile(r"/diff"))
        page.screenshot(path=folder / "web-diff.png", full_page=True)
        page.goto(f"{base}/topics/deepseek")
        page.screenshot(path=folder / "web-topic.png", full_page=True)
