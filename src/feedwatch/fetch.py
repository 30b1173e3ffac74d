"""Conditional GETs of feeds over httpx, polite to every server and bounded in every way.

Edge: wraps httpx and turns its exceptions into FeedError subclasses. A 304 is a value, not
an error. The bytes move over aiohttp (transport.py): httpcore's pool spent most of an
all-304 round in its own bookkeeping (issue 6 measurements).
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
import zlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import urlsplit

import httpx

from feedwatch import __version__
from feedwatch.errors import FetchError, HTTPStatusError, ResponseTooLarge
from feedwatch.models import FetchResult
from feedwatch.transport import AiohttpTransport

USER_AGENT = f"feedwatch/{__version__} (RSS and Atom feed monitor)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9,"
    " application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
MAX_BODY = 10 * 1000 * 1000
MAX_REDIRECTS = 5


def system_tls() -> ssl.SSLContext:
    """The system's trust store; SSL_CERT_FILE and SSL_CERT_DIR override it (SPEC)."""
    return ssl.create_default_context()


class _Cookies(httpx.Cookies):
    """The client's cookie jar, kept as httpx keeps it (a cookie a server sets, on a redirect
    say, goes back to it), but a response that sets none is not read: httpx builds urllib
    request and response objects for every response, which cost about a third of a 304's
    own time in the client."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


class Fetcher:
    """Fetches feeds with a global and a per-host limit on requests in flight."""

    def __init__(
        self,
        max_in_flight: int = 64,
        per_host: int = 2,
        max_body: int = MAX_BODY,
        user_agent: str = USER_AGENT,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.max_body = max_body
        self._closed = False
        self._global = asyncio.Semaphore(max_in_flight)
        self._per_host = per_host
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self._per_host)
        )
        transport = AiohttpTransport(
            tls=tls or True,  # True: aiohttp's own default context, the system trust store
            max_connections=max_in_flight * 2,  # redirects may take a second connection
            # no second per-host cap: ours is per feed's host, and one per connected host
            # would queue the feeds that all redirect to one platform behind two connections
        )
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={
                "user-agent": user_agent,
                "accept": ACCEPT,
                "accept-encoding": "gzip, deflate",
            },
        )
        self._client._cookies = _Cookies()  # the setter would copy it into a plain jar

    async def aclose(self) -> None:
        """Close the connections; a later get fails as a FetchError."""
        self._closed = True
        await self._client.aclose()

    async def get(
        self,
        url: str,
        timeout: timedelta,
        etag: str | None = None,
        last_modified: str | None = None,
        max_body: int | None = None,
        when_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> FetchResult:
        """GET ``url``, conditionally; ``timeout`` bounds the whole request, body included,
        and the body may not pass ``max_body`` bytes, decompressed or not. ``when_ready``
        is awaited once it is the host's turn, before the request: the caller's say on
        whether it can take another body now."""
        if self._closed:  # a poll that outlived the daemon's stop
            raise FetchError(url, "the fetcher is closed")
        host = (urlsplit(url).hostname or "").lower()
        headers: dict[bytes, bytes] = {}
        if etag:
            headers[b"if-none-match"] = _validator(etag)
        if last_modified:
            headers[b"if-modified-since"] = _validator(last_modified)
        seconds = timeout.total_seconds()
        # the host's turn first: feeds queued behind one busy host hold no global slot
        async with self._hosts[host]:
            if when_ready is not None:
                await when_ready()
            async with self._global:
                return await self._get_bounded(url, host, headers, seconds, max_body)

    async def _get_bounded(
        self, url: str, host: str, headers: dict[bytes, bytes], seconds: float, max_body: int | None
    ) -> FetchResult:
        """The request itself, within its timeout, its errors as FeedErrors."""
        try:
            async with asyncio.timeout(seconds):
                return await self._get(url, host, headers, seconds, max_body or self.max_body)
        except TimeoutError as e:
            raise FetchError(url, f"timed out after {seconds:g}s") from e
        except httpx.TooManyRedirects as e:
            raise FetchError(url, f"more than {MAX_REDIRECTS} redirects") from e
        except httpx.InvalidURL as e:
            raise FetchError(url, f"invalid URL: {e}", transient=False) from e
        except httpx.HTTPError as e:
            raise FetchError(url, _describe(e)) from e

    async def _get(
        self, url: str, host: str, headers: dict[bytes, bytes], seconds: float, limit: int
    ) -> FetchResult:
        async with self._client.stream("GET", url, headers=headers, timeout=seconds) as response:
            status = response.status_code
            if status == 304:
                await response.aread()  # read to the end so the connection goes back to the pool
            elif status >= 400:
                await response.aclose()
                raise HTTPStatusError(url, status, response.headers.get("retry-after"))
            body = b"" if status == 304 else await _read(url, response, limit)
            return FetchResult(
                url=url,
                status=status,
                body=body,
                content_type=response.headers.get("content-type"),
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                final_url=str(response.url),
                permanent_redirect=_permanent_redirect(response),
                max_age=_max_age(response.headers.get("cache-control")),
            )


async def _read(url: str, response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge(url, f"the body is {declared} bytes, over the {limit} byte limit")
    header = response.headers.get("content-encoding", "").lower()
    codings = [c.strip() for c in header.split(",") if c.strip() not in ("", "identity")]
    unknown = [c for c in codings if c not in _INFLATERS]
    if unknown:  # we only ever ask for gzip and deflate
        raise FetchError(url, f"unsupported content-encoding: {', '.join(unknown)}", False)
    # Decoded here rather than by httpx, a bounded piece at a time, so a gzip bomb (even one
    # wrapped in several layers) stops at the limit instead of inflating whole chunks first.
    body = b""
    size = 0
    chunks: list[bytes] = []
    inflater = _Inflater(codings[-1], limit) if codings else None
    try:
        async for raw in response.aiter_raw():
            out = inflater.feed(raw) if inflater else raw
            size += len(out)
            if size > limit:
                raise ResponseTooLarge(url, f"the body passed the {limit} byte limit")
            chunks.append(out)
            if inflater is not None and inflater.done:
                break
        body = b"".join(chunks)
        for coding in reversed(codings[:-1]):  # the outer layers were undone first
            body = _Inflater(coding, limit).feed(body)
    except _TooLarge as e:
        raise ResponseTooLarge(url, f"the decompressed body passed the {limit} byte limit") from e
    except zlib.error as e:
        raise FetchError(url, f"cannot decode the body: {e}", transient=False) from e
    return body


class _TooLarge(Exception):
    pass


_INFLATERS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


class _Inflater:
    """One content coding undone in bounded steps; deflate with or without its zlib header
    (servers send both)."""

    def __init__(self, coding: str, limit: int) -> None:
        self.coding = coding
        self.limit = limit
        self.size = 0
        self.engine: zlib._Decompress | None = None

    @property
    def done(self) -> bool:
        return self.engine is not None and self.engine.eof

    def feed(self, data: bytes) -> bytes:
        if self.engine is None:
            wbits = _INFLATERS[self.coding]
            if wbits == 15 and len(data) >= 2 and not _zlib_header(data):
                wbits = -15
            self.engine = zlib.decompressobj(wbits=wbits)
        out: list[bytes] = []
        while data:
            piece = self.engine.decompress(data, self.limit - self.size + 1)
            self.size += len(piece)
            if self.size > self.limit:
                raise _TooLarge
            out.append(piece)
            data = self.engine.unconsumed_tail
        return b"".join(out)


def _zlib_header(data: bytes) -> bool:
    return data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def _validator(value: str) -> bytes:
    """A stored ETag or Last-Modified as header bytes again. httpx decoded it as ASCII, UTF-8
    or Latin-1, and refuses to send a str that is not ASCII: a server's odd validator must
    not fail the feed's every poll."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _permanent_redirect(response: httpx.Response) -> str | None:
    """Where a chain of permanent redirects (301, 308) from the requested URL ended."""
    target = None
    hops = [*response.history, response]
    for hop, following in itertools.pairwise(hops):
        if hop.status_code not in (301, 308):
            break
        target = str(following.url)
    return target


def _max_age(cache_control: str | None) -> int | None:
    if not cache_control:
        return None
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.strip().strip('"').isdigit():
            return int(value.strip().strip('"'))
    return None


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
