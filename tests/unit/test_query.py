"""The query language of alert rules (issue 5, point 1), through the real matcher.

Every case parses a query with query.parse_query and evaluates it with matching.Matcher over a
Document, exactly as a rule written ``query:`` in feeds.yaml is evaluated during a poll. Parse
errors carry the 1-based column; config errors name file, line, key, rule and column. Last,
``to_fts`` must never lose an item the matcher would match (the superset property), checked
against a real SQLite FTS5 table built like store.py's ``items_fts``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedwatch.config import AlertRule, load, parse_config
from feedwatch.errors import ConfigError
from feedwatch.matching import Document, Matcher, item_snippets, term_spans
from feedwatch.query import And, Not, Or, QueryError, Regex, Term, atoms, parse_query, to_fts
from feedwatch.text import fold

FEED = "Andes Daily Canadian Dimension http://127.0.0.1:8080/peru/rss.xml"


def doc(text: str = "", title: str = "", author: str = "", feed: str = "") -> Document:
    """A document whose whole text is its title plus ``text``, as Document.of builds it."""
    return Document(f"{title}\n{text}" if title else text, title, author, feed)


def matched(query: str, document: Document) -> tuple[str, ...] | None:
    """The keywords the rule reports, or None when the query does not hold."""
    rule = AlertRule("q", (), (), parse_query(query))
    matches = Matcher([rule]).match_document(document)
    assert len(matches) <= 1
    return matches[0].keywords if matches else None


def holds(query: str, document: Document) -> bool:
    return matched(query, document) is not None


# -- the language -------------------------------------------------------------------------

LANGUAGE = [
    # words side by side must all match
    ("Peru mining", doc("mining in Peru"), True, "and-by-space"),
    ("Peru mining", doc("Peru only"), False, "and-by-space-one-missing"),
    ("Peru   mining", doc("Peru, mining"), True, "and-many-spaces"),
    ("Peru AND mining", doc("mining in Peru"), True, "explicit-and"),
    ("Peru AND mining", doc("Peru only"), False, "explicit-and-one-missing"),
    # OR / AND in capitals are operators; in lower case they are words
    ("Peru OR Chile", doc("news from Chile"), True, "or-second"),
    ("Peru OR Chile", doc("news from Peru"), True, "or-first"),
    ("Peru OR Chile", doc("news from Bolivia"), False, "or-neither"),
    ("peru or chile", doc("Peru and Chile"), False, "lower-or-is-a-word"),
    ("peru or chile", doc("Peru or Chile"), True, "lower-or-word-present"),
    ("peru or chile", doc("Peru"), False, "lower-or-not-an-operator"),
    ("peru and chile", doc("Peru, Chile"), False, "lower-and-is-a-word"),
    ("peru and chile", doc("Peru and Chile"), True, "lower-and-word-present"),
    ("peru not chile", doc("Peru, not Chile"), True, "lower-not-is-a-word"),
    ("peru not chile", doc("Peru and Chile"), False, "lower-not-word-missing"),
    ("Peru Or Chile", doc("Chile"), False, "mixed-case-or-is-a-word"),
    ("Peru Or Chile", doc("Peru or Chile"), True, "mixed-case-or-word-present"),
    # NOT and -term exclude
    ("Peru NOT Chile", doc("Peru"), True, "not-absent"),
    ("Peru NOT Chile", doc("Peru and Chile"), False, "not-present"),
    ("Peru -Chile", doc("Peru"), True, "minus-absent"),
    ("Peru -Chile", doc("Peru and Chile"), False, "minus-present"),
    ("Peru -Chile", doc("Peru and Chilean wine"), True, "minus-whole-words"),
    ('Peru -"arms exports"', doc("Peru arms and exports"), True, "minus-phrase-absent"),
    ('Peru -"arms exports"', doc("Peru arms exports"), False, "minus-phrase-present"),
    ("Peru -title:Chile", doc("Chile", title="Peru"), True, "minus-field-elsewhere"),
    ("Peru -title:Chile", doc("x", title="Peru Chile"), False, "minus-field-in-title"),
    ("NOT Chile", doc("anything at all"), True, "not-alone-holds"),
    ("NOT Chile", doc("Chile"), False, "not-alone-fails"),
    ("NOT NOT Chile", doc("Chile"), True, "double-not"),
    ("anti-mining", doc("the anti mining front"), True, "hyphen-inside-word-not-minus"),
    # parentheses group
    ("(Peru OR Chile) mining", doc("Chile mining"), True, "group-or-then-and"),
    ("(Peru OR Chile) mining", doc("Chile"), False, "group-or-then-and-missing"),
    ("Peru (mining OR oil)", doc("Peru oil"), True, "group-after-word"),
    ("NOT (Peru OR Chile)", doc("Bolivia"), True, "not-group-holds"),
    ("NOT (Peru OR Chile)", doc("Chile"), False, "not-group-fails"),
    ("-(Peru mining)", doc("Peru"), True, "minus-group-part"),
    ("-(Peru mining)", doc("Peru mining"), False, "minus-group-all"),
    ("((Peru))", doc("Peru"), True, "nested-parens"),
    # precedence: NOT > AND > OR
    ("a OR b c", doc("a"), True, "or-lower-than-and-left"),
    ("a OR b c", doc("b c"), True, "or-lower-than-and-right"),
    ("a OR b c", doc("b"), False, "or-lower-than-and-not-b-alone"),
    ("a OR b c", doc("c"), False, "or-lower-than-and-not-c-alone"),
    ("a b OR c", doc("c"), True, "and-then-or-right"),
    ("a b OR c", doc("a"), False, "and-then-or-not-a-alone"),
    ("a OR b AND c", doc("b"), False, "explicit-and-binds-tighter"),
    ("a OR b AND c", doc("a"), True, "explicit-and-binds-tighter-left"),
    ("a AND b OR c", doc("c"), True, "explicit-and-then-or"),
    ("NOT a b", doc("b"), True, "not-binds-tighter-than-and"),
    ("NOT a b", doc("a b"), False, "not-binds-tighter-than-and-both"),
    ("NOT a b", doc("x"), False, "not-binds-tighter-than-and-not-b"),
    ("NOT a OR b", doc("a b"), True, "not-binds-tighter-than-or"),
    ("NOT a OR b", doc("c"), True, "not-binds-tighter-than-or-neither"),
    ("NOT a OR b", doc("a"), False, "not-binds-tighter-than-or-a-only"),
    ("-a b", doc("b"), True, "minus-binds-tighter-than-and"),
    ("-a b", doc("a b"), False, "minus-binds-tighter-than-and-both"),
    # "quoted phrases"
    ('"arms exports"', doc("stop arms exports to Peru"), True, "phrase"),
    ('"arms exports"', doc("ARMS   EXPORTS"), True, "phrase-case-spaces"),
    ('"arms exports"', doc("arms\nexports"), True, "phrase-across-line"),
    ('"arms exports"', doc("exports of arms"), False, "phrase-order"),
    ('"arms exports"', doc("arms and exports"), False, "phrase-interrupted"),
    ('"arms exports"', doc("arms exportsx"), False, "phrase-whole-words"),
    ('"peru OR chile"', doc("Peru or Chile"), True, "phrase-operator-is-a-word"),
    ('"the who"', doc("when the who played"), True, "phrase-stop-words-kept"),
    ('"the who"', doc("who the"), False, "phrase-stop-words-order"),
    ("the", doc("The end"), True, "stop-word-alone"),
    ("the who", doc("a who is"), False, "stop-word-not-dropped"),
    # prefix wildcard
    ("Peru*", doc("Peruvian food"), True, "prefix-peruvian"),
    ("Peru*", doc("Peruvians march"), True, "prefix-peruvians"),
    ("Peru*", doc("in Peru"), True, "prefix-exact"),
    ("Peru*", doc("in PERÚ"), True, "prefix-accent"),
    ("Peru*", doc("Pe ru"), False, "prefix-needs-the-prefix"),
    ("Peru*", doc("Superuvian"), False, "prefix-word-start-only"),
    ("Perú*", doc("los peruanos"), True, "prefix-accented"),
    ("Peru", doc("Peruvian food"), False, "no-star-no-prefix"),
    ("title:Peru*", doc("x", title="Peruvian cuisine"), True, "prefix-in-field"),
    # field scopes
    ("title:Peru", doc("x", title="Peru today"), True, "title-hit"),
    ("title:Peru", doc("Peru in the body"), False, "title-miss"),
    ('title:"arms exports"', doc("x", title="Arms exports halted"), True, "title-phrase"),
    ('title:"arms exports"', doc("arms exports", title="halted"), False, "title-phrase-miss"),
    ("title:(Peru OR Chile)", doc("x", title="Chile votes"), True, "title-group"),
    ("title:(Peru OR Chile)", doc("Chile", title="votes"), False, "title-group-miss"),
    ("title:(Peru OR Chile) mining", doc("mining", title="Chile"), True, "title-group-and"),
    ("title:(Peru mining)", doc("mining", title="Peru"), False, "title-group-scopes-all"),
    ("TITLE:Peru", doc("x", title="Peru"), True, "field-name-any-case"),
    ("author:Engler", doc("x", author="Yves Engler"), True, "author-hit"),
    ("author:Engler", doc("Engler wrote", title="Engler"), False, "author-miss"),
    ("author:yves*", doc("x", author="Yves Engler"), True, "author-prefix"),
    ("feed:Andes", doc("x", feed=FEED), True, "feed-configured-name"),
    ('feed:"Canadian Dimension"', doc("x", feed=FEED), True, "feed-own-title"),
    ("feed:127.0.0.1", doc("x", feed=FEED), True, "feed-url-host"),
    ("feed:rss.xml", doc("x", feed=FEED), True, "feed-url-path"),
    ("feed:Dimension", doc("Dimension", title="Dimension", feed="Other"), False, "feed-miss"),
    ("Peru feed:Andes", doc("Peru", feed="Pacific Post"), False, "feed-and-word"),
    # /regex/: Python syntax, case-insensitive, over the folded text
    ("/peru/", doc("PERÚ"), True, "regex-folded-accent"),
    ("/PERU/", doc("peru"), True, "regex-case-insensitive"),
    ("/per[uú]vian/", doc("Peruvian"), True, "regex-class"),
    (r"/\bperu\b/", doc("Peru’s capital"), True, "regex-word-boundary"),
    (r"/\bperu\b/", doc("Peruvian"), False, "regex-word-boundary-miss"),
    ("/min(ing|ed)/", doc("they mined it"), True, "regex-alternation"),
    ("/peru's/", doc("Peru’s capital"), True, "regex-sees-unified-apostrophe"),
    (r"/a\/b/", doc("a/b"), True, "regex-escaped-slash"),
    ("title:/^peru/", doc("x", title="Perú today"), True, "regex-in-title"),
    ("title:/^peru/", doc("Peru", title="today Peru"), False, "regex-in-title-anchored"),
    # accents both ways
    ("Perú", doc("Peru"), True, "accent-in-query"),
    ("Peru", doc("Perú"), True, "accent-in-text"),
    ("Canada", doc("Canadá en Perú"), True, "accent-canada"),
    ('"Canadá en Perú"', doc("canada en peru"), True, "accent-phrase"),
    ("Québec", doc("QUEBEC"), True, "accent-quebec"),
    ("Peru", doc("Pe\u0301ru"), True, "accent-combining"),
    # apostrophes
    ("Peru", doc("Peru’s capital"), True, "curly-possessive"),
    ("Peru’s", doc("Peru's capital"), True, "curly-query-straight-text"),
    ("Peru's", doc("Peru’s capital"), True, "straight-query-curly-text"),
    ("Peru's", doc("Peru capital"), False, "possessive-needs-s"),
    # hyphens split words
    ("mining", doc("an anti-mining protest"), True, "hyphen-splits"),
    ("mining", doc("undermining trust"), False, "not-inside-word"),
    ("anti", doc("an anti-mining protest"), True, "hyphen-splits-first"),
    ('"anti mining"', doc("anti-mining"), True, "hyphen-as-phrase"),
    # scripts written without spaces: substring
    ("秘鲁", doc("关于秘鲁矿业的新闻"), True, "chinese-substring"),
    ("矿业", doc("关于秘鲁矿业的新闻"), True, "chinese-substring-middle"),
    ("秘鲁", doc("关于智利矿业的新闻"), False, "chinese-absent"),
    ("秘鲁 矿业", doc("秘鲁的矿业"), True, "chinese-two-terms"),
    ("ペルー", doc("ペルーの鉱山で抗議"), True, "japanese-katakana"),
    ("鉱山", doc("ペルーの鉱山で抗議"), True, "japanese-kanji"),
    ("title:秘鲁", doc("x", title="秘鲁新闻"), True, "chinese-in-title"),
    ("title:秘鲁", doc("秘鲁新闻", title="x"), False, "chinese-in-title-miss"),
    ("秘鲁 OR Peru", doc("Peru"), True, "chinese-or-latin"),
]


@pytest.mark.parametrize(
    ("query", "document", "expected"),
    [pytest.param(q, d, e, id=i) for q, d, e, i in LANGUAGE],
)
def test_language(query: str, document: Document, expected: bool) -> None:
    assert holds(query, document) is expected


def test_match_text_is_the_bare_text() -> None:
    rule = AlertRule("r", (), (), parse_query("Peru* -title:Chile"))
    assert [m.keywords for m in Matcher([rule]).match_text("Peruvians, Chile")] == [("Peru*",)]


def test_keywords_form_is_an_or_of_literal_terms() -> None:
    query = AlertRule("r", ("Peru", "arms exports", "OR"), ("stdout",)).expression
    assert isinstance(query, Or)
    assert [a.text for a, _ in atoms(query)] == ["Peru", "arms exports", "OR"]
    rule = AlertRule("r", ("Peru", "arms exports", "OR"), ("stdout",))
    assert Matcher([rule]).match_text("or") != []


def test_tree_shape_of_precedence() -> None:
    tree = parse_query("a OR b c")
    assert isinstance(tree, Or)
    assert [type(child).__name__ for child in tree.children] == ["Term", "And"]
    tree = parse_query("NOT a b")
    assert isinstance(tree, And)
    assert isinstance(tree.children[0], Not)


# -- keywords: the terms that matched, as written, positive only, in written order ----------

KEYWORDS = [
    ("Peru*", doc("Peruvians"), ("Peru*",), "prefix-with-star"),
    ('"arms exports"', doc("arms exports"), ("arms exports",), "phrase-inner-text"),
    ('title:"arms exports"', doc("x", title="arms exports"), ("arms exports",), "field-phrase"),
    ("title:Peru", doc("x", title="Peru"), ("Peru",), "field-word"),
    ("/peru/", doc("PERÚ"), ("/peru/",), "regex-with-slashes"),
    ("Perú", doc("PERU"), ("Perú",), "accent-as-written"),
    ("PERU", doc("peru"), ("PERU",), "case-as-written"),
    ("秘鲁", doc("关于秘鲁矿业的新闻"), ("秘鲁",), "cjk"),
    ("mining Peru", doc("Peru mining"), ("mining", "Peru"), "written-order-not-text-order"),
    ("Peru -Chile", doc("Peru"), ("Peru",), "negative-absent-not-listed"),
    ("Peru OR NOT Chile", doc("Peru"), ("Peru",), "not-branch-not-listed"),
    ("NOT Chile", doc("Peru"), (), "only-negative-terms"),
    ("Peru OR Chile OR Bolivia", doc("Bolivia, Peru"), ("Peru", "Bolivia"), "only-found"),
    ("Peru OR peru", doc("PERU"), ("Peru",), "same-term-once"),
    ("Peru OR (Peru mining)", doc("peru mining"), ("Peru", "mining"), "repeat-in-group"),
    ("NOT NOT Chile", doc("Chile"), ("Chile",), "double-negation-counts"),
    ('Peru* AND (mining OR "arms exports") -Chile', doc("Peruvian mining, arms exports"),
     ("Peru*", "mining", "arms exports"), "issue-style"),
    ("feed:Andes Peru", doc("Peru", feed=FEED), ("Andes", "Peru"), "feed-term-listed"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "document", "expected"),
    [pytest.param(q, d, e, id=i) for q, d, e, i in KEYWORDS],
)
def test_keywords_as_written(query: str, document: Document, expected: tuple[str, ...]) -> None:
    assert matched(query, document) == expected


def test_regex_keyword_keeps_its_escapes() -> None:
    assert matched(r"/a\/b/", doc("a/b")) == (r"/a\/b/",)


# -- parse errors name the column ---------------------------------------------------------

ERRORS = [
    ('"arms exports', 1, "quote", "unclosed-quote-start"),
    ('Peru "arms exports', 6, "quote", "unclosed-quote"),
    ("Peru AND (mining", 10, "parenthesis", "unclosed-paren"),
    ("a ((b)", 3, "parenthesis", "unclosed-outer-paren"),
    ("Peru) mining", 5, ")", "stray-close-paren"),
    ("Perú )", 6, ")", "stray-close-paren-after-accent"),
    ("Peru OR", 8, "OR", "dangling-or"),
    ("OR Peru", 1, "OR", "leading-or"),
    ("Peru OR OR Chile", 9, "OR", "double-or"),
    ("Peru AND", 9, "AND", "dangling-and"),
    ("AND Peru", 1, "AND", "leading-and"),
    ("Peru AND AND x", 10, "AND", "double-and"),
    ("Peru NOT", 9, "NOT", "dangling-not"),
    ("NOT", 4, "NOT", "not-alone"),
    ("NOT NOT", 8, "NOT", "not-not"),
    ("Peru -", 6, "-", "dangling-minus"),
    ("-", 1, "-", "minus-alone"),
    ("", 1, "empty", "empty"),
    ("   ", 1, "empty", "blank"),
    ("()", 1, "empty parentheses", "empty-parens"),
    ("Peru ()", 6, "empty parentheses", "empty-parens-later"),
    ("Peru AND (", 11, "expected a term", "open-paren-at-end"),
    ("/(/", 2, "regex", "bad-regex"),
    ("Peru /min(ing/", 10, "regex", "bad-regex-column-of-problem"),
    ("Peru /[a/", 7, "regex", "bad-regex-class"),
    ("Peru /min", 6, "never closed", "unclosed-regex"),
    ("title: Peru", 1, "title:", "field-then-space"),
    ("Peru author: x", 6, "author:", "field-then-space-later"),
    ("Peru feed:", 6, "feed:", "field-at-end"),
    ("title:-Peru", 7, "-", "field-then-minus"),
    ("**", 1, "letter or digit", "no-letters"),
]


@pytest.mark.parametrize(
    ("query", "column", "says"),
    [pytest.param(q, c, s, id=i) for q, c, s, i in ERRORS],
)
def test_parse_error_names_the_column(query: str, column: int, says: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert caught.value.column == column
    assert says in caught.value.message
    assert str(caught.value).startswith(f"column {column}: ")


# -- config: query or keywords, errors as FILE:LINE: KEY --------------------------------------

CONFIG_HEAD = """\
database: state/feedwatch.db
feeds:
  - http://127.0.0.1:8080/rss.xml
