"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1) into a ParsedFeed.

Pure: no I/O. feedparser does not read JSON Feed, so this is the third format's own reader;
its items come out exactly like those of RSS and Atom (plain text, UTC dates).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from feedwatch.errors import ParseError
from feedwatch.models import ParsedFeed, ParsedItem
from feedwatch.text import html_to_text, one_line, truncate

SUMMARY_LIMIT = 500


def looks_like_json_feed(body: bytes, content_type: str | None) -> bool:
    """True for a body that claims to be a JSON Feed, by media type or by its first bytes."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("application/feed+json", "application/json") and body.lstrip()[:1] == b"{":
        return True
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:200]
    return head.startswith(b"{") and b"jsonfeed.org/version" in body[:4096]


def parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    """Read a JSON Feed; a body that is not one is a ParseError."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ParseError(url, f"not a feed: invalid JSON: {e}") from e
    if not isinstance(document, dict) or "jsonfeed.org/version" not in str(
        document.get("version", "")
    ):
        raise ParseError(url, "not a feed: JSON without a JSON Feed version")
    base = urljoin(url, _text(document.get("feed_url")) or url)
    items: list[ParsedItem] = []
    skipped = 0
    raw_items = document.get("items")
    for raw in raw_items if isinstance(raw_items, list) else []:
        try:
            items.append(_item(raw, base, document))
        except (TypeError, ValueError, AttributeError):
            skipped += 1
    title = one_line(_text(document.get("title"))) or None
    link = _text(document.get("home_page_url")) or None
    return ParsedFeed(title=title, link=link, items=tuple(items), skipped=skipped)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _item(raw: Any, base: str, document: dict[str, Any]) -> ParsedItem:
    if not isinstance(raw, dict):
        raise TypeError("an item is not an object")
    link = _text(raw.get("url")) or _text(raw.get("external_url"))
    html_body = _text(raw.get("content_html"))
    content = html_to_text(html_body) if html_body else _text(raw.get("content_text")).strip()
    summary_source = _text(raw.get("summary"))
    summary = one_line(summary_source) if summary_source else one_line(content)
    item_id = raw.get("id")
    return ParsedItem(
        guid=one_line(str(item_id)) if item_id not in (None, "") else None,
        link=urljoin(base, link) if link else None,
        title=one_line(html_to_text(_text(raw.get("title")))),
        author=_author(raw) or _author(document),
        published_at=_date(raw.get("date_published")) or _date(raw.get("date_modified")),
        summary=truncate(summary, SUMMARY_LIMIT),
        content=content or summary,
    )


def _author(holder: dict[str, Any]) -> str | None:
    authors = holder.get("authors")
    if not isinstance(authors, list):
        authors = [holder.get("author")]
    names = [one_line(_text(a.get("name"))) for a in authors if isinstance(a, dict)]
    return ", ".join(n for n in names if n) or None


def _date(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # a date at datetime's very edge, such as 9999-12-31T23:59-12:00
        return None
