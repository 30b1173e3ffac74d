"""text: the regex fast path of html_to_text gives exactly what the HTMLParser path gives.

The fast path may refuse markup (it returns None and HTMLParser takes over), but whatever it
returns must be byte-for-byte the slow path's text. The tidy step was rewritten at the same
time, so it is checked against the regex version it replaced.
"""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feedwatch.text import (
    _BLOCKS,
    _HIDDEN,
    _LOOKS_LIKE_HTML,
    _html_to_text_fast,
    _html_to_text_slow,
    _tidy,
    html_to_text,
)

PROPERTIES = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same_as_slow(markup: str) -> str | None:
    """The fast path's text for markup, after checking it against the slow path's."""
    fast = _html_to_text_fast(markup)
    if fast is not None:
        assert fast == _html_to_text_slow(markup), markup
    return fast


# --- entities, the tricky ones above all -------------------------------------------------

ENTITIES = st.sampled_from(
    [
        "&amp;", "&amp", "&AMP;", "&lt;", "&lt", "&gt;", "&quot;", "&#x27;", "&#39;", "&nbsp;",
        "&notit;", "&notin;", "&not", "&copy", "&eacute;", "&eacute", "&rsquo;", "&NewLine;",
        "&Tab;", "&#0;", "&#1;", "&#9;", "&#10;", "&#13;", "&#x80;", "&#x9F;", "&#128;",
        "&#xD800;", "&#x110000;", "&#99999999999;", "&#xe9;", "&#XE9;", "&#233", "&#x", "&#",
        "&#;", "&;", "&", "& ", "&&", "&x", "&zz;", "&ampx", "&amp;lt;", "&#38;lt;",
        "&" + "a" * 40 + ";",
    ]
)  # fmt: skip

# --- markup the fast path must take: simple tags, entities, any text without "<" ---------

SIMPLE_NAMES = st.sampled_from(
    [
        *sorted(_BLOCKS), "a", "b", "em", "span", "img", "o:p", "my-tag", "P", "Br", "DIV", "Em",
        # block and hidden names that go on, so are neither
        "p-x", "div:x", "li_x", "br.x", "h1-x", "header", "svg:rect", "title-x", "pp", "h7",
    ]
)  # fmt: skip
SIMPLE_SPACES = st.sampled_from([" ", "  ", "\n", "\t", "\r\n", "\f"])
SIMPLE_VALUES = st.sampled_from(
    ['"x"', "'x'", '"x>y"', "'a>b'", '"<p>"', '"a\'b"', '""', "x", "x/", "/x", "a&amp;b"]
)


@st.composite
def simple_tags(draw: st.DrawFn) -> str:
    name = draw(SIMPLE_NAMES)
    if draw(st.booleans()):
        return "</" + name + draw(st.sampled_from(["", " ", "\n"])) + ">"
    attrs = ""
    for _ in range(draw(st.integers(0, 3))):
        attrs += draw(SIMPLE_SPACES) + draw(st.sampled_from(["href", "class", "data-x"]))
        if draw(st.booleans()):
            attrs += draw(st.sampled_from(["=", " = "])) + draw(SIMPLE_VALUES)
    space, close = draw(st.sampled_from(["", " ", "\n"])), draw(st.sampled_from([">", "/>"]))
    return f"<{name}{attrs}{space}{close}"


SIMPLE_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="<\x00\x01", blacklist_categories=["Cs"]),
    max_size=12,
)
SIMPLE_PIECES = st.one_of(simple_tags(), ENTITIES, SIMPLE_TEXT)
SIMPLE_MARKUP = st.lists(SIMPLE_PIECES, max_size=25).map("".join)


# --- any HTML-ish string: the fast path may refuse it, but must not get it wrong ----------

NAMES = st.sampled_from(
    sorted(_BLOCKS)
    + sorted(_HIDDEN)
    + ["a", "b", "em", "span", "img", "o:p", "my-tag", "x_y", "h7", "header", "titles", "pp"]
    + ["p-x", "div:x", "li_x", "br.x", "h1-x", "svg:rect", "title-x", "script.x"]
    + ["P", "Br", "DIV", "LI", "Script", "STYLE", "TiTle", "Svg"]
    # non-ASCII names whose .lower() is, or looks like, a block or hidden name
    + ["bloc\u212aquote", "\u017fection", "scr\u0131pt", "d\u0131v", "p\u00e9"]
)
SPACES = st.sampled_from(["", " ", "  ", "\n", "\t", "\r\n", "\f", "\x0b", "\xa0", " \n "])
ATTRIBUTE_VALUES = st.sampled_from(
    [
        '"x"', "'x'", '"x>y"', "'a>b'", '"<p>"', "'</div>'", '"a\'b"', "'a\"b'", '""', "''",
        "x", "x/", "/x", "http://e.org/a?b=1&amp;c=2", "a&b", "=x", "x=y", "`x`", '"', "'",
        "<p>", "x>y", '"&amp;"', '"&#10;"', '"<script>"', '"\n"',
    ]
)  # fmt: skip
ATTRIBUTE_NAMES = st.sampled_from(
    ["href", "class", "data-x", "xml:lang", "_a", "a.b", "title", "ALT", "disabled", "1x", '"q']
)


