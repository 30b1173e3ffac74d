"""Which parsed items are new, which are copies of a stored article, which were seen before.

Pure: no I/O. Keys are hashes that stay the same across processes and machines, so the
database can index them and alert ids can be derived from them (SPEC: dedup).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from feedwatch.models import Decision, ItemKeys, ParsedItem, Verdict
from feedwatch.text import one_line
from feedwatch.urls import canonical_link


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x00".join(parts).encode("utf-8"), digest_size=16).hexdigest()


def fingerprint(title: str, text: str) -> str | None:
    """Same title and text, case and whitespace ignored; None for empty text (SPEC)."""
    body = one_line(text).casefold()
    if not body:
        return None
    return _digest("content", one_line(title).casefold(), body)


def guid_entry_key(feed_url: str, guid: str) -> str:
    """The entry key of an item that has a guid: the feed and the guid alone."""
    return _digest("guid", feed_url, guid)


def keys_for(feed_url: str, item: ParsedItem) -> ItemKeys | None:
    """The item's keys, or None when it has nothing to be recognised by."""
    link = canonical_link(item.link) if item.link else None
    link_key = _digest("link", link) if link else None
    content_key = fingerprint(item.title, item.text)
    if item.guid:
        entry = guid_entry_key(feed_url, item.guid)
    elif link_key or content_key:
        entry = _digest("entry", feed_url, link_key or content_key or "")
    elif item.title:
        entry = _digest("title", feed_url, item.title.casefold())
    else:
        return None
    return ItemKeys(entry_key=entry, link_key=link_key, content_key=content_key)


def lookup_keys(keys: Iterable[ItemKeys]) -> tuple[list[str], list[str]]:
    """The entry keys and the shared keys to look up in the store for a batch."""
    entry_keys: list[str] = []
    shared: list[str] = []
    for k in keys:
        entry_keys.append(k.entry_key)
        shared.extend(k.shared())
    return entry_keys, shared


def classify(
    batch: Sequence[tuple[ParsedItem, ItemKeys]],
    seen_entries: set[str] | frozenset[str],
    stored_articles: Mapping[str, int],
) -> list[Decision]:
    """Decide each item: SEEN (this entry is stored), COPY (of a stored or earlier item), NEW.

    ``seen_entries`` holds the entry keys already stored; ``stored_articles`` maps a link or
    content key to the stored item that first carried it. Items are taken in feed order, so
    the first of two copies inside one document is the original.
    """
    decisions: list[Decision] = []
    batch_entries: set[str] = set()
    batch_articles: dict[str, int] = {}
    for item, keys in batch:
        if keys.entry_key in seen_entries or keys.entry_key in batch_entries:
            decisions.append(Decision(item, keys, Verdict.SEEN))
            continue
        batch_entries.add(keys.entry_key)
        decision = _article_decision(item, keys, stored_articles, batch_articles)
        if decision.verdict is Verdict.NEW:
            for key in keys.shared():
                batch_articles.setdefault(key, len(decisions))
        decisions.append(decision)
    return decisions


def _article_decision(
    item: ParsedItem,
    keys: ItemKeys,
    stored_articles: Mapping[str, int],
    batch_articles: Mapping[str, int],
) -> Decision:
    for key in keys.shared():
        if key in stored_articles:
            return Decision(item, keys, Verdict.COPY, copy_of_id=stored_articles[key])
    for key in keys.shared():
        if key in batch_articles:
            return Decision(item, keys, Verdict.COPY, copy_of_index=batch_articles[key])
    return Decision(item, keys, Verdict.NEW)


def mark_story_copies(
    decisions: Sequence[Decision], stored: Mapping[int, int], within: Mapping[int, int]
) -> list[Decision]:
    """NEW items found to repeat a story become COPYs: of a stored item (``stored``: index ->
    item id) or of an earlier item of the batch (``within``: index -> index)."""
    out = []
    for index, decision in enumerate(decisions):
        if index in stored:
            decision = replace(decision, verdict=Verdict.COPY, copy_of_id=stored[index])
        elif index in within:
            decision = replace(decision, verdict=Verdict.COPY, copy_of_index=within[index])
        out.append(decision)
    return out


def alert_id(rule: str, keys: ItemKeys) -> str:
    """A stable alert id: the same rule and item give the same id in any process (SPEC)."""
    return _digest("alert", rule, keys.entry_key)[:24]
