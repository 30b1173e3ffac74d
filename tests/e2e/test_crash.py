"""Crash safety, proven: `feedwatch run` is killed with SIGKILL at many seeded moments
(during a poll, right after an item is stored, with a webhook request in flight, while an
email is being sent), restarted each time, and in the end every alert the feeds called for
is delivered once per notifier, repeated only where the first try's outcome was unknown
(issue 3, point 1)."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.feeds import rss
from harness.servers import FeedServer, Reply, SmtpServer, WebhookReceiver

from .conftest import Feedwatch, wait_until

SEED = int(os.environ.get("FEEDWATCH_CRASH_SEED", "20261128"))
KILLS = 24
FEEDS = 3
MOMENTS = ("poll", "webhook", "email", "random")
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class World:
    """The feeds, and which of their items must raise an alert."""

    def __init__(self, server: FeedServer, rng: random.Random) -> None:
        self.server = server
        self.rng = rng
        self.items: list[list[dict[str, Any]]] = [[] for _ in range(FEEDS)]
        self.matching: set[str] = set()
        self.serial = 0
        self.urls = [self.publish(f) for f in range(FEEDS)]

    def add_item(self, feed: int, matching: bool) -> None:
        self.serial += 1
        n = self.serial
        topic = (
            f"Canadian mining company number {n} faces protests in Peru"
            if matching
            else f"Weather report number {n}: rain over the valley"
        )
        item_id = f"urn:crash:{n}"
        self.items[feed].insert(0, {
            "id": item_id,
            "title": topic,
            "link": f"https://news.example.org/story/{n}",
            "content": f"<p>{topic}. Story {n} has its own text so it is its own article.</p>",
            "published": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n),
        })  # fmt: skip
        if matching:
            self.matching.add(item_id)
        self.publish(feed)

    def publish(self, feed: int) -> str:
        body = rss(f"Feed {feed}", "https://news.example.org/", self.items[feed])
        return self.server.set(f"/feed{feed}.xml", body, etag=f'"{feed}-{len(self.items[feed])}"')


def write_config(tmp_path: Path, world: World, hook: WebhookReceiver, smtp: SmtpServer) -> Path:
    feeds = "\n".join(f"  - {url}" for url in world.urls)
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"""\
database: crash.db
defaults: {{interval: 1s, timeout: 5s}}
feeds:
{feeds}
alerts:
  - name: mining
    keywords: [mining, Peru]
notifiers:
  hook:
    type: webhook
    url: {hook.url}
    secret: "{SECRET}"
    timeout: 1s
    retry: {{first: 1s, max: 2s, give_up: 1h}}
  mail:
    type: email
    to: [desk@example.org]
    from: feedwatch@example.org
    smtp: {{host: 127.0.0.1, port: {smtp.port}, security: none, timeout: 2s}}
    retry: {{first: 1s, max: 2s, give_up: 1h}}
"""
    )
    return config


def _count_grows(counter: Any, before: int, timeout: float) -> bool:
    try:
        wait_until(lambda: counter() > before, timeout=timeout, step=0.005)
    except AssertionError:
        return False
    return True


def test_kill_at_many_moments_loses_and_duplicates_nothing(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_receiver: WebhookReceiver,
    smtp_server: SmtpServer,
    feedwatch_factory: type[Feedwatch],
) -> None:
    rng = random.Random(SEED)
    world = World(feed_server, rng)
    for feed in range(FEEDS):
        for _ in range(4):
            world.add_item(feed, matching=rng.random() < 0.5)
    # slow answers so that kills land while requests and messages are in flight
    webhook_receiver.respond_with(
        [Reply(status=200, delay=rng.uniform(0.05, 0.6)) for _ in range(400)]
    )
    smtp_server.set_delay(0.3)
    runner = feedwatch_factory(write_config(tmp_path, world, webhook_receiver, smtp_server))

    moments: Counter[str] = Counter()
    for _ in range(KILLS):
        if rng.random() < 0.7:
            world.add_item(rng.randrange(FEEDS), matching=rng.random() < 0.7)
        moment = rng.choice(MOMENTS)
        feed_hits = len(feed_server.requests)
        hooks = len(webhook_receiver.requests)
        daemon = runner.start()
        if moment == "webhook" and _count_grows(lambda: len(webhook_receiver.requests), hooks, 4):
            pass  # the request is at the receiver, which has not answered yet
        elif moment == "email":
            time.sleep(rng.uniform(0.3, 1.5))  # sends take 0.3 s each: often mid-message
        elif moment == "poll" and _count_grows(lambda: len(feed_server.requests), feed_hits, 4):
            time.sleep(rng.uniform(0.0, 0.05))  # between the fetch and the transaction
        else:
            moment = "random"
            time.sleep(rng.uniform(0.2, 1.5))
        daemon.send_signal(signal.SIGKILL)
        daemon.communicate(timeout=10)
        moments[moment] += 1

    final = runner.start()
    expected = len(world.matching)

    def alerts() -> list[dict[str, Any]]:
        out = runner("alerts", "--json", "--limit", "1000").stdout
        return [json.loads(line) for line in out.splitlines()]

    def all_sent() -> bool:
        current = alerts()
        return len(current) == expected and all(
            d["status"] == "sent" for a in current for d in a["deliveries"]
        )

    wait_until(all_sent, timeout=90, step=0.5)
    final.send_signal(signal.SIGTERM)
    final.communicate(timeout=10)
    assert final.returncode == 0

    stored = alerts()
    alert_ids = {a["id"] for a in stored}
    assert len(alert_ids) == len(stored) == expected, "an alert was created twice or lost"
    assert {a["item"]["url"].rsplit("/", 1)[1] for a in stored} == {
        i.rsplit(":", 1)[1] for i in world.matching
    }

    hook_counts = Counter(r.headers["webhook-id"] for r in webhook_receiver.requests)
    mail_counts = Counter(m.message["X-Feedwatch-Alert"] for m in smtp_server.messages)
    assert set(hook_counts) == alert_ids
    assert set(mail_counts) == alert_ids

    attempts = {(a["id"], d["notifier"]): d["attempts"] for a in stored for d in a["deliveries"]}
    for alert_id, count in hook_counts.items():
        assert count <= attempts[(alert_id, "hook")], "a webhook was sent without an attempt"
    for alert_id, count in mail_counts.items():
        assert count <= attempts[(alert_id, "mail")], "an email was sent without an attempt"

    # a repeat is the same message: same webhook-id and body, same Message-ID
    bodies: dict[str, bytes] = {}
    for request in webhook_receiver.requests:
        previous = bodies.setdefault(request.headers["webhook-id"], request.body)
        assert previous == request.body
    message_ids: dict[str, str] = {}
    for mail in smtp_server.messages:
        alert_id = mail.message["X-Feedwatch-Alert"]
        first = message_ids.setdefault(alert_id, mail.message["Message-ID"])
        assert first == mail.message["Message-ID"]

    # only a send cut short by a kill is repeated: at most one per notifier per kill
    repeats = sum(hook_counts.values()) - len(hook_counts)
    repeats += sum(mail_counts.values()) - len(mail_counts)
    assert repeats <= 2 * KILLS
    print(f"seed={SEED} kills={dict(moments)} alerts={expected} repeats={repeats}")
