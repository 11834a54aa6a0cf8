"""Turn fetched HTML bytes into text the way a browser would, without ever raising.

Order of evidence, strongest first: a byte-order mark (unambiguous, and browsers let it
override the header), the HTTP charset, a ``<meta>`` / XML declaration near the top, a
strict UTF-8 decode, statistical detection, and finally UTF-8 with replacement characters.
A declared charset that is unknown, not a text encoding, or does not decode cleanly is
treated as missing evidence rather than an error.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

__all__ = ["decode_html"]

_PRESCAN_BYTES = 4096

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Labels that browsers (WHATWG Encoding Standard) map to a superset of what Python's codec
# of the same name decodes: a page labelled ISO-8859-1 is really read as windows-1252.
_WEB_ALIASES = {
    **dict.fromkeys(
        ("ascii", "us-ascii", "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1"),
        "cp1252",
    ),
    **dict.fromkeys(("iso-8859-9", "iso8859-9", "latin5", "l5"), "cp1254"),
    **dict.fromkeys(("iso-8859-11", "tis-620", "windows-874"), "cp874"),
    **dict.fromkeys(
        ("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "windows-31j", "csshiftjis"),
        "cp932",
    ),
    **dict.fromkeys(("gb2312", "gbk", "x-gbk", "gb_2312-80", "chinese", "csgb2312"), "gb18030"),
    **dict.fromkeys(("euc-kr", "ks_c_5601-1987", "korean", "windows-949"), "cp949"),
    **dict.fromkeys(("big5", "big5-hkscs", "x-x-big5", "cn-big5"), "big5hkscs"),
    **dict.fromkeys(("iso-8859-8-i", "logical"), "iso8859-8"),
    **dict.fromkeys(("macintosh", "x-mac-roman", "mac"), "mac-roman"),
    "x-mac-cyrillic": "mac-cyrillic",
}

# Codecs Python knows that no web page legitimately uses; UTF-7 is also an XSS vector.
_REFUSED = {"utf_7", "unicode_escape", "raw_unicode_escape", "undefined", "punycode", "idna"}

_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-z0-9_.:+-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([a-z0-9_.:+-]+)""", re.I)
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([^"';\s]+)""", re.I)

# Detection is weak at telling Western single-byte pages apart (English text with curly
# quotes comes back as cp1250 or cp850); like browsers, default those to windows-1252
# unless the detector recognised a language that windows-1252 cannot write.
_LATIN_SINGLE_BYTE = {
    "cp1250", "cp1252", "cp1254", "cp1257", "cp437", "cp775", "cp850", "cp852", "cp858",
    "cp860", "cp861", "cp863", "cp865", "latin_1", "iso8859_2", "iso8859_3", "iso8859_4",
    "iso8859_9", "iso8859_10", "iso8859_13", "iso8859_14", "iso8859_15", "iso8859_16",
    "mac_roman", "mac_latin2", "mac_iceland",
}  # fmt: skip
_NOT_WINDOWS_1252_LANGUAGES = {
    "Croatian", "Czech", "Estonian", "Hungarian", "Lithuanian", "Polish", "Romanian",
    "Serbian", "Slovak", "Slovene", "Turkish",
}  # fmt: skip


def decode_html(body: bytes, http_charset: str | None = None) -> str:
    """Decode an HTML body; ``http_charset`` is the charset name or a whole Content-Type."""
    declared = [
        _bom_codec(body),
        _codec_for(_charset_param(http_charset)),
        _codec_for(_prescan_charset(body[:_PRESCAN_BYTES]), in_document=True),
    ]
    for codec in _candidates(body, declared):
        if codec is not None and (text := _strict_decode(body, codec)) is not None:
            return _strip_bom(text)
    fallback = next((codec for codec in declared if codec is not None), "utf-8")
    return _strip_bom(body.decode(fallback, errors="replace"))


def _candidates(body: bytes, declared: list[str | None]) -> Iterator[str | None]:
    """Yield codecs to try in order; detection is slow, so it runs only if reached."""
    yield from declared
    yield "utf-8"
    yield _detect_codec(body)


def _bom_codec(body: bytes) -> str | None:
    return next((codec for bom, codec in _BOMS if body.startswith(bom)), None)


def _strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


def _charset_param(value: str | None) -> str | None:
    """Accept either a bare charset name or a Content-Type header value."""
    if not value:
        return None
    if "=" in value or ";" in value:
        match = _CHARSET_PARAM.search(value)
        return match.group(1) if match else None
    return value


def _prescan_charset(head: bytes) -> str | None:
    match = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    return match.group(1).decode("ascii") if match else None


def _codec_for(label: str | None, *, in_document: bool = False) -> str | None:
    """Map a charset label to a Python text codec name, or None if it is unusable."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if in_document and label.startswith(("utf-16", "utf-32")):
        # We found the declaration by reading ASCII, so the bytes are not UTF-16.
        return "utf-8"
    label = _WEB_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
        b"a".decode(name, errors="ignore")  # refuses bytes-to-bytes codecs: zlib, base64
    except (LookupError, ValueError):
        return None
    return None if name.replace("-", "_") in _REFUSED else name


def _strict_decode(body: bytes, codec: str) -> str | None:
    """Decode strictly, tolerating only a multi-byte character cut off by a size cap."""
    try:
        return codecs.getincrementaldecoder(codec)(errors="strict").decode(body, final=False)
    except (UnicodeDecodeError, LookupError, ValueError):
        return None


def _detect_codec(body: bytes) -> str | None:
    # Imported on first use: most pages and feeds declare their charset, and the service's
    # own process need not load the detector for them.
    import charset_normalizer

    best = charset_normalizer.from_bytes(body).best()
    if best is None:
        return None
    western = best.language not in _NOT_WINDOWS_1252_LANGUAGES
    if (
        best.encoding in _LATIN_SINGLE_BYTE
        and western
        and _strict_decode(body, "cp1252") is not None
    ):
        return "cp1252"
    return _codec_for(best.encoding)
