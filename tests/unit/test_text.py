"""text: HTML to plain text, the folded matching form, truncation and snippets."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedwatch.text import (
    Snippet,
    fold,
    fold_with_offsets,
    html_to_text,
    one_line,
    snippets,
    truncate,
)


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        pytest.param("", "", id="empty"),
        pytest.param("plain  text\n\n  here ", "plain text\nhere", id="plain-text-tidied"),
        pytest.param("a < b & c", "a < b & c", id="plain-text-with-markup-chars"),
        pytest.param("<b>Pe</b>ru", "Peru", id="inline-tag-inside-word"),
        pytest.param("<p>Peru</p><p>Chile</p>", "Peru\nChile", id="paragraphs-separate"),
        pytest.param("<div>Peru</div>Chile", "Peru\nChile", id="div-separates"),
        pytest.param("Peru<br>Chile", "Peru\nChile", id="br-separates"),
        pytest.param("Peru<br/>Chile", "Peru\nChile", id="self-closing-br-separates"),
        pytest.param("<ul><li>Peru</li><li>Chile</li></ul>", "Peru\nChile", id="list-items"),
        pytest.param("<td>Peru</td><td>Chile</td>", "Peru\nChile", id="table-cells"),
        pytest.param("<h1>Title</h1>Body", "Title\nBody", id="heading"),
        pytest.param("<script>var Peru = 1;</script>ok", "ok", id="script-dropped"),
        pytest.param("<style>.Peru { color: red }</style>ok", "ok", id="style-dropped"),
        pytest.param("<script>if (a</p>b) {}</script>ok", "ok", id="script-with-end-tag-text"),
        pytest.param("<noscript>Peru</noscript>ok", "ok", id="noscript-dropped"),
        pytest.param("<svg><text>Peru</text></svg>ok", "ok", id="svg-dropped"),
        pytest.param("<template/>ok", "ok", id="self-closed-hidden-tag-hides-nothing"),
        pytest.param('<img alt="Peru" src="peru.jpg">ok', "ok", id="alt-attribute-ignored"),
        pytest.param('<a href="/peru" title="Peru">link</a>', "link", id="attrs-ignored"),
        pytest.param("Fish &amp; chips", "Fish & chips", id="named-entity"),
        pytest.param("Caf&eacute; &#233; &#xe9;", "Café é é", id="numeric-entities"),
        pytest.param("Peru&rsquo;s", "Peru’s", id="curly-apostrophe-entity"),
        pytest.param("a&nbsp;&nbsp;b", "a b", id="nbsp-collapsed"),
        pytest.param("&lt;script&gt;", "<script>", id="escaped-tag-is-text"),
        pytest.param("<p>  lots \t of  space </p>", "lots of space", id="whitespace"),
        pytest.param("<!-- Peru -->ok", "ok", id="comment-dropped"),
    ],
)
def test_html_to_text(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("PERU", "peru", id="upper"),
        pytest.param("Perú", "peru", id="acute"),
        pytest.param("Canadá", "canada", id="acute-a"),
        pytest.param("Ñandú", "nandu", id="tilde"),
        pytest.param("Straße", "strasse", id="casefold-sharp-s"),
        pytest.param("Peru’s", "peru's", id="right-single-quote"),
        pytest.param("‘Peru", "'peru", id="left-single-quote"),
        pytest.param("Peruʼs", "peru's", id="modifier-apostrophe"),
        pytest.param("  Peru \n\t mining  ", "peru mining", id="spaces-collapsed"),
        pytest.param("ﬁre", "fire", id="ligature"),
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a\nb\r\n c\t d", "a b c d", id="line-breaks"),
        pytest.param("  x  ", "x", id="stripped"),
        pytest.param("", "", id="empty"),
    ],
)
def test_one_line(text: str, expected: str) -> None:
    assert one_line(text) == expected


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        pytest.param("short", 10, "short", id="under-limit"),
        pytest.param("exactly10!", 10, "exactly10!", id="at-limit"),
        pytest.param("hello world foo bar", 15, "hello world…", id="cut-at-word"),
        pytest.param("hello world foo bar", 10, "hello wor…", id="cut-mid-word-when-space-early"),
        pytest.param("x" * 20, 8, "xxxxxxx…", id="no-space"),
        pytest.param("abc def ghi", 8, "abc def…", id="trailing-space-dropped"),
    ],
)
def test_truncate(text: str, limit: int, expected: str) -> None:
    result = truncate(text, limit)
    assert result == expected
    assert len(result) <= limit


@pytest.mark.parametrize("limit", [2, 5, 17, 100, 499])
def test_truncate_never_exceeds_limit(limit: int) -> None:
    text = "word " * 200
    assert len(truncate(text, limit)) <= limit


FILLER = "Lorem ipsum dolor sit amet. " * 30


def spans_of(text: str, *words: str) -> list[tuple[int, int]]:
    spans = []
    for word in words:
        at = text.find(word)
        while at >= 0:
            spans.append((at, at + len(word)))
            at = text.find(word, at + 1)
    return sorted(spans)


@pytest.mark.parametrize(
    ("text", "words", "leads", "trails"),
    [
        pytest.param("Peru mining " + FILLER, ["Peru"], False, True, id="at-start"),
        pytest.param(FILLER + "Peru mining", ["Peru"], True, False, id="at-end"),
        pytest.param(FILLER + "Perú mining " + FILLER, ["Perú"], True, True, id="in-the-middle"),
        pytest.param("short Peru text", ["Peru"], False, False, id="whole-text-fits"),
    ],
)
def test_snippet_around_one_match(text: str, words: list[str], leads: bool, trails: bool) -> None:
    (piece,) = snippets(text, spans_of(text, *words), width=120)
    assert len(piece.text) <= 120
    assert piece.text.startswith("…") is leads
    assert piece.text.endswith("…") is trails
    assert [piece.text[s:e] for s, e in piece.marks] == words
    assert f"**{words[0]}**" in piece.marked()


def test_snippets_show_different_keywords_far_apart() -> None:
    text = FILLER + "Peru " + FILLER + "Canada " + FILLER + "mining " + FILLER + "Peru again"
    pieces = snippets(text, spans_of(text, "Peru", "Canada", "mining"), count=3, width=100)
    marked = [[p.text[s:e] for s, e in p.marks] for p in pieces]
    assert marked == [["Peru"], ["Canada"], ["mining"]]
    assert all(len(p.text) <= 100 for p in pieces)


def test_snippets_at_most_count() -> None:
    text = " ".join(f"{FILLER} k{i}" for i in range(6))
    spans = spans_of(text, *(f"k{i}" for i in range(6)))
    assert len(snippets(text, spans, count=2, width=80)) == 2


def test_snippets_share_a_window_for_close_matches() -> None:
    text = FILLER + "Peru and Canada " + FILLER
    (piece,) = snippets(text, spans_of(text, "Peru", "Canada"), width=120)
    assert piece.marked().count("**") == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", [], id="empty-text"),
        pytest.param("short text", [Snippet("short text", ())], id="short-no-match"),
        pytest.param(FILLER, [Snippet(truncate(FILLER, 120), ())], id="long-no-match"),
    ],
)
def test_snippets_without_matches(text: str, expected: list[Snippet]) -> None:
    assert snippets(text, [], width=120) == expected


@pytest.mark.parametrize(
    ("marks", "before", "after", "expected"),
    [
        pytest.param((), "**", "**", "Peru and Canada", id="no-marks"),
        pytest.param(((0, 4), (9, 15)), "**", "**", "**Peru** and **Canada**", id="two"),
        pytest.param(((9, 15),), "<", ">", "Peru and <Canada>", id="custom"),
    ],
)
def test_snippet_marked(
    marks: tuple[tuple[int, int], ...], before: str, after: str, expected: str
) -> None:
    assert Snippet("Peru and Canada", marks).marked(before, after) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Perú’s mining", id="accents-and-curly"),
        pytest.param("Die Straße", id="sharp-s-expands"),
        pytest.param("ﬁre İstanbul", id="ligature-and-dotted-i"),
        pytest.param("PLAIN ascii `tick`", id="ascii"),
    ],
)
def test_fold_with_offsets_points_back_into_the_text(text: str) -> None:
    folded, offsets = fold_with_offsets(text)
    assert len(offsets) == len(folded)
    assert offsets == sorted(offsets)
    assert all(0 <= i < len(text) for i in offsets)
    assert fold(folded) == fold(text)


WHITESPACE_AND_MORE = ["a", "\u00c9", " ", "\n", "\t", "\u00a0", "\u2003", "\x1c", "\x85", "`"]


@given(st.text(alphabet=st.sampled_from(WHITESPACE_AND_MORE)))
def test_one_line_and_fold_collapse_whitespace_as_the_regex_did(text: str) -> None:
    assert one_line(text) == re.sub(r"\s+", " ", text).strip()
    ascii_form = re.sub(r"\s+", " ", text.lower().replace("`", "'")).strip()
    if text.isascii():
        assert fold(text) == ascii_form
    else:
        assert fold(text) == re.sub(r"\s+", " ", fold(text)).strip()


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_fold_with_offsets_of_ascii_text_is_the_per_character_fold(text: str) -> None:
    # the ASCII shortcut must give what folding each character in turn gives
    per_character = fold_with_offsets(text + "é")
    assert fold_with_offsets(text) == (per_character[0][:-1], per_character[1][:-1])
