"""search.find over a real store: FTS5 proposes, the matcher decides (issue 5, point 3).

About 2,000 generated items are stored the real way (App.poll from a loopback FeedServer, so
dedup, story sketches and the FTS triggers all run). For each of ~30 queries, ``find`` must
return exactly what a brute-force scan returns: the matcher run on every stored item, newest
first (published, else first seen; the higher id first on a tie). The ``match`` form
(``since`` and originals only) must respect its window.

Every generated title and summary ends with a number, so no query phrase can span two fields
(that disagreement is pinned as a bug in tests/unit/test_query.py and below).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from feedwatch.app import App
from feedwatch.config import AlertRule, parse_config
from feedwatch.matching import Document, Matcher
from feedwatch.query import parse_query, to_fts
from feedwatch.search import find
from feedwatch.store import Store, ts
from harness.feeds import atom, rss
from harness.servers import FeedServer

NOW = datetime.now(UTC)
FEEDS = 8
ITEMS_PER_FEED = 250
REPUBLISHED = 60  # items of feed 0 that feed 7 carries again under the same links

WORDS = [
    "Peru", "Perú", "PERU", "Peruvian", "Peruvians", "Peru’s", "Peru's", "peruanos", "Canada",
    "Canadá", "Canadian", "mining", "anti-mining", "undermining", "mined", "miners", "arms",
    "exports", "Lima", "Québec", "QUEBEC", "Chile", "oil", "copper", "the", "who", "or", "and",
    "not", "Las", "Bambas", "protest", "protests", "government", "Boluarte", "Castillo",
    "Ottawa", "Amnesty", "congress", "troops", "elections", "water", "river", "village",
    "秘鲁矿业", "关于智利", "ペルーの鉱山", "Straits", "U.S.", "near", "alpha", "beta", "gamma",
    "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
]  # fmt: skip
PHRASES = ["arms exports", "Las Bambas", "the who", "Peru or Chile", "anti-mining protest"]
AUTHORS = ["Yves Engler", "Ana Quispe", "Sam Birder", "Lee Wire", "Jo Puck", "Marta Núñez"]
FEED_TITLES = [
    "Andes Wire", "Pacific Post", "Lima Ledger", "Northern Miner", "Québec Dispatch",
    "Copper Times", "River Notes", "Republisher",
]  # fmt: skip
CONFIG_NAMES = {0: "Andes Daily", 3: "Miner Watch"}


def _sentence(rng: random.Random, n: int) -> str:
    # mostly filler, so that a query matches a few percent of the items, not most of them
    words = [
        rng.choice(WORDS) if rng.random() < 0.15 else f"w{rng.randrange(500)}" for _ in range(n)
    ]
    if rng.random() < 0.1:
        words.insert(rng.randrange(len(words) + 1), rng.choice(PHRASES))
    return " ".join(words)


def _items(feed: int, rng: random.Random) -> list[dict[str, Any]]:
    items = []
    for n in range(ITEMS_PER_FEED):
        key = f"{feed}-{n}"
        item: dict[str, Any] = {
            "id": f"urn:feed{feed}:item{n}",
            "title": f"{_sentence(rng, rng.randint(3, 7))} {n}",
            "link": f"https://news{feed}.example.org/story/{key}",
            "content": f"<p>{n} {_sentence(rng, rng.randint(15, 45))}</p>",
        }
        if rng.random() < 0.7:
            item["summary"] = f"{_sentence(rng, rng.randint(5, 12))} {n}"
        if rng.random() < 0.8:
            item["author"] = rng.choice(AUTHORS)
        if rng.random() < 0.9:  # else dated when first seen
            age = timedelta(days=rng.uniform(0, 400), seconds=rng.randrange(86400))
            item["published"] = NOW - age
        items.append(item)
    return items


@dataclass
class Corpus:
    path: Path
    store: Store


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    tmp_path = tmp_path_factory.mktemp("search")
    rng = random.Random(20230807)
    with FeedServer() as server:
        urls = []
        first_feed: list[dict[str, Any]] = []
        for feed in range(FEEDS):
            items = _items(feed, rng)
            if feed == 0:
                first_feed = items
            if feed == FEEDS - 1:  # the same articles (same links) under other ids: copies
                items = items[: ITEMS_PER_FEED - REPUBLISHED] + [
                    {**item, "id": f"urn:republished:{i}"}
                    for i, item in enumerate(first_feed[:REPUBLISHED])
                ]
            render = atom if feed % 2 else rss
            body = render(FEED_TITLES[feed], f"https://news{feed}.example.org/", items)
            urls.append(server.set(f"/feed{feed}.xml", body))
        lines = ["database: state/feedwatch.db", "defaults: {timeout: 20s}", "feeds:"]
        for feed, url in enumerate(urls):
            lines.append(f"  - url: {url}")
            if feed in CONFIG_NAMES:
                lines.append(f"    name: {CONFIG_NAMES[feed]}")
        config = parse_config("\n".join(lines) + "\n", str(tmp_path / "feeds.yaml"), {})

        async def poll() -> None:
            async with App(config, jitter=lambda: 0.0) as app:
                results = await app.poll()
                assert all(r.ok for r in results), [r.error for r in results]

        asyncio.run(poll())
    store = Store(config.database)
    try:
        yield Corpus(config.database, store)
    finally:
        store.close()


def stored_rows(path: Path) -> list[dict[str, Any]]:
    """Every stored item with its feed, newest first, read over a plain connection."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(
            "SELECT i.*, f.name AS feed_name, f.title AS feed_own_title, "
            "coalesce(f.poll_url, f.url) AS feed_url FROM items i JOIN feeds f ON f.id = i.feed_id"
        ).fetchall()
    finally:
        conn.close()
    records = [dict(row) for row in rows]
    records.sort(key=lambda r: (r["published_at"] or r["first_seen_at"], r["id"]), reverse=True)
    return records


