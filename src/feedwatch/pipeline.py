"""Polling: fetch, parse, recognise, match and save one feed, or many at once.

Orchestration: knows the order of the stages and nothing of how each works. The fetcher and
the store are typed through protocols, so this module imports neither httpx nor SQLite. A
feed's failure is a PollResult, never an exception, so other feeds go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from feedwatch.config import FeedSpec
from feedwatch.dedup import classify, lookup_keys, mark_story_copies
from feedwatch.errors import FeedError, HTTPStatusError, ParseError, ResponseTooLarge, StoreError
from feedwatch.matching import Matcher
from feedwatch.models import (
    NO_REDIRECT,
    Decision,
    FeedState,
    FetchResult,
    PollOutcome,
    PollResult,
    Redirect,
    Verdict,
)
from feedwatch.prepare import FeedJob, PreparedFeed, prepare
from feedwatch.stories import WINDOW_DAYS, best_story, stories_within
from feedwatch.timing import (
    adopt_redirect,
    digest_due_at,
    next_poll_at,
    parse_retry_after,
    polite_interval,
)

log = logging.getLogger("feedwatch.poll")

# fetched bodies waiting to be prepared and saved, at most (a feed is often 50-100 KB)
BACKLOG = 32


def log_result(result: PollResult) -> None:
    """One line per poll: failures as warnings, news at INFO, nothing new at DEBUG."""
    if result.error is not None:
        log.warning("poll failed feed=%s error=%s", result.feed_url, result.error)
    elif result.new_items or result.copies or result.alerts:
        log.info(
            "polled feed=%s new=%d copies=%d alerts=%d",
            result.feed_url, result.new_items, result.copies, result.alerts,
        )  # fmt: skip
    else:
        status = "not-modified" if result.not_modified else "unchanged"
        log.debug("polled feed=%s %s", result.feed_url, status)


class FetcherLike(Protocol):
    """What polling needs of the HTTP edge."""

    async def get(
        self,
        url: str,
        timeout: timedelta,
        etag: str | None = None,
        last_modified: str | None = None,
        max_body: int | None = None,
        when_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> FetchResult:
        """A conditional GET; ``when_ready`` is awaited just before the request."""
        ...  # pragma: no cover


class PreparerLike(Protocol):
    """Runs prepare() somewhere: on the loop, or in worker processes (workers.py)."""

    async def prepare(self, job: FeedJob) -> PreparedFeed:
        """The prepared feed; raises ParseError when the body is not a feed."""
        ...  # pragma: no cover


class PollStore(Protocol):
    """What polling needs of the database."""

    def recent_entry_keys(self, feed_id: int) -> frozenset[str]:
        """The entry keys of the feed's latest items."""
        ...  # pragma: no cover

    def deciding(self) -> AbstractContextManager[None]:
        """The write lock, held from the reads that decide what is new to the save."""
        ...  # pragma: no cover

    def known(
        self, entry_keys: Sequence[str], shared_keys: Sequence[str]
    ) -> tuple[set[str], dict[str, int]]:
        """Stored entry keys, and the first item of each stored link or content key."""
        ...  # pragma: no cover

    def save_poll(self, poll: PollOutcome) -> None:
        """One transaction for a successful poll."""
        ...  # pragma: no cover

    def story_candidates(
        self, sketches: Mapping[int, Sequence[int]], since: datetime
    ) -> dict[int, list[tuple[int, int, int]]]:
        """Stored stories sharing sketch samples with each new item."""
        ...  # pragma: no cover

    def record_not_modified(
        self,
        feed_id: int,
        now: datetime,
        next_poll_at: datetime,
        status: int = 304,
        redirect: Redirect = NO_REDIRECT,
    ) -> None:
        """A 304."""
        ...  # pragma: no cover

    def record_failure(
        self,
        feed_id: int,
        now: datetime,
        error: str,
        next_poll_at: datetime,
        status: int | None = None,
        gone: bool = False,
    ) -> None:
        """A failed poll."""
        ...  # pragma: no cover


