"""feedwatch.store.Store on a real SQLite file in tmp_path."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from feedwatch.dedup import alert_id, classify, keys_for, lookup_keys
from feedwatch.errors import StoreError
from feedwatch.models import (
    Decision,
    DeliveryOutcome,
    DeliveryStatus,
    ItemKeys,
    NewAlert,
    ParsedFeed,
    ParsedItem,
    PollOutcome,
    Verdict,
)
from feedwatch.store import SCHEMA_VERSION, Store

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
FEED_A = "http://127.0.0.1:1/a.xml"
FEED_B = "http://127.0.0.1:1/b.xml"
FEED_C = "http://127.0.0.1:1/c.xml"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "feedwatch.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    opened = Store(db_path)
    try:
        yield opened
    finally:
        opened.close()


def raw(path: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Read the file with a separate plain connection, as another process would."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def item(n: int, **overrides: Any) -> ParsedItem:
    fields: dict[str, Any] = {
        "guid": f"guid-{n}",
        "link": f"https://news.example.org/story/{n}",
        "title": f"Story {n}",
        "author": "Reporter",
        "published_at": datetime(2024, 2, n, 9, 30, tzinfo=UTC),
        "summary": f"Summary of story {n}.",
        "content": f"Full text of story {n}.",
    }
    fields.update(overrides)
    return ParsedItem(**fields)


def decide(store: Store, feed_url: str, items: Sequence[ParsedItem]) -> list[Decision]:
    """Dedup the items against the store, as the pipeline does."""
    batch = [(it, keys) for it in items if (keys := keys_for(feed_url, it))]
    entry_keys, shared = lookup_keys(k for _, k in batch)
    seen, articles = store.known(entry_keys, shared)
    return classify(batch, seen, articles)


def alert_for(decisions: Sequence[Decision], index: int, *notifiers: str) -> NewAlert:
    return NewAlert(
        id=alert_id("rule", decisions[index].keys),
        rule="rule",
        keywords=("Peru", "mining"),
        item_index=index,
        notifiers=notifiers,
    )


def feed_id(store: Store, url: str) -> int:
    return next(state.id for state in store.feed_states() if state.url == url)


def save(
    store: Store,
    url: str,
    decisions: Sequence[Decision],
    alerts: Sequence[NewAlert] = (),
    now: datetime = NOW,
    title: str | None = "Feed title",
) -> None:
    store.save_poll(
        PollOutcome(
            feed_id=feed_id(store, url),
            now=now,
            status=200,
            etag='"e1"',
            last_modified="Fri, 01 Mar 2024 11:00:00 GMT",
            parsed=ParsedFeed(title=title, link="https://news.example.org/", items=()),
            decisions=decisions,
            alerts=alerts,
            next_poll_at=now + HOUR,
        )
    )


def counts(path: Path) -> dict[str, int]:
    return {
        table: raw(path, f"SELECT count(*) FROM {table}")[0][0]
        for table in ("items", "alerts", "deliveries")
    }


def is_utc_iso(value: str) -> bool:
    return value.endswith("Z") and datetime.fromisoformat(value).utcoffset() == timedelta(0)


# --- opening and migrating ----------------------------------------------------------------


def test_migrates_an_empty_file(store: Store, db_path: Path) -> None:
    assert db_path.exists()
    tables = {row[0] for row in raw(db_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"feeds", "items", "alerts", "deliveries"} <= tables
    assert raw(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_schema_version_counts_the_migrations(store: Store) -> None:
    """A file at SCHEMA_VERSION is not migrated: a migration added without raising the
    version would never run on an existing database."""
    import sqlite_utils

    from feedwatch.store.schema import migrations

    assert len(migrations.applied(sqlite_utils.Database(store.db.conn))) == SCHEMA_VERSION


def test_opening_a_current_file_does_not_load_sqlite_utils(db_path: Path) -> None:
    Store(db_path).close()
    code = (
        "import sys; from pathlib import Path; from feedwatch.store import Store;"
        f"Store(Path({str(db_path)!r})).close(); print('sqlite_utils' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_wal_mode_is_on(store: Store, db_path: Path) -> None:
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]


def test_reopening_is_idempotent_and_keeps_data(db_path: Path) -> None:
    first = Store(db_path)
    first.sync_feeds([(FEED_A, "A", HOUR)], NOW)
    save(first, FEED_A, decide(first, FEED_A, [item(1)]))
    first.close()
    schema = raw(db_path, "SELECT sql FROM sqlite_master ORDER BY name")

    for _ in range(2):
        again = Store(db_path)
        again.close()

    assert raw(db_path, "SELECT sql FROM sqlite_master ORDER BY name") == schema
    assert raw(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert counts(db_path)["items"] == 1
    assert raw(db_path, "SELECT url FROM feeds") == [(FEED_A,)]


def test_readonly_store_reads_while_writer_is_open(store: Store, db_path: Path) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW)
    reader = Store(db_path, readonly=True)
    try:
        assert [feed["url"] for feed in reader.list_feeds()] == [FEED_A]
    finally:
        reader.close()


def test_unopenable_path_is_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError):
        Store(blocker / "feedwatch.db")


def test_garbage_file_is_store_error(tmp_path: Path) -> None:
    path = tmp_path / "feedwatch.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        Store(path)


# --- feeds --------------------------------------------------------------------------------


def test_new_feeds_are_due_at_once(store: Store) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR), (FEED_B, None, HOUR)], NOW)
    due = store.feeds_due(NOW, limit=10)
    assert [state.url for state in due] == [FEED_A, FEED_B]
    assert all(state.next_poll_at is None and state.etag is None for state in due)


def test_feeds_due_respects_limit_and_skip(store: Store) -> None:
    store.sync_feeds([(FEED_A, None, HOUR), (FEED_B, None, HOUR), (FEED_C, None, HOUR)], NOW)
    assert len(store.feeds_due(NOW, limit=2)) == 2
    skipped = store.feeds_due(NOW, limit=10, skip=[feed_id(store, FEED_A)])
    assert [state.url for state in skipped] == [FEED_B, FEED_C]


def test_never_polled_feeds_come_first_then_the_longest_due(store: Store) -> None:
    feeds = [(f"http://127.0.0.1:1/{n}.xml", None, HOUR) for n in range(6)]
    store.sync_feeds(feeds, NOW)
    urls = [url for url, _, _ in feeds]
    for url, due_at in zip(urls[:4], (NOW, NOW - HOUR, NOW + HOUR, NOW - HOUR), strict=True):
        save(store, url, [], now=due_at - HOUR)  # next poll at due_at
    order = [urls[1], urls[3], urls[0]]  # due longest first, then by id
    assert [s.url for s in store.feeds_due(NOW, limit=10)] == [urls[4], urls[5], *order]
    assert [s.url for s in store.feeds_due(NOW, limit=3)] == [urls[4], urls[5], urls[1]]
    assert [s.url for s in store.feeds_due(NOW, limit=1)] == [urls[4]]
    skip = [feed_id(store, urls[4]), feed_id(store, urls[1])]
    assert [s.url for s in store.feeds_due(NOW, limit=10, skip=skip)] == [urls[5], urls[3], urls[0]]


def test_feed_left_out_of_config_is_inactive_and_never_due(store: Store) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR), (FEED_B, "B", HOUR)], NOW)
    store.sync_feeds([(FEED_B, "B", HOUR)], NOW)
    assert [state.url for state in store.feeds_due(NOW, limit=10)] == [FEED_B]
    assert [feed["url"] for feed in store.list_feeds()] == [FEED_B]
    # back in the config, it is active again
    store.sync_feeds([(FEED_A, "A", HOUR), (FEED_B, "B", HOUR)], NOW)
    assert {state.url for state in store.feeds_due(NOW, limit=10)} == {FEED_A, FEED_B}


def test_polled_feed_is_due_again_after_next_poll_at(store: Store) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW)
    save(store, FEED_A, [])
    assert store.feeds_due(NOW, limit=10) == []
    assert store.feeds_due(NOW + HOUR - timedelta(seconds=1), limit=10) == []
    due = store.feeds_due(NOW + HOUR, limit=10)
    assert [state.url for state in due] == [FEED_A]
    assert due[0].etag == '"e1"'
    assert due[0].last_modified == "Fri, 01 Mar 2024 11:00:00 GMT"


def test_sync_updates_name_and_interval(store: Store, db_path: Path) -> None:
    store.sync_feeds([(FEED_A, "Old", HOUR)], NOW)
    store.sync_feeds([(FEED_A, "New", 2 * HOUR)], NOW)
    assert raw(db_path, "SELECT name, interval_seconds FROM feeds") == [("New", 7200.0)]


def test_record_failure_and_not_modified_change_health(store: Store) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW)
    fid = feed_id(store, FEED_A)
    store.record_failure(fid, NOW, "http status 500", NOW + HOUR, status=500)
    store.record_failure(fid, NOW + HOUR, "http status 500", NOW + 3 * HOUR, status=500)
    [feed] = store.list_feeds()
    assert feed["status"] == "failing"
    assert feed["error"] == "http status 500"
    assert feed["last_success"] is None
    assert store.feed_states()[0].failures == 2

    store.record_not_modified(fid, NOW + 3 * HOUR, NOW + 4 * HOUR)
    [feed] = store.list_feeds()
    assert feed["status"] == "ok"
    assert feed["error"] is None
    assert store.feed_states()[0].failures == 0


def test_gone_feed_is_not_due(store: Store) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW)
    store.record_failure(feed_id(store, FEED_A), NOW, "http status 410", NOW, 410, gone=True)
    assert store.feeds_due(NOW + 10 * HOUR, limit=10) == []
    assert store.list_feeds()[0]["status"] == "gone"


# --- saving a poll ------------------------------------------------------------------------


def test_save_poll_writes_items_alerts_and_deliveries(store: Store, db_path: Path) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW)
    decisions = decide(store, FEED_A, [item(1), item(2), item(3)])
    alerts = [alert_for(decisions, 0, "me", "hook"), alert_for(decisions, 2, "hook")]
    save(store, FEED_A, decisions, alerts)

    assert counts(db_path) == {"items": 3, "alerts": 2, "deliveries": 3}
    due = store.due_deliveries(NOW, ["hook"])
    assert {d.alert.id for d in due} == {alerts[0].id, alerts[1].id}
    assert all(d.status is DeliveryStatus.PENDING and d.attempts == 0 for d in due)
    [mine] = store.due_deliveries(NOW, ["me"])
    assert mine.alert.item.title == "Story 1"
    assert mine.alert.item.feed_title == "A"
    assert mine.alert.item.feed_url == FEED_A
    assert mine.alert.keywords == ("Peru", "mining")
    assert mine.alert.created_at == NOW


def test_save_poll_is_all_or_nothing_on_a_bad_alert(store: Store, db_path: Path) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW)
    decisions = decide(store, FEED_A, [item(1), item(2)])
    bad = NewAlert(id="bad", rule="rule", keywords=("Peru",), item_index=7, notifiers=("hook",))
    with pytest.raises((StoreError, KeyError, IndexError)):
        save(store, FEED_A, decisions, [alert_for(decisions, 0, "hook"), bad])

    assert counts(db_path) == {"items": 0, "alerts": 0, "deliveries": 0}
    # the feed's health was not updated either: it is still new and due
    assert store.list_feeds()[0]["status"] == "new"
    assert [s.url for s in store.feeds_due(NOW, limit=10)] == [FEED_A]
    # and the store is still usable afterwards
    save(store, FEED_A, decisions, [alert_for(decisions, 0, "hook")])
    assert counts(db_path) == {"items": 2, "alerts": 1, "deliveries": 1}


def test_save_poll_is_all_or_nothing_on_a_database_error(store: Store, db_path: Path) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW)
    [first] = decide(store, FEED_A, [item(1)])
    # Two NEW decisions under the same entry key: the second insert breaks a UNIQUE constraint.
    twin = Decision(item(2), first.keys, Verdict.NEW)
    with pytest.raises(StoreError):
        save(store, FEED_A, [first, twin], [alert_for([first], 0, "hook")])
    assert counts(db_path) == {"items": 0, "alerts": 0, "deliveries": 0}


def test_same_alert_twice_is_stored_once(store: Store, db_path: Path) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW)
    decisions = decide(store, FEED_A, [item(1), item(2)])
    alert = alert_for(decisions, 0, "hook")
    twin = NewAlert(alert.id, alert.rule, alert.keywords, 1, ("hook",))
    save(store, FEED_A, decisions, [alert, twin])
    assert counts(db_path) == {"items": 2, "alerts": 1, "deliveries": 1}


def test_known_finds_entries_and_articles(store: Store) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR), (FEED_B, "B", HOUR)], NOW)
    save(store, FEED_A, decide(store, FEED_A, [item(1), item(2)]))
    original_id = store.list_items(10)[-1]["id"]  # oldest first stored: Story 1

    keys = keys_for(FEED_A, item(1))
    assert keys is not None
    seen, articles = store.known([keys.entry_key, "nope"], list(keys.shared()))
    assert seen == {keys.entry_key}
    assert set(articles) == set(keys.shared())
    assert set(articles.values()) == {original_id}

    # The same article in feed B, under a tracking-decorated link: its entry is new there,
    # but its link is known and points to the first copy.
    copy = item(1, guid="b-1", link="https://NEWS.example.org/story/1?utm_source=x#top")
    copy_keys = keys_for(FEED_B, copy)
    assert copy_keys is not None
    seen, articles = store.known([copy_keys.entry_key], list(copy_keys.shared()))
    assert seen == set()
    assert copy_keys.link_key is not None
    assert articles[copy_keys.link_key] == original_id


def test_copy_is_stored_linked_to_its_first_copy(store: Store) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR), (FEED_B, "B", HOUR)], NOW)
    save(store, FEED_A, decide(store, FEED_A, [item(1)]))
    copy = item(1, guid="b-1", link="https://news.example.org/story/1?utm_medium=rss")
    decisions = decide(store, FEED_B, [copy])
    assert [d.verdict for d in decisions] == [Verdict.COPY]
    save(store, FEED_B, decisions, now=NOW + HOUR)

    newest, oldest = store.list_items(10)
    assert newest["copy_of"] == oldest["id"]
    assert newest["feed"] == {"title": "B", "url": FEED_B}
    # a copy of a copy still points at the first one
    third = decide(store, FEED_C, [item(1, guid="c-1")])
    assert third[0].copy_of_id == oldest["id"]


def test_seen_items_are_not_stored_again(store: Store, db_path: Path) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW)
    save(store, FEED_A, decide(store, FEED_A, [item(1)]))
    decisions = decide(store, FEED_A, [item(1), item(2)])
    assert [d.verdict for d in decisions] == [Verdict.SEEN, Verdict.NEW]
    save(store, FEED_A, decisions, [alert_for(decisions, 1, "hook")], now=NOW + HOUR)
    assert counts(db_path) == {"items": 2, "alerts": 1, "deliveries": 1}


# --- deliveries ---------------------------------------------------------------------------


@pytest.fixture
def pending(store: Store) -> int:
    """One stored alert with one pending delivery to "hook"; returns the delivery id."""
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW)
    decisions = decide(store, FEED_A, [item(1)])
    save(store, FEED_A, decisions, [alert_for(decisions, 0, "hook")])
    [delivery] = store.due_deliveries(NOW, ["hook"])
    return delivery.id


def outcome(store: Store, delivery_id: int, status: DeliveryStatus, **kw: Any) -> DeliveryOutcome:
    [alert] = store.list_alerts(1)
    return DeliveryOutcome(delivery_id, "hook", alert["id"], status, **kw)


def delivery_record(store: Store) -> dict[str, Any]:
    [alert] = store.list_alerts(10)
    [record] = alert["deliveries"]
    return record


def test_claim_is_exclusive_until_the_lease_ends(store: Store, pending: int) -> None:
    lease = NOW + timedelta(seconds=30)
    assert store.claim(pending, NOW, lease) is True
    assert store.claim(pending, NOW, lease) is False
    assert store.due_deliveries(NOW + timedelta(seconds=29), ["hook"]) == []
    # a process killed mid-send: once the lease runs out, the delivery can be taken again
    assert store.claim(pending, lease, lease + timedelta(seconds=30)) is True
    assert delivery_record(store)["attempts"] == 2


def test_two_connections_cannot_both_claim(store: Store, pending: int, db_path: Path) -> None:
    other = Store(db_path)
    try:
        lease = NOW + timedelta(seconds=30)
        results = [store.claim(pending, NOW, lease), other.claim(pending, NOW, lease)]
    finally:
        other.close()
    assert results == [True, False]


def test_record_attempt_sent(store: Store, pending: int) -> None:
    assert store.claim(pending, NOW, NOW + timedelta(seconds=30))
    store.record_attempt(outcome(store, pending, DeliveryStatus.SENT), NOW)
    record = delivery_record(store)
    assert (record["status"], record["attempts"], record["error"]) == ("sent", 1, None)
    assert store.due_deliveries(NOW + 100 * HOUR, ["hook"]) == []


def test_record_attempt_pending_is_due_again_later(store: Store, pending: int) -> None:
    retry_at = NOW + timedelta(minutes=5)
    assert store.claim(pending, NOW, NOW + timedelta(seconds=30))
    store.record_attempt(
        outcome(store, pending, DeliveryStatus.PENDING, error="http 500", next_attempt_at=retry_at),
        NOW,
    )
    record = delivery_record(store)
    assert (record["status"], record["attempts"], record["error"]) == ("pending", 1, "http 500")
    assert store.due_deliveries(retry_at - timedelta(seconds=1), ["hook"]) == []
    [again] = store.due_deliveries(retry_at, ["hook"])
    assert (again.id, again.attempts, again.last_error) == (pending, 1, "http 500")


def test_record_attempt_failed_then_requeue(store: Store, pending: int) -> None:
    assert store.claim(pending, NOW, NOW + timedelta(seconds=30))
    store.record_attempt(outcome(store, pending, DeliveryStatus.FAILED, error="550 no"), NOW)
    record = delivery_record(store)
    assert (record["status"], record["attempts"], record["error"]) == ("failed", 1, "550 no")
    assert store.due_deliveries(NOW + 100 * HOUR, ["hook"]) == []

    later = NOW + HOUR
    [alert] = store.list_alerts(1)
    assert store.requeue(alert["id"], later) == 1
    assert delivery_record(store)["status"] == "pending"
    [due] = store.due_deliveries(later, ["hook"])
    assert due.id == pending
    assert due.attempts == 1
    # requeueing what is not failed, or an unknown alert, changes nothing
    assert store.requeue(alert["id"], later) == 0
    assert store.requeue("no-such-alert", later) == 0


def test_due_deliveries_filters_by_notifier(store: Store, pending: int) -> None:
    assert store.due_deliveries(NOW, ["me"]) == []
    assert store.due_deliveries(NOW, []) == []
    assert [d.id for d in store.due_deliveries(NOW, ["me", "hook"])] == [pending]


# --- listings (SPEC: --json lines) --------------------------------------------------------


def test_list_feeds_shape(store: Store) -> None:
    store.sync_feeds([(FEED_A, "Named", HOUR), (FEED_B, None, HOUR)], NOW)
    save(store, FEED_B, decide(store, FEED_B, [item(1), item(2)]), title="Own title")
    a, b = store.list_feeds()
    for feed in (a, b):
        assert {
            "url", "name", "status", "last_polled", "last_success", "error", "items", "next_poll"
        } <= set(feed)  # fmt: skip
    assert (a["url"], a["name"], a["status"], a["items"]) == (FEED_A, "Named", "new", 0)
    assert a["last_polled"] is None
    assert (b["url"], b["name"], b["status"], b["items"]) == (FEED_B, "Own title", "ok", 2)
    assert b["error"] is None
    for key in ("last_polled", "last_success", "next_poll"):
        assert is_utc_iso(b[key]), key
    assert datetime.fromisoformat(b["last_polled"]) == NOW
    assert datetime.fromisoformat(b["next_poll"]) == NOW + HOUR


def test_list_items_shape_and_order(store: Store) -> None:
    store.sync_feeds([(FEED_A, "Named", HOUR), (FEED_B, None, HOUR)], NOW)
    save(store, FEED_A, decide(store, FEED_A, [item(1)]))
    undated = item(2, published_at=None)
    save(store, FEED_B, decide(store, FEED_B, [undated]), now=NOW + HOUR, title="Own title")

    newest, oldest = store.list_items(10)
    for record in (newest, oldest):
        assert {"id", "title", "url", "published", "feed"} <= set(record)
        assert set(record["feed"]) >= {"title", "url"}
        assert is_utc_iso(record["published"])
    assert newest["title"] == "Story 2"
    assert newest["feed"] == {"title": "Own title", "url": FEED_B}
    # SPEC: an item with no date is dated when feedwatch first saw it
    assert datetime.fromisoformat(newest["published"]) == NOW + HOUR
    assert oldest["title"] == "Story 1"
    assert oldest["url"] == "https://news.example.org/story/1"
    assert oldest["feed"] == {"title": "Named", "url": FEED_A}
    assert datetime.fromisoformat(oldest["published"]) == datetime(2024, 2, 1, 9, 30, tzinfo=UTC)
    assert [r["title"] for r in store.list_items(1)] == ["Story 2"]


def test_list_alerts_shape_and_order(store: Store) -> None:
    store.sync_feeds([(FEED_A, "Named", HOUR)], NOW)
    first = decide(store, FEED_A, [item(1)])
    save(store, FEED_A, first, [alert_for(first, 0, "hook", "me")])
    second = decide(store, FEED_A, [item(2)])
    save(store, FEED_A, second, [alert_for(second, 0, "hook")], now=NOW + HOUR)

    newest, oldest = store.list_alerts(10)
    for record in (newest, oldest):
        assert {"id", "rule", "keywords", "item", "deliveries"} <= set(record)
        assert {"title", "url", "published", "feed"} <= set(record["item"])
        assert record["rule"] == "rule"
        assert record["keywords"] == ["Peru", "mining"]
        for delivery in record["deliveries"]:
            assert {"notifier", "status", "attempts", "error"} <= set(delivery)
            assert (delivery["status"], delivery["attempts"], delivery["error"]) == (
                "pending", 0, None
            )  # fmt: skip
    assert newest["id"] == alert_for(second, 0).id
    assert newest["item"]["title"] == "Story 2"
    assert newest["item"]["feed"] == {"title": "Named", "url": FEED_A}
    assert is_utc_iso(newest["item"]["published"])
    assert sorted(d["notifier"] for d in oldest["deliveries"]) == ["hook", "me"]
    assert [r["id"] for r in store.list_alerts(1)] == [newest["id"]]


def test_item_keys_survive_roundtrip(store: Store, db_path: Path) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW)
    decisions = decide(store, FEED_A, [item(1)])
    save(store, FEED_A, decisions)
    keys: ItemKeys = decisions[0].keys
    assert raw(db_path, "SELECT entry_key, link_key, content_key FROM items") == [
        (keys.entry_key, keys.link_key, keys.content_key)
    ]


def test_story_samples_keep_working_across_the_move_to_a_compact_table(db_path: Path) -> None:
    import sqlite_utils

    from feedwatch.store.schema import migrations
    from feedwatch.stories import sample_key

    db_path.parent.mkdir(parents=True, exist_ok=True)
    old = sqlite_utils.Database(db_path)
    migrations.apply(old, stop_before="0004_story_hashes_compact")
    old.execute("INSERT INTO feeds (url, added_at) VALUES (?, ?)", [FEED_A, "2024-03-01T12:00:00Z"])
    for item_id, seen in ((1, "2024-02-20T12:00:00.000000Z"), (2, "2024-01-01T00:00:00.000000Z")):
        old.execute(
            "INSERT INTO items (id, feed_id, title, summary, content, first_seen_at, entry_key,"
            " sketch_size) VALUES (?, 1, 't', '', '', ?, ?, 3)",
            [item_id, seen, f"k{item_id}"],
        )
    samples = [6 << 32, (12 << 32) + 5, -(6 << 32)]  # sampled halves: multiples of 6
    old.conn.executemany(
        "INSERT INTO story_hashes (hash, item_id, seen_at) VALUES (?, ?, '')",
        [(value, item) for value in samples for item in (1, 2)],
    )
    old.conn.commit()
    old.conn.close()

    store = Store(db_path)
    try:
        keys = sorted({sample_key(value) for value in samples})
        assert raw(db_path, "SELECT key, item_id FROM story_samples ORDER BY key, item_id") == [
            (key, item) for key in keys for item in (1, 2)
        ]
        found = store.story_candidates({0: (*keys, 99)}, NOW - timedelta(days=30))
        assert found == {0: [(1, 3, 3)]}  # item 2 is older than 30 days: no longer counts
    finally:
        store.close()


def test_deciding_holds_the_write_lock_from_the_first_read_to_the_save(db_path: Path) -> None:
    """Two processes polling the same article in two feeds must not both read it as new:
    the reads that decide (known) and the save happen under one write lock."""
    first, second = Store(db_path), Store(db_path)
    second.db.execute("PRAGMA busy_timeout = 100")
    try:
        with first.deciding():
            assert first.known(["k"], []) == (set(), {})
            with pytest.raises(StoreError, match="locked"), second.deciding():
                pass
        with second.deciding():  # given up when the first one's save is committed
            assert second.known(["k"], []) == (set(), {})
        with first.batch():
            with first.deciding():
                first.known(["k"], [])
            # inside a batch the lock is the batch's, held until it is committed
            with pytest.raises(StoreError, match="locked"), second.deciding():
                pass
            first.flush()
            with second.deciding():
                pass
    finally:
        first.close()
        second.close()


# --- story sample pruning (issue 6) ---------------------------------------------------------

DAY = timedelta(days=1)
WINDOW = timedelta(days=30)


def save_sketched(store: Store, url: str, n: int, keys: Sequence[int], now: datetime) -> int:
    """Store item n, first seen at ``now``, with a story sketch; its id."""
    decisions = decide(store, url, [item(n, content=f"Text {n}.")])
    store.save_poll(
        PollOutcome(
            feed_id=feed_id(store, url), now=now, status=200, etag=None, last_modified=None,
            parsed=ParsedFeed(title=None, link=None, items=()), decisions=decisions,
            alerts=(), next_poll_at=now + HOUR, sketches={0: keys},
        )
    )  # fmt: skip
    (row,) = raw(store.path, "SELECT max(id) FROM items")
    return int(row[0])


def samples_by_item(path: Path) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for key, item_id in raw(path, "SELECT key, item_id FROM story_samples ORDER BY key"):
        found.setdefault(item_id, []).append(key)
    return found


def prune_all(store: Store, now: datetime) -> int | None:
    cutoff = store.story_prune_cutoff(now, now - WINDOW, DAY)
    if cutoff is not None:
        for low in range(0, 1 << 30, 1 << 28):
            store.prune_story_samples(cutoff, low, low + (1 << 28))
        store.record_story_prune(cutoff, now)
    return cutoff


def test_prune_scans_nothing_until_an_item_leaves_the_window(store: Store) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW - 60 * DAY)
    first = save_sketched(store, FEED_A, 1, (10, 20, 30), NOW - DAY)
    assert store.story_prune_cutoff(NOW, NOW - WINDOW, DAY) is None  # on the first day too
    assert raw(store.path, "SELECT below_item_id FROM story_prune") == [(first,)]
    assert samples_by_item(store.path) == {first: [10, 20, 30]}


def test_prune_drops_only_the_samples_of_items_older_than_the_window(store: Store) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW - 60 * DAY)
    old = save_sketched(store, FEED_A, 1, (10, 20, 30), NOW - 45 * DAY)
    edge = save_sketched(store, FEED_A, 2, (10, 21, 31), NOW - WINDOW + HOUR)
    new = save_sketched(store, FEED_A, 3, (10, 22, 32), NOW - DAY)
    before = store.story_candidates({0: (10, 21, 22, 31, 32)}, NOW - WINDOW)

    assert prune_all(store, NOW) == edge
    assert samples_by_item(store.path) == {edge: [10, 21, 31], new: [10, 22, 32]}
    assert old not in samples_by_item(store.path)
    # what a story lookup in the window sees is unchanged
    assert store.story_candidates({0: (10, 21, 22, 31, 32)}, NOW - WINDOW) == before
    assert raw(store.path, "SELECT count(*) FROM items")[0][0] == 3  # the items all stay


def test_prune_looks_once_a_day_and_again_when_more_items_age(store: Store) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW - 60 * DAY)
    save_sketched(store, FEED_A, 1, (10, 20, 30), NOW - 45 * DAY)
    second = save_sketched(store, FEED_A, 2, (11, 21, 31), NOW - WINDOW + HOUR)
    assert prune_all(store, NOW) == second
    assert store.story_prune_cutoff(NOW + 23 * HOUR, NOW - WINDOW, DAY) is None  # looked today
    # a day later, item 2 has left the window too: no item is in it, so every sample goes
    assert prune_all(store, NOW + DAY) == second + 1
    assert samples_by_item(store.path) == {}
    assert prune_all(store, NOW + 2 * DAY) is None  # nothing left below the cutoff


def test_prune_keeps_an_item_in_the_window_even_with_a_smaller_id(store: Store) -> None:
    """Ids follow the clock only while the clock runs forward: the cutoff is the smallest id
    in the window, so an item saved under a clock set back still keeps its samples."""
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW - 60 * DAY)
    recent = save_sketched(store, FEED_A, 1, (10, 20, 30), NOW - DAY)
    save_sketched(store, FEED_A, 2, (11, 21, 31), NOW - 45 * DAY)
    assert prune_all(store, NOW) is None  # item 2 sits above the cutoff: kept for now
    assert set(samples_by_item(store.path)) == {recent, recent + 1}


def test_prune_goes_one_slice_of_keys_at_a_time(store: Store, db_path: Path) -> None:
    store.sync_feeds([(FEED_A, "A", HOUR)], NOW - 60 * DAY)
    old = save_sketched(store, FEED_A, 1, (10, 1 << 29), NOW - 45 * DAY)
    save_sketched(store, FEED_A, 2, (11, 21, 31), NOW - DAY)
    cutoff = store.story_prune_cutoff(NOW, NOW - WINDOW, DAY)
    assert cutoff == old + 1
    assert store.prune_story_samples(cutoff, 0, 1 << 28) == 1
    assert samples_by_item(db_path)[old] == [1 << 29]  # the other slice is not touched
    assert store.prune_story_samples(cutoff, 1 << 28, 1 << 30) == 1
    assert old not in samples_by_item(db_path)
