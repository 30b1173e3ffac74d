"""`feedwatch run` end to end: the daemon polls at once, delivers, survives kill -9 and stops
cleanly on SIGTERM or SIGINT within 10 s (SPEC: run)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from harness.feeds import rss
from harness.servers import FeedServer, Reply, WebhookReceiver

from .conftest import Feedwatch, wait_until
from .test_poll import SECRET, serve_article, write_config

STOP_BOUND = 10.0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_polls_at_once_delivers_and_stops_on_signal(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_receiver: WebhookReceiver,
    feedwatch_factory: type[Feedwatch],
    sig: signal.Signals,
) -> None:
    urls = serve_article(feed_server, ("rss", "atom"))
    config = write_config(tmp_path, urls, webhook_receiver, None)
    daemon = feedwatch_factory(config, {"WEBHOOK_SECRET": SECRET}).start()

    [request] = webhook_receiver.wait_for(1, timeout=30)
    assert request.json()["keywords"] == ["Peru", "Canada", "mining"]
    daemon.send_signal(sig)
    _, stderr = daemon.communicate(timeout=STOP_BOUND)
    assert daemon.returncode == 0, stderr
    assert "started" in stderr
    assert "stopped" in stderr
    assert len(webhook_receiver.requests) == 1


def test_sigterm_during_a_slow_poll_exits_within_bound(
    tmp_path: Path, feed_server: FeedServer, feedwatch_factory: type[Feedwatch]
) -> None:
    slow = feed_server.set("/slow.xml", rss("Slow", "https://example.org/", []), delay=60)
    config = write_config(tmp_path, [slow], None, None)
    daemon = feedwatch_factory(config).start()
    feed_server.wait_for_hits("/slow.xml", 1, timeout=30)

    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=STOP_BOUND)
    assert daemon.returncode == 0, stderr


def test_one_failing_feed_logs_a_line_and_the_daemon_keeps_going(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_receiver: WebhookReceiver,
    feedwatch_factory: type[Feedwatch],
) -> None:
    [good] = serve_article(feed_server, ("rss",))
    unreachable = "http://127.0.0.1:9/feed.xml"  # the discard port: nothing listens there
    config = write_config(tmp_path, [unreachable, good], webhook_receiver, None)
    daemon = feedwatch_factory(config, {"WEBHOOK_SECRET": SECRET}).start()

    webhook_receiver.wait_for(1, timeout=30)
    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=STOP_BOUND)
    assert daemon.returncode == 0
    failures = [line for line in stderr.splitlines() if "poll failed" in line]
    assert len(failures) == 1
    assert unreachable in failures[0]


def test_kill_during_webhook_delivery_then_restart_delivers_same_id(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_receiver: WebhookReceiver,
    feedwatch_factory: type[Feedwatch],
) -> None:
    urls = serve_article(feed_server, ("rss",))
    config = write_config(tmp_path, urls, webhook_receiver, None)
    runner = feedwatch_factory(config, {"WEBHOOK_SECRET": SECRET})
    # the first request hangs, so the daemon is killed while the delivery is in flight
    webhook_receiver.respond_with([Reply(status=200, delay=30)])
    first = runner.start()
    [in_flight] = webhook_receiver.wait_for(1, timeout=30)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=STOP_BOUND)

    second = runner.start()
    requests = webhook_receiver.wait_for(2, timeout=40)
    assert requests[1].headers["webhook-id"] == in_flight.headers["webhook-id"]
    assert requests[1].body == in_flight.body
    wait_until(lambda: '"status": "sent"' in runner("alerts", "--json").stdout)
    second.send_signal(signal.SIGTERM)
    second.communicate(timeout=STOP_BOUND)
    assert second.returncode == 0
    assert len(webhook_receiver.requests) == 2