@st.composite
def attributes(draw: st.DrawFn) -> str:
    name = draw(ATTRIBUTE_NAMES)
    if draw(st.booleans()):
        return name
    return name + draw(SPACES) + draw(st.sampled_from(["=", "==", "= "])) + draw(ATTRIBUTE_VALUES)


@st.composite
def start_tags(draw: st.DrawFn) -> str:
    attrs = draw(st.lists(st.tuples(SPACES, attributes()), max_size=3))
    body = "".join(space + attr for space, attr in attrs)
    close = draw(st.sampled_from([">", "/>", " />", " / >", "/", ""]))
    return "<" + draw(NAMES) + body + draw(SPACES) + close


@st.composite
def end_tags(draw: st.DrawFn) -> str:
    lead = draw(st.sampled_from(["</", "</", "</ "]))
    tail = draw(st.sampled_from([">", " >", "\n>", "/>", ' x="a>b">', " x>", ""]))
    return lead + draw(NAMES) + tail


TEXT = st.sampled_from(
    [
        "Peru", "Chile", "a", " ", "  ", "\n", "\r", "\r\n", "\t", "\xa0", "\u2028", "\x0b",
        "\x1c", "\x85", "\u3000", "café", "“q”", "it's", ">", "=", '"', "'", "/", ";", "#",
        "x;", "p;", "amp;", "\x00", "\x01", "\u200b",
    ]
)  # fmt: skip
OTHER_MARKUP = st.sampled_from(
    [
        "<", "< p>", "<3", "<!-- c -->", "<!--", "-->", "<!---->", "<!DOCTYPE html>", "<!x>",
        "<![CDATA[x]]>", "<?xml x?>", "<?", "<!", "</>", "</", "<p", "<a href='x'", "<>",
        "<script>x</p>y</script>", "<style>p{}</style>", "<title>T</title>", "<template/>",
    ]
)  # fmt: skip

# Any one piece the fast path refuses sends the whole string to HTMLParser, so simple pieces
# are mixed in for the fast path to take a fair share of the examples.
PIECES = st.one_of(start_tags(), end_tags(), ENTITIES, TEXT, OTHER_MARKUP)
MARKUP = st.lists(st.one_of(PIECES, SIMPLE_PIECES, SIMPLE_PIECES), max_size=15).map("".join)


@PROPERTIES
@given(MARKUP)
@example("<p>Fish &amp; chips</p><p>Peru</p>")
@example('<a href="x>y">link</a> &am<b>p; &#1<i>0;')
def test_fast_path_matches_htmlparser(markup: str) -> None:
    same_as_slow(markup)
    if _html_to_text_fast(markup) is None:
        return
    # and html_to_text itself only differs where its plain-text shortcut skips the parser
    if _LOOKS_LIKE_HTML.search(markup):
        assert html_to_text(markup) == _html_to_text_slow(markup)


@PROPERTIES
@given(st.one_of(start_tags(), end_tags(), simple_tags()), st.sampled_from(["", "&amp", "<p>"]))
@example('<a\xa0href="x>y">', "")
def test_one_tag_matches_htmlparser(tag: str, around: str) -> None:
    # the tag grammar on its own: one odd tag among others would mostly send the whole
    # string to HTMLParser, and leave the fast path's reading of that tag untested
    same_as_slow(f"x{around}{tag}y{tag}{around}z")


@PROPERTIES
@given(SIMPLE_MARKUP)
def test_fast_path_takes_simple_markup(markup: str) -> None:
    assert same_as_slow(markup) is not None, markup


# --- hand-written cases ------------------------------------------------------------------------

FAST, SLOW = True, False


