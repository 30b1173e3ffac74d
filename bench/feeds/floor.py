"""The floor: the HTTP client alone fetching every feed, conditionally, parsing nothing.

    python bench/feeds/floor.py BASE_URL FEEDS STATE_FILE

Run as a whole process per round, start-up included, like `feedwatch poll`. ETags are kept
in STATE_FILE between rounds. Prints one JSON line: requests, 304s, bytes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx

from feedwatch.transport import AiohttpTransport

# The fastest httpx set-up measured on this corpus (one server, 1,000 feeds, all 304): one
# client over feedwatch's aiohttp transport, 2 connections, 2 requests in flight, took
# 0.74-1.15 s. With httpx's own transport (FLOOR_TRANSPORT=httpcore) the best was the same
# shape at 1.27-1.80 s; 8 clients of 16 with 64 in flight took 2.1-2.3 s, as httpcore's
# pool does more bookkeeping the more connections and waiting requests it holds.
CONNECTIONS = 2
TRANSPORT = os.environ.get("FLOOR_TRANSPORT", "aiohttp")


async def main(base: str, feeds: int, state_file: Path) -> None:
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    if TRANSPORT == "aiohttp":
        client = httpx.AsyncClient(transport=AiohttpTransport(per_host=CONNECTIONS))
    else:
        client = httpx.AsyncClient(limits=limits)
    gate = asyncio.Semaphore(CONNECTIONS)
    counts = {"requests": 0, "not_modified": 0, "bytes": 0}

    async def one(path: str) -> None:
        headers = {"if-none-match": state[path]} if path in state else {}
        async with gate:
            response = await client.get(base + path, headers=headers)
        counts["requests"] += 1
        if response.status_code == 304:
            counts["not_modified"] += 1
        else:
            counts["bytes"] += len(response.content)
            state[path] = response.headers["etag"]

    paths = [f"/feeds/{i}.{'atom' if i % 2 else 'rss'}" for i in range(feeds)]
    await asyncio.gather(*(one(p) for p in paths))
    await client.aclose()
    state_file.write_text(json.dumps(state))
    print(json.dumps(counts))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])))