alerts:
"""


def write_config(tmp_path: Path, rules: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG_HEAD + rules, encoding="utf-8")
    return path


def config_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(path, {})
    return caught.value


def test_query_rule_loads(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "  - name: andes\n"
        "    query: 'Peru* AND (mining OR \"arms exports\") -Chile'\n"
        "  - name: simple\n"
        "    keywords: [Peru, Canada]\n",
    )
    config = load(path, {})
    andes, simple = config.alerts
    assert andes.query_text == 'Peru* AND (mining OR "arms exports") -Chile'
    assert andes.keywords == ()
    assert [a.text for a, positive in atoms(andes.expression) if positive] == [
        "Peru*", "mining", "arms exports"
    ]  # fmt: skip
    assert simple.query is None
    assert simple.keywords == ("Peru", "Canada")
    matches = Matcher(config.alerts).match_text("Peruvian mining in Canada")
    assert [(m.rule, m.keywords) for m in matches] == [
        ("andes", ("Peru*", "mining")), ("simple", ("Canada",))
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("query_line", "column", "detail"),
    [
        pytest.param("    query: 'Peru AND (mining'", 10, "never closed", id="unclosed-paren"),
        pytest.param("    query: Peru OR", 8, "after OR", id="dangling-or"),
        pytest.param("    query: '\"arms exports'", 1, "quote", id="unclosed-quote"),
        pytest.param("    query: 'Peru /min(ing/'", 10, "regex", id="bad-regex"),
    ],
)
def test_bad_query_is_a_config_error_with_line_key_rule_column(
    tmp_path: Path, query_line: str, column: int, detail: str
) -> None:
    path = write_config(tmp_path, f"  - name: andes-watch\n{query_line}\n")
    error = config_error(path)
    assert error.source == str(path)
    assert error.line == 6  # the line of `query:`
    assert error.key == "alerts.0.query"
    assert "andes-watch" in error.message
    assert f"column {column}" in error.message
    assert detail in error.message
    assert str(error).startswith(f"{path}:6: alerts.0.query: ")


def test_bad_query_of_a_later_rule_names_its_position(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "  - name: fine\n    query: Peru\n  - name: broken\n    query: 'a)'\n",
    )
    error = config_error(path)
    assert (error.line, error.key) == (8, "alerts.1.query")
    assert "broken" in error.message
    assert "column 2" in error.message


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param("  - name: both\n    keywords: [Peru]\n    query: Peru\n", id="both"),
        pytest.param("  - name: neither\n", id="neither"),
    ],
)
def test_rule_takes_keywords_or_query(tmp_path: Path, rule: str) -> None:
    error = config_error(write_config(tmp_path, rule))
    assert error.key == "alerts.0"
    assert error.line == 5
    assert "keywords or query" in error.message


def test_empty_query_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG_HEAD + '  - name: blank\n    query: ""\n', "feeds.yaml", {})
    assert caught.value.key == "alerts.0.query"
    assert caught.value.line == 6


# -- snippets highlight what the query matched ----------------------------------------------


def positive_terms(query: str) -> list[object]:
    return [a for a, positive in atoms(parse_query(query)) if positive]


@pytest.mark.parametrize(
    ("query", "text", "highlighted"),
    [
        pytest.param("Peru*", "Peruvians and Perú", ["Peruvians", "Perú"], id="prefix"),
        pytest.param("/peru/", "x PERÚ y", ["PERÚ"], id="regex-original-text"),
        pytest.param("秘鲁", "关于秘鲁矿业的新闻", ["秘鲁"], id="cjk"),
        pytest.param('"arms exports"', "stop arms\n  exports now", ["arms\n  exports"],
                     id="phrase-across-space"),
        pytest.param("Peru’s", "Perú's capital", ["Perú's"], id="apostrophe-accent"),
        pytest.param("Peru -Chile", "Peru, Chile", ["Peru"], id="negative-terms-not-marked"),
        pytest.param("mining", "anti-mining, undermining", ["mining"], id="whole-words"),
    ],
)  # fmt: skip
def test_term_spans_mark_what_the_query_matched(
    query: str, text: str, highlighted: list[str]
) -> None:
    spans = term_spans(text, positive_terms(query))
    assert [text[start:end] for start, end in spans] == highlighted


def test_item_snippets_are_short_marked_and_at_most_three() -> None:
    words = " ".join(f"filler{i}" for i in range(400))
    text = f"Peru {words} mining {words} arms exports {words} Peruvian {words} end"
    pieces = item_snippets(text, positive_terms('Peru* mining "arms exports"'))
    assert 1 <= len(pieces) <= 3
    for piece in pieces:
        assert len(piece.text) <= 200
        assert piece.marks
        assert "**" in piece.marked()
    marked = [w for p in pieces for s, e in p.marks for w in [p.text[s:e]]]
    assert set(marked) >= {"Peru", "mining", "arms exports"}


# -- to_fts: the FTS5 filter never loses an item the matcher matches -------------------------


class Fts:
    """An in-memory FTS5 table tokenized like store.py's items_fts and, like
    Store.refresh_search_index, filled with the folded text."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute(
            "CREATE VIRTUAL TABLE items_fts USING fts5(title, summary, content, author, "
            "tokenize='unicode61 remove_diacritics 2')"
        )

    def finds(self, expression: str, title: str, summary: str, content: str, author: str) -> bool:
        self.db.execute("DELETE FROM items_fts")
        self.db.execute(
            "INSERT INTO items_fts (rowid, title, summary, content, author) VALUES (1, ?, ?, ?, ?)",
            tuple(fold(text) for text in (title, summary, content, author)),
        )
        rows = self.db.execute(
            "SELECT rowid FROM items_fts WHERE items_fts MATCH ?", (expression,)
        ).fetchall()
        return rows == [(1,)]

    def close(self) -> None:
        self.db.close()


