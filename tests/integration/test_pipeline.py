"""feedwatch.app.App end to end over loopback: FeedServer in, WebhookReceiver out."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from feedwatch.app import App
from feedwatch.config import Config, parse_config
from feedwatch.models import DeliveryOutcome, DeliveryStatus, PollResult
from feedwatch.pipeline import PollContext, poll_feeds
from feedwatch.prepare import FeedJob, PreparedFeed, prepare
from harness.article import ARTICLE_LINK, load_article, unrelated_items
from harness.feeds import atom, rss
from harness.servers import FeedServer, WebhookReceiver

SECRET = "whsec_" + base64.b64encode(bytes(range(40))).decode()
RULE = "peru-canada-mining"


def article_item(**overrides: Any) -> dict[str, Any]:
    item = load_article()
    item.update(overrides)
    return item


def make_config(
    tmp_path: Path,
    feeds: Sequence[str | dict[str, str]],
    hook_url: str | None,
    keywords: str = "[Peru, Canada, mining]",
) -> Config:
    lines = ["database: state/feedwatch.db", "defaults: {interval: 15m, timeout: 5s}", "feeds:"]
    for feed in feeds:
        if isinstance(feed, str):
            lines.append(f"  - {feed}")
        else:
            lines.append(f"  - url: {feed['url']}")
            lines += [f"    {key}: {value}" for key, value in feed.items() if key != "url"]
    lines += ["alerts:", f"  - name: {RULE}", f"    keywords: {keywords}"]
    if hook_url is not None:
        lines += [
            "notifiers:",
            "  hook:",
            "    type: webhook",
            f"    url: {hook_url}",
            f'    secret: "{SECRET}"',
            "    timeout: 5s",
            "    retry: {first: 30s, max: 10m, give_up: 1h}",
        ]
    text = "\n".join(lines) + "\n"
    return parse_config(text, str(tmp_path / "feeds.yaml"), env={})


class Clock:
    """A clock the test moves by hand; starts at the real time so HTTP dates make sense."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def run_round(config: Config, clock: Clock | None = None) -> tuple[list[PollResult], list[Any]]:
    """One `feedwatch poll`: poll every feed, then deliver what is due."""

    async def go() -> tuple[list[PollResult], list[DeliveryOutcome]]:
        kwargs: dict[str, Any] = {"jitter": lambda: 0.0}
        if clock is not None:
            kwargs["clock"] = clock
        async with App(config, **kwargs) as app:
            results = await app.poll()
            outcomes = await app.deliver()
            return results, outcomes

    return asyncio.run(go())


def listing(config: Config, what: str) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        async with App(config) as app:
            if what == "feeds":
                return app.store.list_feeds()
            if what == "items":
                return app.store.list_items(100)
            return app.store.list_alerts(100)

    return asyncio.run(go())


def by_url(results: Sequence[PollResult]) -> dict[str, PollResult]:
    return {result.feed_url: result for result in results}


@pytest.fixture
def news_feed(feed_server: FeedServer) -> str:
    """An RSS feed with the Peru article among four near misses, served with an ETag."""
    body = rss("Canadian Dimension", "https://canadiandimension.com/", [
        *unrelated_items()[:2], article_item(), *unrelated_items()[2:]
    ])  # fmt: skip
    return feed_server.set("/dimension.xml", body, etag='"v1"')


