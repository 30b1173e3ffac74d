"""What a user sees: the webhook request, the email, the stdout line and the CLI listings.

Pure: no I/O, no clock (the time of sending is a parameter). Header values never carry a line
break taken from a feed (SPEC: email).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from feedwatch.config import EmailSpec
from feedwatch.matching import keyword_spans
from feedwatch.models import Alert, Snippet
from feedwatch.text import one_line, snippets, truncate

SUBJECT_LIMIT = 160


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as every output of feedwatch writes times."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def alert_snippets(alert: Alert) -> list[Snippet]:
    """One to three pieces of the item's text around its matched terms, as stored with the
    alert; for an alert without them, found again from its keywords."""
    if alert.snippets:
        return list(alert.snippets)
    text = one_line(alert.item.text) or one_line(alert.item.title)
    return snippets(text, keyword_spans(text, alert.keywords))


def marked_html(piece: Snippet) -> str:
    """A snippet as escaped HTML with its matches in <mark>."""
    out, last = [], 0
    for start, end in piece.marks:
        out += [html.escape(piece.text[last:start]), "<mark>", html.escape(piece.text[start:end])]
        out.append("</mark>")
        last = end
    out.append(html.escape(piece.text[last:]))
    return "".join(out)


def alert_payload(alert: Alert) -> dict[str, Any]:
    """SPEC: the webhook body."""
    item = alert.item
    return {
        "event": "alert",
        "id": alert.id,
        "rule": alert.rule,
        "keywords": list(alert.keywords),
        "item": {
            "title": item.title,
            "url": item.url,
            "published": iso(item.published_at),
            "author": item.author,
            "summary": item.summary,
            "feed": {"title": item.feed_title, "url": item.feed_url},
        },
        "snippets": [piece.marked() for piece in alert_snippets(alert)],
        "created": iso(alert.created_at),
    }


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def webhook_body(alert: Alert) -> bytes:
    """The exact bytes that are sent, and signed."""
    return _json_bytes(alert_payload(alert))


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook message: a linked title, feed and keywords, the snippets."""
    item = alert.item
    title = _slack_escape(item.title or "(no title)")
    link = _slack_escape(item.url or "").replace("|", "%7C")
    heading = f"*<{link}|{title}>*" if item.url else f"*{title}*"
    context = (
        f"{_slack_escape(item.feed_title)} · matched {_slack_escape(', '.join(alert.keywords))}"
    )
    excerpt = "\n".join(_slack_escape(p.marked("*", "*")) for p in alert_snippets(alert))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{heading}\n{context}"}},
    ]
    if excerpt:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": excerpt[:2900]}})
    fallback = f"[{alert.rule}] {item.title} {item.url or ''}".strip()
    return {"text": _slack_escape(fallback), "blocks": blocks, "unfurl_links": False}


def discord_payload(alert: Alert) -> dict[str, Any]:
    """A Discord webhook message with one embed; mentions in feed text never ping anyone."""
    item = alert.item
    embed: dict[str, Any] = {
        "title": truncate(item.title or "(no title)", 256),
        "description": truncate("\n\n".join(p.marked() for p in alert_snippets(alert)), 4000),
        "fields": [
            {"name": "Feed", "value": truncate(item.feed_title, 1024), "inline": True},
            {"name": "Matched", "value": truncate(", ".join(alert.keywords), 1024), "inline": True},
            {"name": "Rule", "value": truncate(alert.rule, 1024), "inline": True},
        ],
        "timestamp": iso(item.published_at),
    }
    if item.url:
        embed["url"] = item.url
    return {"content": "", "embeds": [embed], "allowed_mentions": {"parse": []}}


