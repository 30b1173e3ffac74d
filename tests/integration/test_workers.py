"""Feeds prepared in worker processes come back the same as prepared on the event loop."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from feedwatch.config import AlertRule
from feedwatch.errors import ParseError
from feedwatch.matching import Matcher
from feedwatch.prepare import FeedJob, prepare
from feedwatch.workers import Preparer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "feeds"))
from corpus import Corpus

RULES = [AlertRule(name="bench", keywords=("Panama", "mining", "Peru"), notify=("hook",))]
MATCHER = Matcher(RULES)
ROUTES = {"bench": ("hook",)}


def jobs(count: int) -> list[FeedJob]:
    corpus = Corpus(count, seed=7)
    return [
        FeedJob(
            body=feed.render(),
            url=f"http://127.0.0.1:1{feed.path}",
            content_type=None,
            feed_url=f"http://127.0.0.1:1{feed.path}",
            feed_name=f"Feed {feed.index}",
            address=f"http://127.0.0.1:1{feed.path}",
        )
        for feed in corpus.feeds
    ]


async def prepare_all(preparer: Preparer, batch: list[FeedJob]) -> list[object]:
    return list(await asyncio.gather(*(preparer.prepare(job) for job in batch)))


def test_workers_give_what_the_loop_gives() -> None:
    batch = jobs(12)
    preparer = Preparer(MATCHER, ROUTES, workers=2, inline_budget=0)
    try:
        pooled = asyncio.run(prepare_all(preparer, batch))
        assert preparer.running
    finally:
        preparer.close()
    assert pooled == [prepare(job, MATCHER, ROUTES) for job in batch]
    assert sum(len(p.alerts) for p in pooled) > 0  # type: ignore[attr-defined]


def test_a_small_round_is_prepared_on_the_loop_without_workers() -> None:
    preparer = Preparer(MATCHER, ROUTES, inline_budget=60)
    try:
        asyncio.run(prepare_all(preparer, jobs(3)))
        assert not preparer.running
    finally:
        preparer.close()


def test_a_body_that_is_not_a_feed_is_a_parse_error_from_a_worker_too() -> None:
    bad = FeedJob(b"<html><body>hi</body></html>", "http://127.0.0.1:1/x", "text/html",
                  "http://127.0.0.1:1/x", None, "http://127.0.0.1:1/x")  # fmt: skip
    preparer = Preparer(MATCHER, ROUTES, workers=1, inline_budget=0)
    try:
        with pytest.raises(ParseError) as raised:
            asyncio.run(preparer.prepare(bad))
    finally:
        preparer.close()
    assert raised.value.feed_url == "http://127.0.0.1:1/x"
    assert "not a feed" in raised.value.message


def test_a_worker_killed_mid_round_costs_time_not_feeds() -> None:
    batch = jobs(10)
    preparer = Preparer(MATCHER, ROUTES, workers=2, inline_budget=0)

    async def round_with_a_kill() -> list[object]:
        first = await preparer.prepare(batch[0])  # the workers are up
        pool = preparer._pool
        assert pool is not None
        for pid in list(pool._processes):
            os.kill(pid, signal.SIGKILL)
        rest = await prepare_all(preparer, batch[1:])
        return [first, *rest]

    try:
        results = asyncio.run(round_with_a_kill())
    finally:
        preparer.close()
    assert results == [prepare(job, MATCHER, ROUTES) for job in batch]
    # no worker is left behind: one stuck on the dead worker's queue lock would keep this
    # process from exiting
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not multiprocessing.active_children()


def test_known_entries_are_keyed_but_neither_sketched_nor_matched() -> None:
    job = jobs(1)[0]
    full = prepare(job, MATCHER, ROUTES)
    known = frozenset(keys.entry_key for _, keys in full.batch[:5])
    partial = prepare(
        FeedJob(job.body, job.url, job.content_type, job.feed_url, job.feed_name, job.address,
                known),
        MATCHER, ROUTES,
    )  # fmt: skip
    assert [k.entry_key for _, k in partial.batch] == [k.entry_key for _, k in full.batch]
    assert partial.batch[5:] == full.batch[5:]
    # the known ones are read as their guid alone: no HTML to text, no other key
    assert all(item.guid and not (item.title or item.content) for item, _ in partial.batch[:5])
    assert partial.known == frozenset(range(5))
    assert set(partial.sketches) == set(range(5, len(full.batch)))
    assert set(partial.alerts) == set(range(5, len(full.batch)))


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in "ZX"  # a zombie has exited; reaping it is its new parent's business


def test_workers_exit_when_their_parent_is_killed(tmp_path: Path) -> None:
    import subprocess
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import asyncio, sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_workers import MATCHER, ROUTES, jobs\n"
        "from feedwatch.workers import Preparer\n"
        "if __name__ == '__main__':\n"
        "    p = Preparer(MATCHER, ROUTES, workers=2, inline_budget=0)\n"
        "    asyncio.run(p.prepare(jobs(1)[0]))\n"
        "    print(*p._pool._processes, flush=True)\n"
        "    time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert workers
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while not all(_gone(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(_gone(pid) for pid in workers)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()  # type: ignore[union-attr]