@pytest.fixture
def fts() -> Iterator[Fts]:
    table = Fts()
    yield table
    table.close()


def superset_holds(
    fts: Fts, query: str, title: str = "", summary: str = "", content: str = "", author: str = ""
) -> bool:
    """False only when the matcher matches and the FTS expression does not find the item."""
    node = parse_query(query)
    document = Document((title, summary, content), title, author, FEED)
    if not Matcher([AlertRule("q", (), (), node)]).match_document(document):
        return True
    expression = to_fts(node)
    return expression is None or fts.finds(expression, title, summary, content, author)


SUPERSET = [
    ("Peru", "", "", "Perú", "", "accent"),
    ("Perú", "", "", "PERU", "", "accent-in-query"),
    ("Peru", "", "", "Peru’s capital", "", "curly-apostrophe"),
    ("Peru’s", "", "", "Peru's capital", "", "apostrophe-in-query"),
    ("mining", "", "", "anti-mining", "", "hyphen"),
    ('"anti mining"', "", "", "anti—mining", "", "dash-phrase"),
    ("Peru*", "", "", "Peruvians", "", "prefix"),
    ("title:Peru*", "Peruvian food", "", "", "", "title-prefix"),
    ("author:Engler", "", "", "", "Yves Engler", "author"),
    ('title:"arms exports"', "Arms exports", "", "", "", "title-phrase"),
    ("title:(Peru OR Chile) mining", "Chile", "", "mining", "", "title-group"),
    ("Peru /min(ing|ed)/", "", "", "Peru mined", "", "regex-in-and"),
    ("Peru OR /chile/", "", "", "Chile", "", "regex-in-or"),
    ("NOT Chile", "", "", "Peru", "", "not-alone"),
    ("Peru -Chile", "", "", "Peru", "", "minus"),
    ("Peru feed:Andes", "", "", "Peru", "", "feed-field"),
    ("秘鲁", "", "", "关于秘鲁矿业的新闻", "", "cjk"),
    ("U.S.", "", "", "the U.S. embassy", "", "dotted"),
    ("Québec", "", "", "QUEBEC", "", "quebec"),
    ("istanbul", "", "", "İstanbul", "", "dotted-capital-i"),
    ("Canada", "", "", "Pe\u0301ru and Canadá", "", "combining"),
    ('"the who"', "", "The who", "", "", "stop-words"),
    ("NEAR", "", "", "near", "", "fts-keyword-near"),
    ('"AND"', "", "", "and", "", "fts-keyword-and"),
]
# Once bugs: the matcher folds ß, ligatures, full-width and superscript forms, so the index
# holds folded text too; and a phrase never spans two fields, in the matcher or the index.
FOLDING_AND_FIELDS = [
    ("Straße", "", "", "Die Straße ist lang", "", "sharp-s"),
    ("strasse", "", "", "Die Straße ist lang", "", "sharp-s-folded"),
    ("file", "", "", "a ﬁle here", "", "ligature"),
    ("Peru", "", "", "ＰＥＲＵ today", "", "fullwidth"),
    ("x2", "", "", "x² here", "", "superscript"),
    ('"peru mining"', "Protests in Peru", "Mining continues", "", "", "phrase-across-fields"),
]


