"""Story lookup and search at 100,000 stored items (issue 5, points 3 and 5).

    .venv/bin/python bench/bench_stories.py [--items 100000]

Stores N distinct articles (200 words each, drawn seeded from the word frequencies of the
State of the Union articles of the labelled set) with their sketches in a real SQLite file,
then times the story lookup of 1,000 new items, half of them republished copies of stored
ones, half new: the store query plus the decision, as a poll runs them.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedwatch.dedup import keys_for
from feedwatch.models import Decision, ParsedItem, PollOutcome, Verdict
from feedwatch.query import parse_query
from feedwatch.search import find
from feedwatch.store import Store
from feedwatch.stories import best_story, sketch

PAIRS = Path(__file__).resolve().parents[1] / "tests" / "data" / "stories" / "pairs.jsonl"


def vocabulary() -> list[str]:
    words: list[str] = []
    for line in PAIRS.read_text(encoding="utf-8").splitlines():
        for side in ("a", "b"):
            words += re.findall(r"[A-Za-z']+", json.loads(line)[side]["text"])
    return words  # with repeats: sampling from it follows the words' frequencies


def article(rng: random.Random, pool: list[str], n: int) -> ParsedItem:
    text = " ".join(rng.choices(pool, k=200))
    return ParsedItem(f"urn:bench:{n}", f"https://bench.example/{n}", f"Article {n}", None,
                      None, text[:500], text)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(20261128)
    pool = vocabulary()
    now = datetime(2026, 11, 28, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "bench.db")
        store.sync_feeds([("https://bench.example/feed", None, timedelta(minutes=15))], now)
        feed_id = store.feed_states()[0].id
        stored: list[ParsedItem] = []
        start = time.perf_counter()
        for first in range(0, args.items, 1000):
            items = [article(rng, pool, n) for n in range(first, min(first + 1000, args.items))]
            keyed = [(i, keys_for("https://bench.example/feed", i)) for i in items]
            decisions = [Decision(i, k, Verdict.NEW) for i, k in keyed if k]
            sketches = {n: sketch(d.item.text) for n, d in enumerate(decisions)}
            store.save_poll(PollOutcome(feed_id, now, 200, None, None, None, decisions, [], now,
                                        sketches=sketches))  # fmt: skip
            stored += items
        loaded = time.perf_counter() - start
        size = Path(folder, "bench.db").stat().st_size
        probes = []
        for n in range(1000):
            if n % 2:
                original = rng.choice(stored).content
                probes.append(original + " This article first appeared on Bench News.")
            else:
                probes.append(article(rng, pool, args.items + n).content)
        sketches = [sketch(text) for text in probes]
        found = 0
        start = time.perf_counter()
        for hashes in sketches:
            candidates = store.story_candidates({0: hashes}, now - timedelta(days=30))
            if best_story(len(hashes), candidates.get(0, [])) is not None:
                found += 1
        elapsed = time.perf_counter() - start
        searches = []
        for text in ("congress", '"the american people"', "tax* -health", "/nuclear|atomic/"):
            start = time.perf_counter()
            hits = find(store, parse_query(text), limit=20)
            searches.append((text, len(hits), (time.perf_counter() - start) * 1000))
        store.close()
    print(f"stored {args.items:,} items with sketches in {loaded:.1f} s; database {size >> 20} MB")
    print(f"1,000 lookups in {elapsed:.2f} s: {1000 / elapsed:,.0f} lookups/s, "
          f"{elapsed:.3f} ms each; {found} of 500 copies recognised")  # fmt: skip
    for text, count, ms in searches:
        print(f"search {text!r} --limit 20: {count} hits in {ms:.1f} ms")


if __name__ == "__main__":
    main()
