"""`feedwatch poll` and the environment a server admin sets: the TLS trust store
(SSL_CERT_FILE, SPEC) and an HTTP proxy (HTTP_PROXY, NO_PROXY), against real servers on
127.0.0.1."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from harness.article import load_article
from harness.feeds import rss
from harness.servers import FeedServer

from .conftest import Feedwatch

BODY = rss("TLS news", "https://news.example/", [load_article()])


class _Server:
    """Answers every GET with BODY and remembers the request targets it was sent."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        targets = self.targets = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                targets.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def https_server(ca: trustme.CA) -> Iterator[_Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = _Server(context)
    yield server
    server.close()


@pytest.fixture
def proxy() -> Iterator[_Server]:
    server = _Server()
    yield server
    server.close()


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "database: feedwatch.db\n"
        "defaults: {interval: 15m, timeout: 5s}\n"
        f"feeds:\n  - {url}\n"
        "alerts:\n  - name: peru\n    keywords: [Peru]\n"
    )
    return path


def test_an_https_feed_is_trusted_through_ssl_cert_file(
    tmp_path: Path, https_server: _Server, ca: trustme.CA, feedwatch_factory: type[Feedwatch]
) -> None:
    url = f"https://localhost:{https_server.port}/feed.xml"
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    trusting = feedwatch_factory(_config(tmp_path, url), env={"SSL_CERT_FILE": str(pem)})
    result = trusting("poll")
    assert result.returncode == 0, result.stderr
    assert "1 ok, 0 failed, 1 new item" in result.stdout + result.stderr
    assert https_server.targets == ["/feed.xml"]


def test_an_https_feed_with_an_unknown_issuer_fails_with_a_clear_error(
    tmp_path: Path, https_server: _Server, feedwatch_factory: type[Feedwatch]
) -> None:
    url = f"https://localhost:{https_server.port}/feed.xml"
    feedwatch = feedwatch_factory(_config(tmp_path, url))
    result = feedwatch("poll")
    assert result.returncode == 0  # a failed feed is reported, not fatal (SPEC)
    assert "certificate" in result.stderr.lower(), result.stderr
    assert "0 ok, 1 failed" in result.stdout + result.stderr


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY", "http_proxy"])
def test_a_proxy_from_the_environment_is_used(
    tmp_path: Path, proxy: _Server, feedwatch_factory: type[Feedwatch], variable: str
) -> None:
    # nothing listens on that port: only the proxy can answer for it
    url = "http://localhost:1/feed.xml"
    env = {variable: f"http://127.0.0.1:{proxy.port}", "NO_PROXY": ""}
    feedwatch = feedwatch_factory(_config(tmp_path, url), env=env)
    result = feedwatch("poll")
    assert result.returncode == 0, result.stderr
    assert "1 ok, 0 failed" in result.stdout + result.stderr, result.stderr
    assert proxy.targets == [url]  # the absolute form a proxy is sent


def test_no_proxy_hosts_are_fetched_directly(
    tmp_path: Path, proxy: _Server, feed_server: FeedServer, feedwatch_factory: type[Feedwatch]
) -> None:
    url = feed_server.set("/direct.xml", BODY).replace("127.0.0.1", "localhost")
    env = {"HTTP_PROXY": f"http://127.0.0.1:{proxy.port}", "NO_PROXY": "example.org,localhost"}
    feedwatch = feedwatch_factory(_config(tmp_path, url), env=env)
    result = feedwatch("poll")
    assert "1 ok, 0 failed" in result.stdout + result.stderr, result.stderr
    assert proxy.targets == []
    assert feed_server.hits("/direct.xml") == 1
