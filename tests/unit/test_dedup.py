"""dedup: item keys, SEEN / COPY / NEW, and stable alert ids."""

from __future__ import annotations

import re

import pytest

from feedwatch.dedup import alert_id, classify, fingerprint, keys_for, lookup_keys
from feedwatch.models import Decision, ItemKeys, ParsedItem, Verdict

FEED_A = "https://a.example.org/feed.xml"
FEED_B = "https://b.example.org/feed.xml"
LINK = "https://news.example.org/story/1"
TEXT = "Protests against the mine continued in Peru."


def item(
    guid: str | None = None,
    link: str | None = None,
    title: str = "Story",
    content: str = "",
) -> ParsedItem:
    return ParsedItem(
        guid=guid,
        link=link,
        title=title,
        author=None,
        published_at=None,
        summary=content[:500],
        content=content,
    )


def keys(parsed: ParsedItem, feed: str = FEED_A) -> ItemKeys:
    result = keys_for(feed, parsed)
    assert result is not None
    return result


# --- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parsed", "has_link_key", "has_content_key"),
    [
        pytest.param(item(guid="g", link=LINK, content=TEXT), True, True, id="everything"),
        pytest.param(item(guid="g"), False, False, id="guid-only"),
        pytest.param(item(link=LINK), True, False, id="link-only"),
        pytest.param(item(content=TEXT), False, True, id="text-only"),
        pytest.param(item(content="  \n "), False, False, id="blank-text-no-fingerprint"),
    ],
)
def test_keys_for(parsed: ParsedItem, has_link_key: bool, has_content_key: bool) -> None:
    k = keys(parsed)
    assert (k.link_key is not None, k.content_key is not None) == (has_link_key, has_content_key)
    assert k.shared() == tuple(x for x in (k.link_key, k.content_key) if x)


def test_item_with_nothing_to_recognise_has_no_keys() -> None:
    assert keys_for(FEED_A, item(title="")) is None


def test_title_only_items_are_recognised_by_title_in_their_feed() -> None:
    assert keys(item(title="Hello")).entry_key == keys(item(title="HELLO")).entry_key
    assert keys(item(title="Hello")).entry_key != keys(item(title="Other")).entry_key
    assert keys(item(title="Hello")).entry_key != keys(item(title="Hello"), FEED_B).entry_key


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param(item(guid="g1"), item(guid="g1", title="Changed"), True, id="same-guid"),
        pytest.param(item(guid="g1"), item(guid="g2"), False, id="other-guid"),
        pytest.param(
            item(link=LINK), item(link=LINK + "?utm_source=rss#x"), True, id="same-link-decorated"
        ),
        pytest.param(item(content=TEXT), item(content=TEXT.upper()), True, id="same-text-case"),
    ],
)
def test_entry_key_within_one_feed(a: ParsedItem, b: ParsedItem, same: bool) -> None:
    assert (keys(a).entry_key == keys(b).entry_key) is same


def test_entry_key_is_scoped_to_the_feed() -> None:
    assert keys(item(guid="g1"), FEED_A).entry_key != keys(item(guid="g1"), FEED_B).entry_key


def test_shared_keys_are_not_scoped_to_the_feed() -> None:
    parsed = item(guid="g1", link=LINK, content=TEXT)
    assert keys(parsed, FEED_A).shared() == keys(parsed, FEED_B).shared()


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param(("T", TEXT), ("T", TEXT), True, id="identical"),
        pytest.param(("Title", TEXT), ("TITLE", TEXT.upper()), True, id="case-ignored"),
        pytest.param(("A  title", "one\n two"), (" A title ", "one two"), True, id="whitespace"),
        pytest.param(("T", TEXT), ("Other", TEXT), False, id="other-title"),
        pytest.param(("T", TEXT), ("T", TEXT + " More."), False, id="other-text"),
    ],
)
def test_fingerprint(a: tuple[str, str], b: tuple[str, str], same: bool) -> None:
    assert (fingerprint(*a) == fingerprint(*b)) is same


@pytest.mark.parametrize("text", ["", "   ", "\n\t"], ids=["empty", "spaces", "whitespace"])
def test_empty_text_never_fingerprints(text: str) -> None:
    assert fingerprint("Same title", text) is None


def test_lookup_keys() -> None:
    k1 = keys(item(guid="a", link=LINK, content=TEXT))
    k2 = keys(item(guid="b"))
    entry_keys, shared = lookup_keys([k1, k2])
    assert entry_keys == [k1.entry_key, k2.entry_key]
    assert shared == [k1.link_key, k1.content_key]


# --- classify -----------------------------------------------------------------------------

STORED = item(guid="orig", link=LINK, title="Mine protest", content=TEXT)
STORED_KEYS = keys(STORED)
STORED_ARTICLES = {key: 41 for key in STORED_KEYS.shared()}


def verdicts(decisions: list[Decision]) -> list[tuple[Verdict, int | None, int | None]]:
    return [(d.verdict, d.copy_of_id, d.copy_of_index) for d in decisions]


