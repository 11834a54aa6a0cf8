"""URL canonicalisation (pure): one story, one key, whatever tracking was added to its link."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

# Parameters that identify a campaign or a click, never the document.
_TRACKING_EXACT = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "ocid", "cmpid", "ncid", "sr_share",
        "smid", "mbid", "guccounter", "guce_referrer", "guce_referrer_sig", "spm",
        "ref_src", "__twitter_impression",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "hsa_", "at_", "oly_", "vero_")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# Control characters other than tab and newlines (which urlsplit drops, as browsers do): no
# real link has them, and PostgreSQL cannot store a NUL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def is_tracking_parameter(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_EXACT or lowered.startswith(_TRACKING_PREFIXES)


@lru_cache(maxsize=65536)
def canonicalize_url(url: str, base: str | None = None) -> str:
    """Lower-case scheme and host, drop default port, fragment and tracking parameters.

    Cached: a feed offers the same links at every poll.

    The path and the remaining query keep their case and order: servers may treat them
    as significant. ValueError for what cannot be a link (a control character in it).
    """
    url = url.strip()
    if _CONTROL.search(url):
        raise ValueError("control character in URL")
    if base and not url.startswith(("http://", "https://")):  # urljoin keeps these as they are
        url = urljoin(base, url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port is not None and str(parts.port) != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    path = re.sub(r"/{2,}", "/", parts.path) or "/"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    kept = [(k, v) for k, v in query if not is_tracking_parameter(k)]
    return urlunsplit((scheme, host, path, urlencode(kept, doseq=True), ""))


_AMP_QUERY = {("output", "amp"), ("amp", "1"), ("amp", "true"), ("outputtype", "amp")}
_PRINT_QUERY = {("print", "1"), ("print", "true"), ("view", "print"), ("output", "print")}
_HOST_PREFIXES = ("www.", "m.", "mobile.", "amp.")
_PATH_MARKERS = re.compile(r"(?:/(?:amp|print))+/?$|\.amp(?=\.html?$)")


@lru_cache(maxsize=65536)
def identity_key(url: str) -> str:
    """One key for the versions of a page that only differ in how it is served.

    AMP (`/amp`, `?output=amp`, `amp.` hosts, `.amp.html`), mobile hosts (`m.`, `mobile.`),
    `www.`, print views (`/print`, `?print=1`) and http versus https all map to the same
    key. The key is for matching only: stories keep a real URL to fetch.
    """
    parts = urlsplit(canonicalize_url(url))
    host = parts.netloc
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
            break
    path = _PATH_MARKERS.sub("", parts.path).rstrip("/") or "/"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if (k.lower(), v.lower()) not in _AMP_QUERY | _PRINT_QUERY
    ]
    return urlunsplit(("", host, path, urlencode(query, doseq=True), ""))[2:]
