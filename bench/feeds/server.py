"""A loopback HTTP/1.1 server for the corpus: ETag, Last-Modified, 304, gzip, keep-alive.

    python bench/feeds/server.py --feeds 1000 --port 0   (prints its port, then serves)

--items N starts every feed with N items instead of 20 to 50 (a quick first load).
GET /_change?share=0.1 adds new items to that share of feeds; GET /_stats returns the
server's own CPU seconds, so the runner can check the server is not the bottleneck, and how
many feed requests it answered: in all, with 200 and with 304.
Written on bare asyncio so that it is much faster than any client it serves.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import resource
import sys
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import START, Corpus


class Cache:
    """Each feed's body, gzipped body, ETag and Last-Modified, rebuilt when it changes."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.entries: dict[str, tuple[bytes, bytes, str, str]] = {}
        self.counts = {"requests": 0, "ok": 0, "not_modified": 0}
        for feed in corpus.feeds:
            self.refresh(feed.index)

    def refresh(self, index: int) -> None:
        feed = self.corpus.feeds[index]
        body = feed.render()
        etag = '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'
        modified = format_datetime(feed.items[0].published if feed.items else START, usegmt=True)
        self.entries[feed.path] = (body, gzip.compress(body, 6), etag, modified)


def _response(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Protocol(asyncio.Protocol):
    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            target = lines[0].split(" ")[1]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            assert self.transport is not None
            self.transport.write(self.answer(target, headers))

    def answer(self, target: str, headers: dict[str, str]) -> bytes:
        parts = urlsplit(target)
        if parts.path == "/_change":
            share = float(parse_qs(parts.query).get("share", ["0.1"])[0])
            changed = self.cache.corpus.change(share)
            for index in changed:
                self.cache.refresh(index)
            body = json.dumps({"changed": len(changed)}).encode()
            return _response("200 OK", {"Content-Type": "application/json"}, body)
        if parts.path == "/_stats":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            stats = {"cpu": usage.ru_utime + usage.ru_stime, **self.cache.counts}
            body = json.dumps(stats).encode()
            return _response("200 OK", {"Content-Type": "application/json"}, body)
        counts = self.cache.counts
        counts["requests"] += 1
        entry = self.cache.entries.get(parts.path)
        if entry is None:
            return _response("404 Not Found", {})
        body, zipped, etag, modified = entry
        if headers.get("if-none-match") == etag or (
            "if-none-match" not in headers and headers.get("if-modified-since") == modified
        ):
            counts["not_modified"] += 1
            return _response("304 Not Modified", {"ETag": etag, "Last-Modified": modified})
        counts["ok"] += 1
        kind = "application/atom+xml" if parts.path.endswith(".atom") else "application/rss+xml"
        common = {"Content-Type": kind, "ETag": etag, "Last-Modified": modified}
        if "gzip" in headers.get("accept-encoding", ""):
            return _response("200 OK", {**common, "Content-Encoding": "gzip"}, zipped)
        return _response("200 OK", common, body)


async def serve(feeds: int, port: int, seed: int, items: int | None = None) -> None:
    cache = Cache(Corpus(feeds, seed, items))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Protocol(cache), "127.0.0.1", port, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--items", type=int, default=None, help="items per feed (default 20-50)")
    args = parser.parse_args()
    asyncio.run(serve(args.feeds, args.port, args.seed, args.items))


if __name__ == "__main__":
    main()
