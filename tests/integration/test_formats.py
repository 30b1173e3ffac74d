"""What lands on a chat webhook and in an inbox, through App over loopback (issue 3, points 4
and 6): `format: json | slack | discord | ntfy`, and the email's headers and parts.

Feed text is hostile on purpose: `<`, `&`, `<!channel>`, `@everyone`, `<script>` and line
breaks in a title must arrive escaped or harmless.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from feedwatch.app import App
from harness.servers import FeedServer, ReceivedMail, SmtpServer, WebhookReceiver, WebhookRequest

from .test_delivery import START, FakeClock, email, make_config, play, serve, story, webhook

HOSTILE_TITLE = "Peru <!channel> & <b>mining</b> @everyone"
LINK = "https://andes.example/news/hostile"
FEED_TITLE = "Andes Wire"  # the configured name (test_delivery.FEED_NAME)


def hostile_item() -> dict[str, Any]:
    return {
        "id": "urn:andes:hostile",
        "title": HOSTILE_TITLE,
        "link": LINK,
        "summary": (
            "<p>Protests against open-pit mining in northern Peru grew again this week, "
            "@everyone said &amp; &lt;script&gt;alert(1)&lt;/script&gt; nothing else.</p>"
        ),
        "published": START - timedelta(hours=2),
    }


def deliver_once(config_notifiers: dict[str, dict[str, Any]], tmp_path: Path, feed: str) -> None:
    config = make_config(tmp_path, feed, config_notifiers)

    async def scenario(app: App) -> None:
        [result] = await app.poll()
        assert result.alerts == 1, result
        outcomes = await app.deliver()
        assert [o.status.value for o in outcomes] == ["sent"] * len(config_notifiers)

    play(config, FakeClock(), scenario)


def posted(
    fmt: str, tmp_path: Path, feed_server: FeedServer, receiver: WebhookReceiver, path: str
) -> WebhookRequest:
    feed = serve(feed_server, hostile_item())
    deliver_once({"hook": webhook(receiver.url_for(path), format=fmt)}, tmp_path, feed)
    [request] = receiver.wait_for(1)
    assert request.headers["content-type"].startswith("application/json")
    return request


# --- webhook formats ----------------------------------------------------------------------


def test_json_format_is_the_spec_payload(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    request = posted("json", tmp_path, feed_server, webhook_receiver, "/hook")
    body = request.json()
    assert request.path == "/hook"
    assert body["event"] == "alert"
    assert body["id"] == request.headers["webhook-id"]
    assert body["keywords"] == ["Peru", "mining"]
    assert body["item"]["title"] == HOSTILE_TITLE  # JSON carries the text as it is
    assert body["item"]["url"] == LINK
    assert body["item"]["feed"]["title"] == FEED_TITLE


def test_json_is_the_default_format(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    feed = serve(feed_server, hostile_item())
    deliver_once({"hook": webhook(webhook_receiver.url)}, tmp_path, feed)
    [request] = webhook_receiver.wait_for(1)
    assert request.json()["event"] == "alert"


def test_slack_format(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    request = posted("slack", tmp_path, feed_server, webhook_receiver, "/services/T0/B0/x")
    body = request.json()
    assert request.path == "/services/T0/B0/x"
    assert isinstance(body["text"], str)
    assert body["text"]
    assert isinstance(body["blocks"], list)
    assert body["blocks"]
    block_text = "\n".join(
        block["text"]["text"] for block in body["blocks"] if isinstance(block.get("text"), dict)
    )
    escaped_title = "Peru &lt;!channel&gt; &amp; &lt;b&gt;mining&lt;/b&gt; @everyone"
    heading = body["blocks"][0]["text"]["text"].splitlines()[0]
    assert f"<{LINK}|{escaped_title}>" in heading  # the title, linked
    assert FEED_TITLE in block_text
    assert "Peru" in block_text
    assert "mining" in block_text
    # Slack reads <...> as links and mentions and & as an entity: feed text never does
    everything = body["text"] + "\n" + block_text
    assert "<!channel>" not in everything
    assert "<b>" not in everything
    assert "<script>" not in everything
    assert " & " not in everything
    for text in (body["text"], block_text):
        outside_link = text.replace(f"<{LINK}|{escaped_title}>", "")
        assert "<" not in outside_link
        assert ">" not in outside_link


def test_slack_link_from_the_feed_cannot_break_out(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    item = hostile_item() | {"link": "https://andes.example/news?q=a>b|<!channel>"}
    feed = serve(feed_server, item)
    deliver_once({"hook": webhook(webhook_receiver.url, format="slack")}, tmp_path, feed)
    [request] = webhook_receiver.wait_for(1)
    body = request.json()
    assert "<!channel>" not in request.body.decode()
    heading = body["blocks"][0]["text"]["text"].splitlines()[0]
    # one well-formed Slack link: nothing in the URL part can end it or start another
    assert re.fullmatch(r"\*<[^<>|]+\|[^<>]*>\*", heading), heading


def test_discord_format(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    request = posted("discord", tmp_path, feed_server, webhook_receiver, "/api/webhooks/1/t")
    body = request.json()
    assert request.path == "/api/webhooks/1/t"
    assert body["allowed_mentions"] == {"parse": []}  # @everyone in feed text pings nobody
    assert "@everyone" not in body.get("content", "")
    [embed] = body["embeds"]
    assert embed["title"] == HOSTILE_TITLE
    assert embed["url"] == LINK
    fields = {field["name"].lower(): field["value"] for field in embed["fields"]}
    assert FEED_TITLE in fields["feed"]
    matched = next(value for name, value in fields.items() if "match" in name or "keyword" in name)
    assert "Peru" in matched
    assert "mining" in matched
    assert len(embed["title"]) <= 256
    assert all(len(field["value"]) <= 1024 for field in embed["fields"])


def test_ntfy_format_posts_json_to_the_server_root(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    request = posted("ntfy", tmp_path, feed_server, webhook_receiver, "/andes-alerts")
    body = request.json()
    assert request.path == "/"
    assert body["topic"] == "andes-alerts"
    assert body["title"] == HOSTILE_TITLE
    assert body["click"] == LINK
    assert FEED_TITLE in body["message"]
    assert "Peru" in body["message"]
    assert "mining" in body["message"]
    assert "\n" not in body["title"]


def test_every_format_signs_with_the_alert_id(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    feed = serve(feed_server, hostile_item())
    notifiers = {
        fmt: webhook(webhook_receiver.url_for(f"/{fmt}"), format=fmt)
        for fmt in ("json", "slack", "discord", "ntfy")
    }
    deliver_once(notifiers, tmp_path, feed)
    requests = webhook_receiver.wait_for(4)
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert sorted(r.path for r in requests) == ["/", "/discord", "/json", "/slack"]
    for request in requests:
        json.loads(request.body)  # each body is one JSON document


# --- email --------------------------------------------------------------------------------


def mail_for(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer, *items: dict[str, Any]
) -> list[ReceivedMail]:
    feed = serve(feed_server, *items)
    config = make_config(tmp_path, feed, {"me": email(smtp_server.port)})

    async def scenario(app: App) -> None:
        [result] = await app.poll()
        assert result.alerts == len(items), result
        assert {o.status.value for o in await app.deliver()} == {"sent"}

    play(config, FakeClock(), scenario)
    return smtp_server.wait_for(len(items))


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    markup = message.get_body(("html",))
    assert text is not None
    assert markup is not None
    return str(text.get_content()), str(markup.get_content())


def alert_ids(tmp_path: Path) -> list[str]:
    config = make_config(tmp_path, "http://127.0.0.1:9/unused.atom", {})

    async def scenario(app: App) -> list[str]:
        return [str(a["id"]) for a in app.store.list_alerts(10)]

    return play(config, FakeClock(), scenario)


def test_email_headers_date_from_to(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    [mail] = mail_for(tmp_path, feed_server, smtp_server, story(1, "Peru mining strike"))
    message = mail.message
    assert message["From"] == "feedwatch@example.org"
    assert message["To"] == "analyst@example.org"
    assert parsedate_to_datetime(message["Date"]) == START  # the time of sending
    assert message["Subject"] == "[andes-mining] Peru mining strike"
    assert mail.rcpt_tos == ["analyst@example.org"]


def test_email_message_id_is_derived_from_the_alert(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    first, second = story(1, "Peru mining strike"), story(2, "Mining halted in Peru")
    mails = mail_for(tmp_path / "a", feed_server, smtp_server, first, second)
    [again] = mail_for(tmp_path / "b", feed_server, smtp_server, first)[2:]
    ids = alert_ids(tmp_path / "a")

    by_subject = {m.message["Subject"]: m.message["Message-ID"] for m in mails}
    assert len(set(by_subject.values())) == 2  # one per alert
    # another database, the same item and rule: the same alert, the same Message-ID
    assert again.message["Message-ID"] == by_subject[again.message["Subject"]]
    for alert_id in ids:
        assert sum(alert_id in message_id for message_id in by_subject.values()) == 1
    for message_id in by_subject.values():
        assert message_id.startswith("<")
        assert message_id.endswith(">")
        assert "@" in message_id


def test_email_subject_stays_one_line(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    title = "Peru mining\r\nBcc: victim@example.net\nX-Injected: yes"
    [mail] = mail_for(tmp_path, feed_server, smtp_server, story(1, title))
    message = mail.message
    subject = message["Subject"]
    assert "\r" not in subject
    assert "\n" not in subject
    assert subject.startswith("[andes-mining] Peru mining")
    assert message["Bcc"] is None
    assert message["X-Injected"] is None
    assert mail.rcpt_tos == ["analyst@example.org"]
    # no raw header line of the message was taken from the feed
    head = mail.data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in head
    assert b"\nX-Injected:" not in head


def test_email_html_escapes_feed_text_and_marks_keywords(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    item = story(1, "<script>alert(1)</script> Peru & mining")
    [mail] = mail_for(tmp_path, feed_server, smtp_server, item)
    text, markup = parts(mail.message)

    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup
    assert "&amp; mining" in markup or "&amp; <mark>mining</mark>" in markup
    assert "<mark>Peru</mark>" in markup
    assert "<mark>mining</mark>" in markup
    assert f'href="{item["link"]}"' in markup

    # the plain-text part reads as text: the title, the link, the feed, the keywords
    assert "<script>alert(1)</script> Peru & mining" in text
    assert item["link"] in text
    assert FEED_TITLE in text
    assert "Peru, mining" in text
    assert "**Peru**" in text
    assert "**mining**" in text
    assert "<p>" not in text
    assert "<mark>" not in text


@pytest.mark.parametrize("hostile", ["@everyone", "<!channel>"])
def test_email_carries_chat_mentions_as_plain_text(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer, hostile: str
) -> None:
    [mail] = mail_for(tmp_path, feed_server, smtp_server, story(1, f"Peru mining {hostile}"))
    text, markup = parts(mail.message)
    assert hostile in text
    assert "<!channel>" not in markup
