"""Conditional GETs of feeds over httpx, polite to every server and bounded in every way.

Edge: wraps httpx and turns its exceptions into FeedError subclasses. A 304 is a value, not
an error. Connections are spread over several small pools, because one big httpx pool spends
its time in bookkeeping when many requests wait (issue 6 measurements); a host always maps to
the same pool, so its connections are reused.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import defaultdict
from datetime import timedelta
from urllib.parse import urlsplit

import httpx

from feedwatch import __version__
from feedwatch.errors import FetchError, HTTPStatusError, ResponseTooLarge
from feedwatch.models import FetchResult

USER_AGENT = f"feedwatch/{__version__} (RSS and Atom feed monitor)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9,"
    " application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
MAX_BODY = 10 * 1024 * 1024
MAX_REDIRECTS = 5


def system_tls() -> ssl.SSLContext:
    """The system's trust store; SSL_CERT_FILE and SSL_CERT_DIR override it (SPEC)."""
    return ssl.create_default_context()


class Fetcher:
    """Fetches feeds with a global and a per-host limit on requests in flight."""

    def __init__(
        self,
        max_in_flight: int = 64,
        per_host: int = 2,
        max_body: int = MAX_BODY,
        shards: int = 8,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.max_body = max_body
        self._global = asyncio.Semaphore(max_in_flight)
        self._per_host = per_host
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self._per_host)
        )
        tls = system_tls()
        per_shard = max(4, max_in_flight // shards + per_host)
        self._clients = [
            httpx.AsyncClient(
                verify=tls,
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                limits=httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard),
                headers={"user-agent": user_agent, "accept": ACCEPT},
            )
            for _ in range(shards)
        ]

    async def aclose(self) -> None:
        """Close every pool."""
        await asyncio.gather(*(client.aclose() for client in self._clients))

    def _client(self, host: str) -> httpx.AsyncClient:
        return self._clients[zlib.crc32(host.encode()) % len(self._clients)]

    async def get(
        self,
        url: str,
        timeout: timedelta,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FetchResult:
        """GET ``url``, conditionally; ``timeout`` bounds the whole request, body included."""
        host = (urlsplit(url).hostname or "").lower()
        headers = {}
        if etag:
            headers["if-none-match"] = etag
        if last_modified:
            headers["if-modified-since"] = last_modified
        seconds = timeout.total_seconds()
        async with self._global, self._hosts[host]:
            try:
                async with asyncio.timeout(seconds):
                    return await self._get(url, host, headers, seconds)
            except TimeoutError as e:
                raise FetchError(url, f"timed out after {seconds:g}s") from e
            except httpx.TooManyRedirects as e:
                raise FetchError(url, f"more than {MAX_REDIRECTS} redirects") from e
            except httpx.InvalidURL as e:
                raise FetchError(url, f"invalid URL: {e}", transient=False) from e
            except httpx.HTTPError as e:
                raise FetchError(url, _describe(e)) from e

    async def _get(
        self, url: str, host: str, headers: dict[str, str], seconds: float
    ) -> FetchResult:
        client = self._client(host)
        async with client.stream("GET", url, headers=headers, timeout=seconds) as response:
            status = response.status_code
            if status == 304:
                await response.aread()  # read to the end so the connection goes back to the pool
            elif status >= 400:
                await response.aclose()
                raise HTTPStatusError(url, status, response.headers.get("retry-after"))
            body = b"" if status == 304 else await self._read(url, response)
            return FetchResult(
                url=url,
                status=status,
                body=body,
                content_type=response.headers.get("content-type"),
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                final_url=str(response.url),
            )

    async def _read(self, url: str, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise ResponseTooLarge(
                url, f"the body is {declared} bytes, over the {self.max_body} limit"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_body:
                raise ResponseTooLarge(url, f"the body passed the {self.max_body} byte limit")
            chunks.append(chunk)
        return b"".join(chunks)


def _describe(error: httpx.HTTPError) -> str:
    cause = error.__cause__ or error.__context__
    detail = str(error) or (str(cause) if cause else "") or type(error).__name__
    kinds = {
        httpx.ConnectError: "cannot connect",
        httpx.ConnectTimeout: "connection timed out",
        httpx.ReadTimeout: "read timed out",
        httpx.RemoteProtocolError: "protocol error",
        httpx.DecodingError: "cannot decode the body",
    }
    for kind, label in kinds.items():
        if isinstance(error, kind):
            return f"{label}: {detail}"
    return f"request failed: {detail}"
