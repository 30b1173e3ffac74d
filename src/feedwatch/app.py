"""The composition root: builds the store, the HTTP clients and the notifiers from a Config.

Process wiring: owns the lifetimes of what it builds (an async context manager), and offers
the use cases that the CLI and the daemon share: poll, deliver, and the listings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

import httpx

from feedwatch.config import Config, EmailSpec, FeedSpec, RetrySpec
from feedwatch.delivery import Route, deliver_due
from feedwatch.errors import StoreError
from feedwatch.fetch import USER_AGENT, Fetcher, system_tls
from feedwatch.matching import Matcher
from feedwatch.models import Alert, AlertItem, DeliveryOutcome, FeedState, PollResult
from feedwatch.notify import EmailNotifier, Notifier, StdoutNotifier, WebhookNotifier
from feedwatch.pipeline import BACKLOG, PollContext, poll_feed, poll_feeds
from feedwatch.store import BATCH_SECONDS, Store
from feedwatch.upkeep import prune_story_samples
from feedwatch.workers import Preparer

log = logging.getLogger("feedwatch")


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def open_store(config: Config) -> Store:
    """The database named by the config, migrated, with the configured feeds marked active."""
    store = Store(config.database)
    store.sync_feeds(((f.url, f.name, f.interval) for f in config.feeds), utc_now())
    return store


class App:
    """A configured feedwatch: ``async with App(config) as app: await app.poll()``."""

    def __init__(
        self,
        config: Config,
        clock: Callable[[], datetime] = utc_now,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.clock = clock
        self.jitter = jitter
        self.specs = {feed.url: feed for feed in config.feeds}
        self.matcher = Matcher(config.alerts)
        self.preparer = Preparer(self.matcher, {rule.name: rule.notify for rule in config.alerts})
        self.store: Store
        self.fetcher: Fetcher
        self._webhook_client: httpx.AsyncClient | None = None
        self._tls: ssl.SSLContext | None = None
        self.routes: dict[str, Route] = {}
        self._backlog = asyncio.Semaphore(BACKLOG)  # one for all polls, the daemon's too

    async def __aenter__(self) -> Self:
        self.store = open_store(self.config)
        self.fetcher = Fetcher()  # aiohttp's own system trust store, loaded as it is imported
        self.routes = self._build_routes()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.fetcher.aclose()
        if self._webhook_client is not None:
            await self._webhook_client.aclose()
        self.preparer.close()
        self.store.close()

    def _trust_store(self) -> ssl.SSLContext:
        """One TLS context for every notifier, made only when one needs it (about 30 ms)."""
        if self._tls is None:
            self._tls = system_tls()
        return self._tls

    def _build_routes(self) -> dict[str, Route]:
        routes: dict[str, Route] = {}
        for name, spec in self.config.notifiers.items():
            notifier: Notifier
            digest = None
            if isinstance(spec, EmailSpec):
                notifier = EmailNotifier(name, spec, self.clock, self._trust_store())
                digest = spec.digest
            else:
                if self._webhook_client is None:
                    self._webhook_client = httpx.AsyncClient(
                        verify=self._trust_store(), follow_redirects=False
                    )
                notifier = WebhookNotifier(name, spec, self._webhook_client, USER_AGENT)
            routes[name] = Route(notifier, spec.retry, digest)
        if not routes:
            stdout = StdoutNotifier()
            routes[stdout.name] = Route(stdout, RetrySpec())
        return routes

    @property
    def poll_context(self) -> PollContext:
        """What the pipeline needs, from what this app built."""
        return PollContext(
            fetcher=self.fetcher,
            store=self.store,
            matcher=self.matcher,
            routes={rule.name: rule.notify for rule in self.config.alerts},
            clock=self.clock,
            jitter=self.jitter,
            digests={name: r.digest for name, r in self.routes.items() if r.digest is not None},
            preparer=self.preparer,
            backlog=self._backlog,
        )

    async def poll(
        self,
        feeds: Sequence[FeedSpec] | None = None,
        on_result: Callable[[PollResult], None] | None = None,
    ) -> list[PollResult]:
        """One round over the given feeds, at once; when None, every configured feed that has
        not answered 410 Gone (a gone feed is polled only when named)."""
        chosen = list(feeds) if feeds is not None else list(self.config.feeds)
        states = {s.url: s for s in self.store.feed_states([f.url for f in chosen])}
        pairs = [
            (spec, states[spec.url])
            for spec in chosen
            if feeds is not None or not states[spec.url].gone
        ]
        with self.store.batch():
            committer = asyncio.create_task(self._commit_batches())
            try:
                return await poll_feeds(self.poll_context, pairs, on_result)
            finally:
                committer.cancel()

    async def _commit_batches(self) -> None:
        # a slow feed must not keep the write lock from other processes while it downloads
        while True:
            await asyncio.sleep(BATCH_SECONDS)
            with contextlib.suppress(StoreError):  # the next write reports it
                self.store.flush()

    def due_feeds(self, limit: int, skip: Sequence[int]) -> list[tuple[FeedSpec, FeedState]]:
        """Feeds whose next poll has come, with their configuration."""
        due = self.store.feeds_due(self.clock(), limit, skip)
        return [(self.specs[s.url], s) for s in due if s.url in self.specs]

    async def poll_one(self, spec: FeedSpec, state: FeedState) -> PollResult:
        """Poll a single feed."""
        return await poll_feed(self.poll_context, spec, state)

    async def upkeep(self) -> int:
        """Housekeeping that is due (upkeep.py): story samples past the window, once a
        day; how many rows went."""
        return await prune_story_samples(self.store, self.clock)

    async def notify_test(self, name: str) -> None:
        """Send a test message through one notifier now; raise DeliveryError on failure."""
        now = self.clock()
        text = "If you can read this, feedwatch can reach you through this notifier."
        alert = Alert(
            id=f"test-{int(now.timestamp())}",
            rule="notify-test",
            keywords=("feedwatch",),
            created_at=now,
            item=AlertItem(
                title="feedwatch test message",
                url=None,
                published_at=now,
                author=None,
                summary=text,
                text=text,
                feed_title="feedwatch",
                feed_url="about:feedwatch",
            ),
        )
        await self.routes[name].notifier.send(alert)

    async def deliver(self, notifier: str | None = None) -> list[DeliveryOutcome]:
        """Send what is due, to one notifier or to all of them at once."""
        names = [notifier] if notifier is not None else list(self.routes)
        batches = await asyncio.gather(
            *(deliver_due(self.store, self.routes[n], self.clock, self.jitter) for n in names)
        )
        return [outcome for batch in batches for outcome in batch]