def test_matching_item_raises_one_alert_and_one_webhook(
    tmp_path: Path, news_feed: str, webhook_receiver: WebhookReceiver
) -> None:
    config = make_config(tmp_path, [{"url": news_feed, "name": "Dimension"}], webhook_receiver.url)
    [result], outcomes = run_round(config)

    assert result.ok
    assert (result.new_items, result.copies, result.alerts) == (5, 0, 1)
    assert [o.status for o in outcomes] == [DeliveryStatus.SENT]
    [request] = webhook_receiver.wait_for(1)
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["rule"] == RULE
    assert payload["keywords"] == ["Peru", "Canada", "mining"]
    assert payload["item"]["url"] == ARTICLE_LINK
    assert payload["item"]["title"] == load_article()["title"]
    assert payload["item"]["published"] == "2023-08-07T00:00:00Z"
    assert payload["item"]["feed"] == {"title": "Dimension", "url": news_feed}
    summary = payload["item"]["summary"]
    assert 0 < len(summary) <= 500
    assert "<p>" not in summary

    [alert] = listing(config, "alerts")
    assert alert["id"] == payload["id"] == request.headers["webhook-id"]
    assert [(d["notifier"], d["status"], d["attempts"]) for d in alert["deliveries"]] == [
        ("hook", "sent", 1)
    ]
    [feed] = listing(config, "feeds")
    assert (feed["status"], feed["items"], feed["name"]) == ("ok", 5, "Dimension")


def test_second_poll_is_304_and_raises_nothing(
    tmp_path: Path, feed_server: FeedServer, news_feed: str, webhook_receiver: WebhookReceiver
) -> None:
    config = make_config(tmp_path, [news_feed], webhook_receiver.url)
    run_round(config)
    webhook_receiver.wait_for(1)

    [result], outcomes = run_round(config)
    assert result.ok
    assert result.not_modified
    assert (result.new_items, result.alerts) == (0, 0)
    assert outcomes == []
    assert feed_server.requests[-1].headers["if-none-match"] == '"v1"'
    assert len(webhook_receiver.requests) == 1
    assert len(listing(config, "alerts")) == 1


