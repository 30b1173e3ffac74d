"""Housekeeping that keeps a long-running database as fast as a young one.

Orchestration: decides when and in what steps; the store does each step. Story samples of
items first seen before the story window can never make a copy again (stories.WINDOW_DAYS),
yet without this they stay for good in the tree that every new item's samples go into: at
10,000 feeds about 11 million rows a month. They are dropped once a day, a slice of the key
space per transaction, so the daemon's polls get the write lock between slices.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from feedwatch.errors import StoreError
from feedwatch.store import Store
from feedwatch.stories import KEY_LIMIT, WINDOW_DAYS

log = logging.getLogger("feedwatch.upkeep")

PRUNE_EVERY = timedelta(days=1)
PRUNE_SLICES = 64


async def prune_story_samples(store: Store, clock: Callable[[], datetime]) -> int:
    """Drop the samples no story lookup can reach any more, if a day has passed since the
    last look; how many rows went. A database error (another process holding the write
    lock too long, say) is logged and the work is left for the next look: housekeeping
    never fails a poll."""
    now = clock()
    deleted = 0
    try:
        cutoff = store.story_prune_cutoff(now, now - timedelta(days=WINDOW_DAYS), PRUNE_EVERY)
        if cutoff is None:
            return 0
        step = -(-KEY_LIMIT // PRUNE_SLICES)
        for low in range(0, KEY_LIMIT, step):
            deleted += store.prune_story_samples(cutoff, low, min(low + step, KEY_LIMIT))
            await asyncio.sleep(0)  # a poll's save may take the lock between two slices
        store.record_story_prune(cutoff, now)
    except StoreError as e:
        log.warning("upkeep failed task=prune-story-samples rows=%d error=%s", deleted, e)
        return deleted
    log.info("pruned story samples rows=%d below_item=%d", deleted, cutoff)
    return deleted
