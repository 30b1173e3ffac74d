"""Delivery through feedwatch.app.App over loopback servers, on a clock the test moves by hand.

Every test polls a real FeedServer and delivers to a real WebhookReceiver or SmtpServer; only
time is fake, so the SPEC retry schedule (`retry: {first, max, give_up}`), Retry-After, the
digest period and notifier health are checked to the microsecond without waiting for them
(issue 3: outages, digests, failures made obvious).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from feedwatch.app import App
from feedwatch.config import Config, parse_config
from feedwatch.models import DeliveryOutcome, DeliveryStatus
from feedwatch.render import iso
from harness.feeds import atom
from harness.servers import FeedServer, Reply, SmtpServer, WebhookReceiver

from .test_notify import closed_port

T = TypeVar("T")

# a whole second, ten minutes past an hour: the 1h digest period closes at 13:00, not 13:10
START = datetime(2024, 3, 1, 12, 10, tzinfo=UTC)
SECOND = timedelta(seconds=1)
EARLY = timedelta(milliseconds=1)
RULE = "andes-mining"
FEED_PATH = "/andes.atom"
FEED_NAME = "Andes Wire"


class FakeClock:
    """The time the App sees; the test moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, offset: timedelta) -> datetime:
        """START + offset, which becomes the time."""
        self.now = START + offset
        return self.now


# --- configuration and feeds --------------------------------------------------------------


def webhook(url: str, *, timeout: str = "5s", **extra: Any) -> dict[str, Any]:
    spec = {"type": "webhook", "url": url, "timeout": timeout}
    spec.setdefault("retry", {"first": "10s", "max": "40s", "give_up": "200s"})
    return spec | extra


def email(port: int, **extra: Any) -> dict[str, Any]:
    smtp = {"host": "127.0.0.1", "port": port, "security": "none", "timeout": "5s"}
    smtp |= extra.pop("smtp", {})
    spec = {
        "type": "email",
        "to": ["analyst@example.org"],
        "from": "feedwatch@example.org",
        "smtp": smtp,
        "retry": {"first": "10s", "max": "40s", "give_up": "200s"},
    }
    return spec | extra


def make_config(
    tmp_path: Path,
    feed_url: str,
    notifiers: dict[str, dict[str, Any]],
    rules: Sequence[dict[str, Any]] | None = None,
) -> Config:
    """A feeds.yaml (written as JSON, which YAML reads) with one feed and these notifiers."""
    document = {
        "database": "state/feedwatch.db",
        "defaults": {"interval": "15m", "timeout": "5s"},
        "feeds": [{"url": feed_url, "name": FEED_NAME}],
        "alerts": list(rules or [{"name": RULE, "keywords": ["Peru", "mining"]}]),
        "notifiers": notifiers,
    }
    return parse_config(json.dumps(document, indent=2), str(tmp_path / "feeds.yaml"), env={})


def story(n: int, title: str, text: str = "") -> dict[str, Any]:
    """A feed entry; its text repeats the title, so the title decides which rules match."""
    return {
        "id": f"urn:andes:{n}",
        "title": title,
        "link": f"https://andes.example/news/{n}",
        "summary": f"<p>{title}. {text or 'Reported by our correspondent.'}</p>",
        "published": START - timedelta(hours=n),
    }


def serve(feed_server: FeedServer, *items: dict[str, Any]) -> str:
    body = atom(FEED_NAME, "https://andes.example/", items)
    return feed_server.set(FEED_PATH, body, "application/atom+xml")


def play(
    config: Config,
    clock: FakeClock,
    scenario: Callable[[App], Awaitable[T]],
    jitter: Callable[[], float] = lambda: 0.0,
) -> T:
    """Run ``scenario`` against an App built from ``config`` on the fake clock."""

    async def go() -> T:
        async with App(config, clock=clock, jitter=jitter) as app:
            return await scenario(app)

    return asyncio.run(go())


def only_delivery(app: App, notifier: str) -> dict[str, Any]:
    """The one alert's delivery to ``notifier``, as `feedwatch alerts --json` shows it."""
    [alert] = app.store.list_alerts(10)
    [delivery] = [d for d in alert["deliveries"] if d["notifier"] == notifier]
    return delivery


async def poll_one_alert(app: App) -> None:
    [result] = await app.poll()
    assert (result.ok, result.alerts) == (True, 1), result