def brute_force(
    rows: list[dict[str, Any]],
    query: str,
    since: datetime | None = None,
    originals_only: bool = False,
) -> list[tuple[int, tuple[str, ...]]]:
    """The matcher on every stored item, newest first: (id, keywords) of each match."""
    matcher = Matcher([AlertRule("q", (), (), parse_query(query))])
    found = []
    for row in rows:
        if since is not None and (row["published_at"] or row["first_seen_at"]) < ts(since):
            continue
        if originals_only and row["copy_of"] is not None:
            continue
        feed = " ".join(p for p in (row["feed_name"], row["feed_own_title"], row["feed_url"]) if p)
        text = f"{row['title']}\n{row['summary']}\n{row['content']}"
        document = Document(text, row["title"], row["author"] or "", feed)
        matches = matcher.match_document(document)
        if matches:
            found.append((row["id"], matches[0].keywords))
    return found


@pytest.fixture(scope="module")
def rows(corpus: Corpus) -> list[dict[str, Any]]:
    return stored_rows(corpus.path)


def test_corpus_is_what_was_served(corpus: Corpus, rows: list[dict[str, Any]]) -> None:
    assert len(rows) == FEEDS * ITEMS_PER_FEED
    copies = [r for r in rows if r["copy_of"] is not None]
    assert len(copies) >= REPUBLISHED
    assert sum(1 for r in rows if r["published_at"] is None) > 100


QUERIES = [
    "Peru",
    "Perú",
    "PERU",
    "Peru*",
    "Peruvian*",
    "Canada",
    "Canadá mining",
    "mining -undermining",
    '"arms exports"',
    '"arms exports" Peru',
    "Peru OR Chile",
    "Peru OR Chile copper",
    "(Peru OR Chile) copper",
    "NOT Peru",
    "-Peru -Canada oil",
    "title:Peru",
    "title:(Peru OR Chile)",
    'title:"arms exports"',
    "author:Engler",
    "author:Núñez",
    "author:quisp*",
    "feed:Andes",
    'feed:"Pacific Post"',
    "feed:feed5.xml",
    "/peru(vian)?s?/",
    r"/\bmin(ing|ed)\b/ Lima",
    "秘鲁",
    "ペルー OR 秘鲁",
    '"the who"',
    "peru or chile",
    "Peru’s",
    "anti-mining",
    "Québec OR quebec",
    "NOT NOT Lima",
    "Lima feed:Andes -title:oil",
    '"Peru or Chile" -Canada',
    "U.S. near",
]


@pytest.mark.parametrize("query", QUERIES)
def test_search_equals_brute_force(corpus: Corpus, rows: list[dict[str, Any]], query: str) -> None:
    expected = brute_force(rows, query)
    assert expected, "the corpus should have at least one match"
    hits = find(corpus.store, parse_query(query))
    assert [(h.item["id"], h.keywords) for h in hits] == expected
    for limit in (1, 25):
        hits = find(corpus.store, parse_query(query), limit=limit)
        assert [h.item["id"] for h in hits] == [i for i, _ in expected[:limit]]
    for hit in hits:
        assert 1 <= len(hit.snippets) <= 3
        assert all(len(piece.text) <= 200 for piece in hit.snippets)