@dataclass(frozen=True)
class PollContext:
    """Everything a poll needs, built once by the app."""

    fetcher: FetcherLike
    store: PollStore
    matcher: Matcher
    routes: Mapping[str, tuple[str, ...]]  # rule name -> notifier names
    clock: Callable[[], datetime]
    jitter: Callable[[], float]
    digests: Mapping[str, timedelta] = field(default_factory=dict)  # notifier -> period
    preparer: PreparerLike | None = None  # None: prepared on the loop
    # fetched bodies waiting to be prepared and saved: downloads are faster than preparing a
    # first round, and without a bound every body of the round was held at once
    backlog: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(BACKLOG))

    async def room_for_a_body(self) -> None:
        """Wait while the backlog is full, without holding a place in it (the fetcher asks
        once it is the host's turn, so at most the requests in flight are fetched beyond
        the backlog)."""
        if self.backlog.locked():
            async with self.backlog:
                pass

    async def prepare(self, job: FeedJob) -> PreparedFeed:
        """Parse, key, sketch and match a fetched body (prepare.py)."""
        if self.preparer is None:
            return prepare(job, self.matcher, self.routes)
        return await self.preparer.prepare(job)


async def poll_feed(ctx: PollContext, spec: FeedSpec, state: FeedState) -> PollResult:
    """Poll one feed and store what is new; a failure is recorded and returned, not raised."""
    try:
        fetched = await ctx.fetcher.get(
            state.address,
            spec.timeout,
            state.etag,
            state.last_modified,
            spec.max_body,
            when_ready=ctx.room_for_a_body,
        )
        if fetched.not_modified:
            return _not_modified(ctx, spec, state, fetched)
        now = ctx.clock()  # the poll's time is the fetch's, not the end of a wait
        async with ctx.backlog:
            return await _store_body(ctx, spec, state, fetched, now)
    except ResponseTooLarge as e:
        return _record_failure(ctx, spec, state, e, 200)
    except FeedError as e:
        return _record_failure(ctx, spec, state, e)
    except StoreError as e:
        log.error("store failed feed=%s error=%s", spec.url, e)
        return PollResult(spec.url, error=str(e))


def _not_modified(
    ctx: PollContext, spec: FeedSpec, state: FeedState, fetched: FetchResult
) -> PollResult:
    now = ctx.clock()
    interval = polite_interval(spec.interval, state.interval_hint, fetched.max_age)
    next_at = next_poll_at(now, interval, 0, ctx.jitter())
    ctx.store.record_not_modified(state.id, now, next_at, redirect=_redirect(state, fetched))
    return PollResult(spec.url, not_modified=True, http_status=304)


async def _store_body(
    ctx: PollContext, spec: FeedSpec, state: FeedState, fetched: FetchResult, now: datetime
) -> PollResult:
    job = FeedJob(
        body=fetched.body,
        url=fetched.final_url or state.address,
        content_type=fetched.content_type,
        feed_url=spec.url,
        feed_name=spec.name,
        address=state.address,
        known_entries=ctx.store.recent_entry_keys(state.id),
    )
    try:
        prepared = await ctx.prepare(job)
    except ParseError as e:
        return _record_failure(ctx, spec, state, e, fetched.status)
    interval = polite_interval(spec.interval, prepared.parsed.interval_hint, fetched.max_age)
    next_at = next_poll_at(now, interval, 0, ctx.jitter())
    with ctx.store.deciding():
        return _save(ctx, spec, state, fetched, prepared, now, next_at)