def ntfy_request(alert: Alert, topic_url: str) -> tuple[str, dict[str, Any]]:
    """ntfy's JSON publishing: POST to the server's root naming the topic from the URL."""
    base, _, topic = topic_url.rstrip("/").rpartition("/")
    item = alert.item
    message = "\n".join(p.marked() for p in alert_snippets(alert))
    body: dict[str, Any] = {
        "topic": topic,
        "title": truncate(one_line(item.title or "(no title)"), 250),
        "message": truncate(
            f"{item.feed_title} · matched {', '.join(alert.keywords)}\n{message}", 3900
        ),
        "tags": ["newspaper"],
    }
    if item.url:
        body["click"] = item.url
        body["actions"] = [{"action": "view", "label": "Open", "url": item.url}]
    return base + "/", body


def webhook_request(alert: Alert, fmt: str, url: str) -> tuple[str, bytes]:
    """Where to POST and what, for a webhook of the given format (issue 3)."""
    if fmt == "slack":
        return url, _json_bytes(slack_payload(alert))
    if fmt == "discord":
        return url, _json_bytes(discord_payload(alert))
    if fmt == "ntfy":
        target, body = ntfy_request(alert, url)
        return target, _json_bytes(body)
    return url, webhook_body(alert)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks signature: v1,base64(HMAC-SHA256(key, "{id}.{ts}.{body}"))."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(
    message_id: str, body: bytes, timestamp: int, secret: str | None, user_agent: str
) -> dict[str, str]:
    """SPEC: Standard Webhooks headers; the id is the alert id, the same on every retry."""
    headers = {
        "content-type": "application/json",
        "user-agent": user_agent,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
    }
    if secret:
        headers["webhook-signature"] = sign(secret, message_id, timestamp, body)
    return headers


def message_id(alert_id: str, notifier: str, sender: str) -> str:
    """A Message-ID derived from the alert, so a retried message is recognisably the same."""
    domain = sender.rpartition("@")[2].strip(" >") or "feedwatch.invalid"
    domain = re.sub(r"[^A-Za-z0-9.-]", "", domain) or "feedwatch.invalid"
    slug = re.sub(r"[^A-Za-z0-9-]", "-", notifier)
    return f"<feedwatch.{alert_id}.{slug}@{domain}>"


def subject(alert: Alert) -> str:
    """One line whatever the feed's title holds."""
    return truncate(one_line(f"[{alert.rule}] {alert.item.title or '(no title)'}"), SUBJECT_LIMIT)


def _details(alert: Alert) -> list[tuple[str, str]]:
    item = alert.item
    rows = [("Feed", f"{item.feed_title} <{item.feed_url}>")]
    if item.author:
        rows.append(("Author", item.author))
    rows.append(("Published", iso(item.published_at) or ""))
    rows.append(("Matched", ", ".join(alert.keywords)))
    rows.append(("Rule", alert.rule))
    return rows


def email_text(alert: Alert) -> str:
    """The plain-text part."""
    item = alert.item
    lines = [item.title or "(no title)", item.url or "", ""]
    lines += [f"{name}: {value}" for name, value in _details(alert)]
    lines.append("")
    for piece in alert_snippets(alert):
        lines += [piece.marked(), ""]
    lines += ["-- ", "sent by feedwatch"]
    return "\n".join(lines) + "\n"


def email_html(alert: Alert) -> str:
    """The HTML part: every piece of feed text escaped."""
    item = alert.item
    e = html.escape
    title = e(item.title or "(no title)")
    heading = f'<a href="{e(item.url, quote=True)}">{title}</a>' if item.url else title
    rows = "".join(
        f'<tr><th align="left" style="padding-right:1em">{e(name)}</th><td>{e(value)}</td></tr>'
        for name, value in _details(alert)
    )
    excerpt = "".join(f"<p>{marked_html(piece)}</p>" for piece in alert_snippets(alert))
    return (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f"<h2>{heading}</h2><table>{rows}</table>{excerpt}"
        '<p style="color:#777">sent by feedwatch</p></body></html>'
    )