@pytest.mark.parametrize(
    ("query", "title", "summary", "content", "author"),
    [pytest.param(*case[:5], id=case[5]) for case in SUPERSET + FOLDING_AND_FIELDS],
)
def test_fts_is_a_superset_table(
    fts: Fts, query: str, title: str, summary: str, content: str, author: str
) -> None:
    assert superset_holds(fts, query, title, summary, content, author)


@pytest.mark.parametrize(
    ("query", "is_none"),
    [
        pytest.param("/peru/", True, id="regex"),
        pytest.param("NOT Peru", True, id="not-alone"),
        pytest.param("feed:Andes", True, id="feed"),
        pytest.param("秘鲁", True, id="cjk"),
        pytest.param("Peru OR /chile/", True, id="or-with-regex"),
        pytest.param("Peru -Chile", False, id="and-keeps-positive"),
        pytest.param("title:(Peru OR Chile) mining", False, id="fields-and-groups"),
        pytest.param("Peru*", False, id="prefix"),
    ],
)
def test_fts_expression_is_none_when_no_filter_can_be_written(query: str, is_none: bool) -> None:
    assert (to_fts(parse_query(query)) is None) is is_none


# Documents are built from words that fold and tokenize alike in the matcher and in FTS5
# (accents, case, apostrophes, hyphens); each field starts and ends with a word no query uses,
# so a phrase cannot span two fields.
DOC_WORDS = [
    "Peru", "PERÚ", "perú", "Peru’s", "Peruvian", "peruvians", "Canada", "Canadá", "canadian",
    "mining", "anti-mining", "undermining", "mined", "arms", "exports", "Arms-exports", "the",
    "who", "or", "and", "not", "Las", "Bambas", "Québec", "quebec", "Chile", "Lima", "oil",
    "U.S.", "near",
]  # fmt: skip
QUERY_WORDS = [
    "Peru", "Perú", "Peru*", "Peruv*", "Canada", "Canad*", "mining", "min*", "arms", "exports",
    "the", "who", "or", "and", "Las", "Québec", "Chile", "U.S.", "Peru’s", "anti-mining",
    '"arms exports"', '"las bambas"', '"the who"', '"peru mining"', "near",
]  # fmt: skip
# atoms that to_fts cannot turn into a filter: rarer, so most examples exercise FTS5
NO_FILTER = ["/peru/", "/min(ing|ed)/", "feed:Andes", "秘鲁"]
FIELDS = ["", "", "", "title:", "author:"]

