"""Notifiers: webhook (httpx), email (smtplib) and stdout, behind one protocol.

Edge: ``send`` returns when the alert was delivered and raises DeliveryError otherwise, with
``transient`` saying whether a retry may help. Nothing here decides when to retry.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol, runtime_checkable

import httpx

from feedwatch.config import STDOUT_NOTIFIER, EmailSpec, SmtpSpec, WebhookSpec
from feedwatch.errors import DeliveryError
from feedwatch.models import Alert
from feedwatch.render import (
    digest_message,
    email_message,
    stdout_line,
    webhook_headers,
    webhook_request,
)


class Notifier(Protocol):
    """Delivers one alert, or raises DeliveryError."""

    name: str
    lease_seconds: float

    async def send(self, alert: Alert) -> None:
        """Deliver ``alert``; raise DeliveryError if it was not delivered."""
        ...  # pragma: no cover


@runtime_checkable
class DigestNotifier(Protocol):
    """A notifier that can also send many alerts as one message."""

    async def send_digest(self, alerts: Sequence[Alert]) -> None:
        """Deliver all ``alerts`` in one message; raise DeliveryError if it was not delivered."""
        ...  # pragma: no cover


class RetryLater(DeliveryError):
    """A transient failure whose server named the earliest time to try again."""

    def __init__(self, notifier: str, message: str, retry_after: str | None) -> None:
        super().__init__(notifier, message, transient=True)
        self.retry_after = retry_after


class WebhookNotifier:
    """POSTs the SPEC payload with Standard Webhooks headers; any 2xx is success."""

    def __init__(
        self, name: str, spec: WebhookSpec, client: httpx.AsyncClient, user_agent: str
    ) -> None:
        self.name = name
        self.spec = spec
        self.client = client
        self.user_agent = user_agent
        self.lease_seconds = spec.timeout.total_seconds() + 5

    async def send(self, alert: Alert) -> None:
        """POST the alert; a redirect, an error status or no answer in time is a failure."""
        url, body = webhook_request(alert, self.spec.format, self.spec.url)
        headers = webhook_headers(
            alert.id, body, int(time.time()), self.spec.secret, self.user_agent
        )
        seconds = self.spec.timeout.total_seconds()
        try:
            async with asyncio.timeout(seconds):
                response = await self.client.post(
                    url, content=body, headers=headers, timeout=seconds
                )
        except TimeoutError as e:
            raise DeliveryError(self.name, f"no answer within {seconds:g}s") from e
        except httpx.HTTPError as e:
            raise DeliveryError(self.name, f"request failed: {e or type(e).__name__}") from e
        if not 200 <= response.status_code < 300:
            message = f"http status {response.status_code}"
            if response.is_redirect:
                message += f" (redirect to {response.headers.get('location', '?')})"
            raise RetryLater(self.name, message, response.headers.get("retry-after"))


class EmailNotifier:
    """Sends one message per alert over SMTP, in a worker thread so the loop never waits."""

    def __init__(
        self, name: str, spec: EmailSpec, clock: Callable[[], datetime], tls: ssl.SSLContext
    ) -> None:
        self.name = name
        self.spec = spec
        self.clock = clock
        self.tls = tls
        self.lease_seconds = spec.smtp.timeout.total_seconds() * 2 + 5

    async def send(self, alert: Alert) -> None:
        """Build the message and hand it to the SMTP server."""
        message = email_message(alert, self.spec, self.name, self.clock())
        await _in_daemon_thread(self._send_blocking, message)

    async def send_digest(self, alerts: Sequence[Alert]) -> None:
        """One message for many alerts, grouped by rule (issue 3: digests)."""
        message = digest_message(alerts, self.spec, self.name, self.clock())
        await _in_daemon_thread(self._send_blocking, message)

    def _send_blocking(self, message: EmailMessage) -> None:
        smtp = self.spec.smtp
        try:
            with _connect(smtp, self.tls) as server:
                if smtp.security == "starttls":
                    server.starttls(context=self.tls)
                if smtp.username:
                    server.login(smtp.username, smtp.password or "")
                refused = server.send_message(
                    message, from_addr=self.spec.from_, to_addrs=self.spec.to
                )
        except smtplib.SMTPRecipientsRefused as e:
            raise self._refused(e.recipients) from e
        except smtplib.SMTPAuthenticationError as e:
            # a refused login is an outage to wait out (issue 3), not a reason to drop alerts
            raise DeliveryError(
                self.name, f"login refused: {e.smtp_code} {_text(e.smtp_error)}"
            ) from e
        except smtplib.SMTPResponseException as e:
            permanent = 500 <= e.smtp_code < 600
            message_text = f"smtp {e.smtp_code} {_text(e.smtp_error)}"
            raise DeliveryError(self.name, message_text, transient=not permanent) from e
        except (smtplib.SMTPException, OSError) as e:
            where = f"{smtp.host}:{smtp.port}"
            raise DeliveryError(self.name, f"smtp {where}: {e or type(e).__name__}") from e
        if refused:
            # some recipients took it and some did not: never report that as sent
            raise self._refused(refused)

    def _refused(self, recipients: dict[str, tuple[int, bytes]]) -> DeliveryError:
        permanent = all(500 <= code < 600 for code, _ in recipients.values())
        detail = "; ".join(
            f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in recipients.items()
        )
        return DeliveryError(self.name, f"recipient refused: {detail}", not permanent)


async def _in_daemon_thread(fn: Callable[[EmailMessage], None], message: EmailMessage) -> None:
    # A daemon thread, not the default executor: at shutdown the interpreter would wait for an
    # executor thread stuck on a slow SMTP server, and SPEC wants an exit within 10 s.
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.done():  # the awaiting task was cancelled meanwhile
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def work() -> None:
        try:
            fn(message)
        except BaseException as e:  # handed to the awaiting task, which re-raises it
            loop.call_soon_threadsafe(settle, e)
        else:
            loop.call_soon_threadsafe(settle, None)

    threading.Thread(target=work, name="smtp", daemon=True).start()
    await done


def _connect(smtp: SmtpSpec, tls: ssl.SSLContext) -> smtplib.SMTP:
    seconds = smtp.timeout.total_seconds()
    if smtp.security == "tls":
        return smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=seconds, context=tls)
    return smtplib.SMTP(smtp.host, smtp.port, timeout=seconds)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class StdoutNotifier:
    """SPEC: with no notifier configured, each alert is one line on stdout."""

    name = STDOUT_NOTIFIER
    lease_seconds = 5.0

    async def send(self, alert: Alert) -> None:
        """Print the alert's line and flush, so a pipe sees it at once."""
        try:
            sys.stdout.write(stdout_line(alert) + "\n")
            sys.stdout.flush()
        except OSError as e:
            raise DeliveryError(self.name, f"cannot write to stdout: {e}") from e
