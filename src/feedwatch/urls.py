"""Canonical links, so the same article under a decorated link is recognised (SPEC: dedup).

Pure: no I/O.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Parameters that say who sent the reader, never which article it is.
_TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "hsa_", "_hs")
_TRACKING = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "oly_enc_id", "oly_anon_id", "vero_id",
        "mkt_tok", "rb_clickid", "s_cid", "ncid", "cmpid", "wt_mc",
    }
)  # fmt: skip


def is_tracking_param(name: str) -> bool:
    """True for query parameters that only track the click."""
    lowered = name.lower()
    return lowered in _TRACKING or lowered.startswith(_TRACKING_PREFIXES)


def canonical_link(url: str) -> str:
    """Scheme and host lowercased, default port, fragment and tracking parameters removed."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = host
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{host}"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_param(k)
    ]
    path = parts.path or ("/" if host else "")
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))
