"""feedwatch.fetch.Fetcher against a real loopback FeedServer."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from feedwatch import __version__
from feedwatch.errors import FetchError, HTTPStatusError, ResponseTooLarge
from feedwatch.fetch import Fetcher
from feedwatch.models import FetchResult
from harness.feeds import rss
from harness.servers import FeedServer

BODY = rss(
    "Loopback news",
    "http://example.org/",
    [{"id": f"item-{n}", "title": f"Item {n}", "summary": "x" * 200} for n in range(20)],
)
TIMEOUT = timedelta(seconds=5)
SHORT = timedelta(seconds=0.5)


def fetch(
    url: str,
    timeout: timedelta = TIMEOUT,
    *,
    fetcher_args: dict[str, Any] | None = None,
    **kwargs: Any,
) -> FetchResult:
    """One Fetcher.get on a fresh event loop; the fetcher is always closed."""

    async def go() -> FetchResult:
        fetcher = Fetcher(**(fetcher_args or {}))
        try:
            return await fetcher.get(url, timeout, **kwargs)
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def closed_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_200_returns_body_and_metadata(feed_server: FeedServer) -> None:
    url = feed_server.set(
        "/feed.xml", BODY, etag='"v1"', last_modified="Mon, 07 Aug 2023 00:00:00 GMT"
    )
    result = fetch(url)
    assert result.status == 200
    assert not result.not_modified
    assert result.body == BODY
    assert result.content_type == "application/rss+xml"
    assert result.etag == '"v1"'
    assert result.last_modified == "Mon, 07 Aug 2023 00:00:00 GMT"
    assert result.final_url == url


def test_etag_sent_back_and_304_is_not_modified(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", BODY, etag='"v1"')
    first = fetch(url)
    second = fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert second.status == 304
    assert second.not_modified
    assert second.body == b""
    conditional = feed_server.requests[-1].headers
    assert conditional["if-none-match"] == '"v1"'
    assert "if-modified-since" not in conditional


def test_last_modified_sent_back_and_304_is_not_modified(feed_server: FeedServer) -> None:
    modified = datetime(2023, 8, 7, 12, 0, tzinfo=UTC)
    url = feed_server.set("/feed.xml", BODY, last_modified=modified)
    first = fetch(url)
    assert first.etag is None
    second = fetch(url, last_modified=first.last_modified)
    assert second.not_modified
    assert second.body == b""
    assert feed_server.requests[-1].headers["if-modified-since"] == first.last_modified


def test_changed_etag_gives_full_body(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", BODY, etag='"v2"')
    result = fetch(url, etag='"v1"')
    assert result.status == 200
    assert result.body == BODY
    assert result.etag == '"v2"'


def test_first_request_is_unconditional(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", BODY, etag='"v1"')
    fetch(url)
    headers = feed_server.requests[0].headers
    assert "if-none-match" not in headers
    assert "if-modified-since" not in headers


def test_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", BODY, gzip=True)
    result = fetch(url)
    assert "gzip" in feed_server.requests[0].headers["accept-encoding"]
    assert result.body == BODY


def test_user_agent_names_feedwatch_and_version(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", BODY)
    fetch(url)
    user_agent = feed_server.requests[0].headers["user-agent"]
    assert "feedwatch" in user_agent.lower()
    assert __version__ in user_agent


def test_accept_header_asks_for_feeds(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", BODY)
    fetch(url)
    accept = feed_server.requests[0].headers["accept"]
    assert "application/rss+xml" in accept
    assert "application/atom+xml" in accept


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_is_followed_and_final_url_reported(feed_server: FeedServer, status: int) -> None:
    target = feed_server.set("/new.xml", BODY)
    url = feed_server.redirect("/old.xml", "/new.xml", status=status)
    result = fetch(url)
    assert result.status == 200
    assert result.body == BODY
    assert result.final_url == target
    assert result.url == url
    assert feed_server.hits("/new.xml") == 1


def test_redirect_chain_is_followed(feed_server: FeedServer) -> None:
    target = feed_server.set("/d.xml", BODY)
    feed_server.redirect("/c.xml", "/d.xml")
    feed_server.redirect("/b.xml", "/c.xml")
    url = feed_server.redirect("/a.xml", "/b.xml")
    assert fetch(url).final_url == target


def test_redirect_loop_is_fetch_error(feed_server: FeedServer) -> None:
    url = feed_server.redirect("/a.xml", "/b.xml")
    feed_server.redirect("/b.xml", "/a.xml")
    with pytest.raises(FetchError) as caught:
        fetch(url)
    assert caught.value.feed_url == url
    assert "redirect" in caught.value.message
    # the loop was cut after a bounded number of hops, not followed forever
    assert 2 <= feed_server.hits("/a.xml") + feed_server.hits("/b.xml") <= 25


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        pytest.param(404, False, id="404-not-found"),
        pytest.param(410, False, id="410-gone"),
        pytest.param(500, True, id="500-server-error"),
        pytest.param(503, True, id="503-unavailable"),
    ],
)
def test_error_status_is_http_status_error(
    feed_server: FeedServer, status: int, transient: bool
) -> None:
    url = feed_server.set("/feed.xml", b"nope", "text/plain", status=status)
    with pytest.raises(HTTPStatusError) as caught:
        fetch(url)
    assert caught.value.status == status
    assert caught.value.feed_url == url
    assert caught.value.transient is transient
    assert str(status) in str(caught.value)


def test_unknown_path_is_404(feed_server: FeedServer) -> None:
    with pytest.raises(HTTPStatusError) as caught:
        fetch(feed_server.url("/missing.xml"))
    assert caught.value.status == 404


def test_429_carries_retry_after(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", b"slow down", "text/plain", status=429,
                          headers={"Retry-After": "120"})  # fmt: skip
    with pytest.raises(HTTPStatusError) as caught:
        fetch(url)
    assert caught.value.status == 429
    assert caught.value.retry_after == "120"
    assert caught.value.transient


def test_503_carries_http_date_retry_after(feed_server: FeedServer) -> None:
    when = "Wed, 21 Oct 2099 07:28:00 GMT"
    url = feed_server.set("/feed.xml", b"", "text/plain", status=503, headers={"Retry-After": when})
    with pytest.raises(HTTPStatusError) as caught:
        fetch(url)
    assert caught.value.retry_after == when


def test_error_status_without_retry_after_has_none(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", b"", "text/plain", status=500)
    with pytest.raises(HTTPStatusError) as caught:
        fetch(url)
    assert caught.value.retry_after is None


def test_timeout_when_server_is_slow_to_answer(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", BODY, delay=5.0)
    with pytest.raises(FetchError) as caught:
        fetch(url, SHORT)
    assert caught.value.feed_url == url
    assert caught.value.transient
    assert "time" in caught.value.message


def test_timeout_bounds_the_whole_request_when_body_trickles(feed_server: FeedServer) -> None:
    # Each chunk arrives well within the timeout, but the whole body takes about 4 s.
    url = feed_server.set("/feed.xml", BODY, chunk_size=max(1, len(BODY) // 20), chunk_delay=0.2)
    with pytest.raises(FetchError) as caught:
        fetch(url, SHORT)
    assert caught.value.feed_url == url
    assert "time" in caught.value.message


def test_trickled_body_within_timeout_is_read_whole(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", BODY, chunk_size=len(BODY) // 3 + 1, chunk_delay=0.05)
    assert fetch(url).body == BODY


def test_declared_body_over_max_body_is_too_large(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", BODY)
    with pytest.raises(ResponseTooLarge) as caught:
        fetch(url, fetcher_args={"max_body": 1000})
    assert caught.value.feed_url == url


def test_streamed_body_over_max_body_is_too_large(feed_server: FeedServer) -> None:
    # No Content-Length: the cap must hold while streaming.
    url = feed_server.set("/feed.xml", BODY, send_length=False, chunk_size=512)
    with pytest.raises(ResponseTooLarge):
        fetch(url, fetcher_args={"max_body": 1000})


def test_gzip_body_over_max_body_after_decoding_is_too_large(feed_server: FeedServer) -> None:
    # A small compressed body that inflates past the cap (a zip bomb in miniature).
    big = b"<rss>" + b" " * 200_000 + b"</rss>"
    url = feed_server.set("/feed.xml", big, gzip=True)
    with pytest.raises(ResponseTooLarge):
        fetch(url, fetcher_args={"max_body": 50_000})


def test_body_at_max_body_is_accepted(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", BODY, send_length=False)
    assert fetch(url, fetcher_args={"max_body": len(BODY)}).body == BODY


def test_connection_refused_is_fetch_error() -> None:
    url = f"http://127.0.0.1:{closed_port()}/feed.xml"
    with pytest.raises(FetchError) as caught:
        fetch(url)
    assert caught.value.feed_url == url
    assert caught.value.transient
    assert "connect" in caught.value.message


def test_one_fetcher_serves_repeated_requests(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", BODY, etag='"v1"')

    async def go() -> list[FetchResult]:
        fetcher = Fetcher()
        try:
            return [await fetcher.get(url, TIMEOUT) for _ in range(3)]
        finally:
            await fetcher.aclose()

    results = asyncio.run(go())
    assert [r.body for r in results] == [BODY] * 3
    assert feed_server.hits("/feed.xml") == 3


def test_many_feeds_on_one_host_at_once_all_arrive(feed_server: FeedServer) -> None:
    urls = [feed_server.set(f"/f{n}.xml", BODY, delay=0.05) for n in range(6)]

    async def go() -> list[FetchResult]:
        fetcher = Fetcher(per_host=2)
        try:
            return list(await asyncio.gather(*(fetcher.get(u, TIMEOUT) for u in urls)))
        finally:
            await fetcher.aclose()

    results = asyncio.run(go())
    assert [r.url for r in results] == urls
    assert all(r.body == BODY for r in results)


def test_feeds_queued_behind_one_busy_host_do_not_hold_back_another_host(
    feed_server: FeedServer,
) -> None:
    """A host's turn is taken before a place among all requests in flight: six slow feeds
    on one host, with two places in all, must not keep a feed on another host waiting."""
    slow = [feed_server.set(f"/slow{n}.xml", BODY, delay=0.4) for n in range(6)]
    other = feed_server.set("/other.xml", BODY).replace("127.0.0.1", "localhost")
    finished: list[str] = []

    async def go() -> None:
        fetcher = Fetcher(max_in_flight=2, per_host=1)

        async def one(url: str) -> None:
            await fetcher.get(url, TIMEOUT)
            finished.append(url)

        try:
            await asyncio.gather(*(one(u) for u in [*slow, other]))
        finally:
            await fetcher.aclose()

    asyncio.run(go())
    # the other host's feed ends second at the latest (after the first slow one, if that
    # one was already in flight), not after the six slow feeds of the busy host
    assert finished.index(other) <= 1


def test_a_long_response_header_is_accepted(feed_server: FeedServer) -> None:
    """Some sites send a Content-Security-Policy of several kilobytes; httpx's own transport
    took headers up to 16 KB, and so must ours."""
    policy = "default-src 'self'; " + "; ".join(
        f"img-src https://cdn{n}.example" for n in range(450)
    )
    assert 12_000 < len(policy) < 16_000
    url = feed_server.set("/csp.xml", BODY, headers={"Content-Security-Policy": policy})
    assert fetch(url).body == BODY


def test_a_login_in_the_feed_url_is_sent_as_basic_auth(feed_server: FeedServer) -> None:
    url = feed_server.set("/private.xml", BODY).replace("http://", "http://reader:s3cret@")
    assert fetch(url).body == BODY
    (request,) = feed_server.requests
    assert request.headers["authorization"] == "Basic cmVhZGVyOnMzY3JldA=="


def test_netrc_logins_are_not_sent_to_feed_hosts(
    feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("default login alice password s3cret\n")
    monkeypatch.setenv("NETRC", str(netrc))
    assert fetch(feed_server.set("/feed.xml", BODY)).body == BODY
    (request,) = feed_server.requests
    assert "authorization" not in request.headers


@pytest.mark.parametrize("etag", ['"caf\u00e9"', '"\u20ac1"'])
def test_a_stored_validator_that_is_not_ascii_is_sent_back(
    feed_server: FeedServer, etag: str
) -> None:
    """httpx decodes odd header bytes as UTF-8 or Latin-1 and refuses to send such a str:
    the feed's next poll must not fail for it."""
    url = feed_server.set("/odd.xml", BODY)
    result = fetch(url, etag=etag, last_modified="Mon, 07 Aug 2023 14:02:11 GMT\u00e9")
    assert result.status == 200
    assert feed_server.requests[0].headers["if-none-match"]


def test_a_closed_fetcher_refuses_to_open_a_new_connection(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", BODY)

    async def go() -> None:
        fetcher = Fetcher()
        await fetcher.get(url, TIMEOUT)
        await fetcher.aclose()
        with pytest.raises(FetchError, match="closed"):
            await fetcher.get(url, TIMEOUT)

    asyncio.run(go())


def test_a_cookie_set_on_a_redirect_is_sent_to_its_target(feed_server: FeedServer) -> None:
    """Some sites set a cookie and redirect to the feed, which answers only with it."""
    target = feed_server.set("/feed.xml", BODY)
    feed_server.set(
        "/start.xml", b"", None, status=302,
        headers={"Location": "/feed.xml", "Set-Cookie": "consent=yes; Path=/"},
    )  # fmt: skip
    result = fetch(feed_server.url("/start.xml"))
    assert result.final_url == target
    last = feed_server.requests[-1]
    assert last.path == "/feed.xml"
    assert last.headers.get("cookie") == "consent=yes"
