"""Checks that the test harness itself works: servers, feed renderers, article fixture."""

from __future__ import annotations

import gzip
import hashlib
import re
import smtplib
import unicodedata
from datetime import UTC, datetime
from email.message import EmailMessage

import feedparser
import httpx
import pytest

from harness.article import (
    ARTICLE_KEYWORDS,
    ARTICLE_LINK,
    ARTICLE_PATH,
    load_article,
    unrelated_items,
)
from harness.feeds import atom, rss
from harness.servers import FeedServer, Reply, SmtpServer, WebhookReceiver

RSS_BODY = rss("Loopback", "http://example.org/", [{"id": "1", "title": "One"}])


# --- FeedServer ---------------------------------------------------------------------------


def test_feed_server_serves_route_and_records_requests(feed_server: FeedServer) -> None:
    url = feed_server.set("/feed.xml", RSS_BODY, headers={"Cache-Control": "max-age=60"})
    with httpx.Client() as client:
        response = client.get(url, headers={"User-Agent": "harness-test"})
        missing = client.get(feed_server.url("/nope"))
    assert response.status_code == 200
    assert response.content == RSS_BODY
    assert response.headers["content-type"] == "application/rss+xml"
    assert response.headers["cache-control"] == "max-age=60"
    assert missing.status_code == 404
    assert feed_server.hits("/feed.xml") == 1
    method, path, headers = feed_server.requests[0]
    assert (method, path, headers["user-agent"]) == ("GET", "/feed.xml", "harness-test")


def test_feed_server_hits_ignore_query_unless_asked(feed_server: FeedServer) -> None:
    feed_server.set("/feed.xml", RSS_BODY)
    with httpx.Client() as client:
        assert client.get(feed_server.url("/feed.xml?page=2")).status_code == 200
    assert feed_server.hits("/feed.xml") == 1
    assert feed_server.hits("/feed.xml?page=2") == 1
    assert feed_server.hits("/feed.xml?page=3") == 0


@pytest.mark.parametrize(
    ("request_headers", "expected"),
    [
        pytest.param({"If-None-Match": '"v1"'}, 304, id="etag-match"),
        pytest.param({"If-None-Match": 'W/"v1", "v0"'}, 304, id="etag-weak-in-list"),
        pytest.param({"If-None-Match": '"v0"'}, 200, id="etag-mismatch"),
        pytest.param({"If-Modified-Since": "Mon, 07 Aug 2023 00:00:00 GMT"}, 304, id="ims-equal"),
        pytest.param({"If-Modified-Since": "Tue, 08 Aug 2023 00:00:00 GMT"}, 304, id="ims-later"),
        pytest.param({"If-Modified-Since": "Sun, 06 Aug 2023 00:00:00 GMT"}, 200, id="ims-older"),
        pytest.param(
            {"If-None-Match": '"v0"', "If-Modified-Since": "Mon, 07 Aug 2023 00:00:00 GMT"},
            200,
            id="etag-wins-over-ims",
        ),
        pytest.param({}, 200, id="unconditional"),
    ],
)
def test_feed_server_conditional_get(
    feed_server: FeedServer, request_headers: dict[str, str], expected: int
) -> None:
    url = feed_server.set(
        "/feed.xml",
        RSS_BODY,
        etag='"v1"',
        last_modified=datetime(2023, 8, 7, tzinfo=UTC),
    )
    with httpx.Client() as client:
        response = client.get(url, headers=request_headers)
    assert response.status_code == expected
    assert response.headers["etag"] == '"v1"'
    assert response.headers["last-modified"] == "Mon, 07 Aug 2023 00:00:00 GMT"
    assert response.content == (b"" if expected == 304 else RSS_BODY)


def test_feed_server_gzip_only_when_accepted(feed_server: FeedServer) -> None:
    body = RSS_BODY * 50
    url = feed_server.set("/feed.xml", body, gzip=True)
    with httpx.Client() as client:
        zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
        with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as raw:
            wire = b"".join(raw.iter_raw())
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == body
    assert len(wire) < len(body)
    assert gzip.decompress(wire) == body
    assert "content-encoding" not in plain.headers
    assert plain.content == body


