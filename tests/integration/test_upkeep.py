"""Upkeep (issue 6): story samples past the window go once a day, in slices, logged."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedwatch.models import ParsedFeed, PollOutcome
from feedwatch.store import Store
from feedwatch.stories import KEY_LIMIT
from feedwatch.upkeep import PRUNE_SLICES, prune_story_samples

from .test_store import FEED_A, HOUR, decide, feed_id, item

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "feedwatch.db")
    opened.sync_feeds([(FEED_A, "A", HOUR)], NOW - 90 * DAY)
    try:
        yield opened
    finally:
        opened.close()


def add(store: Store, n: int, first_seen: datetime, keys: tuple[int, ...]) -> None:
    store.save_poll(
        PollOutcome(
            feed_id=feed_id(store, FEED_A), now=first_seen, status=200, etag=None,
            last_modified=None, parsed=ParsedFeed(title=None, link=None, items=()),
            decisions=decide(store, FEED_A, [item(n, content=f"Text {n}.")]), alerts=(),
            next_poll_at=first_seen + HOUR, sketches={0: keys},
        )
    )  # fmt: skip


def sample_count(store: Store) -> int:
    with sqlite3.connect(store.path) as conn:
        return int(conn.execute("SELECT count(*) FROM story_samples").fetchone()[0])


def test_every_slice_is_visited_and_only_old_samples_go(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # keys at both ends of the key space and at a slice boundary
    edges = (0, 1, KEY_LIMIT // PRUNE_SLICES, KEY_LIMIT // PRUNE_SLICES + 1, KEY_LIMIT - 1)
    add(store, 1, NOW - 40 * DAY, edges)
    add(store, 2, NOW - 2 * DAY, edges)
    assert sample_count(store) == 10
    clock = iter([NOW, NOW + HOUR, NOW + DAY + HOUR])
    with caplog.at_level(logging.INFO, logger="feedwatch.upkeep"):
        assert asyncio.run(prune_story_samples(store, lambda: next(clock))) == 5
    assert sample_count(store) == 5
    assert "pruned story samples rows=5" in caplog.text
    assert asyncio.run(prune_story_samples(store, lambda: next(clock))) == 0  # within the day
    # a day on, nothing more is old enough: a look, and no slice is scanned
    assert asyncio.run(prune_story_samples(store, lambda: next(clock))) == 0
    assert sample_count(store) == 5


def test_polls_run_between_slices(store: Store) -> None:
    """The prune yields to the event loop after each slice, so the daemon's polls are not
    held up for the whole pass."""
    add(store, 1, NOW - 40 * DAY, (5,))
    add(store, 2, NOW - DAY, (6,))
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    async def main() -> int:
        task = asyncio.create_task(other_task())
        try:
            return await prune_story_samples(store, lambda: NOW)
        finally:
            task.cancel()

    assert asyncio.run(main()) == 1
    assert turns >= PRUNE_SLICES - 1


def test_a_locked_database_is_logged_and_left_for_the_next_look(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """`feedwatch poll` prunes after its round: another process holding the write lock must
    not turn a good poll into a failed command."""
    add(store, 1, NOW - 40 * DAY, (5,))
    add(store, 2, NOW - DAY, (6,))
    store.db.execute("PRAGMA busy_timeout = 50")
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with caplog.at_level(logging.WARNING, logger="feedwatch.upkeep"):
            assert asyncio.run(prune_story_samples(store, lambda: NOW)) == 0
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "upkeep failed task=prune-story-samples rows=0 error=database error:" in caplog.text
    assert sample_count(store) == 2
    assert asyncio.run(prune_story_samples(store, lambda: NOW)) == 1  # the next look does it
