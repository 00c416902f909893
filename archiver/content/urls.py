"""Canonical URLs: one spelling for every way of reaching the same article.

Lowercase scheme and host, default port dropped, fragment dropped, tracking parameters removed,
the remaining query kept in order. Only http and https URLs are accepted.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit, urlunsplit

MAX_URL_LENGTH = 8192
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "_hs")
_TRACKING_NAMES = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
    "mc_cid", "mc_eid", "igshid", "ref_src", "ref_url", "_ga", "_gl", "mkt_tok", "oly_anon_id",
    "oly_enc_id", "vero_id", "rb_clickid", "s_cid", "wt_mc", "ncid", "sr_share", "cmpid",
})
_UNSAFE_HOST = re.compile(r"[\s\\/@]")
_IDNA_DOTS = {0x3002: ".", 0xFF0E: ".", 0xFF61: "."}
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")


class BadURL(ValueError):
    """A URL the archiver will not fetch; ``reason`` is a short class, the message says why."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def check_url(url: str) -> SplitResult:
    """Split ``url`` and refuse anything but an absolute http(s) URL without credentials."""
    if not isinstance(url, str) or not url.strip():
        raise BadURL("bad_url", "empty URL")
    if len(url) > MAX_URL_LENGTH:
        raise BadURL("bad_url", f"URL longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise BadURL("bad_url", f"malformed URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        shown = f"{scheme}:" if scheme else "no scheme"
        raise BadURL("unsupported_scheme", f"only http and https URLs are archived, not {shown} ({url!r})")
    if parts.username is not None or parts.password is not None:
        raise BadURL("credentials_in_url", "URLs with user names or passwords are refused")
    host = parts.hostname or ""
    if not host or _UNSAFE_HOST.search(host):
        raise BadURL("bad_url", f"malformed URL {url!r}: no usable host")
    if port == 0:
        raise BadURL("bad_url", f"malformed URL {url!r}: port 0")
    return parts


def canonical_url(url: str) -> str:
    """The canonical form of an http(s) URL; raises BadURL for anything else."""
    if not isinstance(url, str):
        check_url(url)  # raises, as for any other URL it refuses
    return _canonical(url)


@lru_cache(maxsize=4096)  # one page's URL is canonicalised four or five times on its way in
def _canonical(url: str) -> str:
    parts = check_url(url)
    scheme = parts.scheme.lower()
    host = _plain_host(parts.hostname)
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~-._")
    return urlunsplit((scheme, netloc, path, _clean_query(parts.query), ""))


def _clean_query(query: str) -> str:
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _is_tracking(k)]
    return urlencode(kept, quote_via=quote, safe="/:@!$'()*+,;~-._")


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)


def _plain_host(hostname: str | None) -> str:
    """Lowercase, without a trailing dot, with the IDNA dot variants (``。．｡``) as ``.``: the
    host HTTP clients actually connect to, so that spellings of one host do not become two."""
    return (hostname or "").translate(_IDNA_DOTS).lower().rstrip(".")


def redact_url(url: str) -> str:
    """``url`` with any user name and password replaced by ``***``: what may be stored or logged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_userinfo(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def redact_userinfo(text: str) -> str:
    """``text`` (say, an error message) with credentials in any URL it quotes replaced by ``***``."""
    return _USERINFO.sub(r"\1***@", text)


def host_of(url: str) -> str:
    """The lowercase host of a URL, for politeness and same-site checks ('' if none)."""
    try:
        return _plain_host(urlsplit(url).hostname)
    except ValueError:
        return ""
