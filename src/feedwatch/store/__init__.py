"""The SQLite database: use-case methods over the schema.

Edge: the only package that touches SQLite. WAL mode lets the CLI read while the daemon
writes; each polled feed is one transaction, holding its items, their alerts and the alerts'
pending deliveries together (SPEC: alerts are written with their item). ``sqlite3.Error``
becomes StoreError. The schema and its migrations (sqlite-utils) are in schema.py, loaded
only when the file needs migrating; row conversions are in records.py.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import repeat
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from feedwatch.errors import StoreError
from feedwatch.models import (
    NO_REDIRECT,
    Decision,
    Delivery,
    DeliveryOutcome,
    DeliveryStatus,
    FeedState,
    PollOutcome,
    Redirect,
    Verdict,
)
from feedwatch.store.records import (
    ALERT_COLUMNS,
    alert_from_row,
    delivery_record,
    feed_record,
    feed_state,
    iso,
    item_record,
    parse_ts,
    snippets_from_json,
    snippets_json,
    ts,
)
from feedwatch.store.version import SCHEMA_VERSION
from feedwatch.text import fold

__all__ = ["SCHEMA_VERSION", "Store", "item_record", "parse_ts", "ts"]

_CHUNK = 500

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def _wrapped(fn: Callable[P, R]) -> Callable[P, R]:
    def inner(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except sqlite3.Error as e:
            raise StoreError(f"database error: {e}") from e

    inner.__name__ = fn.__name__
    inner.__doc__ = fn.__doc__
    return inner


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class _Database:
    """The connection as the store uses it: statements, and transactions that nest (a
    savepoint inside an open one). Importing sqlite-utils took about 65 ms of every
    command's start (its plugins, dateutil, its regexes), so it is loaded only to migrate."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """All of the block's writes or none: a transaction, or a savepoint in the open
        one. When an error has already ended the whole transaction, there is nothing left
        to roll back, and the error goes on as it was."""
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN")
            try:
                yield
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            return
        name = f"feedwatch_{secrets.token_hex(8)}"
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                self.conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self.conn.execute(f"RELEASE SAVEPOINT {name}")


def _migrate(conn: sqlite3.Connection) -> None:
    from feedwatch.store.schema import apply_migrations

    apply_migrations(conn)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


# How long a batch's transaction stays open: one commit per poll rewrote every index page
# the poll touched (story hashes land all over their index) and took a third of a first
# round; one a second writes each page once for many feeds.
BATCH_SECONDS = 1.0


class Store:
    """The database file, migrated on open; every method is one short transaction or read,
    except that inside ``batch()`` the writes of polls share a transaction of about a
    second."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self._batching = 0
        self._batch_began = 0.0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = _Database(sqlite3.connect(path, timeout=10.0, isolation_level=None))
            self.db.execute("PRAGMA busy_timeout = 10000")
            self.db.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.execute("PRAGMA synchronous = NORMAL")
                # a 12 MB page cache (the default is 2 MB): dedup and story indexes take
                # random inserts. On a 1,000-feed first round, peak RSS in MiB as the bench
                # reports it: 8 MB took 29 s and 86; 12 MB 26.5-26.9 s and 90-95; 16 MB
                # 23-26 s and 92-100, at the edge of the 100 MB target; 64 MB 23.6 s and 142
                self.db.execute("PRAGMA cache_size = -12288")
                (version,) = self.db.execute("PRAGMA user_version").fetchone()
                if version != SCHEMA_VERSION:
                    _migrate(self.db.conn)
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot open the database {path}: {e}") from e

    def close(self) -> None:
        """Commit what a batch holds and close the connection."""
        self.flush()
        self.db.conn.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Let the polls' writes (save_poll, record_not_modified, record_failure) share
        transactions, committed about every BATCH_SECONDS, before any other write, and on
        leaving the block. For a `poll` round; the daemon writes each poll at once. Each
        poll is still all or nothing (a savepoint); a crash loses at most the last second
        of polls, which are then polled again."""
        self._batching += 1
        try:
            yield
        finally:
            self._batching -= 1
            if not self._batching:
                self.flush()

    @_wrapped
    def flush(self) -> None:
        """Commit the open batch, if any."""
        if self.db.conn.in_transaction:
            self.db.execute("COMMIT")

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """A transaction of its own, committed on leaving, after the open batch: a delivery
        is claimed and recorded durably, and only once its alert is committed."""
        try:
            self.flush()
            with self.db.atomic():
                yield
        except sqlite3.Error as e:
            raise StoreError(f"database error: {e}") from e

    def _join_batch(self) -> None:
        """Inside a batch, open its transaction if none is open, taking the write lock at
        once (IMMEDIATE): see ``deciding``."""
        if self._batching and not self.db.conn.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
            self._batch_began = time.monotonic()

    @contextmanager
    def deciding(self) -> Iterator[None]:
        """Hold the write lock from the read that decides what is new (``known``, story
        candidates) to the write that stores it (``save_poll``): two processes polling the
        same article in two feeds cannot both call it new and alert twice. Inside a batch
        this is the batch's transaction; alone, a transaction of its own."""
        with self.batch():
            try:
                self._join_batch()
            except sqlite3.Error as e:
                raise StoreError(f"database error: {e}") from e
            yield

    @contextmanager
    def _poll_write(self, one_statement: bool = False) -> Iterator[None]:
        if not self._batching:
            with self._atomic():
                yield
            return
        try:
            self._join_batch()
            if one_statement:  # whole or not at all by itself: no savepoint needed
                yield
            else:
                with self.db.atomic():  # a savepoint: this poll's writes, whole or not at all
                    yield
            if time.monotonic() - self._batch_began >= BATCH_SECONDS:
                self.db.execute("COMMIT")
        except sqlite3.Error as e:
            raise StoreError(f"database error: {e}") from e

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            cursor = self.db.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except sqlite3.Error as e:
            raise StoreError(f"database error: {e}") from e

    # -- feeds -------------------------------------------------------------------------------

    def sync_feeds(self, feeds: Iterable[tuple[str, str | None, timedelta]], now: datetime) -> None:
        """Make the configured feeds the active ones; a new feed is due at once."""
        rows = list(feeds)
        with self._atomic():
            self.db.execute("UPDATE feeds SET active = 0")
            self.db.conn.executemany(
                """
                INSERT INTO feeds (url, name, interval_seconds, added_at, active)
                VALUES (?, ?, ?, ?, 1)
                ON CONFLICT (url) DO UPDATE SET
                    name = excluded.name, interval_seconds = excluded.interval_seconds, active = 1
                """,
                [(url, name, interval.total_seconds(), ts(now)) for url, name, interval in rows],
            )

    def feed_states(self, urls: Sequence[str] | None = None) -> list[FeedState]:
        """The polling state of the given feeds (all active feeds when None)."""
        if urls is None:
            rows = self._rows("SELECT * FROM feeds WHERE active = 1 ORDER BY id")
        else:
            rows = []
            for chunk in _chunks(list(urls)):
                marks = ",".join("?" * len(chunk))
                rows += self._rows(f"SELECT * FROM feeds WHERE url IN ({marks})", chunk)
        return [feed_state(row) for row in rows]

    def feeds_due(self, now: datetime, limit: int, skip: Iterable[int] = ()) -> list[FeedState]:
        """Active feeds whose next poll has come, never polled first, then oldest due."""
        skipped = list(skip)
        marks = ",".join("?" * len(skipped))
        exclude = f"AND id NOT IN ({marks})" if skipped else ""
        # Two reads, each a range of the feeds_due index in its order: one condition with
        # "IS NULL OR <=" read every active feed and sorted them, every 2 s in the daemon.
        rows = self._rows(
            f"""
            SELECT * FROM feeds WHERE active = 1 AND gone = 0 AND next_poll_at IS NULL {exclude}
            ORDER BY id LIMIT ?
            """,
            [*skipped, limit],
        )
        if len(rows) < limit:
            rows += self._rows(
                f"""
                SELECT * FROM feeds WHERE active = 1 AND gone = 0 AND next_poll_at <= ? {exclude}
                ORDER BY next_poll_at, id LIMIT ?
                """,
                [ts(now), *skipped, limit - len(rows)],
            )
        return [feed_state(row) for row in rows]

    # -- polling -------------------------------------------------------------------------------

    def known(
        self, entry_keys: Sequence[str], shared_keys: Sequence[str]
    ) -> tuple[set[str], dict[str, int]]:
        """Entry keys already stored, and the first stored item of each shared key."""
        seen: set[str] = set()
        for chunk in _chunks(list(entry_keys)):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT entry_key FROM items WHERE entry_key IN ({marks})"
            seen.update(row["entry_key"] for row in self._rows(sql, chunk))
        articles: dict[str, int] = {}
        unique = list(dict.fromkeys(shared_keys))
        for column in ("link_key", "content_key"):
            for chunk in _chunks(unique):
                marks = ",".join("?" * len(chunk))
                sql = (
                    f"SELECT {column} AS k, coalesce(copy_of, id) AS original FROM items "
                    f"WHERE {column} IN ({marks}) ORDER BY id"
                )
                for row in self._rows(sql, chunk):
                    articles.setdefault(row["k"], row["original"])
        return seen, articles

    def save_poll(self, poll: PollOutcome) -> None:
        """One successful poll in one transaction: feed health, items, alerts, deliveries,
        and the story sketches of the new items."""
        parsed, redirect = poll.parsed, poll.redirect
        with self._poll_write():
            self.db.execute(
                """
                UPDATE feeds SET last_polled_at = ?, last_success_at = ?, last_status = ?,
                    etag = ?, last_modified = ?, error = NULL, failing_since_at = NULL,
                    failures = 0, next_poll_at = ?, gone = 0,
                    title = coalesce(?, title), site_url = coalesce(?, site_url),
                    interval_hint = ?, redirect_to = ?, redirect_seen = ?,
                    poll_url = coalesce(?, poll_url)
                WHERE id = ?
                """,
                [
                    ts(poll.now), ts(poll.now), poll.status, poll.etag, poll.last_modified,
                    ts(poll.next_poll_at), parsed.title if parsed else None,
                    parsed.link if parsed else None, parsed.interval_hint if parsed else None,
                    redirect.target, redirect.seen, redirect.adopt, poll.feed_id,
                ],
            )  # fmt: skip
            now, first_at = poll.now, poll.first_attempt_at
            row_ids = self._insert_items(poll.feed_id, now, poll.decisions, poll.sketches)
            self._insert_sketches(row_ids, poll.sketches)
            for alert in poll.alerts:
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO alerts (id, rule, item_id, keywords, snippets, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [alert.id, alert.rule, row_ids[alert.item_index],
                     json.dumps(list(alert.keywords)), snippets_json(alert.snippets), ts(now)],
                )  # fmt: skip
                if cursor.rowcount != 1:
                    continue
                self.db.conn.executemany(
                    "INSERT OR IGNORE INTO deliveries (alert_id, notifier, status, attempts, "
                    "next_attempt_at, queued_at) VALUES (?, ?, 'pending', 0, ?, ?)",
                    [
                        # a digest's retry window opens when its period closes
                        (alert.id, name, ts(first_at.get(name, now)), ts(first_at.get(name, now)))
                        for name in alert.notifiers
                    ],
                )

    def _insert_items(
        self,
        feed_id: int,
        now: datetime,
        decisions: Sequence[Decision],
        sketches: Mapping[int, Sequence[int]],
    ) -> dict[int, int]:
        row_ids: dict[int, int] = {}
        first_seen = ts(now)
        for index, decision in enumerate(decisions):
            if decision.verdict is Verdict.SEEN:
                continue
            copy_of = decision.copy_of_id
            if decision.copy_of_index is not None:
                copy_of = row_ids[decision.copy_of_index]
            item, keys = decision.item, decision.keys
            cursor = self.db.execute(
                """
                INSERT INTO items (feed_id, guid, url, title, author, published_at, summary,
                    content, first_seen_at, copy_of, entry_key, link_key, content_key,
                    sketch_size)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    feed_id, item.guid, item.link, item.title, item.author,
                    ts(item.published_at) if item.published_at else None, item.summary,
                    item.content, first_seen, copy_of, keys.entry_key, keys.link_key,
                    keys.content_key, len(sketches.get(index, ())),
                ],
            )  # fmt: skip
            assert cursor.lastrowid is not None
            row_ids[index] = cursor.lastrowid
        return row_ids

    def _insert_sketches(
        self, row_ids: Mapping[int, int], sketches: Mapping[int, Sequence[int]]
    ) -> None:
        rows: list[tuple[int, int]] = []
        for index, keys in sketches.items():
            if keys and index in row_ids:
                rows += zip(keys, repeat(row_ids[index]))
        rows.sort()  # in key order, each page of the tree is visited once per poll
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO story_samples (key, item_id) VALUES (?, ?)", rows
        )

    @_wrapped
    def refresh_search_index(self) -> int:
        """Add the items stored since the last call to the full-text index; how many."""
        with self._atomic():
            (last,) = self.db.execute("SELECT last_item_id FROM search_index").fetchone()
            (newest,) = self.db.execute("SELECT coalesce(max(id), 0) FROM items").fetchone()
            if newest <= last:
                return 0
            rows = self.db.execute(
                "SELECT id, title, summary, content, coalesce(author, '') FROM items "
                "WHERE id > ? AND id <= ?",
                [last, newest],
            )
            self.db.conn.executemany(
                "INSERT INTO items_fts (rowid, title, summary, content, author) "
                "VALUES (?, ?, ?, ?, ?)",
                ((row[0], *(fold(text) for text in row[1:])) for row in rows),
            )
            self.db.execute("UPDATE search_index SET last_item_id = ?", [newest])
        return int(newest - last)

    @_wrapped
    def recent_entry_keys(self, feed_id: int, limit: int = 500) -> frozenset[str]:
        """The entry keys of the feed's latest items: what a poll need not sketch or match,
        since they will be SEEN (prepare.py)."""
        cursor = self.db.execute(
            "SELECT entry_key FROM items WHERE feed_id = ? ORDER BY id DESC LIMIT ?",
            [feed_id, limit],
        )
        return frozenset(row[0] for row in cursor.fetchall())

    def story_candidates(
        self, sketches: Mapping[int, Sequence[int]], since: datetime
    ) -> dict[int, list[tuple[int, int, int]]]:
        """For each sketch (by index), the stored stories sharing samples with it since
        ``since``: (story's first item, shared samples, that item's sketch size)."""
        # sample key -> the sketches carrying it; keys are rarely shared inside a batch, so
        # the shared ones are found by a set operation rather than a step per key
        owners: dict[int, tuple[int, ...]] = {}
        for index, keys in sketches.items():
            common = {key: owners[key] for key in owners.keys() & keys}
            owners.update(dict.fromkeys(keys, (index,)))
            for key, earlier in common.items():
                owners[key] = (*earlier, index)
        shared: dict[int, dict[int, int]] = {}
        sizes: dict[int, int] = {}
        after = ts(since)
        try:
            for chunk in _chunks(list(owners)):
                marks = ",".join("?" * len(chunk))
                cursor = self.db.conn.execute(
                    "SELECT s.key, s.item_id, i.sketch_size FROM story_samples s "
                    f"JOIN items i ON i.id = s.item_id WHERE s.key IN ({marks}) "
                    "AND i.first_seen_at >= ?",
                    [*chunk, after],
                )
                for key, item_id, size in cursor:
                    sizes[item_id] = size
                    for index in owners[key]:
                        per_item = shared.setdefault(index, {})
                        per_item[item_id] = per_item.get(item_id, 0) + 1
        except sqlite3.Error as e:
            raise StoreError(f"database error: {e}") from e
        return {
            index: [(item, n, sizes[item]) for item, n in per_item.items()]
            for index, per_item in shared.items()
        }

    # -- upkeep -----------------------------------------------------------------------------

    @_wrapped
    def story_prune_cutoff(
        self, now: datetime, window_start: datetime, every: timedelta
    ) -> int | None:
        """The item id under which every item was first seen before ``window_start``, when
        story samples below it are still stored and the last look is ``every`` old; else
        None. Only items in the window are story candidates, so the rest of the samples
        only grow the tree each new item's samples go into."""
        with self._atomic():
            below, checked_at = self.db.execute(
                "SELECT below_item_id, checked_at FROM story_prune"
            ).fetchone()
            # stored times sort as text; a clock set back looks again
            if ts(now - every) < checked_at <= ts(now):
                return None
            # the smallest id in the window, not the id of its oldest item: ids below it are
            # all outside the window even if the clock once went back
            (cutoff,) = self.db.execute(
                "SELECT coalesce((SELECT min(id) FROM items WHERE first_seen_at >= ?),"
                " (SELECT coalesce(max(id), 0) + 1 FROM items))",
                [ts(window_start)],
            ).fetchone()
            # no item under the cutoff, or none since the last prune: no slice to scan
            (first,) = self.db.execute(
                "SELECT coalesce(min(id), ?) FROM items", [cutoff]
            ).fetchone()
            if cutoff > max(below, first):
                return int(cutoff)
            self.db.execute(
                "UPDATE story_prune SET below_item_id = max(below_item_id, ?), checked_at = ?",
                [cutoff, ts(now)],
            )
            return None

    @_wrapped
    def prune_story_samples(self, cutoff: int, low: int, high: int) -> int:
        """Delete the story samples with keys in [low, high) of items under ``cutoff``, in a
        transaction of its own; how many. Called over slices of the key space so that
        polls get the write lock between them."""
        with self._atomic():
            cursor = self.db.execute(
                "DELETE FROM story_samples WHERE key >= ? AND key < ? AND item_id < ?",
                [low, high, cutoff],
            )
            return int(cursor.rowcount)

    @_wrapped
    def record_story_prune(self, cutoff: int, now: datetime) -> None:
        """Every slice is pruned under ``cutoff``."""
        with self._atomic():
            self.db.execute(
                "UPDATE story_prune SET below_item_id = max(below_item_id, ?), checked_at = ?",
                [cutoff, ts(now)],
            )

    @_wrapped
    def record_not_modified(
        self,
        feed_id: int,
        now: datetime,
        next_poll_at: datetime,
        status: int = 304,
        redirect: Redirect = NO_REDIRECT,
    ) -> None:
        """A poll that found nothing new: health and schedule only, no items touched."""
        with self._poll_write(one_statement=True):
            self.db.execute(
                """
                UPDATE feeds SET last_polled_at = ?, last_success_at = ?, last_status = ?,
                    error = NULL, failing_since_at = NULL, failures = 0, next_poll_at = ?,
                    redirect_to = ?, redirect_seen = ?, poll_url = coalesce(?, poll_url)
                WHERE id = ?
                """,
                [
                    ts(now),
                    ts(now),
                    status,
                    ts(next_poll_at),
                    redirect.target,
                    redirect.seen,
                    redirect.adopt,
                    feed_id,
                ],
            )

    @_wrapped
    def record_failure(
        self,
        feed_id: int,
        now: datetime,
        error: str,
        next_poll_at: datetime,
        status: int | None = None,
        gone: bool = False,
    ) -> None:
        """A failed poll: the error, since when it fails, and when to try again."""
        with self._poll_write(one_statement=True):
            self.db.execute(
                """
                UPDATE feeds SET last_polled_at = ?, last_status = ?, error = ?,
                    failing_since_at = coalesce(failing_since_at, ?), failures = failures + 1,
                    next_poll_at = ?, gone = ?
                WHERE id = ?
                """,
                [ts(now), status, error, ts(now), ts(next_poll_at), int(gone), feed_id],
            )

    # -- deliveries ----------------------------------------------------------------------------

    def due_deliveries(
        self, now: datetime, notifiers: Sequence[str], limit: int = 100
    ) -> list[Delivery]:
        """Pending deliveries to these notifiers whose time has come, oldest first."""
        if not notifiers:
            return []
        marks = ",".join("?" * len(notifiers))
        rows = self._rows(
            f"""
            SELECT d.id AS delivery_id, d.notifier, d.status, d.attempts, d.next_attempt_at,
                d.last_error, d.queued_at, {ALERT_COLUMNS}
            FROM deliveries d JOIN alerts a ON a.id = d.alert_id
            JOIN items i ON i.id = a.item_id JOIN feeds f ON f.id = i.feed_id
            WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND d.notifier IN ({marks})
            ORDER BY d.next_attempt_at, d.id
            LIMIT ?
            """,
            [ts(now), *notifiers, limit],
        )
        return [
            Delivery(
                id=row["delivery_id"],
                alert=alert_from_row(row),
                notifier=row["notifier"],
                status=DeliveryStatus(row["status"]),
                attempts=row["attempts"],
                next_attempt_at=parse_ts(row["next_attempt_at"]),
                queued_at=parse_ts(row["queued_at"]) or datetime.min.replace(tzinfo=UTC),
                last_error=row["last_error"],
            )
            for row in rows
        ]

    @_wrapped
    def claim(self, delivery_id: int, now: datetime, lease_until: datetime) -> bool:
        """Take a due delivery for one attempt; False if another process took it first.

        The attempt is counted now and the delivery hidden until ``lease_until``, so a process
        killed mid-send leaves it to be retried once the lease runs out.
        """
        with self._atomic():
            cursor = self.db.execute(
                """
                UPDATE deliveries SET attempts = attempts + 1, last_attempt_at = ?,
                    next_attempt_at = ?
                WHERE id = ? AND status = 'pending' AND next_attempt_at <= ?
                """,
                [ts(now), ts(lease_until), delivery_id, ts(now)],
            )
            return cursor.rowcount == 1

    @_wrapped
    def record_attempt(self, outcome: DeliveryOutcome, now: datetime) -> None:
        """The result of a claimed attempt: sent, pending again with a time, or failed."""
        with self._atomic():
            if outcome.status is DeliveryStatus.SENT:
                self.db.execute(
                    "UPDATE deliveries SET status = 'sent', sent_at = ?, next_attempt_at = NULL "
                    "WHERE id = ?",
                    [ts(now), outcome.delivery_id],
                )
                return
            next_at = ts(outcome.next_attempt_at) if outcome.next_attempt_at else None
            self.db.execute(
                "UPDATE deliveries SET status = ?, last_error = ?, next_attempt_at = ? "
                "WHERE id = ?",
                [outcome.status.value, outcome.error, next_at, outcome.delivery_id],
            )

    @_wrapped
    def requeue(self, alert_id: str, now: datetime) -> int:
        """Queue an alert's failed deliveries again, due now, with a fresh retry window."""
        with self._atomic():
            cursor = self.db.execute(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, queued_at = ? "
                "WHERE alert_id = ? AND status = 'failed'",
                [ts(now), ts(now), alert_id],
            )
            return cursor.rowcount

    @_wrapped
    def has_alert(self, alert_id: str) -> bool:
        """True when an alert with this id is stored."""
        cursor = self.db.execute("SELECT 1 FROM alerts WHERE id = ?", [alert_id])
        return cursor.fetchone() is not None

    @_wrapped
    def note_notifier(self, name: str, now: datetime, error: str | None) -> bool:
        """Record whether a notifier's last attempt worked; True when that changed its state
        (it began failing, or it recovered), so the log says so once, not on every retry."""
        with self._atomic():
            row = self.db.execute(
                "SELECT failing_since_at FROM notifiers WHERE name = ?", [name]
            ).fetchone()
            was_failing = row is not None and row[0] is not None
            if error is None:
                self.db.execute(
                    "INSERT INTO notifiers (name, last_success_at) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET last_success_at = excluded.last_success_at, "
                    "failing_since_at = NULL",
                    [name, ts(now)],
                )
                return was_failing
            self.db.execute(
                "INSERT INTO notifiers (name, failing_since_at, last_error, last_failure_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "failing_since_at = coalesce(failing_since_at, excluded.failing_since_at), "
                "last_error = excluded.last_error, last_failure_at = excluded.last_failure_at",
                [name, ts(now), error, ts(now)],
            )
            return not was_failing

    def list_notifiers(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """Each configured notifier's health and how many deliveries wait or failed."""
        records = []
        for name in names:
            health = self._rows("SELECT * FROM notifiers WHERE name = ?", [name])
            counts = dict(
                (row["status"], row["n"])
                for row in self._rows(
                    "SELECT status, count(*) AS n FROM deliveries WHERE notifier = ? "
                    "GROUP BY status",
                    [name],
                )
            )
            h = health[0] if health else {}
            failing_since = h.get("failing_since_at")
            records.append(
                {
                    "name": name,
                    "status": "failing" if failing_since else ("ok" if h else "new"),
                    "failing_since": iso(failing_since),
                    "error": h.get("last_error") if failing_since else None,
                    "last_success": iso(h.get("last_success_at")),
                    "pending": counts.get("pending", 0),
                    "sent": counts.get("sent", 0),
                    "failed": counts.get("failed", 0),
                }
            )
        return records

    # -- search and backtest (issue 5) -----------------------------------------------------

    def candidates(
        self,
        fts: str | None,
        since: datetime | None = None,
        originals_only: bool = False,
        batch: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """Stored items, newest first (published, else first seen), that the FTS expression
        finds (every item when None), lazily, so a caller can stop at its limit."""
        where, params = [], []
        if fts is not None:
            where.append("i.id IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?)")
            params.append(fts)
        if since is not None:
            where.append("coalesce(i.published_at, i.first_seen_at) >= ?")
            params.append(ts(since))
        if originals_only:
            where.append("i.copy_of IS NULL")
        sql = f"""
            SELECT i.*, coalesce(f.poll_url, f.url) AS feed_url, f.name AS feed_name,
                f.title AS feed_own_title, coalesce(f.name, f.title, f.url) AS feed_title
            FROM items i JOIN feeds f ON f.id = i.feed_id
            {"WHERE " + " AND ".join(where) if where else ""}
            ORDER BY coalesce(i.published_at, i.first_seen_at) DESC, i.id DESC
        """
        try:
            cursor = self.db.execute(sql, params)
            names = [d[0] for d in cursor.description]
            while rows := cursor.fetchmany(batch):
                for row in rows:
                    yield dict(zip(names, row, strict=True))
        except sqlite3.Error as e:
            raise StoreError(f"search failed: {e}") from e

    # -- listings (SPEC: feeds, items, alerts --json) ------------------------------------------

    def list_feeds(self) -> list[dict[str, Any]]:
        """Every active feed with its health, in config order."""
        rows = self._rows(
            """
            SELECT f.*, (SELECT count(*) FROM items i WHERE i.feed_id = f.id) AS item_count
            FROM feeds f WHERE active = 1 ORDER BY id
            """
        )
        gaps = self._mean_item_intervals()
        return [feed_record(row, gaps.get(row["id"])) for row in rows]

    def _mean_item_intervals(self, recent: int = 20) -> dict[int, float]:
        """Per feed, the mean time between its recent items' dates, in seconds."""
        rows = self._rows(
            """
            SELECT feed_id, min(at) AS first_at, max(at) AS last_at, count(*) AS n FROM (
                SELECT feed_id, coalesce(published_at, first_seen_at) AS at,
                    row_number() OVER (
                        PARTITION BY feed_id ORDER BY coalesce(published_at, first_seen_at) DESC
                    ) AS k
                FROM items
            ) WHERE k <= ? GROUP BY feed_id HAVING n > 1
            """,
            [recent],
        )
        intervals = {}
        for row in rows:
            first, last = parse_ts(row["first_at"]), parse_ts(row["last_at"])
            if first is not None and last is not None:
                intervals[row["feed_id"]] = (last - first).total_seconds() / (row["n"] - 1)
        return intervals

    def list_items(self, limit: int) -> list[dict[str, Any]]:
        """The newest stored items, newest first."""
        rows = self._rows(
            """
            SELECT i.*, coalesce(f.poll_url, f.url) AS feed_url,
                coalesce(f.name, f.title, f.url) AS feed_title
            FROM items i JOIN feeds f ON f.id = i.feed_id
            ORDER BY i.first_seen_at DESC, i.id DESC LIMIT ?
            """,
            [limit],
        )
        return [item_record(row) for row in rows]

    def list_alerts(self, limit: int) -> list[dict[str, Any]]:
        """The newest alerts with their deliveries, newest first."""
        rows = self._rows(
            f"""
            SELECT {ALERT_COLUMNS} FROM alerts a
            JOIN items i ON i.id = a.item_id JOIN feeds f ON f.id = i.feed_id
            ORDER BY a.created_at DESC, a.rowid DESC LIMIT ?
            """,
            [limit],
        )
        records = []
        for row in rows:
            deliveries = self._rows(
                "SELECT * FROM deliveries WHERE alert_id = ? ORDER BY notifier", [row["alert_id"]]
            )
            records.append(
                {
                    "id": row["alert_id"],
                    "rule": row["rule"],
                    "keywords": json.loads(row["keywords"]),
                    "snippets": [s.marked() for s in snippets_from_json(row["snippets"])],
                    "created": iso(row["created_at"]),
                    "item": {
                        "title": row["title"],
                        "url": row["url"],
                        "published": iso(row["published_at"] or row["first_seen_at"]),
                        "feed": {"title": row["feed_title"], "url": row["feed_url"]},
                    },
                    "deliveries": [delivery_record(d) for d in deliveries],
                }
            )
        return records