@pytest.mark.parametrize(
    ("markup", "expected", "fast"),
    [
        pytest.param("<p>Peru</p><p>Chile</p>", "Peru\nChile", FAST, id="paragraphs"),
        pytest.param("<P>Peru</P ><DIV>Chile</div\n>", "Peru\nChile", FAST, id="uppercase"),
        pytest.param("Peru<br/>Chile<br />x<BR>", "Peru\nChile\nx", FAST, id="br-forms"),
        pytest.param("a<p/>b", "a\nb", FAST, id="self-closing-block"),
        pytest.param("Pe<b>r</b>u<img src=x.png>", "Peru", FAST, id="inline-vanishes"),
        pytest.param('<a href="x>y">link</a>', "link", FAST, id="quoted-gt-in-attribute"),
        pytest.param("<a title='<p>x</p>'>t</a>", "t", FAST, id="tag-inside-attribute"),
        pytest.param("<p class=\"a\"\n  id='b' hidden>x</p>", "x", FAST, id="attribute-forms"),
        pytest.param("<a href=http://e.org/a/>x", "x", FAST, id="bare-value-with-slash"),
        pytest.param("<o:p>x</o:p><my-el>y</my-el>", "xy", FAST, id="names-with-colon-dash"),
        pytest.param("<header>x</header>y", "x\ny", FAST, id="header-is-not-head"),
        pytest.param("line\none<p>two\r\nthree", "line one\ntwo three", FAST, id="source-newlines"),
        pytest.param("a&#10;b&NewLine;c&#13;d<p>", "a b c d", FAST, id="entity-newlines"),
        pytest.param("&amp &amp; &AMP; &ampx", "& & & &x", FAST, id="amp-without-semicolon"),
        pytest.param("<p>&notit; &notin; &not", "¬it; ∉ ¬", FAST, id="longest-legacy-prefix"),
        pytest.param("<p>&#x80;&#0;&#1;&#xD800;", "€\ufffd\ufffd", FAST, id="numeric-oddities"),
        pytest.param("<p>&#233 &#xe9 &eacute &#", "é é é &#", FAST, id="no-semicolon"),
        pytest.param("&am<b>p; x", "&amp; x", FAST, id="tag-splits-entity"),
        pytest.param("x&#9<b>7;", "x 7;", FAST, id="tag-splits-charref"),
        pytest.param("&amp;lt;<p>", "&lt;", FAST, id="decoded-once"),
        pytest.param("<p>a &lt;b&gt; c</p>", "a <b> c", FAST, id="escaped-tag-is-text"),
        pytest.param("<p>x &", "x &", FAST, id="trailing-ampersand"),
        pytest.param("<p>a\xa0\u2028 b\x0b\x1cc", "a b c", FAST, id="unicode-whitespace"),
        pytest.param("<p>a\u200bb", "a\u200bb", FAST, id="zero-width-space-is-not-space"),
        pytest.param("a <p> </p> <p>b", "a\nb", FAST, id="blank-lines-dropped"),
        pytest.param("<p>x</p> <", "x\n<", SLOW, id="unclosed-lt-at-end"),
        pytest.param("<p>1 < 2</p>", "1 < 2", SLOW, id="bare-lt"),
        pytest.param("<p>x<!-- <p> -->y", "xy", SLOW, id="comment"),
        pytest.param("<!DOCTYPE html><p>x", "x", SLOW, id="doctype"),
        pytest.param("<?xml version='1.0'?><p>x", "x", SLOW, id="processing-instruction"),
        pytest.param("<![CDATA[x]]>y", "y", SLOW, id="cdata"),
        pytest.param("<script>a</p>b</script>ok", "ok", SLOW, id="script"),
        pytest.param("<Title>T</Title>x", "x", SLOW, id="hidden-uppercase"),
        pytest.param("<template/>ok", "ok", SLOW, id="self-closed-hidden"),
        pytest.param("</ p>x", "x", SLOW, id="space-after-slash"),
        pytest.param("</p/>x", "x", SLOW, id="end-tag-slash"),
        pytest.param('</p title="a>b">x', 'b">x', SLOW, id="end-tag-attribute-with-gt"),
        pytest.param("a<br / >x", "a\nx", SLOW, id="slash-space-gt"),
        pytest.param('<a b="c"d>x', "x", SLOW, id="no-space-between-attributes"),
        pytest.param("<bloc\u212aquote>x</bloc\u212aquote>y", "x\ny", SLOW, id="kelvin-sign"),
        pytest.param("<\u017fection>x</\u017fection>y", "<\u017fection>xy", SLOW, id="long-s"),
        pytest.param("<p\xa0class=x>y", "y", SLOW, id="nbsp-in-tag-name"),
        pytest.param("a\x00b<p>c", "a\x00b\nc", SLOW, id="nul-in-text"),
        pytest.param("<p>x<a href='y", "x<a href='y", SLOW, id="unterminated-tag"),
    ],
)  # fmt: skip
def test_tricky_markup(markup: str, expected: str, fast: bool) -> None:
    assert _html_to_text_slow(markup) == expected
    assert same_as_slow(markup) == (expected if fast else None)


# --- _tidy against the regex version it replaced -----------------------------------------------

_OLD_INLINE_SPACES = re.compile(r"[^\S\n]+")
_OLD_LINE_BREAKS = re.compile(r" ?\n[\s]*")


def old_tidy(text: str) -> str:
    text = _OLD_INLINE_SPACES.sub(" ", text)
    return _OLD_LINE_BREAKS.sub("\n", text).strip()


WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())


@PROPERTIES
@given(st.text(alphabet=st.sampled_from([*WHITESPACE, "a", "b", "é", "\u200b", "\x00", "\x01"])))
@example(" a \n\n b \r\n c\xa0\u2028d ")
def test_tidy_matches_old_regexes(text: str) -> None:
    assert _tidy(text) == old_tidy(text)


def test_every_whitespace_but_space_is_unprintable() -> None:
    # _tidy_lines trusts str.isprintable() to rule out every whitespace character but " "
    assert [c for c in WHITESPACE if c.isprintable()] == [" "]
