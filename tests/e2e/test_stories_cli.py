"""Story dedup end to end (issue 5, point 4): one alert per story across feeds.

Feed A carries the Peru article; feed B republishes it under another link and guid, with a
line of boilerplate added, the headline changed slightly and curly quotes straightened; feed
C carries only a teaser (the first two paragraphs and "Read more"); feed D carries another
outlet's own report of the same events (the text below, written for this test). A rule on
[Peru, Canada, mining] must alert twice, whatever the order the feeds are polled in: once for
the article's story, once for D. Every copy is stored and linked to the story's first item.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.article import ARTICLE_LINK, load_article, unrelated_items
from harness.feeds import atom, rss
from harness.servers import FeedServer, WebhookReceiver

from .conftest import Feedwatch

# Written for this test: a different outlet's own report on the same protests.
OWN_REPORT = """\
Thousands of demonstrators marched through central Lima on Wednesday, the third large \
mobilisation this year against President Dina Boluarte, whose government took power after \
Pedro Castillo was removed and jailed last December. Marchers who had travelled by bus from \
Puno, Cusco and Ayacucho carried portraits of relatives killed during earlier crackdowns and \
chanted for early elections.

Rights organisations count roughly seventy deaths linked to the unrest. Several groups in \
Canada have now asked Ottawa to explain why it keeps trade and diplomatic ties warm with a \
government they describe as illegitimate. Critics point to the weight of Canadian capital in \
the Andes: companies listed in Toronto operate copper, zinc and gold projects across the \
southern highlands, and mining makes up a large share of Peru's exports.

A spokesperson for Global Affairs Canada said Ottawa supports dialogue and respects Peru's \
constitutional process, and that Canadian firms are expected to follow high environmental and \
social standards. Community leaders near the Las Bambas copper mine disagree, saying protests \
against pollution and land seizures have been met with soldiers rather than negotiation. \
Organisers promised to return to the capital next month if Congress refuses to bring the vote \
forward."""

FEEDS = {"A": "Canadian Dimension", "B": "Republisher", "C": "Teasers", "D": "Andes Report"}
LINKS = {
    "A": ARTICLE_LINK,
    "B": "https://republisher.example.org/2023/08/08/ottawa-peru-democracy",
    "C": "https://teasers.example.org/p/48213",
    "D": "https://andes-report.example.org/news/lima-march-canada-mining",
}
STORY = ("A", "B", "C")


def _straight(text: str) -> str:
    return text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')


def feed_items() -> dict[str, list[dict[str, Any]]]:
    article = load_article()
    paragraphs = article["content"].split("\n")
    republished = {
        **article,
        "id": "republisher-7781",
        "link": LINKS["B"],
        "title": "Democracy vs repression: guess what Ottawa supports in Peru",
        "content": _straight(article["content"])
        + "\n<p>This article first appeared on Canadian Dimension.</p>",
        "published": datetime(2023, 8, 8, 6, 0, tzinfo=UTC),
    }
    teaser = {
        **article,
        "id": "teaser-48213",
        "link": LINKS["C"],
        "content": "\n".join(paragraphs[:2])
        + '\n<p><a href="https://cd.example/">Read more</a></p>',
        "published": datetime(2023, 8, 7, 12, 0, tzinfo=UTC),
    }
    report = {
        "id": "andes-report-1",
        "link": LINKS["D"],
        "title": "Lima marchers return as Canadian mining ties draw scrutiny",
        "author": "Rosa Mamani",
        "content": "\n".join(f"<p>{p}</p>" for p in OWN_REPORT.split("\n\n")),
        "published": datetime(2023, 8, 9, 15, 30, tzinfo=UTC),
    }
    return {
        "A": [*unrelated_items()[:2], {**article, "id": "cd-article-1"}, *unrelated_items()[2:]],
        "B": [republished],
        "C": [teaser],
        "D": [report],
    }


def write_config(tmp_path: Path, server: FeedServer, receiver: WebhookReceiver) -> Path:
    items = feed_items()
    lines = ["database: state/feedwatch.db", "feeds:"]
    for key, name in FEEDS.items():
        render = atom if key == "C" else rss
        url = server.set(f"/{key.lower()}.xml", render(name, f"https://{key}.example/", items[key]))
        lines += [f"  - url: {url}", f"    name: {name}"]
    lines += [
        "alerts:",
        "  - name: peru-canada-mining",
        "    keywords: [Peru, Canada, mining]",
        "notifiers:",
        "  hook:",
        "    type: webhook",
        f"    url: {receiver.url}",
        "    timeout: 3s",
    ]
    config = tmp_path / "feeds.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


ROUNDS = [
    pytest.param([("A", "B", "C", "D")], None, id="one-round"),
    pytest.param([("A",), ("B", "C", "D")], "A", id="article-first"),
    pytest.param([("B",), ("A", "C", "D")], "B", id="republished-first"),
    pytest.param([("C",), ("D", "B", "A")], "C", id="teaser-first"),
]