async def tries_until_settled(
    app: App, clock: FakeClock, notifier: str, limit: int = 40
) -> list[tuple[datetime, DeliveryOutcome]]:
    """Deliver now and then at every time the schedule names, until the delivery is sent or
    failed. Before each scheduled try it checks that nothing is tried a moment too early."""
    tries: list[tuple[datetime, DeliveryOutcome]] = []
    for _ in range(limit):
        [outcome] = await app.deliver(notifier)
        tries.append((clock.now, outcome))
        if outcome.status is not DeliveryStatus.PENDING:
            return tries
        assert outcome.next_attempt_at is not None
        assert outcome.next_attempt_at > clock.now
        clock.now = outcome.next_attempt_at - EARLY
        assert await app.deliver(notifier) == [], "a retry started before its time"
        clock.now = outcome.next_attempt_at
    raise AssertionError(f"still pending after {limit} tries")


def gaps(times: Sequence[datetime]) -> list[float]:
    """Seconds between successive tries."""
    return [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]


def nominal_waits(first: float, most: float, count: int) -> list[float]:
    """SPEC: first, then double the last, capped at max (seconds)."""
    return [min(first * 2**k, most) for k in range(count)]


def assert_schedule(offsets: Sequence[float], first: float, most: float, give_up: float) -> None:
    """Tries at these offsets (seconds after the alert, no jitter) follow SPEC: waits of
    ``first``, doubled, capped at ``max``; only the last wait may be cut short, so that no try
    starts after ``give_up``; and no giving up while a full wait would still fit."""
    waits = [later - earlier for earlier, later in itertools.pairwise(offsets)]
    nominal = nominal_waits(first, most, len(waits) + 1)
    assert offsets[0] == 0
    assert waits[:-1] == nominal[: len(waits) - 1], (offsets, nominal)
    assert 0 < waits[-1] <= nominal[len(waits) - 1], (offsets, nominal)
    assert offsets[-1] <= give_up, "a try started after give_up"
    assert offsets[-1] + nominal[len(waits)] > give_up, "gave up while a try still fitted"


# --- the retry schedule -------------------------------------------------------------------


