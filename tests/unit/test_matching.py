"""matching.Matcher: whole words, case- and accent-insensitive, phrases, rule order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedwatch.config import AlertRule
from feedwatch.matching import Matcher, keyword_spans, words
from feedwatch.models import Match, ParsedItem
from feedwatch.parse import parse_feed
from feedwatch.query import parse_query
from harness.article import ARTICLE_KEYWORDS, load_article, unrelated_items
from harness.feeds import rss

PERU_RULE = AlertRule("peru-canada-mining", ("Peru", "Canada", "mining"), ("stdout",))


def item(title: str = "", summary: str = "", content: str = "") -> ParsedItem:
    return ParsedItem(
        guid=None,
        link=None,
        title=title,
        author=None,
        published_at=None,
        summary=summary,
        content=content,
    )


def keywords_found(rule: AlertRule, text: str) -> tuple[str, ...]:
    matches = Matcher([rule]).match_text(text)
    return matches[0].keywords if matches else ()


@pytest.mark.parametrize(
    ("keyword", "text", "matched"),
    [
        pytest.param("Peru", "Protests in Peru today", True, id="peru-plain"),
        pytest.param("Peru", "PROTESTS IN PERU", True, id="peru-upper"),
        pytest.param("Peru", "Protestas en Perú", True, id="peru-accent"),
        pytest.param("Peru", "Peru’s president", True, id="peru-curly-possessive"),
        pytest.param("Peru", "Peru's president", True, id="peru-straight-possessive"),
        pytest.param("Peru", "(Peru)", True, id="peru-in-parens"),
        pytest.param("Peru", "Peruvian cuisine", False, id="not-peruvian"),
        pytest.param("Peru", "Superu river", False, id="not-inside-word"),
        pytest.param("Perú", "Peru today", True, id="accented-keyword"),
        pytest.param("Canada", "Canadá y Perú", True, id="canada-accent"),
        pytest.param("Canada", "Canadian geese", False, id="not-canadian"),
        pytest.param("Canada", "Canadiens win", False, id="not-canadiens"),
        pytest.param("mining", "an anti-mining protest", True, id="anti-mining"),
        pytest.param("mining", "undermining trust", False, id="not-undermining"),
        pytest.param("mining", "they mined it", False, id="not-mined"),
        pytest.param("mining", "MINING", True, id="mining-upper"),
        pytest.param("Las Bambas", "the Las Bambas mine", True, id="phrase"),
        pytest.param("Las Bambas", "LAS   BAMBAS", True, id="phrase-spaces"),
        pytest.param("Las Bambas", "las\nbambas", True, id="phrase-across-line"),
        pytest.param("Las Bambas", "Bambas las", False, id="phrase-wrong-order"),
        pytest.param("Las Bambas", "Las Bambasville", False, id="phrase-last-word-partial"),
        pytest.param("Las Bambas", "Las other Bambas", False, id="phrase-interrupted"),
        pytest.param("Las Bambas", "the Las", False, id="phrase-truncated"),
        pytest.param("U.S.", "the U.S. embassy", True, id="dotted-keyword"),
    ],
)
def test_single_keyword(keyword: str, text: str, matched: bool) -> None:
    rule = AlertRule("r", (keyword,), ("stdout",))
    assert keywords_found(rule, text) == ((keyword,) if matched else ())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("mining in Canada and Peru", ("Peru", "Canada", "mining"), id="rule-order"),
        pytest.param("Canada only", ("Canada",), id="one"),
        pytest.param("mining, mining, Peru", ("Peru", "mining"), id="repeats-named-once"),
        pytest.param("Peruvian Canadian undermining", (), id="near-misses"),
    ],
)
def test_keywords_reported_in_rule_order(text: str, expected: tuple[str, ...]) -> None:
    assert keywords_found(PERU_RULE, text) == expected


def test_keywords_reported_as_written() -> None:
    rule = AlertRule("r", ("PERU", "canadá"), ("stdout",))
    assert keywords_found(rule, "Peru and Canada") == ("PERU", "canadá")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Peru and Chile",
            [Match("andes", ("Peru", "Chile")), Match("peru-only", ("Peru",))],
            id="two-rules",
        ),
        pytest.param("Chile", [Match("andes", ("Chile",))], id="one-rule"),
        pytest.param("copper in Lima", [Match("metals", ("copper",))], id="other-rule"),
        pytest.param("nothing here", [], id="no-rule"),
    ],
)
def test_several_rules(text: str, expected: list[Match]) -> None:
    matcher = Matcher(
        [
            AlertRule("andes", ("Peru", "Chile"), ("a",)),
            AlertRule("metals", ("copper", "gold"), ("a",)),
            AlertRule("peru-only", ("Peru",), ("b",)),
        ]
    )
    assert matcher.match_text(text) == expected


def test_many_keywords() -> None:
    keywords = (*tuple(f"word{i}" for i in range(2000)), "Peru")
    rule = AlertRule("many", keywords, ("stdout",))
    matcher = Matcher([rule])
    assert matcher.match_text("word1999 and word7 and Perú") == [
        Match("many", ("word7", "word1999", "Peru"))
    ]
    assert matcher.match_text("word2000 word-1") == []


def test_phrase_and_single_word_sharing_first_word() -> None:
    rule = AlertRule("r", ("Las Bambas", "Las"), ("stdout",))
    assert keywords_found(rule, "Las Vegas") == ("Las",)
    assert keywords_found(rule, "Las Bambas") == ("Las Bambas", "Las")


@pytest.mark.parametrize(
    ("parsed", "matched"),
    [
        pytest.param(item(title="Peru"), True, id="title"),
        pytest.param(item(summary="in Peru"), True, id="summary"),
        pytest.param(item(content="in Peru"), True, id="content"),
        pytest.param(item(title="Peruvian", summary="x", content="y"), False, id="none"),
    ],
)
def test_match_searches_title_summary_and_content(parsed: ParsedItem, matched: bool) -> None:
    rule = AlertRule("r", ("Peru",), ("stdout",))
    assert Matcher([rule]).match(parsed) == ([Match("r", ("Peru",))] if matched else [])


def test_no_rules_match_nothing() -> None:
    assert Matcher([]).match(item(title="Peru Canada mining")) == []


def test_words_are_folded() -> None:
    assert words("Perú’s ANTI-mining") == ["peru", "s", "anti", "mining"]


def test_peru_article_matches_all_three_keywords() -> None:
    body = rss("Canadian Dimension", "https://canadiandimension.com/", [load_article()])
    (parsed,) = parse_feed(body, "https://canadiandimension.com/rss").items
    assert Matcher([PERU_RULE]).match(parsed) == [Match(PERU_RULE.name, ARTICLE_KEYWORDS)]


@pytest.mark.parametrize("entry", unrelated_items(), ids=lambda entry: entry["id"])
def test_unrelated_items_do_not_match(entry: dict[str, object]) -> None:
    body = rss("News", "https://news.example.org/", [entry])
    (parsed,) = parse_feed(body, "https://news.example.org/rss").items
    assert Matcher([PERU_RULE]).match(parsed) == []


@pytest.mark.parametrize(
    ("text", "keywords", "expected"),
    [
        pytest.param("Perú’s Peruvian mining", ["Peru", "mining"], ["Perú", "mining"], id="accent"),
        pytest.param("undermining anti-mining", ["mining"], ["mining"], id="whole-words"),
        pytest.param("Die Straße ist", ["Strasse"], ["Straße"], id="sharp-s"),
        pytest.param("ß ﬁre Peru", ["Peru"], ["Peru"], id="offsets-after-expansion"),
        pytest.param("the Las  Bambas mine", ["Las Bambas"], ["Las  Bambas"], id="phrase"),
        pytest.param("Peru Canada", ["Peru", "Canada"], ["Peru", "Canada"], id="two"),
        pytest.param("Peruvian", ["Peru"], [], id="none"),
        pytest.param("Peru", ["--"], [], id="keyword-without-words"),
    ],
)  # fmt: skip
def test_keyword_spans_mark_what_the_matcher_matches(
    text: str, keywords: list[str], expected: list[str]
) -> None:
    assert [text[s:e] for s, e in keyword_spans(text, keywords)] == expected


def test_keyword_spans_merge_overlaps() -> None:
    assert keyword_spans("Las Bambas", ["Las Bambas", "Bambas"]) == [(0, 10)]


MATCH_WORDS = ["peru", "Perú", "canada", "mining", "min", "lima", "the", "x", "peruvian", "ore"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(MATCH_WORDS) | st.text(max_size=5), max_size=30),
    st.lists(st.sampled_from(MATCH_WORDS), max_size=20),
)
def test_few_terms_match_as_many_terms_do(title: list[str], body: list[str]) -> None:
    """With few terms the matcher first looks for each term's first word in the text; with
    many it splits every text. Both must find the same."""
    query = 'Peru OR Canada OR (mining AND NOT lima) OR "lima peru" OR min* OR title:ore'
    few = Matcher([AlertRule("r", (), ("stdout",), parse_query(query))])
    padding = " OR ".join(f"zzpad{i}" for i in range(40))
    many = Matcher([AlertRule("r", (), ("stdout",), parse_query(f"{query} OR {padding}"))])
    parsed = item(" ".join(title), " ".join(body), " ".join(reversed(body)))
    assert few.match(parsed) == many.match(parsed)
