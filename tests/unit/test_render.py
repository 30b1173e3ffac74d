"""render: the webhook request, the email and the stdout line, as the user sees them."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from feedwatch.config import EmailSpec, SmtpSpec
from feedwatch.models import Alert, AlertItem
from feedwatch.render import (
    alert_payload,
    email_html,
    email_message,
    email_text,
    iso,
    message_id,
    sign,
    stdout_line,
    subject,
    table,
    webhook_body,
    webhook_headers,
)

SECRET = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
NOW = datetime(2023, 8, 8, 9, 30, tzinfo=UTC)
ITEM = AlertItem(
    title="Democracy vs repression: guess what Ottawa supports in Perú",
    url="https://canadiandimension.com/articles/view/peru",
    published_at=datetime(2023, 8, 7, tzinfo=UTC),
    author="Jane Doe",
    summary="Canada backs mining interests in Peru.",
    text="Canada backs mining interests in Peru. " * 5,
    feed_title="Canadian Dimension",
    feed_url="https://canadiandimension.com/rss",
)
ALERT = Alert(
    id="0123456789abcdef01234567",
    rule="peru-canada-mining",
    keywords=("Peru", "Canada"),
    item=ITEM,
    created_at=datetime(2023, 8, 7, 3, 0, 5, tzinfo=UTC),
)
SPEC = EmailSpec.model_validate(
    {
        "type": "email",
        "to": ["alerts@example.org"],
        "from": "Feedwatch <feedwatch@example.org>",
        "smtp": SmtpSpec(host="mail.example.org"),
    }
)


def with_item(**changes: object) -> Alert:
    return replace(ALERT, item=replace(ITEM, **changes))


# --- webhook ------------------------------------------------------------------------------


def test_webhook_body_matches_spec_payload() -> None:
    payload = json.loads(webhook_body(ALERT))
    # SPEC allows added fields; every field it names must be there, as written
    spec_fields = {k: payload[k] for k in ("event", "id", "rule", "keywords", "item", "created")}
    assert spec_fields == {
        "event": "alert",
        "id": "0123456789abcdef01234567",
        "rule": "peru-canada-mining",
        "keywords": ["Peru", "Canada"],
        "item": {
            "title": "Democracy vs repression: guess what Ottawa supports in Perú",
            "url": "https://canadiandimension.com/articles/view/peru",
            "published": "2023-08-07T00:00:00Z",
            "author": "Jane Doe",
            "summary": "Canada backs mining interests in Peru.",
            "feed": {"title": "Canadian Dimension", "url": "https://canadiandimension.com/rss"},
        },
        "created": "2023-08-07T03:00:05Z",
    }


def test_webhook_body_is_utf8_json_and_stable() -> None:
    body = webhook_body(ALERT)
    assert "Perú".encode() in body
    assert body == webhook_body(ALERT)
    assert json.loads(body) == alert_payload(ALERT)


def test_webhook_payload_with_missing_optional_fields() -> None:
    payload = alert_payload(with_item(url=None, author=None))
    assert payload["item"]["url"] is None
    assert payload["item"]["author"] is None


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(datetime(2023, 8, 7, tzinfo=UTC), "2023-08-07T00:00:00Z", id="utc"),
        pytest.param(
            datetime.fromisoformat("2023-08-07T02:00:00+02:00"), "2023-08-07T00:00:00Z",
            id="offset-converted",
        ),
        pytest.param(
            datetime(2023, 8, 7, 0, 0, 0, 999999, tzinfo=UTC), "2023-08-07T00:00:00Z",
            id="microseconds-dropped",
        ),
        pytest.param(None, None, id="none"),
    ],
)  # fmt: skip
def test_iso(moment: datetime | None, expected: str | None) -> None:
    assert iso(moment) == expected


@pytest.mark.parametrize(
    "alert",
    [
        pytest.param(ALERT, id="ascii-and-accents"),
        pytest.param(with_item(title="“Quotes” — 日本語 ✓ \u2028"), id="non-ascii"),
        pytest.param(with_item(title='a "quoted" \\ back\nslash'), id="escapes"),
    ],
)
def test_webhook_signature_verifies_with_standardwebhooks(alert: Alert) -> None:
    body = webhook_body(alert)
    timestamp = int(time.time())
    headers = webhook_headers(alert.id, body, timestamp, SECRET, "feedwatch/test")
    assert headers["webhook-id"] == alert.id
    assert headers["webhook-timestamp"] == str(timestamp)
    assert headers["content-type"] == "application/json"
    assert Webhook(SECRET).verify(body, headers) == json.loads(body)


def test_webhook_signature_rejects_a_tampered_body() -> None:
    body = webhook_body(ALERT)
    headers = webhook_headers(ALERT.id, body, int(time.time()), SECRET, "feedwatch/test")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"Peru", b"Chile"), headers)


def test_webhook_signature_rejects_another_secret() -> None:
    body = webhook_body(ALERT)
    headers = webhook_headers(ALERT.id, body, int(time.time()), SECRET, "feedwatch/test")
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)


def test_webhook_headers_without_secret_have_no_signature() -> None:
    headers = webhook_headers(ALERT.id, b"{}", 1_700_000_000, None, "feedwatch/test")
    assert "webhook-signature" not in headers
    assert headers["webhook-id"] == ALERT.id
    assert headers["user-agent"] == "feedwatch/test"


def test_sign_matches_the_standard_webhooks_example() -> None:
    # The example in the Standard Webhooks specification (and the svix libraries).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_is_the_same_on_every_retry_at_the_same_second() -> None:
    body = webhook_body(ALERT)
    first = webhook_headers(ALERT.id, body, 1_700_000_000, SECRET, "ua")
    again = webhook_headers(ALERT.id, body, 1_700_000_000, SECRET, "ua")
    later = webhook_headers(ALERT.id, body, 1_700_000_060, SECRET, "ua")
    assert first == again
    assert later["webhook-id"] == first["webhook-id"]
    assert later["webhook-signature"] != first["webhook-signature"]


# --- email --------------------------------------------------------------------------------


def parsed(message: EmailMessage) -> EmailMessage:
    reparsed = message_from_bytes(message.as_bytes(), policy=default)
    assert isinstance(reparsed, EmailMessage)
    return reparsed


@pytest.mark.parametrize(
    "title",
    [
        pytest.param("Hello\r\nBcc: victim@example.net", id="crlf-header-injection"),
        pytest.param("Hello\nX-Evil: 1", id="lf"),
        pytest.param("Hello\rX-Evil: 1", id="cr"),
        pytest.param("Line\u2028separator\x85next", id="unicode-line-breaks"),
        pytest.param("", id="empty-title"),
    ],
)
def test_email_subject_stays_one_line(title: str) -> None:
    alert = with_item(title=title)
    text = subject(alert)
    assert text.startswith("[peru-canada-mining] ")
    assert not any(c in text for c in "\r\n\x85\u2028")
    message = parsed(email_message(alert, SPEC, "me", NOW))
    assert message["Subject"] == text
    assert message["Bcc"] is None
    assert message["X-Evil"] is None


def test_email_subject_is_bounded() -> None:
    text = subject(with_item(title="word " * 200))
    assert len(text) <= 160
    assert text.endswith("…")


def test_email_subject_names_rule_and_title() -> None:
    assert subject(ALERT) == f"[peru-canada-mining] {ITEM.title}"
    assert subject(with_item(title="")) == "[peru-canada-mining] (no title)"


@pytest.mark.parametrize(
    ("alert_id", "notifier", "sender", "expected"),
    [
        pytest.param(
            "abc", "me", "feedwatch@example.org", "<feedwatch.abc.me@example.org>", id="plain"
        ),
        pytest.param(
            "abc", "me", "Feedwatch <fw@example.org>", "<feedwatch.abc.me@example.org>",
            id="display-name",
        ),
        pytest.param(
            "abc", "my mail", "fw@example.org", "<feedwatch.abc.my-mail@example.org>",
            id="notifier-with-space",
        ),
        pytest.param(
            "abc", "me", "no-at-sign", "<feedwatch.abc.me@no-at-sign>", id="no-domain",
        ),
        pytest.param("abc", "me", "fw@", "<feedwatch.abc.me@feedwatch.invalid>", id="empty-domain"),
    ],
)  # fmt: skip
def test_message_id(alert_id: str, notifier: str, sender: str, expected: str) -> None:
    assert message_id(alert_id, notifier, sender) == expected


def test_message_id_is_stable_across_retries() -> None:
    first = parsed(email_message(ALERT, SPEC, "me", NOW))
    retry = parsed(email_message(ALERT, SPEC, "me", datetime(2023, 8, 9, tzinfo=UTC)))
    other = parsed(email_message(replace(ALERT, id="ffffffffffffffffffffffff"), SPEC, "me", NOW))
    assert first["Message-ID"] == retry["Message-ID"]
    assert ALERT.id in first["Message-ID"]
    assert first["Message-ID"] != other["Message-ID"]
    assert first["Date"] != retry["Date"]


def test_email_is_multipart_text_and_html_with_the_details() -> None:
    message = parsed(email_message(ALERT, SPEC, "me", NOW))
    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == "alerts@example.org"
    assert message["X-Feedwatch-Alert"] == ALERT.id
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None
    assert rich is not None
    text = plain.get_content()
    for piece in (ITEM.title, ITEM.url, "Canadian Dimension", "Peru, Canada", "mining interests"):
        assert piece in text
    assert "Perú" in rich.get_content()


@pytest.mark.parametrize(
    ("field", "value", "forbidden", "escaped"),
    [
        pytest.param(
            "title", "<script>alert(1)</script>", "<script>", "&lt;script&gt;", id="title"
        ),
        pytest.param(
            "text", "Peru <script>alert(1)</script>", "<script>", "&lt;script&gt;", id="text"
        ),
        pytest.param("author", "<img src=x onerror=alert(1)>", "<img", "&lt;img", id="author"),
        pytest.param("feed_title", "<b>Feed</b>", "<b>", "&lt;b&gt;", id="feed-title"),
        pytest.param(
            "url", 'https://e.org/"><script>x</script>', '"><script>', "&quot;&gt;&lt;script",
            id="url-attribute",
        ),
    ],
)  # fmt: skip
def test_email_html_escapes_feed_text(field: str, value: str, forbidden: str, escaped: str) -> None:
    html = email_html(with_item(**{field: value}))
    assert forbidden not in html
    assert escaped in html


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("filler " * 200 + "then Peru appears.", "then **Peru** appears.", id="end"),
        pytest.param(
            "Peruvian food. " + "filler " * 200 + "Perú appears.", "**Perú** appears.",
            id="accented-whole-word",
        ),
    ],
)  # fmt: skip
def test_email_text_has_snippet_around_keyword(text: str, shown: str) -> None:
    body = email_text(with_item(text=text))
    assert shown in body
    assert "**Peruvian**" not in body


def test_email_html_marks_keywords_and_escapes_around_them() -> None:
    html = email_html(with_item(text="<b>x</b> & Peru & <i>y</i>"))
    assert "&lt;b&gt;x&lt;/b&gt; &amp; <mark>Peru</mark> &amp; &lt;i&gt;y&lt;/i&gt;" in html


# --- stdout and tables --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alert", "expected"),
    [
        pytest.param(
            ALERT,
            "ALERT [peru-canada-mining] (Peru, Canada) "
            f"{ITEM.title} <https://canadiandimension.com/articles/view/peru>",
            id="full",
        ),
        pytest.param(
            with_item(title="Two\nlines", url=None),
            "ALERT [peru-canada-mining] (Peru, Canada) Two lines <>",
            id="one-line-no-link",
        ),
    ],
)
def test_stdout_line(alert: Alert, expected: str) -> None:
    assert stdout_line(alert) == expected


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([], "", id="empty"),
        pytest.param(
            [["a", "ok", "x"], ["long-name", "failing", "y"]],
            "NAME       STATUS   NOTE\na          ok       x\nlong-name  failing  y",
            id="aligned",
        ),
    ],
)
def test_table(rows: list[list[str]], expected: str) -> None:
    assert table(rows, ["NAME", "STATUS", "NOTE"]) == expected
