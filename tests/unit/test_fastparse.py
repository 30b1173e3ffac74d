"""The expat reader gives feedparser's answer, item for item, or declines (issue 6, point 4).

Every comparison runs parse_feed twice, once free to take the fast path and once with
feedparser only, and requires the same ParsedFeed (or the same error)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedwatch import fastparse
from feedwatch.errors import ParseError
from feedwatch.models import ParsedFeed
from feedwatch.parse import parse_feed

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "data" / "hostile"
sys.path.insert(0, str(ROOT / "bench" / "feeds"))
from corpus import Corpus  # noqa: E402

BASE = "https://example.org/news/feed.xml"


def both(
    body: bytes,
    content_type: str | None = "application/rss+xml",
    known_guid: Callable[[str], bool] | None = None,
) -> ParsedFeed | str:
    """Both paths' answer, asserted equal; an error becomes its message."""

    def run(fast: bool) -> ParsedFeed | str:
        try:
            return parse_feed(body, BASE, content_type, fast=fast, known_guid=known_guid)
        except ParseError as e:
            return f"error: {e}"

    fast, slow = run(True), run(False)
    assert fast == slow
    return fast


def taken(body: bytes, content_type: str | None = "application/rss+xml") -> ParsedFeed:
    """Both paths agree, and the fast one took the document."""
    assert fastparse.read(body, BASE, content_type) is not None
    result = both(body, content_type)
    assert isinstance(result, ParsedFeed)
    return result


def test_the_benchmark_corpus_reads_the_same_both_ways_and_all_of_it_fast() -> None:
    corpus = Corpus(60)
    rounds = [[feed.render() for feed in corpus.feeds]]
    corpus.change(0.5)
    rounds.append([feed.render() for feed in corpus.feeds])
    items = 0
    for bodies in rounds:
        for index, body in enumerate(bodies):
            kind = "application/atom+xml" if index % 2 else "application/rss+xml"
            items += len(taken(body, kind).items)
    assert items > 3000


@pytest.mark.parametrize(
    "path", sorted(p for p in HOSTILE.iterdir() if p.suffix in (".xml", ".html")), ids=str
)
@pytest.mark.parametrize("content_type", [None, "application/xml", "text/xml"])
def test_every_fixture_reads_the_same_both_ways(path: Path, content_type: str | None) -> None:
    both(path.read_bytes(), content_type)


def rss(items: str, channel: str = "<title>News</title><link>/home</link>") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/" '
        'xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:wfw="http://wellformedweb.org/CommentAPI/" '
        'xmlns:slash="http://purl.org/rss/1.0/modules/slash/">'
        f"<channel>{channel}{items}</channel></rss>"
    ).encode()


def atom(entries: str, head: str = "<title>News</title><id>urn:x:feed</id>") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"{head}{entries}</feed>"
    ).encode()


RSS_ITEMS = [
    "<item><title>A</title><link>https://x.org/a?b=1&amp;c=2</link><guid>g1</guid></item>",
    "<item><guid>https://x.org/p/1</guid><title>Permalink</title></item>",
    "<item><guid>/relative/2</guid><link>/story/2</link></item>",
    "<item><link>/story/3</link><guid>/relative/3</guid></item>",
    '<item><guid isPermaLink="false">tag:x.org,2026:4</guid><link>story/4</link></item>',
    '<item><guid isPermaLink="true">urn:x:5</guid></item>',
    '<item><guid isPermaLink="True">https://x.org/6</guid></item>',
    "<item><guid>tag:x.org,2026:7</guid><title>Tag as link</title></item>",
    "<item><title>  Spaces\n around </title><description>  <![CDATA[<p>Hi</p>]]> </description>"
    "</item>",
    "<item><description>&lt;p&gt;One &amp;amp; two&lt;/p&gt;</description>"
    "<content:encoded><![CDATA[<div>Full <b>text</b></div>]]></content:encoded></item>",
    "<item><content:encoded>&lt;p&gt;Full&lt;/p&gt;</content:encoded>"
    "<description>Teaser</description></item>",
    "<item><title>Caf\u00e9 \u00c3\u00a9t\u00c3\u00a9 &#233;</title>"
    "<dc:creator>Ana</dc:creator></item>",
    "<item><title>&lt;b&gt;Bold&lt;/b&gt; title</title><author>a@x.org (Ana)</author></item>",
    "<item><pubDate>Tue, 10 Jun 2025 04:00:00 GMT</pubDate><title>Dated</title></item>",
    "<item><pubDate>not a date</pubDate></item>",
    "<item><pubDate>2025-06-10T04:00:00+02:00</pubDate></item>",
    "<item><title></title><link></link><guid></guid><description></description></item>",
    "<item><category>x</category><comments>/c</comments>"
    '<enclosure url="/a.mp3" length="1" type="audio/mpeg"/><source url="/s">S</source>'
    "<title>Extras</title></item>",
    "<item><title>a<!-- note -->b</title><?pi x?></item>",
    "<item><title>WordPress</title><wfw:commentRss>/c/feed/</wfw:commentRss>"
    "<wfw:comment>/c</wfw:comment><slash:comments>3</slash:comments></item>",
]


