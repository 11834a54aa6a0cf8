"""CSS selector checks, apart from extraction so that reading the config stays cheap."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, SelectolaxError


def check_selector(selector: str) -> None:
    """Raise ValueError if ``selector`` is not valid CSS (for validating configuration)."""
    try:
        LexborHTMLParser("<p></p>").css(selector)
    except SelectolaxError as exc:
        raise ValueError(f"invalid CSS selector {selector!r}") from exc