def test_feed_server_redirects_and_loops(feed_server: FeedServer) -> None:
    feed_server.set("/new.xml", RSS_BODY)
    old = feed_server.redirect("/old.xml", "/new.xml")
    loop = feed_server.redirect("/a", "/b", status=302)
    feed_server.redirect("/b", "/a", status=307)
    with httpx.Client(follow_redirects=True, max_redirects=5) as client:
        response = client.get(old)
        with pytest.raises(httpx.TooManyRedirects):
            client.get(loop)
    assert [r.status_code for r in response.history] == [301]
    assert response.content == RSS_BODY
    assert feed_server.hits("/a") + feed_server.hits("/b") == 6


def test_feed_server_delay_times_out_client_and_still_closes() -> None:
    with FeedServer() as server:
        url = server.set("/slow.xml", RSS_BODY, delay=30)
        with httpx.Client(timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
            client.get(url)
        server.wait_for_hits("/slow.xml", 1)
    # Leaving the block must not wait out the 30 s delay (pytest-timeout would catch it).


def test_feed_server_trickles_body_without_length(feed_server: FeedServer) -> None:
    body = b"x" * 100
    url = feed_server.set("/trickle", body, "text/plain", chunk_size=10, send_length=False)
    with httpx.Client() as client:
        response = client.get(url)
    assert "content-length" not in response.headers
    assert response.content == body


# --- WebhookReceiver ----------------------------------------------------------------------


def test_webhook_receiver_records_and_follows_reply_sequence(
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.respond_with([500, Reply(429, headers={"Retry-After": "1"})])
    with httpx.Client() as client:
        statuses = [
            client.post(webhook_receiver.url, json={"n": n}, headers={"Webhook-Id": f"a{n}"})
            for n in range(4)
        ]
    assert [r.status_code for r in statuses] == [500, 429, 200, 200]
    assert statuses[1].headers["retry-after"] == "1"
    received = webhook_receiver.wait_for(4)
    assert [r.json() for r in received] == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]
    assert received[0].path == "/hook"
    assert received[0].headers["webhook-id"] == "a0"
    assert received[0].headers["content-type"] == "application/json"


def test_webhook_receiver_wait_for_fails_after_timeout(
    webhook_receiver: WebhookReceiver,
) -> None:
    with pytest.raises(AssertionError, match="0 of 1"):
        webhook_receiver.wait_for(1, timeout=0.1)


def test_webhook_receiver_records_request_client_gave_up_on() -> None:
    with WebhookReceiver() as receiver:
        receiver.respond_with([Reply(delay=30)])
        with httpx.Client(timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
            client.post(receiver.url, content=b"{}")
        assert len(receiver.wait_for(1)) == 1


# --- SmtpServer ---------------------------------------------------------------------------


def _message(subject: str = "Alert: Peru") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "feedwatch@example.org"
    message["To"] = "alerts@example.org"
    message["Subject"] = subject
    message["Message-ID"] = "<alert-1@feedwatch.test>"
    message.set_content("plain text")
    message.add_alternative("<p>html</p>", subtype="html")
    return message


def test_smtp_server_receives_message_with_auth() -> None:
    with SmtpServer(username="bot", password="s3cret") as smtp:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
            client.login("bot", "s3cret")
            client.send_message(_message("Alert: Perú — café"))
        (mail,) = smtp.wait_for(1)
    assert mail.mail_from == "feedwatch@example.org"
    assert mail.rcpt_tos == ["alerts@example.org"]
    assert mail.auth_login == "bot"
    assert mail.message["Subject"] == "Alert: Perú — café"
    assert mail.message["Message-ID"] == "<alert-1@feedwatch.test>"
    assert mail.message.get_content_type() == "multipart/alternative"
    assert b"Message-ID: <alert-1@feedwatch.test>" in mail.data


def test_smtp_server_refuses_missing_or_wrong_auth() -> None:
    with SmtpServer(username="bot", password="s3cret") as smtp:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                client.send_message(_message())
            assert refused.value.smtp_code == 530
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login("bot", "wrong")
        assert smtp.messages == []


def test_smtp_server_without_auth_and_rejections(smtp_server: SmtpServer) -> None:
    smtp_server.reject_with(451, "4.3.0 try later", times=1)
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as rejected:
            client.send_message(_message())
        assert rejected.value.smtp_code == 451
        client.send_message(_message())
    smtp_server.reject_with(550, stage="rcpt")
    with (
        smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client,
        pytest.raises(smtplib.SMTPRecipientsRefused),
    ):
        client.send_message(_message())
    assert len(smtp_server.wait_for(1)) == 1
    assert smtp_server.rejected == 2
    assert smtp_server.messages[0].auth_login is None


# --- feeds and the article ----------------------------------------------------------------


def _matching_form(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _keywords_in(item: dict[str, object]) -> set[str]:
    text = _matching_form(" ".join(str(item.get(k, "")) for k in ("title", "summary", "content")))
    return {
        keyword
        for keyword in ARTICLE_KEYWORDS
        if re.search(rf"\b{re.escape(_matching_form(keyword))}\b", text)
    }


def test_article_fixture_is_intact_and_parsed() -> None:
    assert hashlib.sha256(ARTICLE_PATH.read_bytes()).hexdigest() == (
        "dd6fef62f6d43f52dacc4d079a256701792813a3ae189db50d835239a725d597"
    )
    article = load_article()
    assert article["title"] == "Democracy vs. repression — Guess what Ottawa supports in Peru?"
    assert article["author"] == "Yves Engler"
    assert article["published"] == datetime(2023, 8, 7, tzinfo=UTC)
    assert article["link"] == ARTICLE_LINK
    assert article["content"].startswith("<p>Last week tens of thousands")
    assert article["content"].endswith("cares little about democracy.</p>")
    assert "Posted" not in article["content"]
    assert "By Yves Engler" not in article["content"]
    assert "Canadá en Perú" in article["content"]
    assert _keywords_in(article) == set(ARTICLE_KEYWORDS)


@pytest.mark.parametrize("item", unrelated_items(), ids=lambda item: item["id"])
def test_unrelated_items_match_no_keyword(item: dict[str, object]) -> None:
    assert _keywords_in(item) == set()


@pytest.mark.parametrize("render", [rss, atom], ids=["rss", "atom"])
def test_rendered_feeds_parse_with_feedparser(render: object) -> None:
    assert callable(render)
    hostile = {
        "id": "hostile",
        "title": "<b>Tom & Jerry</b> \"quoted\" 'single'",
        "link": "https://example.org/a?b=1&c=2",
        "summary": "<script>alert(1)</script> &amp; more",
    }
    items = [load_article(), *unrelated_items(), hostile]
    parsed = feedparser.parse(render("Canadian Dimension", "https://canadiandimension.com/", items))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.title == "Canadian Dimension"
    assert len(parsed.entries) == len(items)
    article, *_, last = parsed.entries
    assert article.title == load_article()["title"]
    assert article.link == ARTICLE_LINK
    assert article.author == "Yves Engler"
    assert article.published_parsed[:6] == (2023, 8, 7, 0, 0, 0)
    assert "Canadá en Perú" in article.content[0].value
    assert [e.id for e in parsed.entries[1:5]] == [i["id"] for i in unrelated_items()]
    assert parsed.entries[1].published_parsed[:5] == (2023, 8, 1, 12, 0)
    assert last.link == "https://example.org/a?b=1&c=2"
    assert "Tom & Jerry" in last.title
    assert "alert(1)" not in last.summary  # feedparser sanitises; it got a real <script>


def test_feed_renderers_reject_typos_and_naive_dates() -> None:
    with pytest.raises(KeyError, match="pubdate"):
        rss("t", "http://x/", [{"pubdate": "x"}])
    with pytest.raises(ValueError, match="aware"):
        atom("t", "http://x/", [{"published": datetime(2023, 8, 7)}])  # noqa: DTZ001