@pytest.mark.parametrize("item", RSS_ITEMS)
def test_rss_items_the_fast_path_takes(item: str) -> None:
    taken(rss(item))


ATOM_ENTRIES = [
    '<entry><title>A</title><link href="/a"/><id>urn:x:1</id>'
    "<updated>2025-06-10T04:00:00Z</updated></entry>",
    '<entry><id>https://x.org/2</id><title type="html">&lt;i&gt;B&lt;/i&gt;</title></entry>',
    '<entry><id>tag:x.org,2026:3</id><title type="text">&lt;i&gt;C&lt;/i&gt;</title></entry>',
    '<entry><link rel="self" href="/self"/><link href="/alt" type="text/html"/>'
    '<link rel="alternate" href="/alt2" type="application/pdf"/>'
    '<link rel="enclosure" href="/e.mp3"/><id>urn:x:4</id></entry>',
    '<entry><link href="/one"/><link rel="ALTERNATE" href="/two" type="HTML"/></entry>',
    '<entry><id>urn:x:5</id><link href="/x" type="xhtml"/></entry>',
    '<entry><summary>Short</summary><content type="html">&lt;p&gt;Long&lt;/p&gt;</content></entry>',
    '<entry><content type="html">&lt;p&gt;Long&lt;/p&gt;</content><summary>Short</summary></entry>',
    '<entry><content type="text">a &lt; b</content><published>2025-06-09T01:02:03Z'
    "</published><updated>2025-06-10T04:00:00Z</updated></entry>",
    '<entry><title type="HTML">Caps &amp;amp; type</title><category term="x"/></entry>',
    "<entry><title>By</title><author><name>Ana</name></author></entry>",
    "<entry><author>\n <name> Ana  B </name>\n <uri>/ana</uri>\n</author></entry>",
    "<entry><author><name>Ana</name><email>ana@x.org</email></author></entry>",
    "<entry><author><email>ana@x.org</email><uri>https://x.org/</uri></author></entry>",
    # feedparser repairs UTF-8 read as Latin-1 in a title, not in a name
    "<entry><author><name>Caf\u00e9 &amp; \u00c3\u00a9</name></author>"
    "<title>\u00c3\u00a9</title></entry>",
]

REAL_SHAPES = sorted((ROOT / "tests" / "data" / "feeds").glob("*.xml"))


@pytest.mark.parametrize("path", REAL_SHAPES, ids=lambda p: p.name)
def test_feeds_shaped_like_real_ones_are_taken_by_the_fast_path(path: Path) -> None:
    """A WordPress feed, a Google News search and an Atom feed with authors, as served."""
    kind = "application/atom+xml" if "atom" in path.name else "application/rss+xml"
    parsed = taken(path.read_bytes(), kind)
    assert parsed.items


@pytest.mark.parametrize("entry", ATOM_ENTRIES)
def test_atom_entries_the_fast_path_takes(entry: str) -> None:
    taken(atom(entry), "application/atom+xml")


@pytest.mark.parametrize(
    "head",
    [
        "<title>T</title>",
        "<id>https://x.org/</id><title>Id before link</title><link href='/home'/>",
        "<link href='/home'/><id>urn:x:feed</id>",
        "<title type='html'>&lt;b&gt;T&lt;/b&gt;</title><updated>2025-01-01T00:00:00Z</updated>"
        "<subtitle>s</subtitle><author><name>n</name></author><rights>r</rights>",
    ],
)
def test_atom_feed_heads(head: str) -> None:
    taken(atom(ATOM_ENTRIES[0], head), "application/atom+xml")


@pytest.mark.parametrize(
    "channel",
    [
        "<title>T</title><ttl>90</ttl>",
        "<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>",
        "<link>https://x.org/?a=1&amp;b=2</link><atom:link rel='self' href='https://x.org/f'/>"
        "<image><title>Logo</title><url>/l.png</url><link>/</link></image><title>After</title>",
        "<description>d</description><language>en</language><lastBuildDate>x</lastBuildDate>",
    ],
)
def test_rss_channels(channel: str) -> None:
    taken(rss(RSS_ITEMS[0], channel))