field_text = st.lists(st.sampled_from(DOC_WORDS), max_size=16).map(
    lambda words: " ".join(["zq", *words, "zq"])
)
term = st.builds(
    lambda f, w: f + w, st.sampled_from(FIELDS), st.sampled_from(QUERY_WORDS * 3 + NO_FILTER)
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda p: f"({p[0]} OR {p[1]})"),
        pair.map(lambda p: f"{p[0]} OR {p[1]}"),
        pair.map(lambda p: f"({p[0]} OR {p[1]})"),
        pair.map(lambda p: f"{p[0]} {p[1]}"),
        pair.map(lambda p: f"{p[0]} AND {p[1]}"),
        pair.map(lambda p: f"{p[0]} -{p[1]}" if p[1][:1] not in "-(" else f"{p[0]} NOT {p[1]}"),
        children.map(lambda c: f"title:({c})"),
    )


queries = st.recursive(term, _combine, max_leaves=6)


documents = st.lists(
    st.tuples(field_text, field_text, field_text, field_text), min_size=1, max_size=8
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(query=queries, docs=documents)
def test_fts_is_a_superset_property(
    fts: Fts, query: str, docs: list[tuple[str, str, str, str]]
) -> None:
    try:
        parse_query(query)
    except QueryError:  # not expected from this grammar; nothing to check then
        return
    for title, summary, content, author in docs:
        assert superset_holds(fts, query, title, summary, content, author), (title, summary)


def test_atoms_are_terms_and_regexes_in_written_order() -> None:
    found = list(atoms(parse_query('b -a (title:"c d" OR /e/) NOT NOT f')))
    assert [(a.text, positive) for a, positive in found] == [
        ("b", True), ("a", False), ("c d", True), ("/e/", True), ("f", True)
    ]  # fmt: skip
    assert isinstance(found[2][0], Term)
    assert found[2][0].field == "title"
    assert isinstance(found[3][0], Regex)
