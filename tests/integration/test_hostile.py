"""Issue 4 against a real loopback server: every fault mode polled through feedwatch.app.App.

Broken-but-real feeds (tests/data/hostile, each with an expected .json) are stored as well
as can be done; hostile XML, bodies over the limit, gzip bombs, redirect loops and dripping
servers fail that one feed with a clear error while a healthy feed in the same round still
alerts; and the poller is polite: 410, Retry-After, backoff, permanent redirects, the feed's
own interval hints, two requests per host and jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from feedwatch.app import App
from feedwatch.config import Config, parse_config
from feedwatch.models import PollResult
from feedwatch.store import Store
from harness.feeds import rss
from harness.servers import FeedServer

DATA = Path(__file__).resolve().parent.parent / "data" / "hostile"
FEED_DIR = "/blog/feeds/"
FEEDWATCH = str(Path(sys.executable).with_name("feedwatch"))
RULE = "peru-mining"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


# --- helpers ---------------------------------------------------------------------------------


def make_config(
    tmp_path: Path,
    feeds: Sequence[str | dict[str, str]],
    *,
    interval: str = "15m",
    timeout: str = "5s",
) -> Config:
    """Write feeds.yaml (so the CLI can read it too) and return the parsed Config."""
    lines = [
        "database: state/feedwatch.db",
        f"defaults: {{interval: {interval}, timeout: {timeout}}}",
        "feeds:",
    ]
    for feed in feeds:
        if isinstance(feed, str):
            lines.append(f"  - {feed}")
        else:
            lines.append(f"  - url: {feed['url']}")
            lines += [f"    {key}: {value}" for key, value in feed.items() if key != "url"]
    lines += ["alerts:", f"  - name: {RULE}", "    keywords: [Peru, mining]"]
    path = tmp_path / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return parse_config(path.read_text(encoding="utf-8"), str(path), env={})


class Clock:
    """A clock the test moves by hand; starts at the real time so HTTP dates make sense."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


def run_round(
    config: Config,
    clock: Clock | None = None,
    jitter: Callable[[], float] = lambda: 0.0,
) -> list[PollResult]:
    """One `feedwatch poll`: every configured feed, then deliver what is due (to stdout)."""

    async def go() -> list[PollResult]:
        kwargs: dict[str, Any] = {"jitter": jitter}
        if clock is not None:
            kwargs["clock"] = clock
        async with App(config, **kwargs) as app:
            results = await app.poll()
            await app.deliver()
            return results

    return asyncio.run(go())


def by_url(results: Sequence[PollResult]) -> dict[str, PollResult]:
    return {result.feed_url: result for result in results}


def feeds(config: Config) -> dict[str, dict[str, Any]]:
    """`feedwatch feeds --json` as records keyed by the configured URL."""
    store = Store(config.database)
    try:
        return {record["configured_url"]: record for record in store.list_feeds()}
    finally:
        store.close()


