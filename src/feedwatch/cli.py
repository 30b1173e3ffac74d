"""The ``feedwatch`` command: argument parsing, output formats and exit statuses.

Process wiring: the only place that turns a FeedwatchError into stderr text and an exit
status (SPEC: 0 done, 2 bad usage or config, 1 anything else that failed).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from feedwatch import __version__, logs
from feedwatch.app import App, open_store, utc_now
from feedwatch.config import STDOUT_NOTIFIER, Config, FeedSpec, load, parse_duration
from feedwatch.errors import ConfigError, DeliveryError, FeedwatchError
from feedwatch.models import PollResult
from feedwatch.pipeline import log_result
from feedwatch.query import Node, QueryError, parse_query
from feedwatch.render import json_line, table
from feedwatch.search import Hit, find
from feedwatch.store import Store, item_record

log = logging.getLogger("feedwatch")
DEFAULT_LIMIT = 20


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedwatch",
        description="Watch RSS and Atom feeds for keywords; deliver each new match once.",
    )
    parser.add_argument(
        "-c", "--config", metavar="FILE",
        help="the config file (default: $FEEDWATCH_CONFIG, else ./feeds.yaml)",
    )  # fmt: skip
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log lines")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="fewer log lines")
    parser.add_argument("--version", action="version", version=f"feedwatch {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("run", help="the daemon: poll every feed on its interval, deliver alerts")
    poll = commands.add_parser("poll", help="poll once, store, match, deliver due alerts, exit")
    poll.add_argument(
        "--feed", action="append", default=[], metavar="NAME_OR_URL",
        help="poll only this feed (repeatable)",
    )  # fmt: skip
    commands.add_parser("check", help="validate the config without touching the network")
    match = commands.add_parser(
        "match", help="try a query on stored items: what it would have alerted on"
    )
    match.add_argument("query", metavar="QUERY", help="e.g. 'Peru AND (mining OR \"oil spill\")'")
    match.add_argument("--since", default="30d", metavar="DURATION", help="window (default 30d)")
    match.add_argument("--json", action="store_true", help="one JSON object per line")
    search = commands.add_parser("search", help="find stored items with a query")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--limit", type=_positive, default=DEFAULT_LIMIT, metavar="N")
    search.add_argument("--json", action="store_true", help="one JSON object per line")
    test = commands.add_parser("notify-test", help="send a test message through one notifier")
    test.add_argument("name", metavar="NAME", help="the notifier's name in feeds.yaml")
    for name, text in (
        ("feeds", "each feed with its health"),
        ("items", "the newest stored items"),
        ("alerts", "the newest alerts and their deliveries"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--json", action="store_true", help="one JSON object per line")
        if name != "feeds":
            sub.add_argument("--limit", type=_positive, default=DEFAULT_LIMIT, metavar="N")
        if name == "alerts":
            sub.add_argument(
                "--retry", metavar="ID", help="queue this alert's failed deliveries again"
            )
    return parser


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def _config_path(arg: str | None) -> str:
    return arg or os.environ.get("FEEDWATCH_CONFIG") or "feeds.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status."""
    args = _parser().parse_args(argv)
    logs.setup(args.verbose - args.quiet)
    try:
        config = load(_config_path(args.config), os.environ)
        return COMMANDS[args.command](config, args)
    except ConfigError as e:
        print(f"feedwatch: {e}", file=sys.stderr)
        return 2
    except FeedwatchError as e:
        print(f"feedwatch: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`feedwatch items | head`): not an error, and no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:  # the command boundary: a bug, reported with its traceback (STYLE 3)
        log.exception("internal error command=%s", args.command)
        return 1


def _check(config: Config, args: argparse.Namespace) -> int:
    notifiers = ", ".join(config.notifiers) or "none (alerts go to stdout)"
    print(
        f"{config.source}: ok: {_count(len(config.feeds), 'feed')}, "
        f"{_count(len(config.alerts), 'rule')}, notifiers: {notifiers}; "
        f"database {config.database}"
    )
    return 0


def _notify_test(config: Config, args: argparse.Namespace) -> int:
    names = list(config.notifiers) or [STDOUT_NOTIFIER]
    if args.name not in names:
        known = ", ".join(names)
        raise ConfigError(f"no notifier is named {args.name!r} (known: {known})", config.source)

    async def go() -> None:
        async with App(config) as app:
            await app.notify_test(args.name)

    try:
        asyncio.run(go())
    except DeliveryError as e:
        print(f"feedwatch: notify-test failed: {e}", file=sys.stderr)
        return 1
    print(f"sent a test message through {args.name}")
    return 0


def _retry(config: Config, alert_id: str) -> int:
    store = open_store(config)
    try:
        if not store.has_alert(alert_id):
            print(f"feedwatch: no alert has the id {alert_id!r}", file=sys.stderr)
            return 1
        count = store.requeue(alert_id, utc_now())
    finally:
        store.close()
    if count == 0:
        print(f"feedwatch: alert {alert_id} has no failed delivery to retry", file=sys.stderr)
        return 1
    print(f"queued {_count(count, 'delivery')} of alert {alert_id} again")
    return 0


def _query(text: str) -> Node:
    try:
        return parse_query(text)
    except QueryError as e:
        raise ConfigError(f"query {text!r}: {e}", key="QUERY") from e


def _hits(config: Config, args: argparse.Namespace, hits: Callable[[Store], list[Hit]]) -> int:
    store = open_store(config)
    try:
        found = hits(store)
    finally:
        store.close()
    records = [
        {**item_record(h.item), "keywords": list(h.keywords),
         "snippets": [p.marked() for p in h.snippets]}
        for h in found
    ]  # fmt: skip
    if args.json:
        for record in records:
            print(json_line(record))
    elif records:
        body = [
            [_when(r["published"]), r["feed"]["title"], ", ".join(r["keywords"]), r["title"]]
            for r in records
        ]
        print(table(body, ["PUBLISHED", "FEED", "MATCHED", "TITLE"]))
    if not args.json:
        print(f"{_count(len(records), 'item')}", file=sys.stderr)
    return 0


def _match(config: Config, args: argparse.Namespace) -> int:
    query = _query(args.query)
    try:
        window = parse_duration(args.since)
    except ValueError as e:
        raise ConfigError(str(e), key="--since") from e
    since = utc_now() - window
    return _hits(config, args, lambda store: find(store, query, since=since, originals_only=True))


def _search(config: Config, args: argparse.Namespace) -> int:
    query = _query(args.query)
    return _hits(config, args, lambda store: find(store, query, limit=args.limit))


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {noun[:-1]}ies" if noun.endswith("y") else f"{n} {noun}s"


def _run(config: Config, args: argparse.Namespace) -> int:
    from feedwatch.daemon import run as run_daemon  # apscheduler only where it runs

    async def go() -> None:
        async with App(config) as app:
            await run_daemon(app)

    asyncio.run(go())
    return 0


def _chosen_feeds(config: Config, names: Sequence[str]) -> list[FeedSpec] | None:
    if not names:
        return None
    chosen = []
    for name in names:
        spec = config.feed(name)
        if spec is None:
            raise ConfigError(f"no feed is named or located {name!r}", config.source, key="--feed")
        chosen.append(spec)
    return list(dict.fromkeys(chosen))


def _poll(config: Config, args: argparse.Namespace) -> int:
    feeds = _chosen_feeds(config, args.feed)
    progress = _Progress(len(feeds) if feeds is not None else len(config.feeds))

    async def go() -> list[PollResult]:
        async with App(config) as app:
            results = await app.poll(feeds, on_result=progress.report)
            progress.done()
            await app.deliver()
            await app.upkeep()  # for a `poll` run from cron, with no daemon to do it
            return results

    results = asyncio.run(go())
    failed = sum(1 for r in results if not r.ok)
    new = sum(r.new_items for r in results)
    alerts = sum(r.alerts for r in results)
    print(
        f"polled {_count(len(results), 'feed')}: {len(results) - failed} ok, {failed} failed, "
        f"{_count(new, 'new item')}, {_count(alerts, 'alert')}",
        file=sys.stderr,
    )
    return 0


class _Progress:
    """A one-line progress bar on a terminal (issue 6); failures still get a line each."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done_count = self.new = self.errors = 0
        self.live = sys.stderr.isatty()
        self.shown = False

    def report(self, result: PollResult) -> None:
        self.done_count += 1
        self.new += result.new_items
        self._clear()
        if result.error is not None:
            self.errors += 1
            print(f"feedwatch: poll failed: {result.feed_url}: {result.error}", file=sys.stderr)
        else:
            log_result(result)
        self._draw()

    def _clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            self.shown = False

    def _draw(self) -> None:
        if not self.live:
            return
        width = 30
        filled = width * self.done_count // max(1, self.total)
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(
            f"[{bar}] {self.done_count}/{self.total} feeds, {self.new} new items, "
            f"{self.errors} errors"
        )
        sys.stderr.flush()
        self.shown = True

    def done(self) -> None:
        self._clear()


def _listing(
    fetch: Callable[[Any], list[dict[str, Any]]],
    rows: Callable[[list[dict[str, Any]]], tuple[list[list[str]], list[str]]],
    notifier_health: bool = False,
) -> Callable[[Config, argparse.Namespace], int]:
    def command(config: Config, args: argparse.Namespace) -> int:
        if getattr(args, "retry", None):
            return _retry(config, args.retry)
        store = open_store(config)
        try:
            records = fetch((store, getattr(args, "limit", None)))
            notifiers = store.list_notifiers(list(config.notifiers) or [STDOUT_NOTIFIER])
        finally:
            store.close()
        if args.json:
            for record in records:
                print(json_line(record))
            return 0
        if records:
            body, headers = rows(records)
            print(table(body, headers))
        if notifier_health:
            body, headers = _notifier_rows(notifiers)
            print("\n" + table(body, headers))
        else:
            for n in notifiers:
                if n["status"] == "failing":
                    print(
                        f"feedwatch: notifier {n['name']} failing since "
                        f"{_when(n['failing_since'])}: {n['error']} ({n['pending']} pending)",
                        file=sys.stderr,
                    )
        return 0

    return command


def _notifier_rows(records: list[dict[str, Any]]) -> tuple[list[list[str]], list[str]]:
    body = []
    for r in records:
        status = r["status"]
        if r["failing_since"]:
            status += f" since {_when(r['failing_since'])}: {r['error']}"
        body.append(
            [r["name"], str(r["pending"]), str(r["sent"]), str(r["failed"]),
             _when(r["last_success"]), status]
        )  # fmt: skip
    return body, ["NOTIFIER", "PENDING", "SENT", "FAILED", "LAST SUCCESS", "STATUS"]


def _when(value: str | None) -> str:
    return value.replace("T", " ").removesuffix("Z") if value else "-"


def _feed_rows(records: list[dict[str, Any]]) -> tuple[list[list[str]], list[str]]:
    body = []
    for r in records:
        detail = r["url"]
        if r["error"]:
            detail = f"{r['error']} (since {_when(r['failing_since'])}"
            if r["backing_off_until"]:
                detail += f", backing off until {_when(r['backing_off_until'])}"
            detail += ")"
        http = str(r["last_status"]) if r["last_status"] else "-"
        body.append(
            [r["title"], r["status"], http, str(r["items"]), _every(r["mean_item_interval"]),
             _when(r["last_success"]), _when(r["next_poll"]), detail]
        )  # fmt: skip
    headers = ["FEED", "STATUS", "HTTP", "ITEMS", "NEW EVERY", "LAST SUCCESS", "NEXT POLL"]
    return body, [*headers, "URL OR ERROR"]


def _every(seconds: int | None) -> str:
    if not seconds:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}".replace(".0", "")
    return f"{seconds}s"


def _item_rows(records: list[dict[str, Any]]) -> tuple[list[list[str]], list[str]]:
    # copies are shown under their story's first item when it is listed too (issue 5)
    stories: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        stories.setdefault(r["story"], []).append(r)
    body = []
    for story, members in stories.items():
        members.sort(key=lambda r: r["id"] != story)
        for r in members:
            title = r["title"] if r["id"] == story else f"  ↳ copy: {r['title']}"
            body.append([_when(r["published"]), r["feed"]["title"], title])
    return body, ["PUBLISHED", "FEED", "TITLE"]


def _alert_rows(records: list[dict[str, Any]]) -> tuple[list[list[str]], list[str]]:
    body = []
    for r in records:
        deliveries = ", ".join(
            f"{d['notifier']}:{d['status']}" + (f"({d['attempts']})" if d["attempts"] > 1 else "")
            for d in r["deliveries"]
        )
        body.append(
            [_when(r["created"]), r["rule"], ", ".join(r["keywords"]), deliveries,
             r["item"]["title"]]
        )  # fmt: skip
    return body, ["CREATED", "RULE", "KEYWORDS", "DELIVERIES", "TITLE"]


COMMANDS: dict[str, Callable[[Config, argparse.Namespace], int]] = {
    "run": _run,
    "poll": _poll,
    "check": _check,
    "notify-test": _notify_test,
    "match": _match,
    "search": _search,
    "feeds": _listing(lambda a: a[0].list_feeds(), _feed_rows, notifier_health=True),
    "items": _listing(lambda a: a[0].list_items(a[1]), _item_rows),
    "alerts": _listing(lambda a: a[0].list_alerts(a[1]), _alert_rows),
}
