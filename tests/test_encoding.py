"""decode_html: bytes from the wire to the text a browser would show."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.encoding import decode_html

PAGES = Path(__file__).parent / "data" / "pages"
CP1252_PAGE = (PAGES / "cp1252_article.html").read_bytes()
SJIS_PAGE = (PAGES / "shift_jis_article.html").read_bytes()
CP1252_META = b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
SJIS_META = b'<meta charset="Shift_JIS">'

CP1252_PHRASES = [
    "Café prices: “A coffee now costs €3.20”",
    "Françoise Duré",
    "“People still come, but they stay for one coffee instead of two,” said José Nuñez",
    "The rent doubled… what can I do?",
    "between €1.30 and €1.90 — a rise",
]
SJIS_PHRASES = ["市役所の新庁舎、来春に開庁へ", "市長は「市民に開かれた庁舎にしたい」と話した。"]


def assert_contains_all(text: str, phrases: list[str]) -> None:
    for phrase in phrases:
        assert phrase in text
    assert "\ufffd" not in text


def test_windows_1252_page_declared_in_meta() -> None:
    assert_contains_all(decode_html(CP1252_PAGE), CP1252_PHRASES)


@pytest.mark.parametrize(
    "http_charset",
    [
        "windows-1252",
        "text/html; charset=windows-1252",
        'text/html; charset="cp1252"',
        # Browsers read pages labelled Latin-1 as windows-1252, which has € and curly quotes.
        "ISO-8859-1",
        "us-ascii",
    ],
)
def test_windows_1252_page_declared_in_http_header(http_charset: str) -> None:
    body = CP1252_PAGE.replace(CP1252_META, b"")
    assert_contains_all(decode_html(body, http_charset), CP1252_PHRASES)


def test_windows_1252_page_without_any_declaration_is_detected() -> None:
    body = CP1252_PAGE.replace(CP1252_META, b"")
    assert body != CP1252_PAGE
    assert_contains_all(decode_html(body), CP1252_PHRASES)


def test_shift_jis_page_declared_in_meta() -> None:
    assert_contains_all(decode_html(SJIS_PAGE), SJIS_PHRASES)


@pytest.mark.parametrize("http_charset", ["Shift_JIS", "shift-jis", "x-sjis", "windows-31j"])
def test_shift_jis_page_declared_in_http_header(http_charset: str) -> None:
    body = SJIS_PAGE.replace(SJIS_META, b"")
    assert_contains_all(decode_html(body, http_charset), SJIS_PHRASES)


def test_shift_jis_page_without_any_declaration_is_detected() -> None:
    body = SJIS_PAGE.replace(SJIS_META, b"")
    assert body != SJIS_PAGE
    assert_contains_all(decode_html(body), SJIS_PHRASES)


@pytest.mark.parametrize(
    "bogus", ["no-such-charset", "", "   ", "zlib", "base64", "rot13", "hex", "utf-7", "../../x"]
)
def test_unknown_or_non_text_http_charset_falls_through_to_meta(bogus: str) -> None:
    assert_contains_all(decode_html(CP1252_PAGE, bogus), CP1252_PHRASES)
    assert_contains_all(decode_html(SJIS_PAGE, bogus), SJIS_PHRASES)


def test_bogus_meta_charset_falls_through_to_detection() -> None:
    body = CP1252_PAGE.replace(CP1252_META, b'<meta charset="x-made-up">')
    assert_contains_all(decode_html(body), CP1252_PHRASES)


def test_utf7_is_never_used_even_when_declared() -> None:
    # UTF-7 would turn this innocent-looking text into a <script> tag.
    body = b'<meta charset="utf-7"><p>+ADw-script+AD4-alert(1)+ADw-/script+AD4-</p>'
    assert "<script>" not in decode_html(body)
    assert "<script>" not in decode_html(body, "utf-7")


def test_http_charset_beats_meta() -> None:
    body = "<meta charset='utf-8'><p>Café €5</p>".encode("cp1252")
    assert "Café €5" in decode_html(body, "windows-1252")


def test_byte_order_mark_beats_a_contrary_header_and_is_removed() -> None:
    text = "<p>“Café” €5</p>"
    assert decode_html(codecs.BOM_UTF8 + text.encode(), "iso-8859-1") == text
    assert decode_html(codecs.BOM_UTF16_LE + text.encode("utf-16-le")) == text
    assert decode_html(codecs.BOM_UTF16_BE + text.encode("utf-16-be"), "utf-8") == text


def test_meta_claiming_utf16_in_an_ascii_compatible_page_means_utf8() -> None:
    body = '<meta charset="utf-16"><p>Zürich</p>'.encode()
    assert "Zürich" in decode_html(body)


def test_xml_declaration_is_honoured() -> None:
    body = '<?xml version="1.0" encoding="ISO-8859-15"?><html><p>Prix: 5 €</p></html>'
    assert "Prix: 5 €" in decode_html(body.encode("iso-8859-15"))


def test_character_cut_off_by_a_size_cap_does_not_spoil_the_page() -> None:
    body = "<p>“Café” at the end: €".encode()[:-1]  # last byte of € missing
    assert decode_html(body, "utf-8") == "<p>“Café” at the end: "


def test_stray_invalid_byte_in_utf8_page_is_replaced_not_misdetected() -> None:
    body = "<meta charset=utf-8><p>“Déjà vu” costs €5</p>".encode() + b"\xff<p>apr\xc3\xa8s</p>"
    text = decode_html(body)
    assert "“Déjà vu” costs €5" in text
    assert "\ufffd<p>après</p>" in text


def test_empty_body() -> None:
    assert decode_html(b"") == ""
    assert decode_html(b"", "shift_jis") == ""


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=2000),
    http_charset=st.sampled_from(
        [None, "utf-8", "shift_jis", "utf-16", "iso-2022-jp", "gb2312", "bogus", "zlib", "utf-7"]
    ),
)
def test_never_raises(body: bytes, http_charset: str | None) -> None:
    assert isinstance(decode_html(body, http_charset), str)