def rows(config: Config, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Read the database directly, as a user with sqlite3 would."""
    with contextlib.closing(sqlite3.connect(config.database)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]


def stored_items(config: Config, feed_url: str) -> list[dict[str, Any]]:
    return rows(
        config,
        "SELECT i.* FROM items i JOIN feeds f ON f.id = i.feed_id WHERE f.url = ? ORDER BY i.id",
        [feed_url],
    )


def when(value: str | None) -> datetime | None:
    """An ISO time from a listing as an aware datetime."""
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(stored: str | None) -> str | None:
    """A stored time (2023-08-07T10:00:00.000000Z) as the listings print it."""
    return None if stored is None else stored[:19] + "Z"


def healthy(server: FeedServer, path: str = "/healthy.xml") -> str:
    """A well-behaved feed with one item that raises the alert."""
    body = rss(
        "Healthy",
        "https://healthy.example/",
        [
            {
                "id": f"healthy{path}",
                "title": "Mining protests in Peru",
                "link": f"https://healthy.example{path}",
                "summary": "<p>Road blockades continue.</p>",
                "published": datetime(2023, 8, 7, tzinfo=UTC),
            }
        ],
    )
    return server.set(path, body)


def assert_healthy_alerted(results: Sequence[PollResult], url: str) -> None:
    good = by_url(results)[url]
    assert (good.ok, good.new_items, good.alerts) == (True, 1, 1), good


def serve_fixture(server: FeedServer, name: str, content_type: str | None, **kwargs: Any) -> str:
    return server.set(FEED_DIR + name, (DATA / name).read_bytes(), content_type, **kwargs)


def all_stored_text(config: Config) -> str:
    """Every stored string of every feed and item, to search for what must never appear."""
    texts = []
    for row in rows(config, "SELECT * FROM items") + rows(config, "SELECT * FROM feeds"):
        texts += [str(value) for value in row.values() if value is not None]
    return "\n".join(texts)


# --- broken but real feeds: stored as well as can be done ------------------------------------

BROKEN_BUT_REAL = [
    pytest.param("wrong-encoding-utf8-declared-latin1-bytes.xml", "application/rss+xml",
                 id="declared-utf8-bytes-latin1"),
    pytest.param("wrong-encoding-latin1-declared-utf8-bytes.xml", "application/rss+xml",
                 id="declared-latin1-bytes-utf8"),
    pytest.param("missing-encoding.xml", "application/rss+xml", id="no-declaration"),
    pytest.param("missing-encoding-latin1-bytes.xml", "text/xml", id="no-encoding-latin1"),
    pytest.param("invalid-dates.xml", "application/rss+xml", id="invalid-dates"),
    pytest.param("missing-fields.xml", "application/rss+xml", id="no-id-link-title"),
    pytest.param("duplicate-ids.xml", "application/rss+xml", id="duplicate-ids"),
    pytest.param("relative-links.xml", "application/rss+xml", id="relative-links-rss"),
    pytest.param("relative-links-atom.xml", "application/atom+xml", id="relative-links-atom"),
    pytest.param("html-titles.xml", "application/rss+xml", id="html-in-titles"),
    pytest.param("jsonfeed-1.1.json", "application/feed+json", id="jsonfeed-1.1"),
    pytest.param("jsonfeed-1.0.json", "application/json", id="jsonfeed-1.0"),
    pytest.param(
        "jsonfeed-relative-feed-url.json", "application/feed+json", id="jsonfeed-relative-feed-url",
    ),
    pytest.param(
        "jsonfeed-date-overflow.json", "application/feed+json", id="jsonfeed-date-overflow",
    ),
]  # fmt: skip


def test_every_expected_json_has_a_fixture_and_a_test() -> None:
    tested = {param.values[0] for param in BROKEN_BUT_REAL}
    expected = {path.name.removesuffix(".expected.json") for path in DATA.glob("*.expected.json")}
    assert expected == {Path(name).stem for name in tested}
    for name in tested:
        assert (DATA / name).is_file()
    assert all(path.stat().st_size < 100_000 for path in DATA.iterdir())


@pytest.mark.parametrize(("name", "content_type"), BROKEN_BUT_REAL)
def test_broken_but_real_feed_is_stored_as_expected(
    tmp_path: Path, feed_server: FeedServer, name: str, content_type: str
) -> None:
    url = serve_fixture(feed_server, name, content_type)
    good = healthy(feed_server)
    config = make_config(tmp_path, [url, good])
    expected = json.loads(
        (DATA / f"{Path(name).stem}.expected.json")
        .read_text(encoding="utf-8")
        .replace("{origin}", feed_server.url("").rstrip("/"))
    )

    results = run_round(config)

    result = by_url(results)[url]
    assert result.ok, result.error
    assert (result.new_items, result.alerts) == (len(expected["items"]), expected["alerts"])
    assert_healthy_alerted(results, good)
    items = stored_items(config, url)
    got = [
        {
            "title": row["title"],
            "link": row["url"],
            "guid": row["guid"],
            "published": iso(row["published_at"]),
            "summary": row["summary"],
            "author": row["author"],
        }
        for row in items
    ]
    assert len(got) == len(expected["items"]), got
    # compare the fields each expected item names (summary and author are optional there)
    assert [{key: g[key] for key in e} for g, e in zip(got, expected["items"], strict=True)] == (
        expected["items"]
    )
    record = feeds(config)[url]
    assert (record["status"], record["items"], record["title"]) == (
        "ok", len(expected["items"]), expected["title"]
    )  # fmt: skip
    assert all(len(row["summary"]) <= 500 for row in items)

    # a second poll of the same document stores nothing again and alerts nothing again
    again = by_url(run_round(config))[url]
    assert (again.ok, again.new_items, again.alerts) == (True, 0, 0)
    assert len(stored_items(config, url)) == len(expected["items"])


def test_items_without_a_date_are_dated_when_first_seen(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    url = serve_fixture(feed_server, "invalid-dates.xml", "application/rss+xml")
    clock = Clock()
    config = make_config(tmp_path, [url])
    run_round(config, clock)
    store = Store(config.database)
    try:
        listed = {item["url"]: item for item in store.list_items(100)}
    finally:
        store.close()
    first_seen = clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert listed["https://dates.example/words"]["published"] == first_seen
    assert listed["https://dates.example/far-future"]["published"] == first_seen
    assert listed["https://dates.example/iso"]["published"] == "2023-08-07T08:00:00Z"


# --- not a feed ------------------------------------------------------------------------------


def test_html_page_is_reported_with_the_feeds_it_links_to(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    url = feed_server.set(
        "/blog/index.html", (DATA / "html-page.html").read_bytes(), "text/html; charset=utf-8"
    )
    good = healthy(feed_server)
    config = make_config(tmp_path, [url, good])
    results = run_round(config)

    error = by_url(results)[url].error
    assert error is not None
    origin = feed_server.url("").rstrip("/")
    assert "HTML page" in error
    for link in (f"{origin}/blog/feed.xml", f"{origin}/blog/atom.xml?x=1&y=2",
                 "https://cdn.example.net/blog.json"):  # fmt: skip
        assert link in error
    assert "site.css" not in error
    assert_healthy_alerted(results, good)
    record = feeds(config)[url]
    assert (record["status"], record["error"]) == ("failing", error)


def test_feed_that_answered_200_with_a_non_feed_shows_status_200(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    url = feed_server.set(
        "/blog/index.html", (DATA / "html-page.html").read_bytes(), "text/html; charset=utf-8"
    )
    config = make_config(tmp_path, [url])
    [result] = run_round(config)
    assert result.error
    assert feeds(config)[url]["last_status"] == 200


@pytest.mark.parametrize(
    "content_type", ["image/png", "image/png; charset=binary", "application/octet-stream"]
)
def test_image_is_reported_as_not_a_feed(
    tmp_path: Path, feed_server: FeedServer, content_type: str
) -> None:
    url = serve_fixture(feed_server, "image.png", content_type)
    good = healthy(feed_server)
    config = make_config(tmp_path, [url, good])
    results = run_round(config)

    error = by_url(results)[url].error
    assert error is not None
    assert "not a feed" in error
    assert content_type.split(";")[0] in error
    assert_healthy_alerted(results, good)
    assert feeds(config)[url]["status"] == "failing"


# --- hostile XML: refused or defused, fast, never reading local files -----------------------


def deep_nesting(well_formed: bool, depth: int = 100_000) -> bytes:
    close = b"</div>" * depth if well_formed else b""
    entity = b"" if well_formed else b"&undefined; <unclosed"
    return (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Deep '
        + entity
        + b"</title><item><title>Peru deep</title><guid>deep-1</guid><description>"
        + b"<div>" * depth
        + b"x"
        + close
        + b"</description></item></channel></rss>"
    )


def huge_attribute(well_formed: bool, size: int = 8_000_000) -> bytes:
    entity = b"" if well_formed else b"&undefined; <unclosed"
    return (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Huge '
        + entity
        + b'</title><item><title>Peru huge</title><guid>huge-1</guid><link href="'
        + b"A" * size
        + b'">https://huge.example/1</link></item></channel></rss>'
    )


REFUSED = [
    pytest.param(lambda: deep_nesting(True), "nested", id="deep-nesting"),
    pytest.param(lambda: deep_nesting(False), "nested", id="deep-nesting-not-well-formed"),
    pytest.param(lambda: huge_attribute(True), "attribute", id="huge-attribute"),
    pytest.param(lambda: huge_attribute(False), "tag of", id="huge-attribute-not-well-formed"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("make_body", "reason"), REFUSED)
def test_hostile_structure_is_refused_and_the_round_goes_on(
    tmp_path: Path, feed_server: FeedServer, make_body: Callable[[], bytes], reason: str
) -> None:
    url = feed_server.set("/hostile.xml", make_body())
    good = healthy(feed_server)
    config = make_config(tmp_path, [url, good])
    started = time.monotonic()
    results = run_round(config)
    elapsed = time.monotonic() - started

    error = by_url(results)[url].error
    assert error is not None
    assert "refused" in error
    assert reason in error
    assert_healthy_alerted(results, good)
    assert stored_items(config, url) == []
    assert feeds(config)[url]["status"] == "failing"
    assert elapsed < 20, f"a hostile document held the round for {elapsed:.1f}s"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["billion-laughs.xml", "xxe-file.xml"])
def test_entities_are_never_expanded_nor_read_from_disk(
    tmp_path: Path, feed_server: FeedServer, name: str
) -> None:
    url = serve_fixture(feed_server, name, "application/rss+xml")
    good = healthy(feed_server)
    config = make_config(tmp_path, [url, good])
    started = time.monotonic()
    results = run_round(config)
    elapsed = time.monotonic() - started

    assert_healthy_alerted(results, good)
    # Refusing the document and storing it with the entities left unexpanded are both safe;
    # expanding them, or reading the file they name, is not.
    text = all_stored_text(config)
    assert "lollol" not in text
    assert "root:" not in text
    assert "/bin/" not in text
    assert len(text) < 20_000
    assert elapsed < 20, f"a hostile document held the round for {elapsed:.1f}s"


def test_invalid_character_references_do_not_break_the_round(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    url = serve_fixture(feed_server, "invalid-charrefs.xml", "application/rss+xml")
    good = healthy(feed_server)
    clock = Clock()
    config = make_config(tmp_path, [url, good])
    results = run_round(config, clock)

    assert_healthy_alerted(results, good)
    record = feeds(config)[url]
    assert record["status"] in ("ok", "failing")
    next_poll = when(record["next_poll"])
    assert next_poll is not None
    assert next_poll > clock.now


# --- limits: size, gzip bombs, redirect loops, dripping servers -----------------------------


def gzip_bomb(inflated_mib: int) -> bytes:
    """A valid gzip member of ``inflated_mib`` MiB of zeros, about 1000 times smaller."""
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = block.compress(bytes(1 << 20)) + block.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    for _ in range(inflated_mib):
        crc = zlib.crc32(bytes(1 << 20), crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, (inflated_mib << 20) & 0xFFFFFFFF)
    return header + piece * inflated_mib + end + trailer


def big_feed(size: int) -> bytes:
    """A valid RSS document of about ``size`` bytes."""
    text = "x" * 1000
    count = max(1, size // 1100)
    items = [{"id": f"big-{n}", "title": f"Item {n}", "summary": text} for n in range(count)]
    return rss("Big", "https://big.example/", items)


@pytest.mark.parametrize(
    ("route", "fragment"),
    [
        pytest.param({"body": big_feed(1_500_000)}, "the body is", id="content-length-over"),
        pytest.param({"body": big_feed(1_500_000), "send_length": False}, "passed the",
                     id="no-content-length"),
        pytest.param({"body": big_feed(1_500_000), "send_length": False, "chunk_size": 4096},
                     "passed the", id="no-content-length-small-chunks"),
        pytest.param({"body": gzip_bomb(64), "headers": {"Content-Encoding": "gzip"}},
                     "decompressed", id="gzip-bomb"),
        pytest.param({"body": gzip_bomb(64), "headers": {"Content-Encoding": "gzip"},
                      "send_length": False}, "decompressed", id="gzip-bomb-no-length"),
    ],
)  # fmt: skip
def test_body_over_the_feeds_max_body_is_refused(
    tmp_path: Path, feed_server: FeedServer, route: dict[str, Any], fragment: str
) -> None:
    url = feed_server.set("/big.xml", **route)
    good = healthy(feed_server)
    config = make_config(tmp_path, [{"url": url, "max_body": "1MB"}, good])
    results = run_round(config)

    error = by_url(results)[url].error
    assert error is not None
    assert "1000000 byte limit" in error
    assert fragment in error
    assert_healthy_alerted(results, good)
    assert feeds(config)[url]["status"] == "failing"


def test_body_under_the_feeds_max_body_is_read(tmp_path: Path, feed_server: FeedServer) -> None:
    body = big_feed(900_000)
    count = 900_000 // 1100
    assert 800_000 < len(body) < 1_000_000
    url = feed_server.set("/big.xml", body, send_length=False)
    zipped = feed_server.set("/big-gzip.xml", body, gzip=True)
    config = make_config(
        tmp_path, [{"url": url, "max_body": "1MB"}, {"url": zipped, "max_body": "1MB"}]
    )
    results = run_round(config)
    assert [r.error for r in results] == [None, None]
    assert [r.new_items + r.copies for r in results] == [count, count]


def test_raw_deflate_body_is_decoded(tmp_path: Path, feed_server: FeedServer) -> None:
    body = rss("Raw", "https://raw.example/", [{"id": "1", "title": "Peru"}])
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    url = feed_server.set(
        "/raw.xml", packer.compress(body) + packer.flush(), headers={"Content-Encoding": "deflate"}
    )
    config = make_config(tmp_path, [url])
    [result] = run_round(config)
    assert (result.error, result.new_items) == (None, 1)


def test_zlib_deflate_body_is_decoded(tmp_path: Path, feed_server: FeedServer) -> None:
    body = rss("Zlib", "https://zlib.example/", [{"id": "1", "title": "Peru"}])
    url = feed_server.set("/z.xml", zlib.compress(body), headers={"Content-Encoding": "deflate"})
    config = make_config(tmp_path, [url])
    [result] = run_round(config)
    assert (result.error, result.new_items) == (None, 1)


def test_redirect_loop_fails_that_feed_only(tmp_path: Path, feed_server: FeedServer) -> None:
    url = feed_server.redirect("/loop-a.xml", "/loop-b.xml", 302)
    feed_server.redirect("/loop-b.xml", "/loop-a.xml", 301)
    good = healthy(feed_server)
    config = make_config(tmp_path, [url, good])
    results = run_round(config)

    error = by_url(results)[url].error
    assert error is not None
    assert "redirects" in error
    assert feed_server.hits("/loop-a.xml") + feed_server.hits("/loop-b.xml") <= 7
    assert_healthy_alerted(results, good)
    record = feeds(config)[url]
    assert (record["status"], record["url"]) == ("failing", url)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.1/1"])
def test_redirect_to_another_scheme_fails_that_feed_only(
    tmp_path: Path, feed_server: FeedServer, target: str
) -> None:
    url = feed_server.redirect("/elsewhere.xml", target, 302)
    good = healthy(feed_server)
    config = make_config(tmp_path, [url, good])
    results = run_round(config)

    error = by_url(results)[url].error
    assert error is not None
    assert "unsupported protocol" in error
    assert_healthy_alerted(results, good)
    assert "root:" not in all_stored_text(config)


@pytest.mark.timeout(60)
def test_server_dripping_a_byte_a_second_is_cut_at_the_feeds_timeout(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    body = rss("Drip", "https://drip.example/", [{"id": "1", "title": "Peru " * 20}])
    url = feed_server.set("/drip.xml", body, chunk_size=1, chunk_delay=1.0)
    good = healthy(feed_server)
    config = make_config(tmp_path, [{"url": url, "timeout": "2s"}, good])
    started = time.monotonic()
    results = run_round(config)
    elapsed = time.monotonic() - started

    error = by_url(results)[url].error
    assert error is not None
    assert "timed out after 2s" in error
    assert elapsed < 8, f"the 2s timeout let a dripping server hold the round {elapsed:.1f}s"
    assert_healthy_alerted(results, good)


# --- politeness: 410, Retry-After, backoff, recovery -----------------------------------------


def test_gone_feed_is_gone_and_never_due_again(tmp_path: Path, feed_server: FeedServer) -> None:
    url = feed_server.set("/gone.xml", b"gone for good", "text/plain", status=410)
    clock = Clock()
    config = make_config(tmp_path, [url])
    [result] = run_round(config, clock)
    assert result.http_status == 410

    record = feeds(config)[url]
    assert (record["status"], record["last_status"], record["next_poll"]) == ("gone", 410, None)

    async def due_later() -> list[str]:
        clock.now += timedelta(days=400)
        async with App(config, clock=clock) as app:
            return [spec.url for spec, _ in app.due_feeds(100, [])]

    assert asyncio.run(due_later()) == []


def test_gone_feed_is_not_requested_by_the_next_poll(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    url = feed_server.set("/gone.xml", b"gone for good", "text/plain", status=410)
    good = healthy(feed_server)
    config = make_config(tmp_path, [url, good])
    run_round(config)
    assert feed_server.hits("/gone.xml") == 1

    run_round(config)
    assert feed_server.hits("/healthy.xml") == 2
    assert feed_server.hits("/gone.xml") == 1
    assert feeds(config)[url]["status"] == "gone"


@pytest.mark.parametrize(
    ("status", "header"),
    [
        pytest.param(503, "5400", id="503-seconds"),
        pytest.param(429, timedelta(hours=3), id="429-http-date"),
        pytest.param(503, timedelta(hours=2), id="503-http-date"),
    ],
)
def test_retry_after_pushes_the_next_poll_at_least_that_far(
    tmp_path: Path, feed_server: FeedServer, status: int, header: str | timedelta
) -> None:
    clock = Clock()
    if isinstance(header, timedelta):
        wait = header
        value = format_datetime(clock.now + header, usegmt=True)
    else:
        wait = timedelta(seconds=int(header))
        value = header
    url = feed_server.set(
        "/busy.xml", b"slow down", "text/plain", status=status, headers={"Retry-After": value}
    )
    config = make_config(tmp_path, [url], interval="15m")
    [result] = run_round(config, clock)

    assert result.http_status == status
    record = feeds(config)[url]
    assert (record["status"], record["last_status"]) == ("failing", status)
    next_poll = when(record["next_poll"])
    assert next_poll is not None
    assert next_poll >= clock.now + wait - timedelta(seconds=1)
    assert next_poll <= clock.now + DAY


def test_failing_feed_backs_off_up_to_a_day_and_recovers_at_once(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    url = feed_server.set("/flaky.xml", b"oops", "text/plain", status=500)
    clock = Clock()
    config = make_config(tmp_path, [url], interval="1h")
    first_failure = clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")

    waits = []
    for _ in range(8):
        [result] = run_round(config, clock)
        assert result.http_status == 500
        record = feeds(config)[url]
        next_poll = when(record["next_poll"])
        assert next_poll is not None
        waits.append(next_poll - clock.now)
        assert (record["status"], record["last_status"]) == ("failing", 500)
        assert record["failing_since"] == first_failure
        assert "500" in record["error"]
        if record["failures"] > 1:
            assert record["backing_off_until"] == record["next_poll"]
        clock.now = next_poll

    assert waits == [HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, 16 * HOUR, DAY, DAY, DAY]

    feed_server.set("/flaky.xml", rss("Back", "https://back.example/", [{"id": "1"}]))
    [result] = run_round(config, clock)
    assert result.ok
    record = feeds(config)[url]
    assert when(record["next_poll"]) == clock.now + HOUR
    assert (record["status"], record["last_status"]) == ("ok", 200)
    assert (record["failing_since"], record["backing_off_until"], record["error"]) == (
        None, None, None
    )  # fmt: skip


def test_backoff_and_interval_carry_jitter_that_only_shortens(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    urls = [feed_server.set(f"/same-{n}.xml", rss("Same", "https://s.example/", [])) for n in
            range(6)]  # fmt: skip
    failing = feed_server.set("/down.xml", b"", "text/plain", status=503)
    clock = Clock()
    config = make_config(tmp_path, [*urls, failing], interval="1h")
    run_round(config, clock, jitter=random.random)
    records = feeds(config)

    times = [when(records[url]["next_poll"]) for url in urls]
    assert len(set(times)) > 1, "feeds sharing an interval must drift apart"
    for moment in times:
        assert moment is not None
        assert clock.now + 0.9 * HOUR - timedelta(seconds=1) <= moment <= clock.now + HOUR

    clock.now += HOUR
    run_round(config, clock, jitter=lambda: 0.999)
    after = when(feeds(config)[failing]["next_poll"])
    assert after is not None
    assert clock.now + 0.9 * 2 * HOUR - timedelta(seconds=1) <= after < clock.now + 2 * HOUR


# --- permanent redirects ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_seen_twice_moves_the_feed(
    tmp_path: Path, feed_server: FeedServer, status: int
) -> None:
    new = healthy(feed_server, "/new.xml")
    old = feed_server.redirect("/old.xml", "/new.xml", status)
    config = make_config(tmp_path, [old])

    [first] = run_round(config)
    assert (first.ok, first.alerts) == (True, 1)
    assert feeds(config)[old]["url"] == old

    [second] = run_round(config)
    assert (second.ok, second.new_items, second.alerts) == (True, 0, 0)
    record = feeds(config)[old]
    assert record["url"] == new
    assert record["configured_url"] == old

    [third] = run_round(config)
    assert (third.ok, third.new_items, third.alerts) == (True, 0, 0)
    assert feed_server.hits("/old.xml") == 2
    assert feed_server.hits("/new.xml") == 3
    [item] = listed_items(config)
    assert item["feed"]["url"] == new
    assert len(rows(config, "SELECT * FROM alerts")) == 1


def listed_items(config: Config) -> list[dict[str, Any]]:
    store = Store(config.database)
    try:
        return store.list_items(100)
    finally:
        store.close()


def test_single_permanent_redirect_does_not_move_the_feed(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    healthy(feed_server, "/new.xml")
    old = feed_server.redirect("/old.xml", "/new.xml", 301)
    config = make_config(tmp_path, [old])
    run_round(config)
    feed_server.set("/old.xml", rss("Back home", "https://home.example/", []))
    run_round(config)
    run_round(config)
    assert feeds(config)[old]["url"] == old
    assert feed_server.hits("/old.xml") == 3


def test_temporary_redirect_never_moves_the_feed(tmp_path: Path, feed_server: FeedServer) -> None:
    healthy(feed_server, "/new.xml")
    old = feed_server.redirect("/old.xml", "/new.xml", 302)
    config = make_config(tmp_path, [old])
    for _ in range(3):
        [result] = run_round(config)
        assert result.ok
    assert feeds(config)[old]["url"] == old
    assert feed_server.hits("/old.xml") == 3


def test_permanent_then_temporary_redirect_moves_to_the_permanent_target(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    healthy(feed_server, "/final.xml")
    middle = feed_server.redirect("/middle.xml", "/final.xml", 302)
    old = feed_server.redirect("/old.xml", "/middle.xml", 301)
    config = make_config(tmp_path, [old])
    run_round(config)
    run_round(config)
    assert feeds(config)[old]["url"] == middle


def test_permanent_redirect_to_a_feed_with_an_etag_moves_the_feed(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    new = feed_server.set(
        "/new.xml", rss("Moved", "https://m.example/", [{"id": "1", "title": "t"}]), etag='"v1"'
    )
    old = feed_server.redirect("/old.xml", "/new.xml", 301)
    config = make_config(tmp_path, [old])
    for _ in range(3):
        [result] = run_round(config)
        assert result.ok
    assert feed_server.requests[-1].headers.get("if-none-match") == '"v1"'
    assert feeds(config)[old]["url"] == new


# --- the feed's own hints lengthen the interval, never shorten it ----------------------------

SY = 'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'


def hinted_rss(hints: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" {SY}><channel>'
        f"<title>Hinted</title><link>https://hint.example/</link>{hints}"
        "<item><title>one</title><guid>h-1</guid></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("hints", "cache_control", "expected"),
    [
        pytest.param("", None, timedelta(minutes=15), id="no-hint"),
        pytest.param("<ttl>60</ttl>", None, HOUR, id="ttl-longer"),
        pytest.param("<ttl>5</ttl>", None, timedelta(minutes=15), id="ttl-shorter-ignored"),
        pytest.param("<sy:updatePeriod>hourly</sy:updatePeriod>"
                     "<sy:updateFrequency>2</sy:updateFrequency>", None,
                     timedelta(minutes=30), id="sy-hourly-twice"),
        pytest.param("<sy:updatePeriod>hourly</sy:updatePeriod>"
                     "<sy:updateFrequency>12</sy:updateFrequency>", None,
                     timedelta(minutes=15), id="sy-shorter-ignored"),
        pytest.param("<sy:updatePeriod>daily</sy:updatePeriod>", None, DAY, id="sy-daily"),
        pytest.param("<ttl>10080</ttl>", None, DAY, id="ttl-week-capped-at-a-day"),
        pytest.param("", "public, max-age=7200", 2 * HOUR, id="max-age-longer"),
        pytest.param("", "max-age=60", timedelta(minutes=15), id="max-age-shorter-ignored"),
        pytest.param("", "no-cache", timedelta(minutes=15), id="no-max-age"),
        pytest.param("<ttl>30</ttl>", "max-age=7200", 2 * HOUR, id="longest-hint-wins"),
    ],
)  # fmt: skip
def test_feed_hints_lengthen_but_never_shorten_the_interval(
    tmp_path: Path,
    feed_server: FeedServer,
    hints: str,
    cache_control: str | None,
    expected: timedelta,
) -> None:
    headers = {"Cache-Control": cache_control} if cache_control else None
    url = feed_server.set("/hinted.xml", hinted_rss(hints), etag='"h1"', headers=headers)
    clock = Clock()
    config = make_config(tmp_path, [url], interval="15m")
    [result] = run_round(config, clock)
    assert result.ok
    assert when(feeds(config)[url]["next_poll"]) == clock.now + expected

    # a 304 keeps the feed's own hint
    clock.now += expected
    [again] = run_round(config, clock)
    assert again.not_modified
    assert when(feeds(config)[url]["next_poll"]) == clock.now + expected


# --- at most two requests in flight per host -------------------------------------------------


class CountingServer(FeedServer):
    """A FeedServer that records how many requests it was serving at once."""

    def __init__(self) -> None:
        self._gauge = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        super().__init__()

    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        with self._gauge:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            super()._respond(handler)
        finally:
            with self._gauge:
                self.in_flight -= 1


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    with CountingServer() as server:
        yield server


def test_at_most_two_requests_in_flight_per_host(
    tmp_path: Path, counting_server: CountingServer
) -> None:
    urls = [
        counting_server.set(
            f"/slow-{n}.xml",
            rss(f"Slow {n}", "https://slow.example/", [{"id": f"{n}", "title": "Peru"}]),
            delay=0.5,
        )
        for n in range(6)
    ]
    config = make_config(tmp_path, urls)
    results = run_round(config)
    assert all(result.ok for result in results)
    assert len(counting_server.requests) == 6
    assert counting_server.most_in_flight == 2


# --- feed health in `feedwatch feeds` --------------------------------------------------------


def test_feeds_json_carries_health(tmp_path: Path, feed_server: FeedServer) -> None:
    items = [
        {"id": f"n{n}", "title": f"Item {n}", "published": datetime(2023, 8, 7, n, tzinfo=UTC)}
        for n in range(4)
    ]
    ok = feed_server.set("/ok.xml", rss("Hourly", "https://ok.example/", items))
    failing = feed_server.set("/failing.xml", b"oops", "text/plain", status=503)
    gone = feed_server.set("/gone.xml", b"", "text/plain", status=410)
    never = "http://127.0.0.1:9/never.xml"
    config = make_config(tmp_path, [ok, failing, gone, never], interval="1h")
    clock = Clock()
    first_failure = clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")

    async def poll_some() -> None:
        async with App(config, clock=clock, jitter=lambda: 0.0) as app:
            await app.poll([app.specs[ok], app.specs[failing], app.specs[gone]])

    asyncio.run(poll_some())
    clock.now += HOUR
    asyncio.run(poll_some())

    out = subprocess.run(
        [FEEDWATCH, "-c", config.source, "feeds", "--json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    records = {r["url"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert list(records) == [ok, failing, gone, never]
    for record in records.values():
        for key in ("url", "name", "status", "last_polled", "last_success", "error", "items",
                    "next_poll", "last_status", "failing_since", "backing_off_until",
                    "mean_item_interval"):  # fmt: skip
            assert key in record

    second = (clock.now).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert records[ok]["status"] == "ok"
    assert records[ok]["last_status"] == 200
    assert records[ok]["items"] == 4
    assert records[ok]["mean_item_interval"] == 3600
    assert (records[ok]["failing_since"], records[ok]["backing_off_until"]) == (None, None)
    assert records[ok]["last_success"] == second

    assert records[failing]["status"] == "failing"
    assert records[failing]["last_status"] == 503
    assert records[failing]["failing_since"] == first_failure
    assert "503" in records[failing]["error"]
    assert records[failing]["backing_off_until"] == records[failing]["next_poll"]
    assert when(records[failing]["backing_off_until"]) == clock.now + 2 * HOUR
    assert records[failing]["items"] == 0
    assert records[failing]["last_success"] is None

    assert (records[gone]["status"], records[gone]["last_status"]) == ("gone", 410)
    assert (records[gone]["next_poll"], records[gone]["backing_off_until"]) == (None, None)

    assert records[never]["status"] == "new"
    assert (records[never]["last_polled"], records[never]["last_status"]) == (None, None)

    table = subprocess.run(
        [FEEDWATCH, "-c", config.source, "feeds"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "backing off until" in table
    assert "gone" in table
    assert "1h" in table  # the mean interval between new items, "NEW EVERY"
