"""The CPU work on one fetched feed that needs no database: parse it, key its items, sketch
them and match them against the rules.

Pure: no I/O. It is most of the cost of a poll, and nothing in it waits on the store, so it
can run in another process (workers.py) while the event loop fetches and stores (issue 6).
Items whose entry key the feed already stored are only keyed: they will be SEEN, and a
sketch or a match would be thrown away. The pipeline decides with the store what is new and
takes the prepared sketches and alerts of the items that are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from feedwatch.dedup import alert_id, guid_entry_key, keys_for
from feedwatch.matching import Matcher, item_snippets
from feedwatch.models import ItemKeys, NewAlert, ParsedFeed, ParsedItem
from feedwatch.stories import sketch


@dataclass(frozen=True, slots=True)
class FeedJob:
    """A fetched body and what preparing it needs to know of its feed."""

    body: bytes
    url: str  # where the body came from: the base of relative links
    content_type: str | None
    feed_url: str  # the configured URL: the feed's part in entry keys
    feed_name: str | None  # with the feed's title and address, what `feed:` terms read
    address: str
    known_entries: frozenset[str] = frozenset()  # entry keys this feed stored lately


@dataclass(frozen=True, slots=True)
class PreparedFeed:
    """The parsed feed, its items with their keys (items with no key dropped), and for each
    item not known before (by its index in ``batch``): its sketch and the alerts it raises
    if it turns out new. The items of ``known`` were stored by this feed already: only
    their entry key is real (parse.py gives them their guid alone), and they are SEEN."""

    parsed: ParsedFeed
    batch: tuple[tuple[ParsedItem, ItemKeys], ...]
    sketches: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    alerts: Mapping[int, tuple[NewAlert, ...]] = field(default_factory=dict)
    known: frozenset[int] = frozenset()


def prepare(job: FeedJob, matcher: Matcher, routes: Mapping[str, tuple[str, ...]]) -> PreparedFeed:
    """Parse, key, sketch and match; raises ParseError when the body is not a feed."""
    # imported on the first body: a round of 304s never needs feedparser (25 ms to load)
    from feedwatch.parse import parse_feed

    known = job.known_entries
    parsed = parse_feed(
        job.body,
        job.url,
        job.content_type,
        known_guid=(lambda guid: guid_entry_key(job.feed_url, guid) in known) if known else None,
    )  # a known entry without a guid is still read whole: its key needs its link or text
    batch = tuple((item, keys) for item in parsed.items if (keys := keys_for(job.feed_url, item)))
    feed = " ".join(p for p in (job.feed_name, parsed.title, job.address) if p)
    sketches: dict[int, tuple[int, ...]] = {}
    alerts: dict[int, tuple[NewAlert, ...]] = {}
    known_items: set[int] = set()
    for index, (item, keys) in enumerate(batch):
        if keys.entry_key in known:
            known_items.add(index)
            continue
        sketches[index] = sketch(item.text)
        alerts[index] = tuple(item_alerts(item, keys, index, matcher, routes, feed))
    return PreparedFeed(parsed, batch, sketches, alerts, frozenset(known_items))


def item_alerts(
    item: ParsedItem,
    keys: ItemKeys,
    index: int,
    matcher: Matcher,
    routes: Mapping[str, tuple[str, ...]],
    feed: str,
) -> list[NewAlert]:
    """The alerts one item raises if it is new; ``feed`` is what ``feed:`` terms read."""
    return [
        NewAlert(
            id=alert_id(match.rule, keys),
            rule=match.rule,
            keywords=match.keywords,
            item_index=index,
            notifiers=routes.get(match.rule, ()),
            snippets=tuple(item_snippets(item.content, match.terms, item.title)),
        )
        for match in matcher.match(item, feed)
    ]