def email_message(alert: Alert, spec: EmailSpec, notifier: str, now: datetime) -> EmailMessage:
    """One alert as a multipart text and HTML message (SPEC: email)."""
    msg = EmailMessage()
    msg["Subject"] = subject(alert)
    msg["From"] = one_line(spec.from_)
    msg["To"] = ", ".join(one_line(a) for a in spec.to)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    msg["Message-ID"] = message_id(alert.id, notifier, spec.from_)
    msg["X-Feedwatch-Alert"] = alert.id
    msg["X-Feedwatch-Rule"] = one_line(alert.rule)
    msg.set_content(email_text(alert))
    msg.add_alternative(email_html(alert), subtype="html")
    return msg


def digest_message(
    alerts: Sequence[Alert], spec: EmailSpec, notifier: str, now: datetime
) -> EmailMessage:
    """Many alerts as one message: grouped by rule, newest first (issue 3: digests)."""
    by_rule: dict[str, list[Alert]] = {}
    for alert in sorted(alerts, key=lambda a: (a.created_at, a.item.published_at), reverse=True):
        by_rule.setdefault(alert.rule, []).append(alert)
    count = len(alerts)
    rules = ", ".join(f"{rule} ({len(group)})" for rule, group in by_rule.items())
    noun = "alert" if count == 1 else "alerts"
    text_lines: list[str] = [f"{count} {noun} from feedwatch", ""]
    html_parts: list[str] = [f"<h2>{count} {noun} from feedwatch</h2>"]
    for rule, group in by_rule.items():
        text_lines += [f"== {rule} ({len(group)}) ==", ""]
        html_parts.append(f"<h3>{html.escape(rule)} ({len(group)})</h3>")
        for alert in group:
            item = alert.item
            matched = ", ".join(alert.keywords)
            meta_text = f"{item.feed_title} · {iso(item.published_at)} · matched {matched}"
            text_lines += [item.title or "(no title)", item.url or "", meta_text]
            pieces = alert_snippets(alert)[:1]
            text_lines += [p.marked() for p in pieces] + [""]
            title = html.escape(item.title or "(no title)")
            link = (
                f'<a href="{html.escape(item.url, quote=True)}">{title}</a>' if item.url else title
            )
            meta = html.escape(meta_text)
            excerpt = "".join(f"<p>{marked_html(p)}</p>" for p in pieces)
            html_parts.append(f"<div><p><b>{link}</b><br><small>{meta}</small></p>{excerpt}</div>")
    text_lines += ["-- ", "sent by feedwatch"]
    digest_id = hashlib.blake2b(
        "\n".join(sorted(a.id for a in alerts)).encode(), digest_size=12
    ).hexdigest()
    msg = EmailMessage()
    msg["Subject"] = truncate(one_line(f"[feedwatch] {count} {noun}: {rules}"), SUBJECT_LIMIT)
    msg["From"] = one_line(spec.from_)
    msg["To"] = ", ".join(one_line(a) for a in spec.to)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    msg["Message-ID"] = message_id(f"digest-{digest_id}", notifier, spec.from_)
    msg.set_content("\n".join(text_lines) + "\n")
    msg.add_alternative(
        '<!doctype html><html><body style="font-family:sans-serif">'
        + "".join(html_parts)
        + '<p style="color:#777">sent by feedwatch</p></body></html>',
        subtype="html",
    )
    return msg


def stdout_line(alert: Alert) -> str:
    """SPEC: with no notifier, one line naming rule, keywords, title and link."""
    item = alert.item
    keywords = ", ".join(alert.keywords)
    return one_line(f"ALERT [{alert.rule}] ({keywords}) {item.title} <{item.url or ''}>")


def json_line(record: Mapping[str, Any]) -> str:
    """One JSON Lines record."""
    return json.dumps(record, ensure_ascii=False)


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """Aligned columns for a terminal; the last column is never padded."""
    if not rows:
        return ""
    all_rows = [list(headers), *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(headers) - 1)]
    out = []
    for row in all_rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)
