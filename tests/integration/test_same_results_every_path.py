"""Whatever the path, the same items are stored and the same alerts raised (issue 6, 4).

The benchmark corpus is served on loopback and polled three ways, each into its own
database: the expat fast path on the event loop, feedparser alone, and the fast path in
worker processes. Items (their text, links, dates, keys, copies) and alerts (ids,
keywords, snippets) must be identical.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from feedwatch import fastparse, parse, workers
from feedwatch.app import App
from feedwatch.config import parse_config
from feedwatch.models import ParsedItem
from feedwatch.store import Store
from harness.servers import FeedServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "feeds"))
from corpus import Corpus

FEEDS = 40

ITEMS = (
    "SELECT f.url, i.guid, i.url, i.title, i.author, i.published_at, i.summary, i.content,"
    " i.entry_key, i.link_key, i.content_key FROM items i JOIN feeds f ON f.id = i.feed_id"
    " ORDER BY f.url, i.entry_key"
)
# Feeds are polled at once, so which copy of a wire story is stored first (the original,
# which alerts) may differ from run to run; the stories themselves may not.
STORIES = "SELECT coalesce(copy_of, id), entry_key FROM items"
ALERTS = (
    "SELECT a.rule, a.keywords, a.snippets, coalesce(i.copy_of, i.id) FROM alerts a"
    " JOIN items i ON i.id = a.item_id"
)


def poll_into(
    tmp_path: Path, name: str, urls: list[str], between: Callable[[], None] | None = None
) -> dict[str, list[Any]]:
    """Poll every feed into a database of its own; with ``between``, call it and poll again
    (a second round, where most items are known)."""
    text = "\n".join(
        [f"database: {tmp_path / name}.db", "feeds:"]
        + [f"  - {url}" for url in urls]
        + ["alerts:", "  - name: bench", "    keywords: [Panama, mining, Peru]",
           "  - name: phrase", '    query: \'"the american people" OR tax*\'']
    )  # fmt: skip
    config = parse_config(text, str(tmp_path / f"{name}.yaml"), env={})

    async def go() -> None:
        async with App(config) as app:
            await app.poll()
            if between is not None:
                between()
                await app.poll()

    asyncio.run(go())
    db = sqlite3.connect(tmp_path / f"{name}.db")
    try:
        members: dict[int, set[str]] = {}
        for story, entry_key in db.execute(STORIES):
            members.setdefault(story, set()).add(entry_key)
        named = {story: min(keys) for story, keys in members.items()}
        return {
            "items": db.execute(ITEMS).fetchall(),
            "stories": sorted(sorted(keys) for keys in members.values()),
            "alerts": sorted(
                (rule, words, snippets, named[story])
                for rule, words, snippets, story in db.execute(ALERTS)
            ),
        }
    finally:
        db.close()


def test_fast_path_feedparser_and_workers_store_and_alert_the_same(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = Corpus(FEEDS, seed=11)
    urls = []
    for feed in corpus.feeds:
        kind = "application/atom+xml" if feed.atom else "application/rss+xml"
        urls.append(feed_server.set(feed.path, feed.render(), content_type=kind))

    fast = poll_into(tmp_path, "fast", urls)

    with monkeypatch.context() as patch:
        patch.setattr(workers, "INLINE_BUDGET_SECONDS", 0.0)
        pooled = poll_into(tmp_path, "pooled", urls)

    with monkeypatch.context() as patch:
        patch.setattr(fastparse, "read", lambda *args, **kwargs: None)
        slow = poll_into(tmp_path, "feedparser", urls)

    # a feed that carries the same wire story twice keeps it once (same guid)
    assert len(fast["items"]) == len({(f.index, i.guid) for f in corpus.feeds for i in f.items})
    assert any(len(story) > 1 for story in fast["stories"])  # wire stories in several feeds
    assert len(fast["alerts"]) > 10
    for name, other in (("feedparser", slow), ("workers", pooled)):
        for table in ("items", "alerts"):
            differ = [(a, b) for a, b in zip(fast[table], other[table], strict=True) if a != b]
            assert not differ, (name, table, differ[:2])


def test_a_second_round_stores_the_same_with_known_items_read_by_their_guid_alone(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a changed feed most items are known: they are read as their guid alone (parse.py).
    A second round must store and alert exactly as when every item is read whole."""
    first, second = Corpus(FEEDS, seed=12), Corpus(FEEDS, seed=12)
    assert second.change(0.5)
    kinds = ["application/atom+xml" if f.atom else "application/rss+xml" for f in first.feeds]

    def serve(corpus: Corpus) -> list[str]:
        return [
            feed_server.set(feed.path, feed.render(), content_type=kind)
            for feed, kind in zip(corpus.feeds, kinds, strict=True)
        ]

    urls = serve(first)
    read_as_guid: list[str] = []
    real_known_item = parse._known_item

    def counted(guid: str) -> ParsedItem:
        read_as_guid.append(guid)
        return real_known_item(guid)

    with monkeypatch.context() as patch:
        patch.setattr(parse, "_known_item", counted)
        patch.setattr(workers, "INLINE_BUDGET_SECONDS", 1e9)  # all in this process, counted
        known_skipped = poll_into(tmp_path, "skip", urls, lambda: serve(second))
    assert len(read_as_guid) > 500  # the second round read most items by their guid alone
    serve(first)
    with monkeypatch.context() as patch:
        patch.setattr(Store, "recent_entry_keys", lambda self, feed_id, limit=500: frozenset())
        read_whole = poll_into(tmp_path, "whole", urls, lambda: serve(second))

    assert len(known_skipped["items"]) > len(
        {(f.index, i.guid) for f in first.feeds for i in f.items}
    )
    for table in ("items", "stories", "alerts"):
        assert known_skipped[table] == read_whole[table], table