def test_fts_narrows_the_candidates(corpus: Corpus, rows: list[dict[str, Any]]) -> None:
    # the search is not a full scan in disguise: FTS5 proposes a fraction of the items
    expression = to_fts(parse_query('"arms exports" Peru'))
    assert expression is not None
    candidates = list(corpus.store.candidates(expression))
    assert 0 < len(candidates) < len(rows) // 4


@pytest.mark.parametrize("query", ["Peru", "Canada OR Chile", "feed:Andes", "/copper/", "NOT oil"])
@pytest.mark.parametrize("days", [1, 30, 120])
def test_match_window_and_originals(
    corpus: Corpus, rows: list[dict[str, Any]], query: str, days: int
) -> None:
    since = NOW - timedelta(days=days)
    expected = brute_force(rows, query, since=since, originals_only=True)
    hits = find(corpus.store, parse_query(query), since=since, originals_only=True)
    assert [(h.item["id"], h.keywords) for h in hits] == expected
    for hit in hits:
        assert hit.item["copy_of"] is None
        assert (hit.item["published_at"] or hit.item["first_seen_at"]) >= ts(since)


def test_window_reads_published_before_first_seen(
    corpus: Corpus, rows: list[dict[str, Any]]
) -> None:
    since = NOW - timedelta(days=30)
    old = {r["id"] for r in rows if r["published_at"] is not None and r["published_at"] < ts(since)}
    undated = {r["id"] for r in rows if r["published_at"] is None and r["copy_of"] is None}
    assert old
    assert undated
    everything = {h.item["id"] for h in find(corpus.store, parse_query("NOT zzzz"), since=since)}
    # first seen just now, published long ago: outside the window
    assert not everything & old
    # no date: dated when first seen, which is inside the window
    assert undated <= everything


def test_copies_are_searched_but_not_matched(corpus: Corpus, rows: list[dict[str, Any]]) -> None:
    copies = {r["id"] for r in rows if r["copy_of"] is not None}
    searched = {h.item["id"] for h in find(corpus.store, parse_query("NOT zzzz"))}
    matched = {
        h.item["id"] for h in find(corpus.store, parse_query("NOT zzzz"), originals_only=True)
    }
    assert copies <= searched
    assert not copies & matched


def test_search_finds_sharp_s(tmp_path: Path) -> None:
    _one_item_search(tmp_path, "Straße", title="Proteste in der Straße", summary="x")


def test_no_phrase_across_title_and_summary(tmp_path: Path) -> None:
    # a phrase stays inside one field, for alerts and search alike
    _one_item_search(
        tmp_path, '"Peru mining"', title="Protests in Peru", summary="Mining goes on", hits=False
    )


def _one_item_search(
    tmp_path: Path, query: str, title: str, summary: str, hits: bool = True
) -> None:
    with FeedServer() as server:
        item = {"id": "one", "title": title, "summary": summary, "link": "https://x.org/1"}
        url = server.set("/one.xml", rss("One", "https://x.org/", [item]))
        text = f"database: db.sqlite\nfeeds:\n  - {url}\n"
        config = parse_config(text, str(tmp_path / "feeds.yaml"), {})

        async def poll() -> None:
            async with App(config) as app:
                await app.poll()

        asyncio.run(poll())
    store = Store(config.database)
    try:
        node = parse_query(query)
        document = Document((title, summary, ""), title, "", "")
        assert bool(Matcher([AlertRule("q", (), (), node)]).match_document(document)) is hits
        assert [h.item["title"] for h in find(store, node)] == ([title] if hits else [])
    finally:
        store.close()


def test_no_phrase_across_summary_and_content(tmp_path: Path) -> None:
    content = (
        "<p>Exports of copper resumed on Monday, officials said, after a long pause in the "
        "trade of arms</p>"
    )
    item = {"id": "one", "title": "Copper trade", "content": content, "link": "https://x.org/1"}
    with FeedServer() as server:
        url = server.set("/one.xml", rss("One", "https://x.org/", [item]))
        text = (
            f"database: db.sqlite\nfeeds:\n  - {url}\n"
            "alerts:\n  - name: arms\n    keywords: [arms exports]\n"
        )
        config = parse_config(text, str(tmp_path / "feeds.yaml"), {})

        async def poll() -> list[dict[str, Any]]:
            async with App(config) as app:
                await app.poll()
                return app.store.list_alerts(10)

        alerts = asyncio.run(poll())
    assert alerts == []
