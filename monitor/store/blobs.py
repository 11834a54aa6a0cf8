"""How a version's raw HTML is kept: zlib-compressed (the process pool compresses it, so the
writer does not; this module imports nothing heavy for the pool's sake)."""

from __future__ import annotations

import zlib


def compress_html(html: bytes) -> bytes:
    return zlib.compress(html, 6)


def decompress_html(blob: bytes | None) -> bytes | None:
    return zlib.decompress(blob) if blob is not None else None