@pytest.mark.parametrize(("rounds", "first"), ROUNDS)
def test_one_alert_per_story(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_receiver: WebhookReceiver,
    feedwatch_factory: type[Feedwatch],
    rounds: list[tuple[str, ...]],
    first: str | None,
) -> None:
    feedwatch = feedwatch_factory(write_config(tmp_path, feed_server, webhook_receiver))
    for keys in rounds:
        names = [] if len(keys) == len(FEEDS) else [a for k in keys for a in ("--feed", FEEDS[k])]
        result = feedwatch("poll", *names)
        assert result.returncode == 0, result.stderr

    alerts = json_lines(feedwatch("alerts", "--json").stdout)
    assert len(alerts) == 2, [a["item"]["url"] for a in alerts]
    assert len(webhook_receiver.wait_for(2)) == 2

    items = json_lines(feedwatch("items", "--json").stdout)
    assert len(items) == 4 + len(unrelated_items())
    by_link = {item["url"]: item for item in items}
    assert set(LINKS.values()) <= set(by_link)
    story = [by_link[LINKS[k]] for k in STORY]
    originals = [item for item in story if item["copy_of"] is None]
    assert len(originals) == 1, story
    [original] = originals
    if first is not None:
        assert original["url"] == LINKS[first]
    else:
        assert original["id"] == min(item["id"] for item in story)
    for item in story:
        assert item["story"] == original["id"]
        if item is not original:
            assert item["copy_of"] == original["id"]
    report = by_link[LINKS["D"]]
    assert (report["copy_of"], report["story"]) == (None, report["id"])
    for item in items:
        if item["url"] not in LINKS.values():
            assert item["copy_of"] is None

    assert sorted(a["item"]["url"] for a in alerts) == sorted([original["url"], LINKS["D"]])
    assert {a["rule"] for a in alerts} == {"peru-canada-mining"}

    # `items` shows the copies right under the story's first item
    table = feedwatch("items").stdout.splitlines()
    copy_rows = [i for i, line in enumerate(table) if "↳ copy:" in line]
    assert len(copy_rows) == 2, table
    head = copy_rows[0] - 1
    assert copy_rows == [head + 1, head + 2], table
    assert original["title"] in table[head]
    assert original["feed"]["title"] in table[head]
    assert "↳" not in table[head]
    copies = [item for item in story if item is not original]
    shown = sorted(line.split("↳ copy: ", 1)[1].strip() for line in table[head + 1 : head + 3])
    assert shown == sorted(item["title"] for item in copies)
    for item in copies:
        assert any(item["feed"]["title"] in table[row] for row in copy_rows)

    # polling again changes nothing
    again = feedwatch("poll")
    assert again.returncode == 0, again.stderr
    assert len(json_lines(feedwatch("alerts", "--json").stdout)) == 2
    assert len(json_lines(feedwatch("items", "--json").stdout)) == len(items)


def test_poll_drops_story_samples_that_left_the_window(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_receiver: WebhookReceiver,
    feedwatch_factory: type[Feedwatch],
) -> None:
    """Issue 6: samples of items first seen over 30 days ago can no longer make a copy, so a
    `poll` (run from cron, say) drops them once a day; the items stay, and a republished copy
    arriving later is its own story, as it was before pruning."""
    feedwatch = feedwatch_factory(write_config(tmp_path, feed_server, webhook_receiver))
    assert feedwatch("poll", "--feed", FEEDS["A"]).returncode == 0
    database = tmp_path / "state" / "feedwatch.db"

    def query(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(database) as conn:
            return conn.execute(sql).fetchall()

    stored = query("SELECT count(*) FROM story_samples")[0][0]
    assert stored > 0
    query("UPDATE items SET first_seen_at = '2001-01-01T00:00:00.000000Z'")
    result = feedwatch("poll", "--feed", FEEDS["A"])
    assert result.returncode == 0, result.stderr
    assert query("SELECT count(*) FROM story_samples") == [(stored,)]  # looked at today already

    query("UPDATE story_prune SET checked_at = '2001-01-01T00:00:00.000000Z'")
    result = feedwatch("poll", "--feed", FEEDS["A"])
    assert result.returncode == 0, result.stderr
    assert query("SELECT count(*) FROM story_samples") == [(0,)]
    assert query("SELECT count(*) FROM items") == [(1 + len(unrelated_items()),)]

    assert feedwatch("poll", "--feed", FEEDS["B"]).returncode == 0
    alerts = json_lines(feedwatch("alerts", "--json").stdout)
    assert sorted(a["item"]["url"] for a in alerts) == sorted([LINKS["A"], LINKS["B"]])
