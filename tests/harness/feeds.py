"""Render RSS 2.0 and Atom 1.0 feeds from item dicts, as UTF-8 bytes, for tests.

Item keys (all optional): id (or guid), title, link, summary (HTML), content (HTML), author,
published (an aware datetime). Unknown keys raise KeyError, so that a typo in a test does
not silently drop a field. Text is XML-escaped, never wrapped in CDATA; HTML in summary
and content is escaped once, as feeds carry it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

ITEM_KEYS = frozenset({"id", "guid", "title", "link", "summary", "content", "author", "published"})

# A literal CR would be normalised to LF by any XML parser; keep it as a character reference
# so header-injection tests can put a real CR into a title.
_ENTITIES = {"\r": "&#13;"}


def _text(value: str) -> str:
    return escape(value, _ENTITIES)


def _attr(value: str) -> str:
    return quoteattr(value, _ENTITIES)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"published must be an aware datetime, got {value!r}")
    return value.astimezone(UTC)


def _checked(item: Mapping[str, Any]) -> Mapping[str, Any]:
    unknown = set(item) - ITEM_KEYS
    if unknown:
        raise KeyError(f"unknown item keys {sorted(unknown)}; allowed: {sorted(ITEM_KEYS)}")
    if "id" in item and "guid" in item and item["id"] != item["guid"]:
        raise ValueError("give id or guid, not two different values")
    return item


def _item_id(item: Mapping[str, Any]) -> str | None:
    value = item.get("id", item.get("guid"))
    return None if value is None else str(value)


def _rss_item(item: Mapping[str, Any]) -> str:
    item = _checked(item)
    parts = ["<item>"]
    if "title" in item:
        parts.append(f"<title>{_text(item['title'])}</title>")
    if "link" in item:
        parts.append(f"<link>{_text(item['link'])}</link>")
    if (guid := _item_id(item)) is not None:
        parts.append(f'<guid isPermaLink="false">{_text(guid)}</guid>')
    if "summary" in item:
        parts.append(f"<description>{_text(item['summary'])}</description>")
    if "content" in item:
        parts.append(f"<content:encoded>{_text(item['content'])}</content:encoded>")
    if "author" in item:
        parts.append(f"<dc:creator>{_text(item['author'])}</dc:creator>")
    if "published" in item:
        date = format_datetime(_utc(item["published"]), usegmt=True)
        parts.append(f"<pubDate>{date}</pubDate>")
    parts.append("</item>")
    return "".join(parts)


def rss(
    title: str,
    link: str,
    items: Iterable[Mapping[str, Any]],
    *,
    description: str | None = None,
) -> bytes:
    """An RSS 2.0 document with content: and dc: namespaces, as UTF-8 bytes."""
    body = "\n".join(_rss_item(item) for item in items)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
        "<channel>\n"
        f"<title>{_text(title)}</title>\n"
        f"<link>{_text(link)}</link>\n"
        f"<description>{_text(description if description is not None else title)}"
        "</description>\n"
        f"{body}\n"
        "</channel>\n"
        "</rss>\n"
    ).encode()


def _atom_entry(item: Mapping[str, Any]) -> str:
    item = _checked(item)
    parts = ["<entry>"]
    if (entry_id := _item_id(item)) is not None:
        parts.append(f"<id>{_text(entry_id)}</id>")
    if "title" in item:
        parts.append(f'<title type="text">{_text(item["title"])}</title>')
    if "link" in item:
        parts.append(f'<link rel="alternate" type="text/html" href={_attr(item["link"])}/>')
    if "published" in item:
        date = _utc(item["published"]).isoformat().replace("+00:00", "Z")
        parts.append(f"<published>{date}</published><updated>{date}</updated>")
    if "author" in item:
        parts.append(f"<author><name>{_text(item['author'])}</name></author>")
    if "summary" in item:
        parts.append(f'<summary type="html">{_text(item["summary"])}</summary>')
    if "content" in item:
        parts.append(f'<content type="html">{_text(item["content"])}</content>')
    parts.append("</entry>")
    return "".join(parts)


def atom(
    title: str,
    link: str,
    items: Iterable[Mapping[str, Any]],
    *,
    feed_id: str | None = None,
) -> bytes:
    """An Atom 1.0 document, as UTF-8 bytes; feed <updated> is the newest item date."""
    items = list(items)
    dates = [_utc(item["published"]) for item in items if "published" in item]
    updated = (
        f"<updated>{max(dates).isoformat().replace('+00:00', 'Z')}</updated>\n" if dates else ""
    )
    body = "\n".join(_atom_entry(item) for item in items)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f'<title type="text">{_text(title)}</title>\n'
        f'<link rel="alternate" type="text/html" href={_attr(link)}/>\n'
        f"<id>{_text(feed_id if feed_id is not None else link)}</id>\n"
        f"{updated}"
        f"{body}\n"
        "</feed>\n"
    ).encode()
