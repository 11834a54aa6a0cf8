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


# Second-level labels under which a country-code TLD registers names (example.co.uk,
# example.com.au, example.ne.jp): the heuristic `registrable_domain` uses in place of the
# Public Suffix List, which is not a dependency. Known misses: geographic suffixes
# (city.kawasaki.jp is read as kawasaki.jp) and private suffixes not listed below.
_CC_SECOND_LEVEL = frozenset(
    {
        "ac", "co", "com", "edu", "go", "gob", "gov", "gv", "ltd", "me", "mil", "ne", "net",
        "nhs", "nic", "nom", "or", "org", "plc", "police", "sch", "web",
    }
)  # fmt: skip
# Suffixes under which anyone can publish: each customer is a site of its own.
_SHARED_SUFFIXES = frozenset(
    {
        "blogspot.com", "github.io", "gitlab.io", "netlify.app", "pages.dev", "vercel.app",
        "substack.com", "wordpress.com", "medium.com", "tumblr.com", "herokuapp.com",
        "appspot.com", "azurewebsites.net", "cloudfront.net", "s3.amazonaws.com",
    }
)  # fmt: skip


@lru_cache(maxsize=16384)
def registrable_domain(url_or_host: str) -> str:
    """The part of a host name a publisher registers: `news.bbc.co.uk` → `bbc.co.uk`,
    `www.example.com` → `example.com`, `alice.substack.com` → `alice.substack.com`.

    A documented heuristic instead of the Public Suffix List: the last two labels, or three
    when the second-to-last is a registration label of a two-letter country code
    (`co.uk`, `com.au`, `ne.jp`: see `_CC_SECOND_LEVEL`), or one more under a shared hosting
    suffix (`_SHARED_SUFFIXES`). An IP address and a single-label name are their own
    domain. Ports and user names are ignored; the result is lower-case.
    """
    host = url_or_host
    if "/" in host:
        host = urlsplit(host).hostname or ""
    host = host.strip().lower().rstrip(".").strip("[]")
    if not host or ":" in host or re.fullmatch(r"[\d.]+", host):  # IPv6 / IPv4 literal
        return host
    labels = host.split(".")
    size = 2
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _CC_SECOND_LEVEL:
        size = 3
    if ".".join(labels[-2:]) in _SHARED_SUFFIXES or ".".join(labels[-3:]) in _SHARED_SUFFIXES:
        size = 3 if ".".join(labels[-2:]) in _SHARED_SUFFIXES else 4
    return ".".join(labels[-size:])


def same_site(first: str, second: str) -> bool:
    """Whether two URLs (or host names) belong to one registrable domain."""
    return registrable_domain(first) == registrable_domain(second)
