"""Loopback servers for tests: a feed server, a webhook receiver and an SMTP server.

Each one binds 127.0.0.1 on a free port (port 0), runs in background threads, records what
it receives, and shuts down cleanly: handler threads are joined and every socket is closed,
so no ResourceWarning leaks under `filterwarnings = error`. Test-only: these servers never
talk to anything but the clients that connect to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import socketserver
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 10.0


# --- shared HTTP plumbing -----------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the server's `respond` callable; logs nothing."""

    protocol_version = "HTTP/1.1"
    server_version = "feedwatch-test"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _dispatch(self) -> None:
        cast(_LoopbackHTTPServer, self.server).respond(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch


def _hang_up(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer
        conn.shutdown(socket.SHUT_RDWR)


class _LoopbackHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that can be closed while handlers sleep or wait on keep-alive."""

    daemon_threads = False  # so that server_close() joins every handler thread
    block_on_close = True

    def __init__(self, respond: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.respond = respond
        self.closing = threading.Event()
        self._conn_lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        super().__init__((HOST, 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup we do not need.
        socketserver.TCPServer.server_bind(self)
        self.server_name = HOST
        self.server_port = self.server_address[1]

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._conns.add(request)
            if self.closing.is_set():
                _hang_up(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._conns.discard(request)

    def hang_up_all(self) -> None:
        """Mark the server as closing and cut every open connection, waking blocked reads."""
        with self._conn_lock:
            self.closing.set()
            for conn in self._conns:
                _hang_up(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gives up (a timeout test) or our own shutdown is not an error.
        if self.closing.is_set() or isinstance(sys.exception(), ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _BackgroundHTTP:
    """Runs a _LoopbackHTTPServer in a thread; context manager; close() is idempotent."""

    def __init__(self, name: str) -> None:
        self._httpd = _LoopbackHTTPServer(self._respond)
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=name
        )
        self._thread.daemon = True
        self._thread.start()
        self._closed = False

    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def _wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; return True if the server is closing meanwhile."""
        return seconds > 0 and self._httpd.closing.wait(seconds)

    def close(self) -> None:
        """Stop serving, cut open connections, join every thread, close the socket."""
        if self._closed:
            return
        self._closed = True
        self._httpd.hang_up_all()
        self._httpd.shutdown()
        self._httpd.hang_up_all()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _lower_headers(handler: BaseHTTPRequestHandler) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in handler.headers.items():
        key = key.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _send_simple(handler: BaseHTTPRequestHandler, status: int, text: str = "") -> None:
    body = text.encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "text/plain; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def _read_body(handler: BaseHTTPRequestHandler) -> bytes | None:
    """The request's body; None when the client went away before sending all of it (a
    sender killed mid-request has delivered nothing)."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            line = handler.rfile.readline()
            if not line:
                return None
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunk = handler.rfile.read(size)
            if len(chunk) < size:
                return None
            chunks.append(chunk)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length)
    return body if len(body) == length else None


# --- feed server --------------------------------------------------------------------------


class Request(NamedTuple):
    """One request seen by FeedServer; headers have lowercase keys."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class _Route:
    body: bytes
    content_type: str | None
    etag: str | None
    last_modified: str | None
    status: int
    headers: Mapping[str, str]
    delay: float
    gzip: bool
    chunk_size: int
    chunk_delay: float
    send_length: bool


def _weak(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def _accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            q = params.strip().removeprefix("q=").strip()
            return not q or float(q) > 0
    return False


def _not_modified(route: _Route, headers: Mapping[str, str]) -> bool:
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:  # RFC 9110 13.1.3: If-None-Match wins over If-Modified-Since
        if route.etag is None:
            return False
        tags = {_weak(tag) for tag in if_none_match.split(",")}
        return "*" in tags or _weak(route.etag) in tags
    since = headers.get("if-modified-since")
    if since is None or route.last_modified is None:
        return False
    if since.strip() == route.last_modified:
        return True
    try:
        return parsedate_to_datetime(since) >= parsedate_to_datetime(route.last_modified)
    except (TypeError, ValueError):
        return False


class FeedServer(_BackgroundHTTP):
    """Serves registered routes over HTTP/1.1 (keep-alive) on 127.0.0.1 and records requests.

    Unknown paths answer 404. A route is matched by its full path (with query), else by the
    path without the query string.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._routes: dict[str, _Route] = {}
        self._requests: list[Request] = []
        super().__init__("feed-server")

    def url(self, path: str = "/") -> str:
        """Absolute http://127.0.0.1:PORT URL of `path`."""
        return f"http://{HOST}:{self.port}{_slash(path)}"

    def set(
        self,
        path: str,
        body: bytes,
        content_type: str | None = "application/rss+xml",
        etag: str | None = None,
        last_modified: str | datetime | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        *,
        gzip: bool = False,
        chunk_size: int = 0,
        chunk_delay: float = 0.0,
        send_length: bool = True,
    ) -> str:
        """Register or replace the route at `path`; return its URL.

        etag is sent verbatim (include the quotes: '"v1"'); last_modified is an HTTP date or
        an aware datetime. A GET whose If-None-Match / If-Modified-Since matches gets 304.
        gzip=True compresses the body when the request accepts gzip. delay sleeps before
        the status line; chunk_size/chunk_delay trickle the body after the headers;
        send_length=False omits Content-Length and closes the connection after the body.
        `headers` are sent last and override computed ones (e.g. a lying Content-Length).
        """
        if isinstance(last_modified, datetime):
            last_modified = format_datetime(last_modified, usegmt=True)
        route = _Route(
            body=body,
            content_type=content_type,
            etag=etag,
            last_modified=last_modified,
            status=status,
            headers=dict(headers or {}),
            delay=delay,
            gzip=gzip,
            chunk_size=chunk_size,
            chunk_delay=chunk_delay,
            send_length=send_length,
        )
        with self._lock:
            self._routes[_slash(path)] = route
        return self.url(path)

    def redirect(self, path: str, to_path: str, status: int = 301) -> str:
        """Make `path` redirect to `to_path` (a path or an absolute URL); return its URL."""
        return self.set(path, b"", None, status=status, headers={"Location": to_path})

    def remove(self, path: str) -> None:
        """Forget the route at `path`, so that it answers 404."""
        with self._lock:
            self._routes.pop(_slash(path), None)

    @property
    def requests(self) -> list[Request]:
        """A copy of every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def hits(self, path: str) -> int:
        """How many requests `path` got (without a query in `path`, any query counts)."""
        with self._lock:
            return self._count(path)

    def wait_for_hits(self, path: str, n: int, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Block until `path` got at least `n` requests; return the count or fail the test."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._count(path) >= n, timeout):
                raise AssertionError(
                    f"{path} got {self._count(path)} of {n} requests within {timeout}s"
                )
            return self._count(path)

    def _count(self, path: str) -> int:
        return sum(1 for request in self._requests if _same_path(request.path, path))

    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        headers = _lower_headers(handler)
        with self._lock:
            self._requests.append(Request(handler.command, handler.path, headers))
            self._lock.notify_all()
            route = self._routes.get(handler.path) or self._routes.get(handler.path.split("?")[0])
        if handler.command not in ("GET", "HEAD"):
            _send_simple(handler, 405, "method not allowed")
            return
        if route is None:
            _send_simple(handler, 404, "not found")
            return
        if self._wait(route.delay):
            return
        self._send_route(handler, route, headers)

    def _send_route(
        self, handler: BaseHTTPRequestHandler, route: _Route, request: Mapping[str, str]
    ) -> None:
        out: dict[str, str] = {}
        if route.content_type is not None:
            out["Content-Type"] = route.content_type
        if route.etag is not None:
            out["ETag"] = route.etag
        if route.last_modified is not None:
            out["Last-Modified"] = route.last_modified
        status, body = route.status, route.body
        if 200 <= status < 300 and _not_modified(route, request):
            status, body = 304, b""
            out.pop("Content-Type", None)
        elif route.gzip:
            out["Vary"] = "Accept-Encoding"
            if _accepts_gzip(request.get("accept-encoding", "")):
                body = gzip.compress(body, mtime=0)
                out["Content-Encoding"] = "gzip"
        if status != 304:
            if route.send_length:
                out["Content-Length"] = str(len(body))
            else:
                out["Connection"] = "close"
                handler.close_connection = True
        for key, value in route.headers.items():
            out = {k: v for k, v in out.items() if k.lower() != key.lower()}
            out[key] = value
        if "content-length" in {key.lower() for key in route.headers}:
            handler.close_connection = True  # the length may lie; never reuse this connection
        handler.send_response(status)
        for key, value in out.items():
            handler.send_header(key, value)
        handler.end_headers()
        if handler.command == "HEAD" or status == 304:
            return
        self._send_body(handler, route, body)

    def _send_body(self, handler: BaseHTTPRequestHandler, route: _Route, body: bytes) -> None:
        size = route.chunk_size or len(body) or 1
        for start in range(0, len(body), size):
            if start and self._wait(route.chunk_delay):
                return
            handler.wfile.write(body[start : start + size])
            handler.wfile.flush()


def _slash(path: str) -> str:
    return path if path.startswith("/") else f"/{path}"


def _same_path(requested: str, path: str) -> bool:
    path = _slash(path)
    return requested == path or ("?" not in path and requested.split("?")[0] == path)


# --- webhook receiver ---------------------------------------------------------------------


class WebhookRequest(NamedTuple):
    """One POST seen by WebhookReceiver; headers have lowercase keys."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """How WebhookReceiver answers one POST: status, optional delay, headers and body."""

    status: int = 200
    delay: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class WebhookReceiver(_BackgroundHTTP):
    """Records every POST (any path) and answers from a queue of replies, then a default.

    A request is recorded as soon as its body is read, before any delay, so a request the
    client gave up on still counts.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._requests: list[WebhookRequest] = []
        self._replies: deque[Reply] = deque()
        self._default = Reply()
        super().__init__("webhook-receiver")

    @property
    def url(self) -> str:
        """The URL to configure as the webhook: http://127.0.0.1:PORT/hook."""
        return self.url_for("/hook")

    def url_for(self, path: str) -> str:
        """Another URL on this receiver, for a second notifier."""
        return f"http://{HOST}:{self.port}{_slash(path)}"

    def respond_with(self, replies: Iterable[int | Reply], then: int | Reply = 200) -> None:
        """Answer the next POSTs with `replies` in order (statuses or Reply), then `then`."""
        with self._lock:
            self._replies = deque(_reply(item) for item in replies)
            self._default = _reply(then)

    @property
    def requests(self) -> list[WebhookRequest]:
        """A copy of every POST so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def wait_for(self, n: int, timeout: float = DEFAULT_TIMEOUT) -> list[WebhookRequest]:
        """Block until at least `n` POSTs arrived; return them all or fail the test."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= n, timeout):
                raise AssertionError(
                    f"webhook got {len(self._requests)} of {n} requests within {timeout}s"
                )
            return list(self._requests)

    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.command != "POST":
            _send_simple(handler, 405, "method not allowed")
            return
        body = _read_body(handler)
        if body is None:
            return
        with self._lock:
            self._requests.append(WebhookRequest(handler.path, _lower_headers(handler), body))
            self._lock.notify_all()
            reply = self._replies.popleft() if self._replies else self._default
        if self._wait(reply.delay):
            return
        handler.send_response(reply.status)
        for key, value in reply.headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)


def _reply(item: int | Reply) -> Reply:
    return item if isinstance(item, Reply) else Reply(status=item)


# --- SMTP server --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One message accepted by SmtpServer."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage
    auth_login: str | None  # the username the client authenticated as, if it did


Stage = Literal["mail", "rcpt", "data"]


@dataclass
class _Rejection:
    reply: str
    stage: Stage
    remaining: int | None


class _Controller(Controller):
    """An aiosmtpd Controller that may bind port 0: it learns the real port before use."""

    def _trigger_server(self) -> None:
        server = cast(asyncio.Server, self.server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class _SmtpHandler:
    """aiosmtpd handler hooks; all state lives on the owning SmtpServer."""

    def __init__(self, owner: SmtpServer) -> None:
        self._owner = owner

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._owner.username is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if (rejection := self._owner._take_rejection("mail")) is not None:
            return rejection
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if (rejection := self._owner._take_rejection("rcpt")) is not None:
            return rejection
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._owner.delay > 0:
            await asyncio.sleep(self._owner.delay)
        if (rejection := self._owner._take_rejection("data")) is not None:
            return rejection
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        self._owner._record(
            ReceivedMail(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                data=raw,
                message=message,
                auth_login=login,
            )
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 (plain SMTP, no TLS) that records accepted messages.

    With username and password it offers AUTH PLAIN/LOGIN without TLS and refuses MAIL FROM
    (530) until the client has authenticated.
    """

    host = HOST

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.username = username
        self.password = password
        self.delay = 0.0
        self._lock = threading.Condition()
        self._messages: list[ReceivedMail] = []
        self._rejection: _Rejection | None = None
        self._rejected = 0
        self._controller = _Controller(
            _SmtpHandler(self),
            hostname=HOST,
            port=0,
            server_hostname="feedwatch-test.invalid",
            authenticator=self._authenticate if username is not None else None,
            auth_require_tls=False,
            ready_timeout=DEFAULT_TIMEOUT,
        )
        try:
            self._controller.start()
        except BaseException:
            self._controller.loop.close()
            raise
        self.port: int = self._controller.port
        self._closed = False

    def reject_with(
        self,
        code: int = 550,
        message: str = "5.7.1 rejected by test server",
        *,
        stage: Stage = "data",
        times: int | None = None,
    ) -> None:
        """Answer `code message` at MAIL, RCPT or DATA; `times` times, or always if None."""
        with self._lock:
            if times is not None and times <= 0:
                self._rejection = None
            else:
                self._rejection = _Rejection(f"{code} {message}", stage, times)

    def accept_all(self) -> None:
        """Stop rejecting."""
        with self._lock:
            self._rejection = None

    def set_delay(self, seconds: float) -> None:
        """Sleep this long before answering each DATA (a slow server)."""
        self.delay = seconds

    @property
    def rejected(self) -> int:
        """How many commands were rejected by reject_with."""
        with self._lock:
            return self._rejected

    @property
    def messages(self) -> list[ReceivedMail]:
        """A copy of every accepted message, oldest first."""
        with self._lock:
            return list(self._messages)

    def wait_for(self, n: int, timeout: float = DEFAULT_TIMEOUT) -> list[ReceivedMail]:
        """Block until at least `n` messages were accepted; return them all or fail the test."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._messages) >= n, timeout):
                raise AssertionError(
                    f"smtp got {len(self._messages)} of {n} messages within {timeout}s"
                )
            return list(self._messages)

    def close(self) -> None:
        """Stop the server thread and its event loop."""
        if self._closed:
            return
        self._closed = True
        self._controller.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.username is not None
            and self.password is not None
            and data.login == self.username.encode()
            and data.password == self.password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def _take_rejection(self, stage: Stage) -> str | None:
        with self._lock:
            rejection = self._rejection
            if rejection is None or rejection.stage != stage:
                return None
            if rejection.remaining is not None:
                rejection.remaining -= 1
                if rejection.remaining <= 0:
                    self._rejection = None
            self._rejected += 1
            return rejection.reply

    def _record(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._messages.append(mail)
            self._lock.notify_all()
