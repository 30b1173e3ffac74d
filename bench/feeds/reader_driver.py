"""The peer: lemon24/reader updating the same feeds, timed inside one warm process.

    READER_PYTHON bench/feeds/reader_driver.py BASE_URL FEEDS DB WORKERS

Reads a line on stdin per round and answers with one JSON line: wall and CPU seconds, new
entries, peak RSS so far. Needs reader 3.26 and sgmllib3k in the interpreter that runs it.
"""

from __future__ import annotations

import json
import resource
import sys
import time

from reader import make_reader


def main() -> None:
    base, feeds, db, workers = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    reader = make_reader(db)
    for i in range(feeds):
        reader.add_feed(f"{base}/feeds/{i}.{'atom' if i % 2 else 'rss'}", exist_ok=True)
    first = True
    for _ in sys.stdin:
        before = reader.get_entry_counts().total
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        start = time.perf_counter()
        # reader's own schedule would skip feeds updated a moment ago: every round is forced
        reader.update_feeds(workers=workers, scheduled=False) if not first else reader.update_feeds(
            workers=workers
        )
        wall = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_SELF)
        after = reader.get_entry_counts().total
        print(json.dumps({
            "wall": wall,
            "cpu": usage.ru_utime + usage.ru_stime - cpu,
            "new_items": after - before,
            "peak_rss_mb": usage.ru_maxrss / 1024,
        }), flush=True)  # fmt: skip
        first = False


if __name__ == "__main__":
    main()
