"""The real `feedwatch` command on delivery (issue 3, points 5 and 7): `notify-test`,
`alerts --retry`, failing notifiers shown by `feeds` and `alerts`, and logged once by `run`.
"""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from harness.servers import FeedServer, SmtpServer, WebhookReceiver

from .conftest import Feedwatch, wait_until
from .test_poll import serve_article

STOP_BOUND = 10.0


def closed_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hook(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": url, "timeout": "3s"} | extra


def mailbox(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "email",
        "to": ["analyst@example.org"],
        "from": "feedwatch@example.org",
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout": "5s"},
    } | extra


def write_config(tmp_path: Path, feeds: list[str], notifiers: dict[str, Any]) -> Path:
    """feeds.yaml, written as JSON (which YAML reads)."""
    document = {
        "database": "state/feedwatch.db",
        "feeds": feeds,
        "alerts": [{"name": "peru-canada-mining", "keywords": ["Peru", "Canada", "mining"]}],
        "notifiers": notifiers,
    }
    path = tmp_path / "feeds.yaml"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def alerts_json(feedwatch: Feedwatch) -> list[dict[str, Any]]:
    result = feedwatch("alerts", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def only_delivery(feedwatch: Feedwatch) -> dict[str, Any]:
    [alert] = alerts_json(feedwatch)
    [delivery] = alert["deliveries"]
    return dict(delivery)


# --- notify-test --------------------------------------------------------------------------


def test_notify_test_webhook_sends_one_request(
    tmp_path: Path, webhook_receiver: WebhookReceiver
) -> None:
    config = write_config(tmp_path, [], {"hook": hook(webhook_receiver.url)})
    result = Feedwatch(config)("notify-test", "hook")
    assert result.returncode == 0, result.stderr
    assert "hook" in result.stdout
    [request] = webhook_receiver.wait_for(1)
    assert request.path == "/hook"
    assert request.headers["webhook-id"]
    assert len(webhook_receiver.requests) == 1  # the command has exited: nothing follows


def test_notify_test_email_sends_one_message(tmp_path: Path, smtp_server: SmtpServer) -> None:
    config = write_config(tmp_path, [], {"me": mailbox(smtp_server.port)})
    result = Feedwatch(config)("notify-test", "me")
    assert result.returncode == 0, result.stderr
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["analyst@example.org"]
    assert mail.message["Subject"]


def test_notify_test_reports_the_exact_http_error(
    tmp_path: Path, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.respond_with([], then=500)
    config = write_config(tmp_path, [], {"hook": hook(webhook_receiver.url)})
    result = Feedwatch(config)("notify-test", "hook")
    assert result.returncode == 1
    assert "http status 500" in result.stderr
    assert "hook" in result.stderr
    assert len(webhook_receiver.requests) == 1  # a test message is tried once, not retried


def test_notify_test_reports_a_receiver_that_is_down(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{closed_port()}/hook"
    config = write_config(tmp_path, [], {"hook": hook(down)})
    result = Feedwatch(config)("notify-test", "hook")
    assert result.returncode == 1
    assert "hook" in result.stderr
    assert "request failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_notify_test_reports_a_refused_recipient(tmp_path: Path, smtp_server: SmtpServer) -> None:
    smtp_server.reject_with(550, "5.1.1 no such user here", stage="rcpt")
    config = write_config(tmp_path, [], {"me": mailbox(smtp_server.port)})
    result = Feedwatch(config)("notify-test", "me")
    assert result.returncode == 1
    assert "550" in result.stderr
    assert "5.1.1 no such user here" in result.stderr


def test_notify_test_unknown_notifier_is_bad_usage(
    tmp_path: Path, webhook_receiver: WebhookReceiver
) -> None:
    config = write_config(tmp_path, [], {"hook": hook(webhook_receiver.url)})
    result = Feedwatch(config)("notify-test", "nosuch")
    assert result.returncode == 2
    assert "nosuch" in result.stderr
    assert webhook_receiver.requests == []


# --- alerts --retry -----------------------------------------------------------------------


def test_retry_requeues_a_delivery_failed_by_a_refused_recipient(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    smtp_server.reject_with(550, "5.1.1 no such user here", stage="rcpt")
    config = write_config(
        tmp_path, serve_article(feed_server, ("rss",)), {"me": mailbox(smtp_server.port)}
    )
    feedwatch = Feedwatch(config)
    assert feedwatch("poll").returncode == 0
    [alert] = alerts_json(feedwatch)
    [delivery] = alert["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)
    assert "550" in delivery["error"]

    smtp_server.accept_all()  # the mailbox now exists
    retried = feedwatch("alerts", "--retry", alert["id"])
    assert retried.returncode == 0, retried.stderr
    assert only_delivery(feedwatch)["status"] == "pending"

    assert feedwatch("poll").returncode == 0
    delivery = only_delivery(feedwatch)
    assert (delivery["status"], delivery["attempts"]) == ("sent", 2)
    [mail] = smtp_server.wait_for(1)
    assert alert["id"] in mail.message["Message-ID"]


def test_retry_requeues_a_webhook_delivery_that_gave_up(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.respond_with([], then=500)
    feeds = serve_article(feed_server, ("rss",))
    retry = {"first": "1s", "max": "1s", "give_up": "1s"}
    config = write_config(tmp_path, feeds, {"hook": hook(webhook_receiver.url, retry=retry)})
    feedwatch = Feedwatch(config)

    def poll_until_failed() -> bool:
        assert feedwatch("poll").returncode == 0
        return only_delivery(feedwatch)["status"] == "failed"

    wait_until(poll_until_failed, timeout=30, step=0.3)  # give_up (1 s) passes
    [alert] = alerts_json(feedwatch)
    tried = len(webhook_receiver.requests)
    assert alert["deliveries"][0]["attempts"] == tried

    # the receiver is fixed, and the user gives the next try a roomier window than 1 s, so
    # that a slow start of `poll` cannot make it give up again before trying
    webhook_receiver.respond_with([], then=200)
    roomy = {"first": "1s", "max": "1s", "give_up": "1h"}
    write_config(tmp_path, feeds, {"hook": hook(webhook_receiver.url, retry=roomy)})
    retried = feedwatch("alerts", "--retry", alert["id"])
    assert retried.returncode == 0, retried.stderr
    assert only_delivery(feedwatch)["status"] == "pending"
    assert feedwatch("poll").returncode == 0
    delivery = only_delivery(feedwatch)
    assert delivery["status"] == "sent"
    assert delivery["attempts"] == tried + 1
    requests = webhook_receiver.requests
    assert len(requests) == tried + 1
    assert {r.headers["webhook-id"] for r in requests} == {alert["id"]}


def test_retry_of_an_unknown_alert_fails(tmp_path: Path, feed_server: FeedServer) -> None:
    config = write_config(tmp_path, serve_article(feed_server, ("rss",)), {})
    feedwatch = Feedwatch(config)
    assert feedwatch("poll").returncode == 0
    result = feedwatch("alerts", "--retry", "no-such-alert")
    assert result.returncode == 1
    assert "no-such-alert" in result.stderr


# --- failures made obvious ----------------------------------------------------------------


@pytest.fixture
def failing_hook(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> Feedwatch:
    """One alert whose webhook answered 500 on a `poll`."""
    webhook_receiver.respond_with([], then=500)
    config = write_config(
        tmp_path, serve_article(feed_server, ("rss",)), {"hook": hook(webhook_receiver.url)}
    )
    feedwatch = Feedwatch(config)
    result = feedwatch("poll")
    assert result.returncode == 0, result.stderr  # a notifier's failure is not poll's
    webhook_receiver.wait_for(1)
    return feedwatch


def test_feeds_table_shows_the_failing_notifier(failing_hook: Feedwatch) -> None:
    result = failing_hook("feeds")
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("hook")]
    assert "failing" in line
    assert "http status 500" in line


def test_alerts_table_warns_about_the_failing_notifier(failing_hook: Feedwatch) -> None:
    result = failing_hook("alerts")
    assert result.returncode == 0, result.stderr
    assert "peru-canada-mining" in result.stdout
    [warning] = [line for line in result.stderr.splitlines() if "hook" in line]
    assert "failing" in warning
    assert "http status 500" in warning
    # JSON Lines stay clean for scripts
    assert all(json.loads(line) for line in failing_hook("alerts", "--json").stdout.splitlines())


def test_run_logs_a_failing_notifier_once_and_its_recovery_once(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_receiver: WebhookReceiver,
    feedwatch_factory: type[Feedwatch],
) -> None:
    webhook_receiver.respond_with([], then=500)
    retry = {"first": "1s", "max": "1s", "give_up": "1h"}
    config = write_config(
        tmp_path,
        serve_article(feed_server, ("rss",)),
        {"hook": hook(webhook_receiver.url, retry=retry)},
    )
    runner = feedwatch_factory(config)
    daemon = runner.start()
    webhook_receiver.wait_for(3, timeout=40)  # several retries, all failing

    webhook_receiver.respond_with([], then=200)
    wait_until(lambda: only_delivery(runner)["status"] == "sent", timeout=30)
    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=STOP_BOUND)

    assert daemon.returncode == 0, stderr
    failing = [line for line in stderr.splitlines() if "notifier failing" in line]
    recovered = [line for line in stderr.splitlines() if "notifier recovered" in line]
    assert len(failing) == 1, stderr
    assert "hook" in failing[0]
    assert "http status 500" in failing[0]
    assert len(recovered) == 1, stderr
    assert "hook" in recovered[0]
    assert stderr.index(failing[0]) < stderr.index(recovered[0])
    assert only_delivery(runner)["attempts"] == len(webhook_receiver.requests)