DECLINED = [
    rss("<item><title>a</title><title>b</title></item>"),  # a second title
    rss("<item><media:title xmlns:media='http://search.yahoo.com/mrss/'>m</media:title></item>"),
    rss("<item><description><p>raw markup</p></description></item>"),
    rss('<item xml:base="https://other.org/"><link>a</link></item>'),
    rss("<item><title>\u0080 C1</title></item>"),
    rss("<item><title>a</title></item>").replace(b"UTF-8", b"ISO-8859-1"),
    b'<!DOCTYPE rss [<!ENTITY e "x">]>' + rss("<item><title>&e;</title></item>"),
    rss("<item><title>&nbsp;</title></item>"),
    atom(
        '<entry><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">x</div>'
        "</content></entry>"
    ),
    atom("<entry><author><name>A</name></author><author><name>B</name></author></entry>"),
    atom("<entry><author>Ana <email>a@x.org</email></author></entry>"),
    atom("<entry><author><name><b>Ana</b></name></author></entry>"),
    atom("<entry><author><uri>/ana</uri></author></entry>"),
    b'<rss version="0.91"><channel><item><title>a</title></item></channel></rss>',
    b"<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'/>",
    # found in review: each of these read differently by feedparser than a naive reader would
    rss('<item><link url="https://a.example/x">https://b.example/y</link></item>'),
    rss('<item><guid x:isPermaLink="false" xmlns:x="urn:x">abc</guid></item>'),
    rss('<item><title type="foo">SGVsbG8gV29ybGQ=</title></item>'),  # base64 to feedparser
    rss('<item><description type="xhtml">a &amp;lt;b&amp;gt;</description></item>'),
    rss("<item><category><title>Hidden</title></category><link>/a</link></item>"),
    rss("<item><title>t</title><link>/a</link><comments><link>/b</link></comments></item>"),
    rss("<item><title>t</title></item>", "<title>N</title><atom:link rel='self'/>"),
    rss("<item><title>t</title></item>").replace(
        b"<channel>", b"<channel xmlns:y='http://" + b"a" * 70000 + b"/'>"
    ),
    '<?xml version="1.0" encoding = "ISO-8859-2"?><rss version="2.0"><channel><item><title>\u0105'
    "</title></item></channel></rss>".encode("iso-8859-2"),
]


@pytest.mark.parametrize("body", DECLINED)
def test_what_the_fast_path_leaves_to_feedparser(body: bytes) -> None:
    assert fastparse.read(body, BASE, "application/rss+xml") is None
    both(body)


@pytest.mark.parametrize("body", [rss("<item><title>Caf\u00e9 &#8217;s</title></item>")])
def test_without_a_declared_encoding_or_charset_feedparser_decides(body: bytes) -> None:
    bare = body.split(b"?>", 1)[1]  # no XML declaration
    assert fastparse.read(bare, BASE, None) is None
    both(bare, None)
    assert fastparse.read(bare, BASE, "application/rss+xml") is not None  # RFC 3023: UTF-8
    both(bare, "application/rss+xml")


@pytest.mark.parametrize(
    ("content_type", "ascii_only", "fast"),
    [
        ("application/rss+xml; charset=utf-8", False, True),
        ("application/rss+xml; charset=iso-8859-1", True, False),
        ("text/xml", True, True),
        ("text/xml", False, False),
        ("text/xml; charset=UTF-8", False, True),
    ],
)
def test_encodings_the_fast_path_trusts(content_type: str, ascii_only: bool, fast: bool) -> None:
    body = rss("<item><title>Plain</title></item>" if ascii_only else RSS_ITEMS[11])
    assert (fastparse.read(body, BASE, content_type) is not None) is fast
    both(body, content_type)


