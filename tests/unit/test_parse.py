"""parse.parse_feed: RSS and Atom bytes into plain-text items; anything else a ParseError."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from feedwatch.errors import ParseError
from feedwatch.models import ParsedItem
from feedwatch.parse import SUMMARY_LIMIT, parse_feed
from harness.feeds import atom, rss

FEED_URL = "https://news.example.org/feeds/main.xml"
SITE = "https://news.example.org/"
FORMATS = [pytest.param(rss, id="rss"), pytest.param(atom, id="atom")]


def one(render: Any, entry: dict[str, Any]) -> ParsedItem:
    (parsed,) = parse_feed(render("News", SITE, [entry]), FEED_URL).items
    return parsed


@pytest.mark.parametrize("render", FORMATS)
def test_full_item(render: Any) -> None:
    feed = parse_feed(
        render(
            "News &amp; Views",
            SITE,
            [
                {
                    "id": "urn:item:1",
                    "title": "Protests in Perú",
                    "link": "https://news.example.org/a/1",
                    "summary": "<p>Mining <b>protests</b> continue.</p>",
                    "content": "<p>Mining protests continue.</p><p>Second paragraph.</p>",
                    "author": "Ana Quispe",
                    "published": datetime(2023, 8, 7, 10, 30, tzinfo=UTC),
                }
            ],
        ),
        FEED_URL,
    )
    assert feed.title == "News & Views"
    assert feed.skipped == 0
    assert feed.items == (
        ParsedItem(
            guid="urn:item:1",
            link="https://news.example.org/a/1",
            title="Protests in Perú",
            author="Ana Quispe",
            published_at=datetime(2023, 8, 7, 10, 30, tzinfo=UTC),
            summary="Mining protests continue.",
            content="Mining protests continue.\nSecond paragraph.",
        ),
    )


@pytest.mark.parametrize("render", FORMATS)
@pytest.mark.parametrize(
    ("published", "expected"),
    [
        pytest.param(
            datetime(2023, 8, 7, 0, 0, tzinfo=UTC), datetime(2023, 8, 7, tzinfo=UTC), id="utc"
        ),
        pytest.param(
            datetime(2023, 8, 7, 10, 0, tzinfo=timezone(timedelta(hours=2))),
            datetime(2023, 8, 7, 8, 0, tzinfo=UTC),
            id="east-of-utc",
        ),
        pytest.param(
            datetime(2023, 8, 6, 21, 0, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2023, 8, 7, 2, 0, tzinfo=UTC),
            id="west-of-utc-crosses-midnight",
        ),
    ],
)
def test_dates_become_aware_utc(render: Any, published: datetime, expected: datetime) -> None:
    got = one(render, {"id": "1", "title": "t", "published": published}).published_at
    assert got == expected
    assert got is not None
    assert got.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        pytest.param(
            "Mon, 07 Aug 2023 10:00:00 +0200", datetime(2023, 8, 7, 8, tzinfo=UTC), id="rfc822"
        ),
        pytest.param(
            "Mon, 07 Aug 2023 10:00:00 EST", datetime(2023, 8, 7, 15, tzinfo=UTC), id="est"
        ),
    ],
)  # fmt: skip
def test_rss_pub_date_strings(date: str, expected: datetime | None) -> None:
    body = (
        '<rss version="2.0"><channel><title>x</title><item><guid isPermaLink="false">1</guid>'
        f"<title>t</title><pubDate>{date}</pubDate></item></channel></rss>"
    ).encode()
    (parsed,) = parse_feed(body, FEED_URL).items
    assert parsed.published_at == expected


@pytest.mark.parametrize("render", FORMATS)
def test_item_without_date_has_none(render: Any) -> None:
    assert one(render, {"id": "1", "title": "t"}).published_at is None


@pytest.mark.parametrize("render", FORMATS)
@pytest.mark.parametrize(
    ("title", "expected"),
    [
        pytest.param("Tom & Jerry", "Tom & Jerry", id="ampersand"),
        pytest.param("a < b", "a < b", id="less-than"),
        pytest.param("Peru’s “mines”", "Peru’s “mines”", id="curly-quotes"),
        pytest.param("Two\r\nlines\n here", "Two lines here", id="line-breaks"),
    ],
)
def test_plain_titles(render: Any, title: str, expected: str) -> None:
    assert one(render, {"id": "1", "title": title}).title == expected


@pytest.mark.parametrize(
    ("title_xml", "expected"),
    [
        pytest.param("&lt;b&gt;Pe&lt;/b&gt;ru &amp;amp; more", "Peru & more", id="escaped-html"),
        pytest.param(
            "&lt;p&gt;One&lt;/p&gt;&lt;p&gt;Two&lt;/p&gt;", "One Two", id="blocks-one-line"
        ),
    ],
)  # fmt: skip
def test_html_in_rss_titles_stripped(title_xml: str, expected: str) -> None:
    body = (
        '<rss version="2.0"><channel><title>x</title><item><guid isPermaLink="false">1</guid>'
        f"<title>{title_xml}</title></item></channel></rss>"
    ).encode()
    assert parse_feed(body, FEED_URL).items[0].title == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        pytest.param('<title type="html">&lt;b&gt;Pe&lt;/b&gt;ru</title>', "Peru", id="html"),
        pytest.param(
            '<title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">A <b>bold</b> move'
            "</div></title>",
            "A bold move",
            id="xhtml",
        ),
        pytest.param('<title type="text">&lt;b&gt; is a tag</title>', "<b> is a tag", id="text"),
    ],
)
def test_atom_title_types(title: str, expected: str) -> None:
    body = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title><id>urn:f</id>'
        f"<entry><id>urn:1</id>{title}</entry></feed>"
    ).encode()
    assert parse_feed(body, FEED_URL).items[0].title == expected


@pytest.mark.parametrize("render", FORMATS)
@pytest.mark.parametrize(
    ("link", "expected"),
    [
        pytest.param("/a/1", "https://news.example.org/a/1", id="root-relative"),
        pytest.param("a/1", "https://news.example.org/feeds/a/1", id="path-relative"),
        pytest.param("https://other.example.net/x", "https://other.example.net/x", id="absolute"),
    ],
)
def test_relative_links_resolved_against_feed_url(render: Any, link: str, expected: str) -> None:
    assert one(render, {"id": "1", "title": "t", "link": link}).link == expected


@pytest.mark.parametrize("render", FORMATS)
@pytest.mark.parametrize(
    ("entry", "expected_summary", "expected_content"),
    [
        pytest.param(
            {"summary": "<p>Short <i>summary</i></p>", "content": "<p>Long content</p>"},
            "Short summary", "Long content", id="both",
        ),
        pytest.param(
            {"content": "<p>Only content</p><p>here</p>"}, "Only content here",
            "Only content\nhere", id="content-only",
        ),
        pytest.param(
            {"summary": "Only summary &amp; more"}, "Only summary & more",
            "Only summary & more", id="summary-only",
        ),
        pytest.param(
            {"summary": "<script>alert('x')</script><style>p{}</style>Visible"},
            "Visible", "Visible", id="script-and-style-dropped",
        ),
        pytest.param({}, "", "", id="neither"),
    ],
)  # fmt: skip
def test_summary_and_content(
    render: Any, entry: dict[str, str], expected_summary: str, expected_content: str
) -> None:
    parsed = one(render, {"id": "1", "title": "t", **entry})
    assert (parsed.summary, parsed.content) == (expected_summary, expected_content)


@pytest.mark.parametrize("render", FORMATS)
@pytest.mark.parametrize(
    "entry",
    [
        pytest.param({"summary": "word " * 300}, id="long-summary"),
        pytest.param({"content": "<p>" + "word " * 300 + "</p>"}, id="long-content-only"),
        pytest.param({"summary": "x" * 2000}, id="long-unbroken"),
    ],
)
def test_summary_at_most_500_chars(render: Any, entry: dict[str, str]) -> None:
    parsed = one(render, {"id": "1", "title": "t", **entry})
    assert 0 < len(parsed.summary) <= SUMMARY_LIMIT
    assert parsed.summary.endswith("…")
    assert len(parsed.content) > SUMMARY_LIMIT


def test_rss_unparseable_pub_date_is_no_date() -> None:
    body = (
        b'<rss version="2.0"><channel><title>x</title><item><guid isPermaLink="false">1</guid>'
        b"<title>t</title><pubDate>not a date</pubDate></item></channel></rss>"
    )
    (parsed,) = parse_feed(body, FEED_URL).items
    assert parsed.published_at is None


@pytest.mark.parametrize(
    ("title_xml", "expected"),
    [
        pytest.param("&lt;script&gt;alert(1)&lt;/script&gt;News", "News", id="script"),
        pytest.param("Peru&lt;br&gt;Chile", "Peru Chile", id="br"),
    ],
)
def test_html_in_rss_titles_with_unlisted_tags_stripped(title_xml: str, expected: str) -> None:
    body = (
        '<rss version="2.0"><channel><title>x</title><item><guid isPermaLink="false">1</guid>'
        f"<title>{title_xml}</title></item></channel></rss>"
    ).encode()
    assert parse_feed(body, FEED_URL).items[0].title == expected


@pytest.mark.parametrize(
    ("render", "entry_id", "link"),
    [
        pytest.param(rss, "urn:1", None, id="rss-guid-not-permalink"),
        pytest.param(atom, "https://e.org/1", "https://e.org/1", id="atom-url-id-is-the-link"),
    ],
)
def test_item_without_link(render: Any, entry_id: str, link: str | None) -> None:
    parsed = one(render, {"id": entry_id, "title": "t"})
    assert (parsed.guid, parsed.link) == (entry_id, link)


@pytest.mark.parametrize("entry_id", ["tag:example.org,2023:1", "urn:uuid:1234"])
def test_atom_entry_without_link_has_no_link(entry_id: str) -> None:
    parsed = one(atom, {"id": entry_id, "title": "t"})
    assert parsed.guid == entry_id
    assert parsed.link is None


@pytest.mark.parametrize("render", FORMATS)
@pytest.mark.parametrize(
    ("entry", "guid", "link", "title"),
    [
        pytest.param({"title": "t", "link": "https://e.org/1"}, None, "https://e.org/1", "t",
                     id="no-id"),
        pytest.param({"id": "urn:1", "link": "https://e.org/1"}, "urn:1", "https://e.org/1", "",
                     id="no-title"),
        pytest.param({"summary": "just text"}, None, None, "", id="nothing-but-text"),
    ],
)  # fmt: skip
def test_missing_id_link_title(
    render: Any, entry: dict[str, str], guid: str | None, link: str | None, title: str
) -> None:
    parsed = one(render, entry)
    assert (parsed.guid, parsed.link, parsed.title) == (guid, link, title)


def test_rss_permalink_guid_is_the_link() -> None:
    body = (
        b'<rss version="2.0"><channel><title>x</title><item>'
        b"<guid>https://news.example.org/a/7</guid><title>t</title></item></channel></rss>"
    )
    (parsed,) = parse_feed(body, FEED_URL).items
    assert parsed.guid == "https://news.example.org/a/7"
    assert parsed.link == "https://news.example.org/a/7"


@pytest.mark.parametrize("render", FORMATS)
def test_empty_feed_has_no_items(render: Any) -> None:
    feed = parse_feed(render("Empty", SITE, []), FEED_URL)
    assert feed.items == ()
    assert feed.title == "Empty"


@pytest.mark.parametrize("render", FORMATS)
def test_items_keep_feed_order(render: Any) -> None:
    entries = [{"id": str(i), "title": f"item {i}"} for i in range(5)]
    feed = parse_feed(render("News", SITE, entries), FEED_URL)
    assert [i.title for i in feed.items] == [f"item {i}" for i in range(5)]


HTML_WITH_FEEDS = (
    b"<!DOCTYPE html>\n<html><head><title>News</title>"
    b'<link rel="alternate" type="application/rss+xml" href="/feeds/rss.xml">'
    b"<link rel='alternate' type='application/atom+xml' href='https://cdn.example.net/a.xml'>"
    b'<link rel="stylesheet" href="/style.css">'
    b"</head><body><p>Hello</p></body></html>"
)


@pytest.mark.parametrize(
    ("body", "fragments", "absent"),
    [
        pytest.param(
            HTML_WITH_FEEDS,
            ["HTML page", "https://news.example.org/feeds/rss.xml", "https://cdn.example.net/a.xml"],
            ["style.css"],
            id="html-linking-feeds",
        ),
        pytest.param(
            b"<!-- comment -->\n<html><head></head><body>hi</body></html>", ["HTML page"],
            ["links to feeds"], id="html-without-feed-links",
        ),
        pytest.param(
            b"<!doctype html><html><head><link type=\"application/rss+xml\" "
            b"href=\"/f?a=1&amp;b=2\"></head></html>",
            ["https://news.example.org/f?a=1&b=2"], [], id="href-entities-decoded",
        ),
        pytest.param(b"", ["empty"], [], id="empty-body"),
        pytest.param(b"   \n ", ["empty"], [], id="blank-body"),
        pytest.param(b"{\"json\": true}", ["not a feed"], [], id="json"),
        pytest.param(b"\x00\x01\x02garbage", ["not a feed"], [], id="binary"),
    ],
)  # fmt: skip
def test_not_a_feed(body: bytes, fragments: list[str], absent: list[str]) -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(body, FEED_URL)
    err = info.value
    assert err.feed_url == FEED_URL
    assert err.transient is False
    for fragment in fragments:
        assert fragment in err.message
    for fragment in absent:
        assert fragment not in err.message


def test_html_page_with_bom_names_linked_feeds() -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(b"\xef\xbb\xbf" + HTML_WITH_FEEDS, FEED_URL)
    assert "https://news.example.org/feeds/rss.xml" in info.value.message


def test_content_type_is_passed_on() -> None:
    body = rss("Latin-1", SITE, [{"id": "1", "title": "Perú"}])
    feed = parse_feed(body, FEED_URL, content_type="application/rss+xml; charset=utf-8")
    assert feed.items[0].title == "Perú"
