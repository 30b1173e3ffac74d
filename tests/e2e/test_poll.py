"""`feedwatch poll` end to end: real feed server, real SMTP server, real webhook receiver.

The Peru article (tests/data) is served as an RSS item and as an Atom entry among unrelated
items; it must raise exactly one alert, delivered once by webhook and once by email, naming
Peru, Canada and mining; a second poll sends nothing (issue 2, point 11).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from harness.article import ARTICLE_LINK, load_article, unrelated_items
from harness.feeds import atom, rss
from harness.servers import FeedServer, SmtpServer, WebhookReceiver

from .conftest import Feedwatch

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def write_config(
    tmp_path: Path,
    feeds: list[str],
    receiver: WebhookReceiver | None,
    smtp: SmtpServer | None,
    keywords: str = "[Peru, Canada, mining]",
) -> Path:
    lines = ["database: state/feedwatch.db", "feeds:"]
    lines += [f"  - {url}" for url in feeds]
    lines += ["alerts:", "  - name: peru-canada-mining", f"    keywords: {keywords}"]
    if receiver or smtp:
        lines.append("notifiers:")
    if receiver:
        lines += [
            "  hook:",
            "    type: webhook",
            f"    url: {receiver.url}",
            '    secret: "${WEBHOOK_SECRET}"',
            "    timeout: 3s",
        ]
    if smtp:
        lines += [
            "  me:",
            "    type: email",
            "    to: [analyst@example.org]",
            "    from: feedwatch@example.org",
            f"    smtp: {{host: 127.0.0.1, port: {smtp.port}, security: none}}",
        ]
    config = tmp_path / "feeds.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def serve_article(server: FeedServer, formats: tuple[str, ...]) -> list[str]:
    article = load_article()
    urls = []
    if "rss" in formats:
        body = rss("Canadian Dimension", "https://canadiandimension.com/", [
            *unrelated_items()[:2], article, *unrelated_items()[2:]
        ])  # fmt: skip
        urls.append(server.set("/rss.xml", body, etag='"r1"'))
    if "atom" in formats:
        body = atom("Yves Engler", "https://yvesengler.com/", [*unrelated_items(), article])
        urls.append(
            server.set(
                "/atom.xml", body, content_type="application/atom+xml",
                last_modified="Mon, 07 Aug 2023 00:00:00 GMT",
            )
        )  # fmt: skip
    return urls


@pytest.mark.parametrize("formats", [("rss",), ("atom",), ("rss", "atom")], ids="+".join)
def test_article_alerts_once_by_webhook_and_email(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_receiver: WebhookReceiver,
    smtp_server: SmtpServer,
    formats: tuple[str, ...],
) -> None:
    urls = serve_article(feed_server, formats)
    config = write_config(tmp_path, urls, webhook_receiver, smtp_server)
    feedwatch = Feedwatch(config, {"WEBHOOK_SECRET": SECRET})

    first = feedwatch("poll")
    assert first.returncode == 0, first.stderr
    [request] = webhook_receiver.wait_for(1)
    [mail] = smtp_server.wait_for(1)

    payload = request.json()
    assert payload["event"] == "alert"
    assert payload["rule"] == "peru-canada-mining"
    assert payload["keywords"] == ["Peru", "Canada", "mining"]
    assert payload["item"]["url"] == ARTICLE_LINK
    assert payload["item"]["published"] == "2023-08-07T00:00:00Z"
    assert payload["item"]["author"] == "Yves Engler"
    assert len(payload["item"]["summary"]) <= 500
    assert payload["item"]["feed"]["url"] in urls
    assert request.headers["webhook-id"] == payload["id"]
    # a receiver checks the request exactly as a Standard Webhooks library does
    assert Webhook(SECRET).verify(request.body, request.headers) == payload

    message = mail.message
    assert mail.rcpt_tos == ["analyst@example.org"]
    assert "peru-canada-mining" in message["Subject"]
    assert "Guess what Ottawa supports in Peru" in message["Subject"]
    assert payload["id"] in message["Message-ID"]
    text = message.get_body(("plain",)).get_content()
    html_part = message.get_body(("html",)).get_content()
    for keyword in ("Peru", "Canada", "mining"):
        assert keyword in text
        assert keyword in html_part
    assert ARTICLE_LINK in text

    second = feedwatch("poll")
    assert second.returncode == 0, second.stderr
    assert "0 alerts" in second.stderr
    assert len(webhook_receiver.requests) == 1
    assert len(smtp_server.messages) == 1

    alerts = [json.loads(line) for line in feedwatch("alerts", "--json").stdout.splitlines()]
    assert len(alerts) == 1
    assert {d["notifier"]: d["status"] for d in alerts[0]["deliveries"]} == {
        "hook": "sent",
        "me": "sent",
    }
    assert all(d["attempts"] == 1 for d in alerts[0]["deliveries"])


def test_unrelated_items_raise_nothing(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    url = feed_server.set("/other.xml", rss("Other", "https://example.org/", unrelated_items()))
    config = write_config(tmp_path, [url], webhook_receiver, None)
    result = Feedwatch(config, {"WEBHOOK_SECRET": SECRET})("poll")
    assert result.returncode == 0, result.stderr
    assert "4 new items, 0 alerts" in result.stderr
    assert webhook_receiver.requests == []


def test_no_notifier_prints_alerts_to_stdout(tmp_path: Path, feed_server: FeedServer) -> None:
    urls = serve_article(feed_server, ("rss",))
    config = write_config(tmp_path, urls, None, None)
    result = Feedwatch(config)("poll")
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert "peru-canada-mining" in line
    assert "Peru, Canada, mining" in line
    assert ARTICLE_LINK in line


def test_conditional_get_and_failures_reported_per_feed(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    [good] = serve_article(feed_server, ("rss",))
    broken = feed_server.set("/broken.xml", b"<html><body>not a feed</body></html>", "text/html")
    missing = feed_server.url("/missing.xml")
    config = write_config(tmp_path, [good, broken, missing], None, None)
    feedwatch = Feedwatch(config)

    result = feedwatch("poll")
    assert result.returncode == 0
    failures = [line for line in result.stderr.splitlines() if "poll failed" in line]
    assert len(failures) == 2
    assert any(missing in line and "404" in line for line in failures)
    assert any(broken in line and "not a feed" in line for line in failures)

    feedwatch("poll")
    conditional = [r for r in feed_server.requests if r.path == "/rss.xml"]
    assert len(conditional) == 2
    assert conditional[1].headers.get("if-none-match") == '"r1"'
    assert "feedwatch/" in conditional[0].headers["user-agent"]

    feeds = {
        f["url"]: f for f in map(json.loads, feedwatch("feeds", "--json").stdout.split("\n")[:-1])
    }
    assert feeds[good]["status"] == "ok"
    assert feeds[good]["items"] == 5
    assert feeds[missing]["status"] == "failing"
    assert "404" in feeds[missing]["error"]
    for record in feeds.values():
        assert set(record) >= {
            "url", "name", "status", "last_polled", "last_success", "error", "items", "next_poll"
        }  # fmt: skip


def test_poll_named_feed_only_and_unknown_feed_exits_2(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    urls = serve_article(feed_server, ("rss", "atom"))
    config = write_config(tmp_path, urls, None, None)
    feedwatch = Feedwatch(config)
    result = feedwatch("poll", "--feed", urls[1])
    assert result.returncode == 0, result.stderr
    assert feed_server.hits("/rss.xml") == 0
    assert feed_server.hits("/atom.xml") == 1

    unknown = feedwatch("poll", "--feed", "no-such-feed")
    assert unknown.returncode == 2
    assert "no-such-feed" in unknown.stderr


def test_listings_json_shapes(tmp_path: Path, feed_server: FeedServer) -> None:
    urls = serve_article(feed_server, ("rss",))
    config = write_config(tmp_path, urls, None, None)
    feedwatch = Feedwatch(config)
    feedwatch("poll")

    items = [json.loads(line) for line in feedwatch("items", "--json").stdout.splitlines()]
    assert len(items) == 5
    for item in items:
        assert set(item) >= {"id", "title", "url", "published", "feed"}
        assert set(item["feed"]) >= {"title", "url"}
        assert item["feed"] == {"title": "Canadian Dimension", "url": urls[0]}
    limited = feedwatch("items", "--json", "--limit", "2").stdout.splitlines()
    assert len(limited) == 2

    [alert] = [json.loads(line) for line in feedwatch("alerts", "--json").stdout.splitlines()]
    assert set(alert) >= {"id", "rule", "keywords", "item", "deliveries"}
    assert set(alert["item"]) >= {"title", "url", "published", "feed"}
    [delivery] = alert["deliveries"]
    assert set(delivery) >= {"notifier", "status", "attempts", "error"}
    assert delivery["status"] == "sent"

    table = feedwatch("alerts").stdout
    assert "peru-canada-mining" in table