# Random documents built from the elements the fast path knows, some it does not, and text
# with the characters that feedparser treats specially.
PIECES = ["a", "b", " ", "\n", "\t", "/", "\u00e9", "\u2019", "&amp;", "&lt;p&gt;", "&lt;"]
PIECES += ["&gt;", "&quot;", "\u00c3\u00a9", "https://x.org/", "&amp;amp;", "&#233;", "?q=1"]
TEXT = st.lists(st.sampled_from(PIECES), max_size=8).map("".join)
RSS_CHILD = st.one_of(
    st.builds(lambda t: f"<title>{t}</title>", TEXT),
    st.builds(lambda t: f"<link>{t}</link>", TEXT),
    st.builds(
        lambda t, p: f"<guid{p}>{t}</guid>",
        TEXT,
        st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"', " isPermaLink='x'"]),
    ),
    st.builds(lambda t: f"<description>{t}</description>", TEXT),
    st.builds(lambda t: f"<content:encoded>{t}</content:encoded>", TEXT),
    st.builds(lambda t: f"<dc:creator>{t}</dc:creator>", TEXT),
    st.builds(lambda t: f"<pubDate>{t}</pubDate>", TEXT | st.just("Tue, 10 Jun 2025 04:00 GMT")),
    st.builds(lambda t: f"<category>{t}</category>", TEXT),
    st.builds(lambda t: f"<dc:subject>{t}</dc:subject>", TEXT),
    st.builds(lambda t: f"<wfw:commentRss>{t}</wfw:commentRss>", TEXT),
    st.builds(lambda t: f"<slash:comments>{t}</slash:comments>", TEXT),
)
ATOM_CHILD = st.one_of(
    st.builds(
        lambda t, k: f"<title{k}>{t}</title>",
        TEXT,
        st.sampled_from(["", ' type="html"', ' type="text"', ' type="xhtml"']),
    ),
    st.builds(
        lambda h, r, k: f"<link href={quoteattr(h)}{r}{k}/>",
        st.sampled_from(["/a", "https://x.org/b", "c?d=1&e=2", ""]),
        st.sampled_from(["", ' rel="alternate"', ' rel="self"', ' rel="related"']),
        st.sampled_from(["", ' type="text/html"', ' type="application/pdf"']),
    ),
    st.builds(lambda t: f"<id>{t}</id>", TEXT),
    st.builds(lambda t: f"<summary>{t}</summary>", TEXT),
    st.builds(lambda t: f'<content type="html">{t}</content>', TEXT),
    st.builds(lambda t: f"<updated>{t}</updated>", TEXT | st.just("2025-06-10T04:00:00Z")),
    st.builds(
        lambda parts: f"<author>{''.join(parts)}</author>",
        st.lists(
            st.builds(
                lambda k, t: f"<{k}>{t}</{k}>", st.sampled_from(["name", "email", "uri"]), TEXT
            ),
            max_size=3,
        ),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(RSS_CHILD, max_size=6), max_size=3), st.lists(RSS_CHILD, max_size=3))
def test_random_rss_reads_the_same_both_ways(items: list[list[str]], head: list[str]) -> None:
    channel = "".join(c for c in head if not c.startswith(("<guid", "<content", "<dc:")))
    body = rss("".join(f"<item>{''.join(i)}</item>" for i in items), channel)
    both(body)
    both(body, known_guid=_even_guids_known)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(ATOM_CHILD, max_size=6), max_size=3), st.lists(ATOM_CHILD, max_size=3))
def test_random_atom_reads_the_same_both_ways(entries: list[list[str]], head: list[str]) -> None:
    body = atom("".join(f"<entry>{''.join(e)}</entry>" for e in entries), "".join(head))
    both(body, "application/atom+xml")
    both(body, "application/atom+xml", known_guid=_even_guids_known)


def _even_guids_known(guid: str) -> bool:
    """Stored entries, for the random documents: the guids of even length."""
    return len(guid) % 2 == 0


def test_known_entries_of_the_corpus_read_the_same_both_ways() -> None:
    """A changed round: the entries stored before are known by their guid, and the fast
    path skips reading what follows it in them."""
    corpus = Corpus(40)
    before = [feed.render() for feed in corpus.feeds]
    guids = {item.guid for body in before for item in both(body).items if item.guid}
    corpus.change(0.5)
    known = 0
    for index, feed in enumerate(corpus.feeds):
        kind = "application/atom+xml" if index % 2 else "application/rss+xml"
        body = feed.render()
        assert fastparse.read(body, BASE, kind, guids.__contains__) is not None
        result = both(body, kind, guids.__contains__)
        assert isinstance(result, ParsedFeed)
        known += sum(1 for item in result.items if item.guid in guids and not item.title)
    assert known > 1000


URL_PIECES = ["http", "https", "HTTP", "://", "/", "//", "a.example", "b-c.example", ":8080",
              ":", "?", "q=1", "&", "#", "frag", ";p", "..", ".", "%20", " ", "\t", "é", "[",
              "]", "@", "~x", "\\", "x", "", "utm_source=rss"]  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(st.sampled_from(URL_PIECES), max_size=9),
    st.sampled_from(["", "http://base.example/feed/", "https://base.example/a/b?c"]),
)
def test_links_resolve_as_feedparser_resolves_them(pieces: list[str], base: str) -> None:
    from feedparser.urls import _urljoin as feedparser_urljoin

    uri = "".join(pieces)
    assert fastparse._urljoin(base, uri) == feedparser_urljoin(base, uri)


@pytest.mark.parametrize(
    "uri",
    ["https://a.example/x/y?utm_source=rss&b=2", "http://a.example:8080", "http://a.example/"],
)
def test_plain_absolute_links_skip_the_join(uri: str) -> None:
    assert fastparse._PLAIN_ABSOLUTE.fullmatch(uri)
