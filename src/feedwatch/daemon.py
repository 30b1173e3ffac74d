"""``feedwatch run``: APScheduler jobs over the schedule kept in the database, and signals.

Process wiring: the only module that imports apscheduler. The schedule is data: each feed row
carries its next poll time, so a few periodic jobs serve any number of feeds and a restart
resumes where the last run stopped (STYLE section 5).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from feedwatch.app import App
from feedwatch.config import FeedSpec
from feedwatch.models import FeedState, PollResult
from feedwatch.pipeline import log_result

log = logging.getLogger("feedwatch.daemon")

POLL_TICK_SECONDS = 2.0
DELIVER_TICK_SECONDS = 5.0
INDEX_TICK_SECONDS = 60.0
UPKEEP_TICK_SECONDS = 3600.0  # upkeep.py decides what is due; most ticks find nothing
MAX_POLLS_IN_FLIGHT = 256
STOP_GRACE_SECONDS = 5.0


class Daemon:
    """Runs the poll and delivery jobs until told to stop."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.stop = asyncio.Event()
        self.polls: dict[int, asyncio.Task[PollResult]] = {}
        self.scheduler = AsyncIOScheduler(timezone=UTC)

    async def poll_due(self) -> None:
        """Start a poll for each feed that is due and not already in flight."""
        room = MAX_POLLS_IN_FLIGHT - len(self.polls)
        if room <= 0 or self.stop.is_set():
            return
        for spec, state in self.app.due_feeds(room, list(self.polls)):
            task = asyncio.create_task(self._poll(spec, state), name=f"poll {spec.url}")
            self.polls[state.id] = task
            task.add_done_callback(functools.partial(self._forget, state.id))

    async def _index(self) -> None:
        # keeps `feedwatch search` quick: the items of the last minute, indexed in one go
        count = self.app.store.refresh_search_index()
        if count:
            log.debug("indexed items=%d", count)

    def _forget(self, feed_id: int, _task: asyncio.Task[PollResult]) -> None:
        self.polls.pop(feed_id, None)

    async def _poll(self, spec: FeedSpec, state: FeedState) -> PollResult:
        try:
            result = await self.app.poll_one(spec, state)
        except Exception:  # the job boundary for one feed's poll (STYLE 3)
            log.exception("internal error feed=%s", spec.url)
            return PollResult(spec.url, error="internal error")
        log_result(result)
        if result.alerts:
            self._deliver_soon()
        return result

    def _deliver_soon(self) -> None:
        now = datetime.now(UTC)
        for name in self.app.routes:
            job = self.scheduler.get_job(f"deliver-due:{name}")
            if job is not None:
                job.modify(next_run_time=now)

    def _add_job(self, job_id: str, seconds: float, fn: Callable[[], Awaitable[object]]) -> None:
        self.scheduler.add_job(
            _guarded(job_id, fn),
            "interval",
            seconds=seconds,
            id=job_id,
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
        )

    async def run(self) -> None:
        """Poll every feed at once, then each when due; deliver; stop on SIGTERM or SIGINT."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        self._add_job("poll-due", POLL_TICK_SECONDS, self.poll_due)
        self._add_job("search-index", INDEX_TICK_SECONDS, self._index)
        self._add_job("upkeep", UPKEEP_TICK_SECONDS, self.app.upkeep)
        for name in self.app.routes:
            self._add_job(
                f"deliver-due:{name}",
                DELIVER_TICK_SECONDS,
                functools.partial(self.app.deliver, name),
            )
        log.info(
            "started feeds=%d rules=%d notifiers=%s database=%s",
            len(self.app.config.feeds), len(self.app.config.alerts),
            ",".join(self.app.routes), self.app.config.database,
        )  # fmt: skip
        self.scheduler.start()
        try:
            await self.stop.wait()
        finally:
            await self._shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("stopping signal=%s", sig.name)
        self.stop.set()

    async def _shutdown(self) -> None:
        # Abandoning work is safe: a poll is one transaction and a delivery is marked sent only
        # after it was sent, so whatever is cut short here is redone after a restart.
        self.scheduler.shutdown(wait=False)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
        log.info("stopped")


def _guarded(job_id: str, fn: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        try:
            await fn()
        except asyncio.CancelledError:
            raise
        except Exception:  # the job boundary: log, record, keep the daemon going (STYLE 3)
            log.exception("internal error job=%s", job_id)

    return job


async def run(app: App) -> None:
    """Run the daemon until a signal stops it."""
    await Daemon(app).run()