def test_schedule_doubles_caps_at_max_and_stops_at_give_up(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.respond_with([], then=500)
    feed = serve(feed_server, story(1, "Peru copper mining strike"))
    retry = {"first": "10s", "max": "40s", "give_up": "200s"}
    config = make_config(tmp_path, feed, {"hook": webhook(webhook_receiver.url, retry=retry)})
    clock = FakeClock()

    async def scenario(app: App) -> tuple[list[tuple[datetime, DeliveryOutcome]], Any, str]:
        await poll_one_alert(app)
        tries = await tries_until_settled(app, clock, "hook")
        # a day later nothing is due and nothing is tried
        clock.now = START + timedelta(days=1)
        assert await app.deliver() == []
        assert app.store.due_deliveries(clock.now, ["hook"]) == []
        [alert] = app.store.list_alerts(10)
        return tries, only_delivery(app, "hook"), alert["id"]

    tries, delivery, alert_id = play(config, clock, scenario)

    offsets = [(at - START).total_seconds() for at, _ in tries]
    # waits of 10, 20, 40, then capped at 40; a last try may be cut short before give_up
    assert offsets[:6] == [0, 10, 30, 70, 110, 150]
    assert_schedule(offsets, first=10, most=40, give_up=200)
    statuses = [o.status for _, o in tries]
    assert statuses == [DeliveryStatus.PENDING] * (len(tries) - 1) + [DeliveryStatus.FAILED]
    assert (delivery["status"], delivery["attempts"]) == ("failed", len(tries))
    assert delivery["error"] == "http status 500"
    assert delivery["next_attempt"] is None
    requests = webhook_receiver.requests
    assert len(requests) == len(tries)
    assert {r.headers["webhook-id"] for r in requests} == {alert_id}


@pytest.mark.parametrize(
    "jitter",
    [
        pytest.param(lambda: 0.0, id="none"),
        pytest.param(lambda: 0.999, id="0.999"),
        pytest.param(random.Random(20240301).random, id="seeded-random"),
    ],
)
def test_jitter_only_shortens_waits_by_up_to_ten_percent(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_receiver: WebhookReceiver,
    jitter: Callable[[], float],
) -> None:
    webhook_receiver.respond_with([], then=503)
    feed = serve(feed_server, story(1, "Peru mining permits suspended"))
    retry = {"first": "10s", "max": "80s", "give_up": "10m"}
    config = make_config(tmp_path, feed, {"hook": webhook(webhook_receiver.url, retry=retry)})
    clock = FakeClock()

    async def scenario(app: App) -> list[tuple[datetime, DeliveryOutcome]]:
        await poll_one_alert(app)
        return await tries_until_settled(app, clock, "hook")

    tries = play(config, clock, scenario, jitter=jitter)

    times = [at for at, _ in tries]
    waits = gaps(times)
    nominal = nominal_waits(10, 80, len(waits))
    give_up = START + timedelta(minutes=10)
    assert all(at <= give_up for at in times), "an attempt started after give_up"
    assert tries[-1][1].status is DeliveryStatus.FAILED
    assert len(webhook_receiver.requests) == len(tries)
    # every wait but the last (which may be cut short by give_up) is within [0.9, 1] x nominal
    for wait, expected in zip(waits[:-1], nominal, strict=False):
        assert expected * 0.9 - 1e-6 <= wait <= expected + 1e-6, (waits, nominal)
    assert waits[-1] <= nominal[len(waits) - 1] + 1e-6
    # it kept trying until a wait no longer fitted before give_up
    assert give_up - times[-1] < timedelta(seconds=80)


def test_jitter_0999_waits_are_shorter_but_never_below_ninety_percent(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.respond_with([500, 500, 500], then=200)
    feed = serve(feed_server, story(1, "Peru mining royalties"))
    retry = {"first": "10s", "max": "30s", "give_up": "1h"}
    config = make_config(tmp_path, feed, {"hook": webhook(webhook_receiver.url, retry=retry)})
    clock = FakeClock()

    async def scenario(app: App) -> tuple[list[tuple[datetime, DeliveryOutcome]], Any]:
        await poll_one_alert(app)
        return await tries_until_settled(app, clock, "hook"), only_delivery(app, "hook")

    tries, delivery = play(config, clock, scenario, jitter=lambda: 0.999)

    times = [at for at, _ in tries]
    waits = gaps(times)
    for wait, nominal in zip(waits, [10, 20, 30], strict=True):
        assert nominal * 0.9 <= wait < nominal
        assert wait == pytest.approx(nominal * (1 - 0.0999))
    # attempts counts every try, the successful one included
    assert (delivery["status"], delivery["attempts"]) == ("sent", 4)
    assert tries[-1][1].status is DeliveryStatus.SENT


def test_give_up_passed_while_waiting_keeps_the_last_error(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.respond_with([], then=500)
    feed = serve(feed_server, story(1, "Peru mining strike"))
    retry = {"first": "10s", "max": "10s", "give_up": "15s"}
    config = make_config(tmp_path, feed, {"hook": webhook(webhook_receiver.url, retry=retry)})
    clock = FakeClock()

    async def scenario(app: App) -> dict[str, Any]:
        await poll_one_alert(app)
        await app.deliver()  # first try fails
        clock.at(20 * SECOND)  # the daemon was down: its next pass comes after give_up (15 s)
        assert [o.status for o in await app.deliver()] == [DeliveryStatus.FAILED]
        return only_delivery(app, "hook")

    delivery = play(config, clock, scenario)
    assert len(webhook_receiver.requests) == 1, "an attempt started after give_up"
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 1
    assert "http status 500" in (delivery["error"] or "")


# --- webhook outages ----------------------------------------------------------------------


def test_429_retry_after_is_honoured(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.respond_with([Reply(429, headers={"Retry-After": "120"})], then=200)
    feed = serve(feed_server, story(1, "Peru mining"))
    retry = {"first": "10s", "max": "1m", "give_up": "1h"}
    config = make_config(tmp_path, feed, {"hook": webhook(webhook_receiver.url, retry=retry)})
    clock = FakeClock()

    async def scenario(app: App) -> tuple[list[tuple[datetime, DeliveryOutcome]], Any]:
        await poll_one_alert(app)
        return await tries_until_settled(app, clock, "hook"), only_delivery(app, "hook")

    tries, delivery = play(config, clock, scenario)
    assert [(at - START, o.status) for at, o in tries] == [
        (timedelta(0), DeliveryStatus.PENDING),
        (timedelta(seconds=120), DeliveryStatus.SENT),
    ]
    assert tries[0][1].error == "http status 429"
    assert (delivery["status"], delivery["attempts"]) == ("sent", 2)


def test_retry_after_shorter_than_the_schedule_does_not_hurry_it(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.respond_with([Reply(429, headers={"Retry-After": "1"})], then=200)
    feed = serve(feed_server, story(1, "Peru mining"))
    retry = {"first": "30s", "max": "1m", "give_up": "1h"}
    config = make_config(tmp_path, feed, {"hook": webhook(webhook_receiver.url, retry=retry)})
    clock = FakeClock()

    async def scenario(app: App) -> list[tuple[datetime, DeliveryOutcome]]:
        await poll_one_alert(app)
        return await tries_until_settled(app, clock, "hook")

    tries = play(config, clock, scenario)
    assert [at - START for at, _ in tries] == [timedelta(0), timedelta(seconds=30)]


def test_429_retry_after_past_give_up_fails_without_another_attempt(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.respond_with([Reply(429, headers={"Retry-After": "7200"})], then=200)
    feed = serve(feed_server, story(1, "Peru mining"))
    retry = {"first": "10s", "max": "1m", "give_up": "1h"}
    config = make_config(tmp_path, feed, {"hook": webhook(webhook_receiver.url, retry=retry)})
    clock = FakeClock()

    async def scenario(app: App) -> tuple[list[DeliveryOutcome], dict[str, Any]]:
        await poll_one_alert(app)
        outcomes = await app.deliver()
        for minutes in (30, 59, 61, 121, 24 * 60):
            clock.at(timedelta(minutes=minutes))
            outcomes += await app.deliver()
        return outcomes, only_delivery(app, "hook")

    outcomes, delivery = play(config, clock, scenario)
    # the server forbids a try within give_up, and none may start after it: one try, failed
    assert len(webhook_receiver.requests) == 1
    assert [o.status for o in outcomes] == [DeliveryStatus.FAILED]
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)
    assert "429" in (delivery["error"] or "")


def test_503_retry_after_http_date_is_honoured(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    not_before = START + timedelta(minutes=5)
    webhook_receiver.respond_with(
        [Reply(503, headers={"Retry-After": format_datetime(not_before, usegmt=True)})], then=200
    )
    feed = serve(feed_server, story(1, "Peru mining"))
    retry = {"first": "10s", "max": "1m", "give_up": "1h"}
    config = make_config(tmp_path, feed, {"hook": webhook(webhook_receiver.url, retry=retry)})
    clock = FakeClock()

    async def scenario(app: App) -> tuple[list[tuple[datetime, DeliveryOutcome]], Any]:
        await poll_one_alert(app)
        return await tries_until_settled(app, clock, "hook"), only_delivery(app, "hook")

    tries, delivery = play(config, clock, scenario)
    assert [at for at, _ in tries] == [START, not_before]
    assert tries[0][1].error == "http status 503"
    assert (delivery["status"], delivery["attempts"]) == ("sent", 2)


@pytest.mark.parametrize("status", [404, 400, 410, 500])
def test_every_non_2xx_status_is_retried(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver, status: int
) -> None:
    webhook_receiver.respond_with([status], then=200)
    feed = serve(feed_server, story(1, "Peru mining"))
    config = make_config(tmp_path, feed, {"hook": webhook(webhook_receiver.url)})
    clock = FakeClock()

    async def scenario(app: App) -> tuple[list[tuple[datetime, DeliveryOutcome]], Any]:
        await poll_one_alert(app)
        return await tries_until_settled(app, clock, "hook"), only_delivery(app, "hook")

    tries, delivery = play(config, clock, scenario)
    assert [at - START for at, _ in tries] == [timedelta(0), timedelta(seconds=10)]
    assert tries[0][1].error == f"http status {status}"
    assert (delivery["status"], delivery["attempts"]) == ("sent", 2)
    first, second = webhook_receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_is_not_followed_and_is_retried(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver, status: int
) -> None:
    moved = webhook_receiver.url_for("/moved")
    webhook_receiver.respond_with([Reply(status, headers={"Location": moved})], then=200)
    feed = serve(feed_server, story(1, "Peru mining"))
    config = make_config(tmp_path, feed, {"hook": webhook(webhook_receiver.url)})
    clock = FakeClock()

    async def scenario(app: App) -> tuple[list[tuple[datetime, DeliveryOutcome]], Any]:
        await poll_one_alert(app)
        return await tries_until_settled(app, clock, "hook"), only_delivery(app, "hook")

    tries, delivery = play(config, clock, scenario)
    assert [o.status for _, o in tries] == [DeliveryStatus.PENDING, DeliveryStatus.SENT]
    error = tries[0][1].error or ""
    assert f"http status {status}" in error
    assert moved in error
    assert [r.path for r in webhook_receiver.requests] == ["/hook", "/hook"]
    assert (delivery["status"], delivery["attempts"]) == ("sent", 2)


def test_receiver_down_is_retried_then_failed_with_its_error(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed = serve(feed_server, story(1, "Peru mining"))
    down = f"http://127.0.0.1:{closed_port()}/hook"
    retry = {"first": "10s", "max": "20s", "give_up": "1m"}
    config = make_config(tmp_path, feed, {"hook": webhook(down, retry=retry)})
    clock = FakeClock()

    async def scenario(app: App) -> tuple[list[tuple[datetime, DeliveryOutcome]], Any]:
        await poll_one_alert(app)
        return await tries_until_settled(app, clock, "hook"), only_delivery(app, "hook")

    tries, delivery = play(config, clock, scenario)
    offsets = [(at - START).total_seconds() for at, _ in tries]
    assert offsets[:4] == [0, 10, 30, 50]
    assert_schedule(offsets, first=10, most=20, give_up=60)
    assert (delivery["status"], delivery["attempts"]) == ("failed", len(tries))
    assert delivery["error"]
    assert delivery["error"] == tries[-1][1].error
    assert "request failed" in delivery["error"]


def test_receiver_hanging_past_timeout_is_retried(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.respond_with([Reply(200, delay=3.0)], then=200)
    feed = serve(feed_server, story(1, "Peru mining"))
    config = make_config(tmp_path, feed, {"hook": webhook(webhook_receiver.url, timeout="1s")})
    clock = FakeClock()

    async def scenario(app: App) -> tuple[list[tuple[datetime, DeliveryOutcome]], Any]:
        await poll_one_alert(app)
        return await tries_until_settled(app, clock, "hook"), only_delivery(app, "hook")

    tries, delivery = play(config, clock, scenario)
    assert [o.status for _, o in tries] == [DeliveryStatus.PENDING, DeliveryStatus.SENT]
    assert tries[0][1].error == "no answer within 1s"
    assert tries[1][0] - START == timedelta(seconds=10)
    assert (delivery["status"], delivery["attempts"]) == ("sent", 2)
    first, second = webhook_receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


# --- SMTP outages -------------------------------------------------------------------------


def test_smtp_down_is_retried(tmp_path: Path, feed_server: FeedServer) -> None:
    feed = serve(feed_server, story(1, "Peru mining"))
    port = closed_port()
    retry = {"first": "10s", "max": "20s", "give_up": "30s"}
    config = make_config(tmp_path, feed, {"me": email(port, retry=retry)})
    clock = FakeClock()

    async def scenario(app: App) -> tuple[list[tuple[datetime, DeliveryOutcome]], Any]:
        await poll_one_alert(app)
        return await tries_until_settled(app, clock, "me"), only_delivery(app, "me")

    tries, delivery = play(config, clock, scenario)
    offsets = [(at - START).total_seconds() for at, _ in tries]
    assert offsets[:2] == [0, 10]
    assert_schedule(offsets, first=10, most=20, give_up=30)
    assert [o.status for _, o in tries][-1] is DeliveryStatus.FAILED
    assert (delivery["status"], delivery["attempts"]) == ("failed", len(tries))
    assert f"127.0.0.1:{port}" in (delivery["error"] or "")


@pytest.mark.parametrize(
    ("stage", "code"), [("mail", 451), ("rcpt", 450), ("data", 452)], ids=["mail", "rcpt", "data"]
)
def test_smtp_4xx_is_transient_and_retried(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer, stage: Any, code: int
) -> None:
    smtp_server.reject_with(code, "4.3.0 try again later", stage=stage, times=1)
    feed = serve(feed_server, story(1, "Peru mining"))
    config = make_config(tmp_path, feed, {"me": email(smtp_server.port)})
    clock = FakeClock()

    async def scenario(app: App) -> tuple[list[tuple[datetime, DeliveryOutcome]], Any]:
        await poll_one_alert(app)
        return await tries_until_settled(app, clock, "me"), only_delivery(app, "me")

    tries, delivery = play(config, clock, scenario)
    assert [o.status for _, o in tries] == [DeliveryStatus.PENDING, DeliveryStatus.SENT]
    assert str(code) in (tries[0][1].error or "")
    assert tries[1][0] - START == timedelta(seconds=10)
    assert (delivery["status"], delivery["attempts"]) == ("sent", 2)
    assert smtp_server.rejected == 1
    assert len(smtp_server.messages) == 1


def test_smtp_refused_login_is_transient_and_retried(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed = serve(feed_server, story(1, "Peru mining"))
    with SmtpServer(username="bot", password="rotated") as server:
        smtp = {"username": "bot", "password": "old-password"}
        config = make_config(tmp_path, feed, {"me": email(server.port, smtp=smtp)})
        clock = FakeClock()

        async def scenario(app: App) -> tuple[list[DeliveryOutcome], dict[str, Any]]:
            await poll_one_alert(app)
            outcomes = await app.deliver()
            [first] = outcomes
            assert first.next_attempt_at is not None
            clock.now = first.next_attempt_at
            outcomes += await app.deliver()  # refused again
            # the mail admin puts the old password back
            server.password = "old-password"
            [second] = outcomes[1:]
            assert second.next_attempt_at is not None
            clock.now = second.next_attempt_at
            outcomes += await app.deliver()
            return outcomes, only_delivery(app, "me")

        outcomes, delivery = play(config, clock, scenario)
        messages = server.messages

    assert [o.status for o in outcomes] == [
        DeliveryStatus.PENDING, DeliveryStatus.PENDING, DeliveryStatus.SENT
    ]  # fmt: skip
    assert "535" in (outcomes[0].error or "")
    assert (delivery["status"], delivery["attempts"]) == ("sent", 3)
    [mail] = messages
    assert mail.auth_login == "bot"


def test_smtp_5xx_on_recipient_fails_at_once(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    smtp_server.reject_with(550, "5.1.1 no such user here", stage="rcpt")
    feed = serve(feed_server, story(1, "Peru mining"))
    config = make_config(tmp_path, feed, {"me": email(smtp_server.port)})
    clock = FakeClock()

    async def scenario(app: App) -> tuple[list[DeliveryOutcome], dict[str, Any]]:
        await poll_one_alert(app)
        outcomes = await app.deliver()
        for offset in (timedelta(seconds=10), timedelta(minutes=5), timedelta(days=2)):
            clock.at(offset)
            outcomes += await app.deliver()
        return outcomes, only_delivery(app, "me")

    outcomes, delivery = play(config, clock, scenario)
    assert [o.status for o in outcomes] == [DeliveryStatus.FAILED]
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)
    assert "550" in (delivery["error"] or "")
    assert "analyst@example.org" in (delivery["error"] or "")
    assert smtp_server.rejected == 1
    assert smtp_server.messages == []


# --- one notifier never holds up another, nor polling -------------------------------------


def test_hanging_webhook_does_not_hold_up_email(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_receiver: WebhookReceiver,
    smtp_server: SmtpServer,
) -> None:
    webhook_receiver.respond_with([], then=Reply(200, delay=6.0))
    feed = serve(feed_server, story(1, "Peru mining"))
    notifiers = {"hook": webhook(webhook_receiver.url, timeout="3s"), "me": email(smtp_server.port)}
    config = make_config(tmp_path, feed, notifiers)
    clock = FakeClock()

    async def scenario(app: App) -> tuple[dict[str, Any], list[DeliveryOutcome], dict[str, Any]]:
        await poll_one_alert(app)
        sending = asyncio.create_task(app.deliver())
        await asyncio.to_thread(smtp_server.wait_for, 1)
        # the email is in while the webhook still hangs: its attempt is not yet recorded
        hook_meanwhile = only_delivery(app, "hook")
        assert not sending.done()
        outcomes = await sending
        [alert] = app.store.list_alerts(10)
        return hook_meanwhile, outcomes, {d["notifier"]: d for d in alert["deliveries"]}

    hook_meanwhile, outcomes, deliveries = play(config, clock, scenario)
    assert hook_meanwhile["status"] == "pending"
    assert hook_meanwhile["error"] is None
    assert {o.notifier: o.status for o in outcomes} == {
        "hook": DeliveryStatus.PENDING,
        "me": DeliveryStatus.SENT,
    }
    assert (deliveries["me"]["status"], deliveries["me"]["attempts"]) == ("sent", 1)
    assert deliveries["hook"]["error"] == "no answer within 3s"
    assert len(smtp_server.messages) == 1


def test_hanging_webhook_does_not_hold_up_polling(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.respond_with([], then=Reply(200, delay=8.0))
    feed = serve(feed_server, story(1, "Peru mining"))
    config = make_config(tmp_path, feed, {"hook": webhook(webhook_receiver.url, timeout="5s")})
    clock = FakeClock()

    async def scenario(app: App) -> int:
        await poll_one_alert(app)
        sending = asyncio.create_task(app.deliver())
        await asyncio.to_thread(webhook_receiver.wait_for, 1)
        serve(feed_server, story(1, "Peru mining"), story(2, "Mining boom in Peru"))
        clock.at(SECOND)
        await poll_one_alert(app)  # a second alert stored while the webhook hangs
        assert not sending.done()
        alerts = len(app.store.list_alerts(10))
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        return alerts

    assert play(config, clock, scenario) == 2


# --- notifier health ----------------------------------------------------------------------


@pytest.fixture
def delivery_log() -> Iterator[list[logging.LogRecord]]:
    """The records of the delivery logger, at INFO, whatever the CLI set up before."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("feedwatch.deliver")
    handler, level = Keep(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_failing_notifier_is_reported_once_and_recovery_clears_it(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_receiver: WebhookReceiver,
    delivery_log: list[logging.LogRecord],
) -> None:
    webhook_receiver.respond_with([500, 502, 500], then=200)
    feed = serve(feed_server, story(1, "Peru mining"))
    config = make_config(tmp_path, feed, {"hook": webhook(webhook_receiver.url)})
    clock = FakeClock()
    health: list[dict[str, Any]] = []

    async def scenario(app: App) -> None:
        await poll_one_alert(app)
        for _ in range(4):
            [outcome] = await app.deliver()
            [record] = app.store.list_notifiers(["hook"])
            health.append(record)
            if outcome.next_attempt_at is not None:
                clock.now = outcome.next_attempt_at

    play(config, clock, scenario)
    first, second, third, recovered = health
    assert first["status"] == "failing"
    assert first["failing_since"] == iso(START)
    assert first["error"] == "http status 500"
    assert first["pending"] == 1
    # failing_since stays at the first failure; the error is the latest one
    assert (second["status"], second["failing_since"]) == ("failing", iso(START))
    assert second["error"] == "http status 502"
    assert third["failing_since"] == iso(START)
    assert recovered["status"] == "ok"
    assert recovered["failing_since"] is None
    assert recovered["error"] is None
    assert recovered["last_success"] == iso(START + timedelta(seconds=10 + 20 + 40))
    assert (recovered["pending"], recovered["sent"]) == (0, 1)
    messages = [r.getMessage() for r in delivery_log]
    assert sum("notifier failing" in m for m in messages) == 1
    assert sum("notifier recovered" in m for m in messages) == 1


# --- digests ------------------------------------------------------------------------------

DIGEST_RULES = [
    {"name": "peru", "keywords": ["Peru"]},
    {"name": "canada", "keywords": ["Canada"]},
]
PERU_OLD = story(1, "Copper strike spreads in Peru")
CANADA = story(2, "Ottawa weighs Canada mining code")
PERU_NEW = story(3, "Peru lithium auction delayed")
DIGEST_RETRY = {"first": "10s", "max": "40s", "give_up": "1d"}


def body_text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def body_html(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


async def three_alerts_in_one_hour(app: App, clock: FakeClock, feed_server: FeedServer) -> None:
    """Alerts at 12:10 (peru), 12:25 (canada) and 12:40 (peru); nothing goes out meanwhile."""
    for offset, items in (
        (timedelta(0), [PERU_OLD]),
        (timedelta(minutes=15), [PERU_OLD, CANADA]),
        (timedelta(minutes=30), [PERU_OLD, CANADA, PERU_NEW]),
    ):
        clock.at(offset)
        serve(feed_server, *items)
        await poll_one_alert(app)
        assert await app.deliver() == []


def test_digest_sends_one_message_when_the_period_closes(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    feed = serve(feed_server, PERU_OLD)
    config = make_config(
        tmp_path,
        feed,
        {"me": email(smtp_server.port, digest="1h", retry=DIGEST_RETRY)},
        DIGEST_RULES,
    )
    clock = FakeClock()

    async def scenario(app: App) -> tuple[list[DeliveryOutcome], list[DeliveryOutcome]]:
        await three_alerts_in_one_hour(app, clock, feed_server)
        clock.now = datetime(2024, 3, 1, 13, 0, tzinfo=UTC) - EARLY
        assert await app.deliver() == []
        assert smtp_server.messages == []
        clock.now = datetime(2024, 3, 1, 13, 0, tzinfo=UTC)  # the hour closes
        sent = await app.deliver()
        clock.now = datetime(2024, 3, 1, 13, 30, tzinfo=UTC)
        later = await app.deliver()
        statuses = [(d["status"], d["attempts"]) for a in app.store.list_alerts(10)
                    for d in a["deliveries"]]  # fmt: skip
        assert statuses == [("sent", 1)] * 3
        return sent, later

    sent, later = play(config, clock, scenario)
    assert [o.status for o in sent] == [DeliveryStatus.SENT] * 3
    assert later == []
    [mail] = smtp_server.wait_for(1)
    text = body_text(mail.message)
    html = body_html(mail.message)
    for item in (PERU_OLD, CANADA, PERU_NEW):
        assert text.count(item["title"]) == 1
        assert item["title"] in html
        assert item["link"] in text
    where = {name: text.index(item["title"]) for name, item in
             (("peru_old", PERU_OLD), ("canada", CANADA), ("peru_new", PERU_NEW))}  # fmt: skip
    # grouped by rule: the canada item is not between the two peru items; newest first
    assert where["peru_new"] < where["peru_old"]
    assert not where["peru_new"] < where["canada"] < where["peru_old"]
    peru_heading = text.index("peru")
    canada_heading = text.index("canada")
    assert peru_heading < where["peru_new"]
    assert canada_heading < where["canada"]
    assert mail.rcpt_tos == ["analyst@example.org"]
    assert "\n" not in mail.message["Subject"]
    assert mail.message["Message-ID"]


def test_digest_survives_a_restart(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    feed = serve(feed_server, PERU_OLD)
    config = make_config(
        tmp_path,
        feed,
        {"me": email(smtp_server.port, digest="1h", retry=DIGEST_RETRY)},
        DIGEST_RULES,
    )
    clock = FakeClock()

    async def before(app: App) -> None:
        await three_alerts_in_one_hour(app, clock, feed_server)

    async def deliver(app: App) -> list[DeliveryOutcome]:
        return await app.deliver()

    play(config, clock, before)  # the daemon stops at 12:40
    clock.now = datetime(2024, 3, 1, 12, 55, tzinfo=UTC)
    assert play(config, clock, deliver) == []  # restarted before the hour: still waiting
    clock.now = datetime(2024, 3, 1, 13, 7, tzinfo=UTC)
    sent = play(config, clock, deliver)  # restarted after it: sent at once
    clock.now = datetime(2024, 3, 1, 13, 8, tzinfo=UTC)
    again = play(config, clock, deliver)

    assert [o.status for o in sent] == [DeliveryStatus.SENT] * 3
    assert again == []
    [mail] = smtp_server.wait_for(1)
    text = body_text(mail.message)
    for item in (PERU_OLD, CANADA, PERU_NEW):
        assert text.count(item["title"]) == 1


def test_digest_period_is_aligned_to_the_epoch(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    feed = serve(feed_server, PERU_OLD)
    config = make_config(
        tmp_path,
        feed,
        {"me": email(smtp_server.port, digest="1h", retry=DIGEST_RETRY)},
        DIGEST_RULES,
    )
    clock = FakeClock(datetime(2024, 3, 1, 12, 59, 30, tzinfo=UTC))

    async def scenario(app: App) -> list[datetime]:
        await poll_one_alert(app)
        due = app.store.due_deliveries(datetime(2024, 3, 1, 13, 0, tzinfo=UTC), ["me"])
        early = app.store.due_deliveries(datetime(2024, 3, 1, 13, 0, tzinfo=UTC) - EARLY, ["me"])
        assert early == []
        return [d.next_attempt_at for d in due if d.next_attempt_at is not None]

    # an alert 30 s before the hour goes out on the hour, not an hour after it was raised
    assert play(config, clock, scenario) == [datetime(2024, 3, 1, 13, 0, tzinfo=UTC)]


def test_digest_that_fails_is_retried_as_one_message(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    feed = serve(feed_server, PERU_OLD)
    config = make_config(
        tmp_path,
        feed,
        {"me": email(smtp_server.port, digest="1h", retry=DIGEST_RETRY)},
        DIGEST_RULES,
    )
    clock = FakeClock()
    smtp_server.reject_with(451, "4.3.0 try again later", stage="data", times=1)

    async def scenario(app: App) -> list[list[DeliveryOutcome]]:
        await three_alerts_in_one_hour(app, clock, feed_server)
        clock.now = datetime(2024, 3, 1, 13, 0, tzinfo=UTC)
        failed = await app.deliver()
        assert failed[0].next_attempt_at is not None
        clock.now = failed[0].next_attempt_at
        return [failed, await app.deliver()]

    failed, sent = play(config, clock, scenario)
    assert [o.status for o in failed] == [DeliveryStatus.PENDING] * 3
    assert [o.status for o in sent] == [DeliveryStatus.SENT] * 3
    [mail] = smtp_server.wait_for(1)
    assert all(body_text(mail.message).count(i["title"]) == 1 for i in (PERU_OLD, CANADA, PERU_NEW))


def test_digest_is_tried_when_give_up_is_shorter_than_the_period(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    feed = serve(feed_server, PERU_OLD)
    retry = {"first": "1m", "max": "5m", "give_up": "10m"}
    notifiers = {"me": email(smtp_server.port, digest="1h", retry=retry)}
    config = make_config(tmp_path, feed, notifiers, DIGEST_RULES)
    clock = FakeClock()

    async def scenario(app: App) -> list[DeliveryOutcome]:
        await three_alerts_in_one_hour(app, clock, feed_server)
        clock.now = datetime(2024, 3, 1, 13, 0, tzinfo=UTC)
        return await app.deliver()

    outcomes = play(config, clock, scenario)
    assert len(smtp_server.messages) == 1, "the digest was never tried"
    assert [o.status for o in outcomes] == [DeliveryStatus.SENT] * 3


def test_without_digest_each_alert_is_its_own_message(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    feed = serve(feed_server, PERU_OLD, CANADA, PERU_NEW)
    config = make_config(tmp_path, feed, {"me": email(smtp_server.port)}, DIGEST_RULES)
    clock = FakeClock()

    async def scenario(app: App) -> list[DeliveryOutcome]:
        [result] = await app.poll()
        assert result.alerts == 3
        return await app.deliver()

    outcomes = play(config, clock, scenario)
    assert [o.status for o in outcomes] == [DeliveryStatus.SENT] * 3
    mails = smtp_server.wait_for(3)
    assert len(mails) == 3
    assert len({m.message["Message-ID"] for m in mails}) == 3
    subjects = sorted(m.message["Subject"] for m in mails)
    assert subjects == sorted(
        f"[{rule}] {item['title']}"
        for rule, item in (("peru", PERU_OLD), ("canada", CANADA), ("peru", PERU_NEW))
    )