@pytest.mark.parametrize(
    ("parsed", "feed", "expected"),
    [
        pytest.param(STORED, FEED_A, (Verdict.SEEN, None, None), id="seen-same-entry"),
        pytest.param(
            item(guid="orig", title="Edited title", content="edited"), FEED_A,
            (Verdict.SEEN, None, None), id="seen-same-guid-edited",
        ),
        pytest.param(
            item(guid="other", link="https://NEWS.example.org/story/1?utm_source=x&fbclid=y"),
            FEED_B, (Verdict.COPY, 41, None), id="copy-by-link-with-tracking",
        ),
        pytest.param(
            item(guid="x", link="https://mirror.example.net/p/9", title="MINE PROTEST",
                 content="  Protests against the mine continued in  PERU. "),
            FEED_B, (Verdict.COPY, 41, None), id="copy-by-title-and-text",
        ),
        pytest.param(
            item(guid="x", link="https://mirror.example.net/p/9", title="Other", content=TEXT),
            FEED_B, (Verdict.NEW, None, None), id="new-same-text-other-title",
        ),
        pytest.param(
            item(guid="new", link="https://news.example.org/story/2", content="Different."),
            FEED_A, (Verdict.NEW, None, None), id="new",
        ),
        pytest.param(
            item(guid="orig", link="https://elsewhere.example.org/1"), FEED_B,
            (Verdict.NEW, None, None), id="same-guid-other-feed-is-new",
        ),
    ],
)  # fmt: skip
def test_classify_against_store(
    parsed: ParsedItem, feed: str, expected: tuple[Verdict, int | None, int | None]
) -> None:
    seen = {STORED_KEYS.entry_key}
    decisions = classify([(parsed, keys(parsed, feed))], seen, STORED_ARTICLES)
    assert verdicts(decisions) == [expected]
    assert decisions[0].item is parsed


def test_empty_text_never_makes_a_copy() -> None:
    first = item(guid="1", link="https://e.org/1", title="Untitled", content="")
    second = item(guid="2", link="https://e.org/2", title="Untitled", content="")
    batch = [(first, keys(first)), (second, keys(second))]
    assert verdicts(classify(batch, set(), {})) == [
        (Verdict.NEW, None, None),
        (Verdict.NEW, None, None),
    ]


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        pytest.param(
            [item(guid="1", link=LINK), item(guid="1", link=LINK)],
            [(Verdict.NEW, None, None), (Verdict.SEEN, None, None)],
            id="same-entry-twice",
        ),
        pytest.param(
            [item(guid="1", link=LINK), item(guid="2", link=LINK + "?utm_medium=rss")],
            [(Verdict.NEW, None, None), (Verdict.COPY, None, 0)],
            id="same-link-twice",
        ),
        pytest.param(
            [
                item(guid="0", link="https://e.org/0", content="other"),
                item(guid="1", link="https://e.org/1", content=TEXT),
                item(guid="2", link="https://e.org/2", content=TEXT),
            ],
            [(Verdict.NEW, None, None), (Verdict.NEW, None, None), (Verdict.COPY, None, 1)],
            id="same-text-twice-points-at-first",
        ),
        pytest.param(
            [
                item(guid="1", link=LINK),
                item(guid="2", link=LINK),
                item(guid="3", link=LINK),
            ],
            [(Verdict.NEW, None, None), (Verdict.COPY, None, 0), (Verdict.COPY, None, 0)],
            id="three-copies-point-at-original",
        ),
    ],
)
def test_duplicates_inside_one_batch(
    batch: list[ParsedItem], expected: list[tuple[Verdict, int | None, int | None]]
) -> None:
    pairs = [(parsed, keys(parsed)) for parsed in batch]
    assert verdicts(classify(pairs, set(), {})) == expected


def test_stored_copy_wins_over_batch_copy() -> None:
    first = item(guid="1", link="https://e.org/new", content=TEXT, title="Mine protest")
    second = item(guid="2", link="https://e.org/new")
    pairs = [(first, keys(first)), (second, keys(second))]
    assert verdicts(classify(pairs, set(), STORED_ARTICLES)) == [
        (Verdict.COPY, 41, None),
        (Verdict.NEW, None, None),
    ]


# --- alert ids ----------------------------------------------------------------------------


def test_alert_id_is_stable_and_distinct() -> None:
    k = keys(item(guid="g1", link=LINK, content=TEXT))
    again = keys(item(guid="g1", link=LINK, content=TEXT))
    other = keys(item(guid="g2", link=LINK, content=TEXT))
    assert alert_id("rule", k) == alert_id("rule", again)
    assert alert_id("rule", k) != alert_id("other-rule", k)
    assert alert_id("rule", k) != alert_id("rule", other)
    assert re.fullmatch(r"[0-9a-f]{24}", alert_id("rule", k))


def test_alert_id_is_pinned() -> None:
    # blake2b, not hash(): the id of a given rule and entry never changes between processes or
    # releases, so receivers that drop repeats by webhook-id keep working after an upgrade
    assert alert_id("peru", ItemKeys("e" * 32, None, None)) == "e79cdd613e60a060f52620f0"
