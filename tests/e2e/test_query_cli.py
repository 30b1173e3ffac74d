"""Query rules, snippets, `feedwatch match` and `feedwatch search`, through the real command.

A feeds.yaml with `query:` rules polls the Peru article (tests/data) from a loopback feed
server; alerts go to a loopback webhook receiver and SMTP server (issue 5, points 1 to 3).
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from harness.article import ARTICLE_LINK, load_article, unrelated_items
from harness.feeds import rss
from harness.servers import FeedServer, SmtpServer, WebhookReceiver

from .conftest import Feedwatch

ANDES_QUERY = 'Peru* AND (mining OR "arms exports") -Chile'
ANDES_KEYWORDS = ["Peru*", "mining", "arms exports"]
TITLE_QUERY = "title:(Ottawa OR Lima) /fujimori/ feed:Dimension"
TITLE_KEYWORDS = ["Ottawa", "/fujimori/", "Dimension"]
VOTES = {
    "id": "peru-votes",
    "title": "Perú votes again",
    "link": "https://news.example.org/peru-votes",
    "content": "<p>Voters in Perú return to the polls on Sunday.</p>",
    "published": datetime(2023, 8, 10, 9, 0, tzinfo=UTC),
}
MARKED = re.compile(r"\*\*(.+?)\*\*")


def folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def serve(server: FeedServer) -> str:
    items = [*unrelated_items()[:2], load_article(), VOTES, *unrelated_items()[2:]]
    return server.set("/dimension.xml", rss("Canadian Dimension", "https://cd.example/", items))


def write_config(
    tmp_path: Path, feed_url: str, receiver: WebhookReceiver, smtp: SmtpServer
) -> Path:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"""\
database: state/feedwatch.db
feeds:
  - url: {feed_url}
    name: Dimension
alerts:
  - name: andes
    query: '{ANDES_QUERY}'
  - name: title-fujimori
    query: '{TITLE_QUERY}'
notifiers:
  hook:
    type: webhook
    url: {receiver.url}
    timeout: 3s
  me:
    type: email
    to: [analyst@example.org]
    from: feedwatch@example.org
    smtp: {{host: 127.0.0.1, port: {smtp.port}, security: none}}
