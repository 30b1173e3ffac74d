"""The database schema: the "feedwatch" set of sqlite-utils migrations, applied in order.

Edge (part of store): a released migration is never edited; a change of schema is a new
migration at the end.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("feedwatch")


def apply_migrations(conn: sqlite3.Connection) -> None:
    """Bring the file's schema up to version.SCHEMA_VERSION."""
    migrations.apply(sqlite_utils.Database(conn))


def _run_script(db: sqlite_utils.Database, script: str) -> None:
    # executescript() would commit the migration's transaction half-way: run statement by
    # statement, joining pieces until SQLite calls them complete (trigger bodies hold ';')
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                db.execute(pending)
            pending = ""


@migrations(name="0001_initial")
def _initial(db: sqlite_utils.Database) -> None:
    _run_script(
        db,
        """
        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,          -- the address polled
            name TEXT,                         -- the configured name
            title TEXT,                        -- the feed's own title
            site_url TEXT,
            active INTEGER NOT NULL DEFAULT 1, -- 0 once the feed left feeds.yaml
            interval_seconds REAL,
            etag TEXT,
            last_modified TEXT,
            added_at TEXT NOT NULL,
            last_polled_at TEXT,
            last_success_at TEXT,
            last_status INTEGER,
            error TEXT,
            failing_since_at TEXT,
            failures INTEGER NOT NULL DEFAULT 0,
            next_poll_at TEXT,
            gone INTEGER NOT NULL DEFAULT 0,
            poll_url TEXT,                     -- where a permanent redirect moved it
            redirect_to TEXT,                  -- a permanent redirect seen, not yet adopted
            redirect_seen INTEGER NOT NULL DEFAULT 0,
            interval_hint INTEGER              -- seconds, from the feed's ttl or sy: tags
        );
        CREATE INDEX feeds_due ON feeds(active, gone, next_poll_at);
        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            feed_id INTEGER NOT NULL REFERENCES feeds(id),
            guid TEXT,
            url TEXT,
            title TEXT NOT NULL,
            author TEXT,
            published_at TEXT,
            summary TEXT NOT NULL,
            content TEXT NOT NULL,
            first_seen_at TEXT NOT NULL,
            copy_of INTEGER REFERENCES items(id),  -- the first copy of the same article
            entry_key TEXT NOT NULL UNIQUE,
            link_key TEXT,
            content_key TEXT
        );
        CREATE INDEX items_link_key ON items(link_key) WHERE link_key IS NOT NULL;
        CREATE INDEX items_content_key ON items(content_key) WHERE content_key IS NOT NULL;
        CREATE INDEX items_feed ON items(feed_id);
        CREATE INDEX items_first_seen ON items(first_seen_at);
        CREATE TABLE alerts (
            id TEXT PRIMARY KEY,
            rule TEXT NOT NULL,
            item_id INTEGER NOT NULL REFERENCES items(id),
            keywords TEXT NOT NULL,            -- JSON list, in rule order
            snippets TEXT NOT NULL DEFAULT '[]',  -- JSON [{"text", "marks": [[start, end]]}]
            created_at TEXT NOT NULL,
            UNIQUE (rule, item_id)
        );
        CREATE INDEX alerts_created ON alerts(created_at);
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            alert_id TEXT NOT NULL REFERENCES alerts(id),
            notifier TEXT NOT NULL,
            status TEXT NOT NULL,              -- pending, sent, failed
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            last_attempt_at TEXT,
            sent_at TEXT,
            last_error TEXT,
            queued_at TEXT NOT NULL,           -- start of the retry window (give_up)
            UNIQUE (alert_id, notifier)
        );
        CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
        CREATE TABLE notifiers (
            name TEXT PRIMARY KEY,
            failing_since_at TEXT,             -- NULL while it works
            last_error TEXT,
            last_failure_at TEXT,
            last_success_at TEXT
        );
        """,
    )


@migrations(name="0002_search")
def _search(db: sqlite_utils.Database) -> None:
    # Full-text search over items (issue 5). The index holds the matcher's own folded form of
    # each text (contentless: the text itself stays in items), so that it finds every item the
    # matcher would (ß, ligatures, full-width letters fold alike); the matcher has the last word.
    # New items are indexed in batches (refresh_search_index), not by a trigger on every
    # insert: indexing is a third of the cost of storing an item, and only search needs it.
    _run_script(
        db,
        """
        CREATE VIRTUAL TABLE items_fts USING fts5(
            title, summary, content, author,
            content='', tokenize='unicode61 remove_diacritics 2'
        );
        CREATE TABLE search_index (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_item_id INTEGER NOT NULL      -- items up to this id are in items_fts
        );
        INSERT INTO search_index (id, last_item_id) VALUES (1, 0);
        CREATE INDEX items_published ON items(coalesce(published_at, first_seen_at));
        """,
    )


@migrations(name="0003_stories")
def _stories(db: sqlite_utils.Database) -> None:
    # Story-level near-duplicates (issue 5): each original item's sampled shingle hashes.
    _run_script(
        db,
        """
        ALTER TABLE items ADD COLUMN sketch_size INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE story_hashes (
            hash INTEGER NOT NULL,
            item_id INTEGER NOT NULL REFERENCES items(id),
            seen_at TEXT NOT NULL
        );
        CREATE INDEX story_hashes_hash ON story_hashes(hash, seen_at);
        """,
    )


@migrations(name="0004_story_hashes_compact")
def _compact_story_hashes(db: sqlite_utils.Database) -> None:
    # Story samples are most of the database's writes (about 34 rows per item), inserted all
    # over their index. They were two B-trees (the table and its index) holding a 64-bit
    # hash and the time as text. Now one WITHOUT ROWID tree of (key, item): the key is the
    # sample's sampled half divided by the sampling rate (stories.sample_key), under 2**30,
    # so a row is about half the size and more of the tree stays in the page cache. The
    # 30-day window reads the item's first_seen_at, which is when the sample was stored
    # (issue 6).
    _run_script(
        db,
        """
        CREATE TABLE story_samples (
            key INTEGER NOT NULL,
            item_id INTEGER NOT NULL,
            PRIMARY KEY (key, item_id)
        ) WITHOUT ROWID;
        INSERT OR IGNORE INTO story_samples (key, item_id)
            SELECT ((hash >> 32) & 4294967295) / 6, item_id FROM story_hashes;
        DROP TABLE story_hashes;
        """,
    )


@migrations(name="0005_story_prune")
def _story_prune(db: sqlite_utils.Database) -> None:
    # Samples of items first seen before the story window can never match again, but stayed
    # in the tree that every new item's samples are inserted into (issue 6). One row says up
    # to which item they were dropped, and when the store last looked.
    _run_script(
        db,
        """
        CREATE TABLE story_prune (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            below_item_id INTEGER NOT NULL,   -- samples of items under this id are gone
            checked_at TEXT NOT NULL
        );
        INSERT INTO story_prune (id, below_item_id, checked_at)
            VALUES (1, 0, '1970-01-01T00:00:00.000000Z');
        """,
    )
