"""Notifiers against real loopback servers: WebhookReceiver, SmtpServer and stdout."""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from feedwatch.config import EmailSpec, WebhookSpec
from feedwatch.errors import DeliveryError
from feedwatch.models import Alert, AlertItem
from feedwatch.notify import EmailNotifier, RetryLater, StdoutNotifier, WebhookNotifier
from feedwatch.text import html_to_text
from harness.article import ARTICLE_KEYWORDS, load_article
from harness.servers import Reply, SmtpServer, WebhookReceiver

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
SENT_AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
USER_AGENT = "feedwatch/test"


def make_alert(**item_overrides: Any) -> Alert:
    article = load_article()
    text = html_to_text(article["content"])
    fields: dict[str, Any] = {
        "title": article["title"],
        "url": article["link"],
        "published_at": article["published"],
        "author": article["author"],
        "summary": text[:500],
        "text": text,
        "feed_title": "Canadian Dimension",
        "feed_url": "http://127.0.0.1:1/feed.xml",
    }
    fields.update(item_overrides)
    return Alert(
        id="a1b2c3d4e5f6a7b8c9d0e1f2",
        rule="peru-canada-mining",
        keywords=ARTICLE_KEYWORDS,
        item=AlertItem(**fields),
        created_at=datetime(2024, 3, 1, 11, 59, 30, tzinfo=UTC),
    )


ALERT = make_alert()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- webhook ------------------------------------------------------------------------------


def webhook_spec(url: str, secret: str | None = SECRET, timeout: float = 5.0) -> WebhookSpec:
    return WebhookSpec.model_validate(
        {"type": "webhook", "url": url, "secret": secret, "timeout": f"{timeout}s"}
    )


def send_webhook(spec: WebhookSpec, alert: Alert = ALERT, times: int = 1) -> None:
    async def go() -> None:
        async with httpx.AsyncClient(follow_redirects=False) as client:
            notifier = WebhookNotifier("hook", spec, client, USER_AGENT)
            for _ in range(times):
                await notifier.send(alert)

    asyncio.run(go())


def test_webhook_body_is_the_spec_payload(webhook_receiver: WebhookReceiver) -> None:
    send_webhook(webhook_spec(webhook_receiver.url))
    [request] = webhook_receiver.wait_for(1)
    assert request.path == "/hook"
    assert request.headers["content-type"].startswith("application/json")
    item = ALERT.item
    payload = request.json()
    # SPEC allows added fields: compare exactly the fields SPEC names.
    spec_fields = ("event", "id", "rule", "keywords", "item", "created")
    item_fields = ("title", "url", "published", "author", "summary", "feed")
    assert {key: payload[key] for key in spec_fields if key != "item"} == {
        "event": "alert",
        "id": ALERT.id,
        "rule": "peru-canada-mining",
        "keywords": ["Peru", "Canada", "mining"],
        "created": "2024-03-01T11:59:30Z",
    }
    assert {key: payload["item"][key] for key in item_fields} == {
        "title": item.title,
        "url": item.url,
        "published": "2023-08-07T00:00:00Z",
        "author": item.author,
        "summary": item.summary,
        "feed": {"title": "Canadian Dimension", "url": "http://127.0.0.1:1/feed.xml"},
    }


def test_webhook_headers_follow_standard_webhooks(webhook_receiver: WebhookReceiver) -> None:
    before = int(time.time())
    send_webhook(webhook_spec(webhook_receiver.url))
    after = int(time.time())
    [request] = webhook_receiver.wait_for(1)
    assert request.headers["webhook-id"] == ALERT.id
    assert before <= int(request.headers["webhook-timestamp"]) <= after
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["user-agent"] == USER_AGENT


def test_webhook_signature_verifies_with_standardwebhooks(
    webhook_receiver: WebhookReceiver,
) -> None:
    send_webhook(webhook_spec(webhook_receiver.url))
    [request] = webhook_receiver.wait_for(1)
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["id"] == ALERT.id
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(request.body, request.headers)


def test_webhook_signature_covers_non_ascii_body(webhook_receiver: WebhookReceiver) -> None:
    alert = make_alert(title="Mineros de Perú y Canadá — “protestas”", author="Ñandú")
    send_webhook(webhook_spec(webhook_receiver.url), alert)
    [request] = webhook_receiver.wait_for(1)
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["item"]["title"] == "Mineros de Perú y Canadá — “protestas”"
    assert payload["item"]["author"] == "Ñandú"


def test_webhook_without_secret_is_unsigned(webhook_receiver: WebhookReceiver) -> None:
    send_webhook(webhook_spec(webhook_receiver.url, secret=None))
    [request] = webhook_receiver.wait_for(1)
    assert "webhook-signature" not in request.headers
    assert request.headers["webhook-id"] == ALERT.id