def _save(
    ctx: PollContext,
    spec: FeedSpec,
    state: FeedState,
    fetched: FetchResult,
    prepared: PreparedFeed,
    now: datetime,
    next_at: datetime,
) -> PollResult:
    parsed = prepared.parsed
    entry_keys, shared_keys = lookup_keys(keys for _, keys in prepared.batch)
    seen, articles = ctx.store.known(entry_keys, shared_keys)
    # stored by this feed a moment ago (items are never deleted), and read as a guid alone
    seen.update(prepared.batch[index][1].entry_key for index in prepared.known)
    decisions = classify(prepared.batch, seen, articles)
    decisions, sketches = _find_stories(ctx, decisions, now, prepared.sketches)
    # every item that can be NEW was prepared: the others are known, hence SEEN
    alerts = [
        alert
        for index, decision in enumerate(decisions)
        if decision.verdict is Verdict.NEW
        for alert in prepared.alerts[index]
    ]
    ctx.store.save_poll(
        PollOutcome(
            feed_id=state.id,
            now=now,
            status=fetched.status,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            parsed=parsed,
            decisions=decisions,
            alerts=alerts,
            next_poll_at=next_at,
            first_attempt_at={name: digest_due_at(now, p) for name, p in ctx.digests.items()},
            redirect=_redirect(state, fetched),
            sketches=sketches,
        )
    )
    new = sum(1 for d in decisions if d.verdict is Verdict.NEW)
    copies = sum(1 for d in decisions if d.verdict is Verdict.COPY)
    return PollResult(spec.url, new, copies, len(alerts), http_status=fetched.status)


def _find_stories(
    ctx: PollContext,
    decisions: list[Decision],
    now: datetime,
    prepared: Mapping[int, tuple[int, ...]],
) -> tuple[list[Decision], dict[int, tuple[int, ...]]]:
    """Turn NEW items that repeat a story of the last 30 days into copies (issue 5)."""
    sketches = {
        i: s for i, d in enumerate(decisions) if d.verdict is Verdict.NEW and (s := prepared[i])
    }
    if not sketches:
        return decisions, {}
    since = now - timedelta(days=WINDOW_DAYS)
    candidates = ctx.store.story_candidates(sketches, since)
    stored = {}
    for index, found in candidates.items():
        story = best_story(len(sketches[index]), found)
        if story is not None:
            stored[index] = story
    within = stories_within({i: s for i, s in sketches.items() if i not in stored})
    originals = {i: s for i, s in sketches.items() if i not in stored and i not in within}
    return mark_story_copies(decisions, stored, within), originals


def _redirect(state: FeedState, fetched: FetchResult) -> Redirect:
    target, seen, adopt = adopt_redirect(
        state.redirect_to, state.redirect_seen, fetched.permanent_redirect
    )
    if not adopt or target == state.poll_url:
        return Redirect(target, seen)
    log.warning("feed moved feed=%s to=%s (permanent redirect seen twice)", state.url, target)
    return Redirect(adopt=target)


def _record_failure(
    ctx: PollContext,
    spec: FeedSpec,
    state: FeedState,
    error: FeedError,
    http_status: int | None = None,
) -> PollResult:
    now = ctx.clock()
    status = error.status if isinstance(error, HTTPStatusError) else http_status
    retry_after = None
    if isinstance(error, HTTPStatusError):
        retry_after = parse_retry_after(error.retry_after, now)
    gone = status == 410
    next_at = next_poll_at(now, spec.interval, state.failures + 1, ctx.jitter(), retry_after)
    ctx.store.record_failure(state.id, now, error.message, next_at, status, gone)
    return PollResult(spec.url, error=error.message, http_status=status)


async def poll_feeds(
    ctx: PollContext,
    feeds: Iterable[tuple[FeedSpec, FeedState]],
    on_result: Callable[[PollResult], None] | None = None,
) -> list[PollResult]:
    """Poll many feeds at once; the fetcher bounds how many are in flight."""

    async def one(spec: FeedSpec, state: FeedState) -> PollResult:
        result = await poll_feed(ctx, spec, state)
        if on_result is not None:
            on_result(result)
        return result

    return list(await asyncio.gather(*(one(spec, state) for spec, state in feeds)))
