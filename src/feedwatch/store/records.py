"""Rows of the database turned into models and into the SPEC's JSON Lines records.

Edge (part of store): pure functions of the rows; times are stored as fixed-width UTC text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from feedwatch.models import Alert, AlertItem, FeedState, Snippet


def ts(moment: datetime) -> str:
    """A stored time: UTC, fixed width, so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str | None) -> datetime | None:
    """A stored time back into an aware datetime."""
    if value is None:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def iso(value: str | None) -> str | None:
    """A stored time as the SPEC writes it: ISO 8601 UTC to the second, with a Z."""
    return None if value is None else value[:19] + "Z"


# the columns alert_from_row reads: alerts a, items i, feeds f
ALERT_COLUMNS = """
    a.id AS alert_id, a.rule, a.keywords, a.snippets, a.created_at, i.title, i.url, i.published_at,
    i.first_seen_at, i.author, i.summary, i.content, coalesce(f.poll_url, f.url) AS feed_url,
    coalesce(f.name, f.title, f.url) AS feed_title
"""


def alert_from_row(row: dict[str, Any]) -> Alert:
    """An alert, with its item and feed, from a row selected with ALERT_COLUMNS."""
    published = parse_ts(row["published_at"] or row["first_seen_at"])
    assert published is not None
    created = parse_ts(row["created_at"])
    assert created is not None
    return Alert(
        id=row["alert_id"],
        rule=row["rule"],
        keywords=tuple(json.loads(row["keywords"])),
        created_at=created,
        snippets=tuple(snippets_from_json(row["snippets"])),
        item=AlertItem(
            title=row["title"],
            url=row["url"],
            published_at=published,
            author=row["author"],
            summary=row["summary"],
            text=row["content"],
            feed_title=row["feed_title"],
            feed_url=row["feed_url"],
        ),
    )


def item_record(row: dict[str, Any]) -> dict[str, Any]:
    """SPEC: an item line of ``feedwatch items --json``."""
    return {
        "id": row["id"],
        "title": row["title"],
        "url": row["url"],
        "published": iso(row["published_at"] or row["first_seen_at"]),
        "author": row["author"],
        "summary": row["summary"],
        "first_seen": iso(row["first_seen_at"]),
        "copy_of": row["copy_of"],
        "story": row["copy_of"] or row["id"],
        "feed": {"title": row["feed_title"], "url": row["feed_url"]},
    }


def snippets_json(snippets: Sequence[Snippet]) -> str:
    """Snippets as stored in alerts.snippets."""
    return json.dumps([{"text": s.text, "marks": [list(m) for m in s.marks]} for s in snippets])


def snippets_from_json(value: str | None) -> list[Snippet]:
    """alerts.snippets back into Snippets."""
    pieces = json.loads(value or "[]")
    return [Snippet(p["text"], tuple((m[0], m[1]) for m in p["marks"])) for p in pieces]


def feed_state(row: dict[str, Any]) -> FeedState:
    """What polling needs of a feeds row."""
    return FeedState(
        id=row["id"],
        url=row["url"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        failures=row["failures"],
        next_poll_at=parse_ts(row["next_poll_at"]),
        gone=bool(row["gone"]),
        poll_url=row["poll_url"],
        redirect_to=row["redirect_to"],
        redirect_seen=row["redirect_seen"],
        interval_hint=row["interval_hint"],
    )


def feed_status(row: dict[str, Any]) -> str:
    """SPEC: new (never polled), ok, failing, gone."""
    if row["gone"]:
        return "gone"
    if row["last_polled_at"] is None:
        return "new"
    return "failing" if row["error"] else "ok"


def feed_record(row: dict[str, Any], mean_item_interval: float | None) -> dict[str, Any]:
    """SPEC: a feed line of ``feedwatch feeds --json``, with its health."""
    backing_off = row["failures"] > 1 and not row["gone"]
    return {
        "url": row["poll_url"] or row["url"],
        "configured_url": row["url"],
        "name": row["name"] or row["title"],
        "title": row["name"] or row["title"] or row["url"],
        "status": feed_status(row),
        "last_polled": iso(row["last_polled_at"]),
        "last_success": iso(row["last_success_at"]),
        "last_status": row["last_status"],
        "error": row["error"],
        "failing_since": iso(row["failing_since_at"]),
        "failures": row["failures"],
        "backing_off_until": iso(row["next_poll_at"]) if backing_off else None,
        "items": row["item_count"],
        "mean_item_interval": round(mean_item_interval) if mean_item_interval else None,
        "next_poll": None if row["gone"] else iso(row["next_poll_at"]),
    }


def delivery_record(row: dict[str, Any]) -> dict[str, Any]:
    """A delivery as ``feedwatch alerts --json`` shows it."""
    return {
        "id": row["id"],
        "notifier": row["notifier"],
        "status": row["status"],
        "attempts": row["attempts"],
        "error": row["last_error"],
        "last_attempt": iso(row["last_attempt_at"]),
        "next_attempt": iso(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "sent": iso(row["sent_at"]),
    }