""",
        encoding="utf-8",
    )
    return config


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    assert body is not None, f"no {kind} part"
    content = body.get_content()
    assert isinstance(content, str)
    return content


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def check_snippets(snippets: list[str], keywords: list[str]) -> None:
    """1 to 3 snippets of at most 200 characters of text, each marking matched words."""
    assert 1 <= len(snippets) <= 3, snippets
    stems = [folded(k.rstrip("*")) for k in keywords if not k.startswith("/")]
    for snippet in snippets:
        assert isinstance(snippet, str)
        assert len(snippet.replace("**", "")) <= 200, snippet
        marked = MARKED.findall(snippet)
        assert marked, snippet
        for word in marked:
            assert any(folded(word).startswith(stem) for stem in stems), (word, snippet)


@pytest.fixture
def configured(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_receiver: WebhookReceiver,
    smtp_server: SmtpServer,
    feedwatch_factory: type[Feedwatch],
) -> Feedwatch:
    config = write_config(tmp_path, serve(feed_server), webhook_receiver, smtp_server)
    return feedwatch_factory(config)


@pytest.fixture
def polled(
    configured: Feedwatch, webhook_receiver: WebhookReceiver, smtp_server: SmtpServer
) -> Feedwatch:
    feedwatch = configured
    result = feedwatch("poll")
    assert result.returncode == 0, result.stderr
    webhook_receiver.wait_for(2)
    smtp_server.wait_for(2)
    return feedwatch


def test_query_rules_alert_with_keywords_as_written_and_snippets(
    polled: Feedwatch, webhook_receiver: WebhookReceiver, smtp_server: SmtpServer
) -> None:
    payloads = {r.json()["rule"]: r.json() for r in webhook_receiver.requests}
    assert sorted(payloads) == ["andes", "title-fujimori"]
    assert len(webhook_receiver.requests) == 2
    andes, titled = payloads["andes"], payloads["title-fujimori"]
    assert andes["keywords"] == ANDES_KEYWORDS
    assert titled["keywords"] == TITLE_KEYWORDS
    for payload in (andes, titled):
        assert payload["item"]["url"] == ARTICLE_LINK
    check_snippets(andes["snippets"], ANDES_KEYWORDS)
    marked = {folded(w) for s in andes["snippets"] for w in MARKED.findall(s)}
    assert "arms exports" in marked
    assert any(w.startswith("peru") for w in marked)
    assert any("fujimori" in folded(w) for s in titled["snippets"] for w in MARKED.findall(s))

    alerts = json_lines(polled("alerts", "--json").stdout)
    assert {a["rule"]: a["keywords"] for a in alerts} == {
        "andes": ANDES_KEYWORDS,
        "title-fujimori": TITLE_KEYWORDS,
    }
    for alert in alerts:
        assert alert["snippets"] == payloads[alert["rule"]]["snippets"]
        assert alert["item"]["url"] == ARTICLE_LINK

    mails = smtp_server.messages
    assert len(mails) == 2
    for mail in mails:
        html_part = part(mail.message, "html")
        text_part = part(mail.message, "plain")
        assert "<mark>" in html_part
        assert "**" not in html_part
        assert "**" in text_part
    andes_mail = next(m for m in mails if "andes" in m.message["Subject"])
    html_part = part(andes_mail.message, "html")
    assert "<mark>arms exports</mark>" in html_part
    for keyword in ANDES_KEYWORDS:
        assert keyword in part(andes_mail.message, "plain")

    again = polled("poll")
    assert again.returncode == 0, again.stderr
    assert len(webhook_receiver.requests) == 2


def test_match_lists_without_alerting(
    polled: Feedwatch, webhook_receiver: WebhookReceiver, smtp_server: SmtpServer
) -> None:
    before = polled("alerts", "--json").stdout
    result = polled("match", "Peru AND mining", "--since", "5000d", "--json")
    assert result.returncode == 0, result.stderr
    [line] = json_lines(result.stdout)
    assert line["url"] == ARTICLE_LINK
    assert line["keywords"] == ["Peru", "mining"]
    check_snippets(line["snippets"], ["Peru", "mining"])

    assert polled("alerts", "--json").stdout == before
    assert len(webhook_receiver.requests) == 2
    assert len(smtp_server.messages) == 2

    recent = polled("match", "Peru AND mining", "--since", "1d", "--json")
    assert recent.returncode == 0, recent.stderr
    assert json_lines(recent.stdout) == []

    table = polled("match", "Peru AND mining", "--since", "5000d")
    assert table.returncode == 0, table.stderr
    assert "Peru, mining" in table.stdout
    assert "1 item" in table.stderr


def test_search_newest_first_with_limit(polled: Feedwatch) -> None:
    one = polled("search", "Perú", "--limit", "1", "--json")
    assert one.returncode == 0, one.stderr
    [line] = json_lines(one.stdout)
    assert line["title"] == VOTES["title"]  # published after the article
    assert line["keywords"] == ["Perú"]
    check_snippets(line["snippets"], ["Perú"])

    both = polled("search", "Perú", "--limit", "5", "--json")
    assert [r["url"] for r in json_lines(both.stdout)] == [VOTES["link"], ARTICLE_LINK]
    phrase = polled("search", '"arms exports" -Chile', "--json")
    assert [r["url"] for r in json_lines(phrase.stdout)] == [ARTICLE_LINK]
    none = polled("search", "Peru -Peru", "--json")
    assert (none.returncode, none.stdout) == (0, "")


@pytest.mark.parametrize("command", ["search", "match"])
@pytest.mark.parametrize(
    ("query", "column"),
    [
        pytest.param("Peru AND (mining", 10, id="unclosed-paren"),
        pytest.param("Peru OR", 8, id="dangling-or"),
        pytest.param('"arms exports', 1, id="unclosed-quote"),
    ],
)
def test_query_that_does_not_parse_exits_2(
    configured: Feedwatch, command: str, query: str, column: int
) -> None:
    result = configured(command, query, "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"column {column}" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_names_file_line_key_rule_and_column(
    tmp_path: Path, feedwatch_factory: type[Feedwatch]
) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "database: state/feedwatch.db\n"
        "feeds:\n"
        "  - http://127.0.0.1:9/feed.xml\n"
        "alerts:\n"
        "  - name: andes\n"
        "    query: 'Peru AND (mining OR \"arms exports\"'\n",
        encoding="utf-8",
    )
    result = feedwatch_factory(config)("check")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert f"{config}:6: alerts.0.query: " in line
    assert "andes" in line
    assert "column 10" in line
    assert not (tmp_path / "state").exists()  # check touches nothing

    config.write_text(
        config.read_text().replace("'Peru AND (mining OR \"arms exports\"'", "'Peru*'")
    )
    ok = feedwatch_factory(config)("check")
    assert ok.returncode == 0, ok.stderr
