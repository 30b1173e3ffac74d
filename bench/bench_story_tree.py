"""What a story sample costs to insert as the sample tree grows (issue 6).

    .venv/bin/python bench/bench_story_tree.py [ROWS ...]   (default 1000000 4000000 11000000)

For each size, a real SQLite file with the store's story_samples table, filled with that many
random sample keys (11 million is about a month at 10,000 feeds), then 20 transactions of
50 polls each, every poll inserting the sorted samples of 35 items (31 each), with the
store's pragmas (WAL, synchronous=NORMAL, a 12 MB page cache). Prints microseconds per
inserted sample. This is why samples past the 30-day story window are pruned (upkeep.py).
"""

from __future__ import annotations

import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from feedwatch.stories import KEY_LIMIT

SAMPLES_PER_ITEM = 31
ITEMS_PER_POLL = 35
POLLS_PER_TRANSACTION = 50
TRANSACTIONS = 20
INSERT = "INSERT OR IGNORE INTO story_samples (key, item_id) VALUES (?, ?)"


def build(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(
        "CREATE TABLE story_samples (key INTEGER NOT NULL, item_id INTEGER NOT NULL,"
        " PRIMARY KEY (key, item_id)) WITHOUT ROWID"
    )
    rng = random.Random(1)
    conn.execute("BEGIN")
    step = 1_000_000
    for start in range(0, rows, step):
        batch = sorted(
            (rng.randrange(KEY_LIMIT), (start + i) // SAMPLES_PER_ITEM)
            for i in range(min(step, rows - start))
        )
        conn.executemany(INSERT, batch)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def insert_rate(path: Path, first_item: int) -> float:
    """Microseconds per sample inserted, as polls insert them."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -12288")
    rng = random.Random(2)
    item = first_item
    total = 0
    started = time.perf_counter()
    for _ in range(TRANSACTIONS):
        conn.execute("BEGIN IMMEDIATE")
        for _ in range(POLLS_PER_TRANSACTION):
            rows = []
            for _ in range(ITEMS_PER_POLL):
                rows += [(rng.randrange(KEY_LIMIT), item) for _ in range(SAMPLES_PER_ITEM)]
                item += 1
            rows.sort()
            conn.executemany(INSERT, rows)
            total += len(rows)
        conn.execute("COMMIT")
    conn.close()
    return (time.perf_counter() - started) / total * 1e6


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [1_000_000, 4_000_000, 11_000_000]
    for rows in sizes:
        with tempfile.TemporaryDirectory(prefix="feedwatch-tree-") as folder:
            path = Path(folder) / "samples.db"
            build(path, rows)
            rate = insert_rate(path, rows // SAMPLES_PER_ITEM + 1)
            print(f"| {rows:,} | {rate:.2f} |", flush=True)


if __name__ == "__main__":
    main()
