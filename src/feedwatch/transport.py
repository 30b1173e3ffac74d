"""An httpx transport that moves the bytes with aiohttp.

Edge under fetch.py: httpx stays the API (requests, redirects, limits on bodies, its error
classes) while aiohttp's connection pool and C HTTP parser do the work. On the benchmark's
all-304 round httpcore spent most of the poll in its own pool bookkeeping (issue 6). Every
aiohttp error leaves this module as an httpx.TransportError, so callers only ever see
httpx's hierarchy.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
from aiohttp import http_exceptions
from yarl import URL

MAX_HEADER_LINE = 16 * 1024


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Plain HTTP/1.1 requests over one aiohttp connection pool; nothing is decoded,
    followed or stored here (no redirects, no content decoding, no cookies)."""

    def __init__(
        self,
        tls: ssl.SSLContext | bool = True,
        max_connections: int = 100,
        per_host: int = 0,
        keepalive_seconds: float = 15.0,
    ) -> None:
        self._tls = tls
        self._max_connections = max_connections
        self._per_host = per_host
        self._keepalive = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        # read once, as httpx reads them for its own transport; aiohttp's trust_env would
        # also send ~/.netrc logins to every feed host, which httpx never did
        self._proxies = urllib.request.getproxies_environment()

    def _open_session(self) -> aiohttp.ClientSession:
        # made on first use, inside the running loop, which aiohttp binds it to
        if self._closed:
            raise httpx.TransportError("the transport is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                ssl=self._tls,
                limit=self._max_connections,
                limit_per_host=self._per_host,
                keepalive_timeout=self._keepalive,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
                # httpx's own transport took a header block of up to 16 KB; aiohttp's
                # default of 8 KB a line refused real sites' long Content-Security-Policy
                max_line_size=MAX_HEADER_LINE,
                max_field_size=MAX_HEADER_LINE,
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):  # aiohttp would also try ws://
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{request.url.scheme}://'.",
                request=request,
            )
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        with _as_httpx_errors(request):
            session = self._open_session()
            response = await session.request(
                request.method,
                # httpx has turned any user:password@ into an Authorization header already
                URL(str(request.url), encoded=True).with_user(None),
                headers=[
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                ],
                data=body or None,
                proxy=self._proxy_for(request.url),
                allow_redirects=False,
                compress=None,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            extensions={
                "http_version": f"HTTP/{response.version.major}.{response.version.minor}".encode()
                if response.version
                else b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    def _proxy_for(self, url: httpx.URL) -> str | None:
        """HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY, as httpx honours them on its own
        transport (and ignores them when it is given another)."""
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        if not proxy or urllib.request.proxy_bypass(url.host):
            return None
        return proxy

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    """A response body as it arrives; closing it gives the connection back to the pool
    when the body was read to its end, and drops it otherwise."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


@contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    """aiohttp's exceptions as the httpx ones httpcore would have raised."""
    try:
        yield
    except aiohttp.ClientConnectorError as e:
        raise httpx.ConnectError(str(e) or type(e).__name__, request=request) from e
    except aiohttp.ConnectionTimeoutError as e:
        raise httpx.ConnectTimeout(str(e) or "connect timed out", request=request) from e
    except aiohttp.ServerTimeoutError as e:
        raise httpx.ReadTimeout(str(e) or "read timed out", request=request) from e
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as e:
        raise httpx.RemoteProtocolError(str(e) or type(e).__name__, request=request) from e
    except (aiohttp.ClientResponseError, http_exceptions.HttpProcessingError) as e:
        # a response aiohttp could not parse: a bad status line, a header too long...
        message = getattr(e, "message", "") or str(e) or type(e).__name__
        raise httpx.RemoteProtocolError(str(message), request=request) from e
    except aiohttp.InvalidURL as e:
        raise httpx.UnsupportedProtocol(str(e), request=request) from e
    except aiohttp.ClientOSError as e:
        raise httpx.ReadError(str(e) or type(e).__name__, request=request) from e
    except aiohttp.ClientError as e:
        raise httpx.TransportError(str(e) or type(e).__name__, request=request) from e
    except ValueError as e:  # aiohttp refuses some requests so (a login it cannot use...)
        raise httpx.TransportError(str(e) or type(e).__name__, request=request) from e