def test_webhook_retry_keeps_id_and_body(webhook_receiver: WebhookReceiver) -> None:
    send_webhook(webhook_spec(webhook_receiver.url), times=2)
    first, second = webhook_receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == ALERT.id
    assert first.body == second.body
    for request in (first, second):
        Webhook(SECRET).verify(request.body, request.headers)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_webhook_any_2xx_is_success(webhook_receiver: WebhookReceiver, status: int) -> None:
    webhook_receiver.respond_with([status])
    send_webhook(webhook_spec(webhook_receiver.url))
    assert len(webhook_receiver.wait_for(1)) == 1


@pytest.mark.parametrize("status", [400, 404, 500, 502, 503])
def test_webhook_error_status_is_transient_delivery_error(
    webhook_receiver: WebhookReceiver, status: int
) -> None:
    webhook_receiver.respond_with([status])
    with pytest.raises(DeliveryError) as caught:
        send_webhook(webhook_spec(webhook_receiver.url))
    assert caught.value.transient
    assert caught.value.notifier == "hook"
    assert str(status) in caught.value.message


def test_webhook_429_carries_retry_after(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond_with([Reply(429, headers={"Retry-After": "90"})])
    with pytest.raises(RetryLater) as caught:
        send_webhook(webhook_spec(webhook_receiver.url))
    assert caught.value.retry_after == "90"
    assert caught.value.transient
    assert "429" in caught.value.message


def test_webhook_redirect_is_not_followed(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond_with(
        [Reply(302, headers={"Location": webhook_receiver.url_for("/elsewhere")})]
    )
    with pytest.raises(DeliveryError) as caught:
        send_webhook(webhook_spec(webhook_receiver.url))
    assert "redirect" in caught.value.message
    assert [r.path for r in webhook_receiver.requests] == ["/hook"]


def test_webhook_hanging_receiver_times_out(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond_with([Reply(200, delay=10.0)])
    with pytest.raises(DeliveryError) as caught:
        send_webhook(webhook_spec(webhook_receiver.url, timeout=0.5))
    assert caught.value.transient
    assert len(webhook_receiver.requests) == 1


def test_webhook_closed_port_is_transient_delivery_error() -> None:
    with pytest.raises(DeliveryError) as caught:
        send_webhook(webhook_spec(f"http://127.0.0.1:{closed_port()}/hook"))
    assert caught.value.transient


# --- email --------------------------------------------------------------------------------


def email_spec(port: int, to: list[str] | None = None, **smtp: Any) -> EmailSpec:
    return EmailSpec.model_validate(
        {
            "type": "email",
            "to": to or ["alerts@example.org"],
            "from": "feedwatch@example.org",
            "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout": "5s"} | smtp,
        }
    )


def send_email(spec: EmailSpec, alert: Alert = ALERT, times: int = 1) -> None:
    notifier = EmailNotifier("me", spec, lambda: SENT_AT, ssl.create_default_context())

    async def go() -> None:
        for _ in range(times):
            await notifier.send(alert)

    asyncio.run(go())


def test_email_is_multipart_text_and_html(smtp_server: SmtpServer) -> None:
    send_email(email_spec(smtp_server.port))
    [mail] = smtp_server.wait_for(1)
    assert mail.mail_from == "feedwatch@example.org"
    assert mail.rcpt_tos == ["alerts@example.org"]
    message = mail.message
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    plain = text.get_content()
    for expected in (
        ALERT.item.title,
        ALERT.item.url,
        "Canadian Dimension",
        "Peru, Canada, mining",
    ):
        assert expected in plain
    markup = html.get_content()
    assert f'href="{ALERT.item.url}"' in markup
    assert "Canadian Dimension" in markup


def test_email_headers(smtp_server: SmtpServer) -> None:
    send_email(email_spec(smtp_server.port, to=["a@example.org", "b@example.org"]))
    [mail] = smtp_server.wait_for(1)
    message = mail.message
    assert message["From"] == "feedwatch@example.org"
    assert message["To"] == "a@example.org, b@example.org"
    assert sorted(mail.rcpt_tos) == ["a@example.org", "b@example.org"]
    assert "peru-canada-mining" in message["Subject"]
    assert ALERT.item.title in message["Subject"]
    assert message["Date"] is not None


def test_email_message_id_is_stable_and_derived_from_alert(smtp_server: SmtpServer) -> None:
    send_email(email_spec(smtp_server.port), times=2)
    first, second = smtp_server.wait_for(2)
    message_id = first.message["Message-ID"]
    assert message_id == second.message["Message-ID"]
    assert ALERT.id in message_id
    assert message_id.startswith("<")
    assert message_id.endswith(">")
    other = replace(ALERT, id="ffffffffffffffffffffffff")
    send_email(email_spec(smtp_server.port), other)
    assert smtp_server.wait_for(3)[2].message["Message-ID"] != message_id


def test_email_subject_is_one_line_whatever_the_title(smtp_server: SmtpServer) -> None:
    alert = make_alert(title="Perú mining\r\nBcc: victim@example.net\nX-Evil: 1")
    send_email(email_spec(smtp_server.port), alert)
    [mail] = smtp_server.wait_for(1)
    subject = mail.message["Subject"]
    assert "\n" not in subject
    assert "\r" not in subject
    assert "Perú mining" in subject
    assert mail.message["Bcc"] is None
    assert mail.message["X-Evil"] is None
    assert mail.rcpt_tos == ["alerts@example.org"]


def test_email_with_login() -> None:
    with SmtpServer(username="bot", password="s3cret") as server:
        send_email(email_spec(server.port, username="bot", password="s3cret"))
        [mail] = server.wait_for(1)
    assert mail.auth_login == "bot"
    assert mail.message["Message-ID"] is not None


def test_email_with_wrong_password_is_delivery_error() -> None:
    with SmtpServer(username="bot", password="s3cret") as server:
        with pytest.raises(DeliveryError) as caught:
            send_email(email_spec(server.port, username="bot", password="wrong"))
        assert server.messages == []
    assert caught.value.notifier == "me"


def test_email_recipient_5xx_is_permanent(smtp_server: SmtpServer) -> None:
    smtp_server.reject_with(550, "5.1.1 no such user", stage="rcpt")
    with pytest.raises(DeliveryError) as caught:
        send_email(email_spec(smtp_server.port))
    assert caught.value.transient is False
    assert "550" in caught.value.message
    assert smtp_server.messages == []


def test_email_recipient_4xx_is_transient(smtp_server: SmtpServer) -> None:
    smtp_server.reject_with(450, "4.2.1 mailbox busy, try later", stage="rcpt")
    with pytest.raises(DeliveryError) as caught:
        send_email(email_spec(smtp_server.port))
    assert caught.value.transient is True
    assert "450" in caught.value.message


def test_email_data_4xx_is_transient(smtp_server: SmtpServer) -> None:
    smtp_server.reject_with(451, "4.3.0 local error", stage="data")
    with pytest.raises(DeliveryError) as caught:
        send_email(email_spec(smtp_server.port))
    assert caught.value.transient is True
    assert smtp_server.messages == []


def test_email_one_recipient_5xx_of_two_is_not_silently_dropped(smtp_server: SmtpServer) -> None:
    smtp_server.reject_with(550, "5.1.1 no such user", stage="rcpt", times=1)
    with pytest.raises(DeliveryError) as caught:
        send_email(email_spec(smtp_server.port, to=["gone@example.org", "ok@example.org"]))
    assert "gone@example.org" in caught.value.message


def test_email_data_5xx_is_permanent(smtp_server: SmtpServer) -> None:
    smtp_server.reject_with(554, "5.7.1 message refused as spam", stage="data")
    with pytest.raises(DeliveryError) as caught:
        send_email(email_spec(smtp_server.port))
    assert caught.value.transient is False


def test_email_closed_port_is_transient() -> None:
    with pytest.raises(DeliveryError) as caught:
        send_email(email_spec(closed_port()))
    assert caught.value.transient is True
    assert caught.value.notifier == "me"


# --- stdout -------------------------------------------------------------------------------


def test_stdout_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(StdoutNotifier().send(ALERT))
    out = capsys.readouterr().out
    assert out.endswith("\n")
    [line] = out.splitlines()
    for expected in ("peru-canada-mining", "Peru", "Canada", "mining", ALERT.item.title):
        assert expected in line
    assert ALERT.item.url is not None
    assert ALERT.item.url in line


def test_stdout_line_stays_one_line_with_breaks_in_title(
    capsys: pytest.CaptureFixture[str],
) -> None:
    alert = make_alert(title="Line one\nLine two\r\nLine three")
    asyncio.run(StdoutNotifier().send(alert))
    [line] = capsys.readouterr().out.splitlines()
    assert "Line one Line two Line three" in line


def test_notifier_lease_outlasts_timeout() -> None:
    spec = webhook_spec("http://127.0.0.1:1/hook", timeout=3.0)

    async def lease() -> float:
        async with httpx.AsyncClient() as client:
            return WebhookNotifier("hook", spec, client, USER_AGENT).lease_seconds

    assert asyncio.run(lease()) > spec.timeout.total_seconds()
    assert spec.timeout == timedelta(seconds=3)
