"""Preparing fetched feeds (prepare.py) on the other cores: worker processes, started when a round
brings enough work to be worth their start-up, stopped when idle.

Edge: wraps concurrent.futures and multiprocessing. A quiet daemon or a small `poll`
prepares on the event loop as before; a first round of a thousand feeds parses, keys,
sketches and matches in worker processes, one fewer than the cores, while the loop fetches
and stores (issue 6). A worker that dies is replaced and the feed is prepared on the loop, so a
crash costs time, never a feed.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.process import BaseProcess

from feedwatch.errors import ParseError
from feedwatch.matching import Matcher
from feedwatch.prepare import FeedJob, PreparedFeed, prepare

# Once preparing on the loop has taken this long within WINDOW_SECONDS, the workers start:
# starting them costs about 0.3 s of CPU each (importing feedparser), so a round of a few
# feeds, or of changed feeds whose items are mostly known, is cheaper on the loop.
INLINE_BUDGET_SECONDS = 1.0
WINDOW_SECONDS = 10.0
IDLE_SECONDS = 60.0

_matcher = Matcher(())
_routes: Mapping[str, tuple[str, ...]] = {}


def _start_worker(matcher: Matcher, routes: Mapping[str, tuple[str, ...]]) -> None:
    global _matcher, _routes
    # Ctrl-C reaches the whole process group; stopping is the parent's decision
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _matcher, _routes = matcher, routes
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    # A worker holds both ends of its task pipe, so it never sees the parent die: a parent
    # killed outright (SIGKILL, OOM) would leave it waiting forever.
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _prepare_in_worker(job: FeedJob) -> PreparedFeed | str:
    try:
        return prepare(job, _matcher, _routes)
    except ParseError as e:
        return e.message  # a plain value: our exceptions do not survive pickling


class Preparer:
    """Prepares feeds on the event loop or in worker processes, whichever pays."""

    def __init__(
        self,
        matcher: Matcher,
        routes: Mapping[str, tuple[str, ...]],
        workers: int | None = None,
        inline_budget: float | None = None,
    ) -> None:
        self.matcher = matcher
        self.routes = dict(routes)
        # one fewer than the cores: the process that fetches and stores is the busiest of a
        # first round, and a worker on every core took CPU from it (2 cores, 1,000 feeds,
        # alternating: 2 workers 24.3-25.6 s, 1 worker 21.7-23.4 s)
        self.workers = workers or max(1, (os.cpu_count() or 1) - 1)
        self.inline_budget = INLINE_BUDGET_SECONDS if inline_budget is None else inline_budget
        self._pool: ProcessPoolExecutor | None = None
        self._inline: deque[tuple[float, float]] = deque()  # (ended at, seconds) on the loop
        self._inline_seconds = 0.0
        self._pending = 0
        self._last_done = 0.0
        self._broken: list[dict[int, BaseProcess]] = []

    async def prepare(self, job: FeedJob) -> PreparedFeed:
        """The prepared feed; raises ParseError when the body is not a feed."""
        if self._pool is None and self._inline_cost() < self.inline_budget:
            started = time.monotonic()
            try:
                return prepare(job, self.matcher, self.routes)
            finally:
                ended = time.monotonic()
                self._inline.append((ended, ended - started))
                self._inline_seconds += ended - started
        pool = self._start()
        self._pending += 1
        try:
            result = await asyncio.get_running_loop().run_in_executor(pool, _prepare_in_worker, job)
        except BrokenProcessPool:
            self._discard(pool, broken=True)
            return prepare(job, self.matcher, self.routes)
        finally:
            self._pending -= 1
            self._last_done = time.monotonic()
            if not self._pending:
                asyncio.get_running_loop().call_later(IDLE_SECONDS, self._stop_if_idle)
        if isinstance(result, str):
            raise ParseError(job.url, result)
        return result

    def _inline_cost(self) -> float:
        now = time.monotonic()
        while self._inline and self._inline[0][0] < now - WINDOW_SECONDS:
            self._inline_seconds -= self._inline.popleft()[1]
        return self._inline_seconds

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                # spawn: the parent has threads (SMTP) and an event loop a fork would copy
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.matcher, self.routes),
            )
        return self._pool

    def _discard(self, pool: ProcessPoolExecutor, broken: bool = False) -> None:
        if self._pool is pool:
            self._pool = None
        # the executor's own table of its workers (there is no public one), which shutdown
        # forgets but its manager thread keeps filling
        processes: dict[int, BaseProcess] = getattr(pool, "_processes", None) or {}
        pool.shutdown(wait=False, cancel_futures=True)
        if broken:
            # A worker that died while holding the task queue's lock leaves the others, and
            # any the pool starts late, waiting on it forever, and the queue's feeder
            # thread blocked writing to them: at exit the interpreter would wait for that
            # thread for ever. Such a pool's processes are killed, now and again at close.
            self._broken.append(processes)
            _kill(processes)

    def _stop_if_idle(self) -> None:
        idle = time.monotonic() - self._last_done >= IDLE_SECONDS - 0.5
        if self._pool is not None and not self._pending and idle:
            self._discard(self._pool)

    @property
    def running(self) -> bool:
        """Whether worker processes are up."""
        return self._pool is not None

    def close(self) -> None:
        """Stop the workers; a job in progress is abandoned."""
        if self._pool is not None:
            self._discard(self._pool)
        for processes in self._broken:
            _kill(processes)


def _kill(processes: dict[int, BaseProcess]) -> None:
    for process in list(processes.values()):
        if process.is_alive():
            process.kill()
