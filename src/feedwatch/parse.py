"""Feed bytes into a ParsedFeed of plain-text items: RSS and Atom through feedparser, JSON
Feed through jsonfeed.

Pure: no I/O. feedparser is only ever given bytes, never a URL or a path, so it cannot fetch
anything or read a local file. A bad entry is skipped and counted; a body that is not a feed
at all is a ParseError naming what it looks like instead.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from feedwatch import fastparse
from feedwatch.errors import ParseError
from feedwatch.jsonfeed import looks_like_json_feed, parse_json_feed
from feedwatch.models import ParsedFeed, ParsedItem
from feedwatch.text import html_to_text, one_line, truncate
from feedwatch.xmlguard import HostileXML, check_structure

SUMMARY_LIMIT = 500
_HTML_START = re.compile(
    rb"^(\xef\xbb\xbf)?\s*(<!--.*?-->\s*)*<(!doctype\s+html|html)[\s>]", re.I | re.S
)
_FEED_LINK = re.compile(
    r"<link\b[^>]*\btype=[\"']application/(?:rss|atom|feed)\+(?:xml|json)[\"'][^>]*>", re.I
)
_HREF = re.compile(r"\bhref=[\"']([^\"']+)[\"']", re.I)


def parse_feed(
    body: bytes,
    url: str,
    content_type: str | None = None,
    fast: bool = True,
    known_guid: Callable[[str], bool] | None = None,
) -> ParsedFeed:
    """Parse a feed document fetched from ``url`` (used as the base of relative links):
    RSS, Atom or JSON Feed. ``fast`` lets the expat reader take the documents it can;
    without it feedparser reads everything (the tests compare the two). An entry whose
    guid ``known_guid`` accepts is stored already: it is given its guid and nothing else,
    sparing the HTML to text of every item a changed feed still carries."""
    if looks_like_json_feed(body, content_type):
        return parse_json_feed(body, url)
    media = (content_type or "").split(";")[0].strip().lower()
    if media.startswith(("image/", "audio/", "video/", "font/")) or media in _BINARY_TYPES:
        raise ParseError(url, f"not a feed: the server sent {media}")
    body = _repair_character_references(body)
    # the fast reader holds itself to xmlguard's limits, so only what it declines is checked
    document = fastparse.read(body, url, content_type, known_guid) if fast else None
    feed: Mapping[str, Any]
    entries: Sequence[Mapping[str, Any]]
    if document is not None:
        version, feed, entries = document.version, document.feed, document.entries
    else:
        try:
            check_structure(body)
        except HostileXML as e:
            raise ParseError(url, f"refused: {e}") from e
        version, feed, entries = _feedparser(body, url, content_type)
    items: list[ParsedItem] = []
    skipped = 0
    declared_types = version.startswith("atom")
    for entry in entries:
        try:
            guid = one_line(_str(entry.get("id"))) if known_guid is not None else ""
            if guid and known_guid is not None and known_guid(guid):
                items.append(_known_item(guid))
                continue
            items.append(_item(entry, declared_types))
        except (TypeError, ValueError, AttributeError, KeyError):
            skipped += 1
    title = one_line(html_to_text(_str(feed.get("title")))) or None
    return ParsedFeed(
        title=title,
        link=_str(feed.get("link")) or None,
        items=tuple(items),
        skipped=skipped,
        interval_hint=_interval_hint(feed),
    )


def _feedparser(
    body: bytes, url: str, content_type: str | None
) -> tuple[str, Mapping[str, Any], Sequence[Mapping[str, Any]]]:
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    # feedparser's own HTML sanitising and link rewriting inside content are skipped: every
    # piece of HTML is turned into plain text here anyway (tags, scripts and styles dropped),
    # and they cost a third of the parse time.
    try:
        result = feedparser.parse(
            body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except (ValueError, OverflowError, UnicodeError, RecursionError) as e:
        # feedparser lets some bad input escape: a character reference past U+10FFFF or to a
        # surrogate (chr(n).encode), for one
        raise ParseError(url, f"not a readable feed: {e}") from e
    if not result.get("version") and not result.entries:
        raise ParseError(url, _not_a_feed(body, url, result))
    return str(result.get("version", "")), result.feed, result.entries


_PERIODS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 604800,
    "monthly": 2592000,
    "yearly": 31536000,
}
_BINARY_TYPES = frozenset({"application/pdf", "application/zip", "application/octet-stream"})


def _interval_hint(feed: Mapping[str, Any]) -> int | None:
    """The feed's own idea of how often to poll it, in seconds: RSS ttl, or sy:updatePeriod
    divided by sy:updateFrequency."""
    hints = []
    ttl = _str(feed.get("ttl")).strip()
    if ttl.isdigit():
        hints.append(int(ttl) * 60)
    period = _PERIODS.get(_str(feed.get("sy_updateperiod")).strip().lower())
    if period:
        frequency = _str(feed.get("sy_updatefrequency")).strip()
        hints.append(period // max(1, int(frequency)) if frequency.isdigit() else period)
    return max(hints) if hints else None


_CHARREF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


def _repair_character_references(body: bytes) -> bytes:
    """Numeric references to no character (a surrogate, past U+10FFFF) become U+FFFD:
    feedparser raises on them, and one bad title must not cost the whole feed."""
    if b"&#" not in body:
        return body

    def repair(match: re.Match[bytes]) -> bytes:
        digits = match.group(1) or match.group(2)
        value = int(digits, 16) if match.group(1) else int(digits)
        if len(digits) > 8 or value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            return b"&#xFFFD;"
        return match.group(0)

    return _CHARREF.sub(repair, body)


def _not_a_feed(body: bytes, url: str, result: Mapping[str, Any]) -> str:
    if not body.strip():
        return "not a feed: the response is empty"
    if _HTML_START.match(body[:2048]):
        text = body[:262144].decode("utf-8", "replace")
        links = [
            urljoin(url, html.unescape(m.group(1)))
            for tag in _FEED_LINK.findall(text)
            if (m := _HREF.search(tag))
        ]
        if links:
            return "not a feed: an HTML page that links to feeds at " + ", ".join(links[:5])
        return "not a feed: an HTML page"
    reason = result.get("bozo_exception")
    return f"not a feed: {reason}" if reason else "not a feed"


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _item(entry: Mapping[str, Any], declared_types: bool) -> ParsedItem:
    title = _title(entry, declared_types)
    summary_raw = _str(entry.get("summary"))
    summary_text = html_to_text(summary_raw)
    contents = entry.get("content") or []
    content_text = "\n".join(
        summary_text if value == summary_raw else html_to_text(value)
        for part in contents
        if (value := _str(part.get("value")))
    ).strip()
    content = content_text or summary_text
    summary = truncate(one_line(summary_text or content_text), SUMMARY_LIMIT)
    guid = one_line(_str(entry.get("id"))) or None
    link = _str(entry.get("link")).strip() or None
    if link and entry.get("guidislink") and not link.lower().startswith(("http://", "https://")):
        link = None  # feedparser copied an id such as tag: or urn: into the link
    author = one_line(html_to_text(_str(entry.get("author")))) or None
    return ParsedItem(
        guid=guid,
        link=link,
        title=title,
        author=author,
        published_at=_date(entry),
        summary=summary,
        content=content,
    )


def _known_item(guid: str) -> ParsedItem:
    return ParsedItem(
        guid=guid, link=None, title="", author=None, published_at=None, summary="", content=""
    )


def _title(entry: Mapping[str, Any], declared_types: bool) -> str:
    raw = _str(entry.get("title"))
    detail = entry.get("title_detail") or {}
    # Atom declares a title's type; RSS does not, and feedparser's guess calls a title with
    # escaped markup such as &lt;br&gt; plain text, so an RSS title is always cleaned as HTML.
    if declared_types and detail.get("type") == "text/plain":
        return one_line(raw)
    return one_line(html_to_text(raw))


def _date(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get, not entry.get: feedparser's own lookup falls back from one date to
        # another with a DeprecationWarning
        value = dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)
        if isinstance(value, time.struct_time):
            try:
                return datetime(*value[:6], tzinfo=UTC)
            except (ValueError, OverflowError):
                continue
    return None