def test_refetched_unchanged_feed_raises_nothing(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    # A server without validators: the second poll gets the whole body again.
    url = feed_server.set("/plain.xml", rss("News", "https://n.example/", [article_item()]))
    config = make_config(tmp_path, [url], webhook_receiver.url)
    run_round(config)
    [result], outcomes = run_round(config)
    assert result.ok
    assert not result.not_modified
    assert (result.new_items, result.copies, result.alerts) == (0, 0, 0)
    assert outcomes == []
    assert len(webhook_receiver.requests) == 1
    assert len(listing(config, "items")) == 1


def test_same_article_in_second_feed_under_tracking_link_is_a_copy(
    tmp_path: Path, feed_server: FeedServer, news_feed: str, webhook_receiver: WebhookReceiver
) -> None:
    config = make_config(tmp_path, [news_feed], webhook_receiver.url)
    run_round(config)
    webhook_receiver.wait_for(1)

    tracked = f"{ARTICLE_LINK}?utm_source=rss&utm_medium=feed&utm_campaign=x#comments"
    mirror = feed_server.set(
        "/mirror.atom",
        atom("Mirror", "https://mirror.example/", [article_item(id="urn:mirror:1", link=tracked)]),
        "application/atom+xml",
    )
    config = make_config(tmp_path, [news_feed, mirror], webhook_receiver.url)
    results, outcomes = run_round(config)

    second = by_url(results)[mirror]
    assert second.ok
    assert (second.new_items, second.copies, second.alerts) == (0, 1, 0)
    assert outcomes == []
    assert len(webhook_receiver.requests) == 1
    assert len(listing(config, "alerts")) == 1
    items = listing(config, "items")
    [copy] = [i for i in items if i["feed"]["url"] == mirror]
    [original] = [i for i in items if i["url"] == ARTICLE_LINK]
    assert copy["copy_of"] == original["id"]


def test_same_article_in_two_feeds_in_one_round_alerts_once(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    first = feed_server.set("/a.xml", rss("A", "https://a.example/", [article_item()]))
    second = feed_server.set(
        "/b.xml",
        rss("B", "https://b.example/", [article_item(link=f"{ARTICLE_LINK}?fbclid=abc")]),
    )
    config = make_config(tmp_path, [first, second], webhook_receiver.url)
    results, outcomes = run_round(config)
    assert all(r.ok for r in results)
    assert sum(r.alerts for r in results) == 1
    assert sum(r.copies for r in results) == 1
    assert len(outcomes) == 1
    assert len(webhook_receiver.wait_for(1)) == 1


@pytest.mark.parametrize(
    "route",
    [
        pytest.param({"body": b"oops", "status": 500}, id="http-500"),
        pytest.param({"body": b"", "status": 404}, id="http-404"),
        pytest.param(
            {"body": b"<html><body>Not a feed</body></html>", "content_type": "text/html"},
            id="html-page",
        ),
        pytest.param({"body": b"\x00\x01garbage\xff" * 50}, id="garbage"),
        pytest.param({"body": b"x", "delay": 10.0}, id="timeout"),
    ],
)
def test_broken_feed_does_not_stop_the_others(
    tmp_path: Path,
    feed_server: FeedServer,
    news_feed: str,
    webhook_receiver: WebhookReceiver,
    route: dict[str, Any],
) -> None:
    broken = feed_server.set("/broken.xml", **route)
    feeds = [{"url": broken, "timeout": "1s"}, news_feed]
    config = make_config(tmp_path, feeds, webhook_receiver.url)
    results, outcomes = run_round(config)

    bad, good = by_url(results)[broken], by_url(results)[news_feed]
    assert not bad.ok
    assert bad.error
    assert (good.ok, good.new_items, good.alerts) == (True, 5, 1)
    assert [o.status for o in outcomes] == [DeliveryStatus.SENT]
    assert len(webhook_receiver.wait_for(1)) == 1
    feeds = {f["url"]: f for f in listing(config, "feeds")}
    assert feeds[broken]["status"] == "failing"
    assert feeds[broken]["error"] == bad.error
    assert feeds[news_feed]["status"] == "ok"


def test_gone_feed_is_marked_gone(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    url = feed_server.set("/gone.xml", b"gone", "text/plain", status=410)
    config = make_config(tmp_path, [url], webhook_receiver.url)
    [result], _ = run_round(config)
    assert result.http_status == 410
    assert not result.ok
    [feed] = listing(config, "feeds")
    assert feed["status"] == "gone"


def test_retry_after_on_429_delays_the_next_poll(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    url = feed_server.set(
        "/busy.xml", b"", "text/plain", status=429, headers={"Retry-After": "7200"}
    )
    clock = Clock()
    config = make_config(tmp_path, [url], webhook_receiver.url)
    [result], _ = run_round(config, clock)
    assert result.http_status == 429
    [feed] = listing(config, "feeds")
    assert feed["status"] == "failing"
    next_poll = datetime.fromisoformat(feed["next_poll"])
    assert next_poll >= clock.now + timedelta(seconds=7200 - 1)


def test_same_text_under_another_link_is_a_copy(
    tmp_path: Path, feed_server: FeedServer, news_feed: str, webhook_receiver: WebhookReceiver
) -> None:
    config = make_config(tmp_path, [news_feed], webhook_receiver.url)
    run_round(config)
    republished = article_item(link="https://aggregator.example/story/12345")
    other = feed_server.set("/agg.xml", rss("Aggregator", "https://aggregator.example/", [
        republished
    ]))  # fmt: skip
    config = make_config(tmp_path, [news_feed, other], webhook_receiver.url)
    results, outcomes = run_round(config)
    assert (by_url(results)[other].copies, by_url(results)[other].alerts) == (1, 0)
    assert outcomes == []
    assert len(webhook_receiver.requests) == 1


def test_unreachable_feed_is_reported_not_raised(
    tmp_path: Path, news_feed: str, webhook_receiver: WebhookReceiver
) -> None:
    dead = "http://127.0.0.1:9/feed.xml"  # discard port: nothing listens on loopback
    config = make_config(tmp_path, [dead, news_feed], webhook_receiver.url)
    results, _ = run_round(config)
    assert by_url(results)[dead].error
    assert by_url(results)[news_feed].alerts == 1


def test_accented_keyword_match_in_atom_feed(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    items = [
        {
            "id": "tag:x,2024:1",
            "title": "Protestas en el PERÚ",
            "link": "https://x.example/1",
            "summary": "<p>Mineros &amp; campesinos</p>",
            "published": datetime(2024, 1, 5, tzinfo=UTC),
        },
        *unrelated_items(),
    ]
    url = feed_server.set("/x.atom", atom("X", "https://x.example/", items), "application/atom+xml")
    config = make_config(tmp_path, [url], webhook_receiver.url)
    [result], _ = run_round(config)
    assert (result.new_items, result.alerts) == (5, 1)
    [request] = webhook_receiver.wait_for(1)
    assert request.json()["keywords"] == ["Peru"]
    assert request.json()["item"]["feed"]["title"] == "X"


def test_failed_webhook_is_retried_with_the_same_id(
    tmp_path: Path, news_feed: str, webhook_receiver: WebhookReceiver
) -> None:
    clock = Clock()
    webhook_receiver.respond_with([500], then=200)
    config = make_config(tmp_path, [news_feed], webhook_receiver.url)

    _, [failed] = run_round(config, clock)
    assert failed.status is DeliveryStatus.PENDING
    assert failed.next_attempt_at is not None
    [alert] = listing(config, "alerts")
    assert [(d["status"], d["attempts"]) for d in alert["deliveries"]] == [("pending", 1)]
    assert "500" in alert["deliveries"][0]["error"]

    clock.now = failed.next_attempt_at + timedelta(seconds=1)
    _, [sent] = run_round(config, clock)
    assert sent.status is DeliveryStatus.SENT
    first, second = webhook_receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == alert["id"]
    [alert] = listing(config, "alerts")
    assert [(d["status"], d["attempts"]) for d in alert["deliveries"]] == [("sent", 2)]


def test_without_notifiers_alerts_print_to_stdout(
    tmp_path: Path, news_feed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, [news_feed], None)
    [result], outcomes = run_round(config)
    assert result.alerts == 1
    assert [o.status for o in outcomes] == [DeliveryStatus.SENT]
    [line] = capsys.readouterr().out.splitlines()
    assert RULE in line
    assert ARTICLE_LINK in line
    assert "Peru" in line


def test_downloads_wait_while_the_backlog_of_bodies_is_full(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Downloading is faster than preparing a first round: once the backlog is full, no
    further feed is fetched until a body in hand has been saved, so memory stays bounded."""
    urls = [
        feed_server.set(f"/b{n}.xml", rss(f"B{n}", "https://b.example/", unrelated_items()[:3]))
        for n in range(12)
    ]
    config = make_config(tmp_path, urls, None)
    in_hand: list[int] = []

    class SlowPreparer:
        def __init__(self, ctx: PollContext) -> None:
            self.ctx = ctx
            self.saved = 0

        async def prepare(self, job: FeedJob) -> PreparedFeed:
            in_hand.append(len(feed_server.requests) - self.saved)
            await asyncio.sleep(0.15)
            self.saved += 1  # saved right after, before the backlog place is given up
            return prepare(job, self.ctx.matcher, self.ctx.routes)

    async def go() -> list[PollResult]:
        async with App(config, jitter=lambda: 0.0) as app:
            base = replace(app.poll_context, backlog=asyncio.Semaphore(2))
            ctx = replace(base, preparer=SlowPreparer(base))
            states = {s.url: s for s in app.store.feed_states()}
            return await poll_feeds(ctx, [(app.specs[u], states[u]) for u in urls])

    results = asyncio.run(go())
    assert [r.error for r in results] == [None] * 12
    assert sum(r.new_items + r.copies for r in results) == 36
    # two in the backlog, and at most the host's two requests in flight beyond it
    assert max(in_hand) <= 4
