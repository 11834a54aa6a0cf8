"""CSS selector checks, apart from extraction so that reading the config stays cheap."""

from __future__ import annotations


def check_selector(selector: str) -> None:
    """Raise ValueError if ``selector`` is not valid CSS (for validating configuration).

    The parser is imported here, not above: most configs name no selector, and the read
    commands should not load an HTML parser to validate one that is not there.
    """
    from selectolax.lexbor import LexborHTMLParser, SelectolaxError

    try:
        LexborHTMLParser("<p></p>").css(selector)
    except SelectolaxError as exc:
        raise ValueError(f"invalid CSS selector {selector!r}") from exc
