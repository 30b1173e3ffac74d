"""A seeded corpus of feeds that looks like the web's: RSS and Atom, 20 to 50 items of 0.3
to 3 KB of text each, some articles carried by several feeds under links with tracking
parameters. Pure: the same seed gives the same bytes."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

PAIRS = Path(__file__).resolve().parents[2] / "tests" / "data" / "stories" / "pairs.jsonl"
START = datetime(2026, 11, 1, tzinfo=UTC)


def _vocabulary() -> list[str]:
    words: list[str] = []
    for line in PAIRS.read_text(encoding="utf-8").splitlines()[:200]:
        words += re.findall(r"[A-Za-z']+", json.loads(line)["a"]["text"])
    return words


@dataclass
class Item:
    guid: str
    title: str
    link: str
    paragraphs: list[str]
    published: datetime


@dataclass
class Feed:
    index: int
    atom: bool
    items: list[Item] = field(default_factory=list)
    version: int = 0

    @property
    def path(self) -> str:
        return f"/feeds/{self.index}.{'atom' if self.atom else 'rss'}"

    def render(self) -> bytes:
        return (_atom(self) if self.atom else _rss(self)).encode("utf-8")


class Corpus:
    """N feeds; ``change(share)`` adds new items to that share of them. ``items`` fixes how
    many items each feed starts with (default: 20 to 50, at random)."""

    def __init__(self, feeds: int, seed: int = 20261128, items: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.words = _vocabulary()
        self.serial = 0
        self.shared: list[Item] = [self._item(None) for _ in range(max(10, feeds // 10))]
        self.feeds = [Feed(i, atom=i % 2 == 1) for i in range(feeds)]
        for feed in self.feeds:
            count = self.rng.randint(20, 50) if items is None else items
            for _ in range(count):
                feed.items.append(self._pick(feed))
            feed.items.sort(key=lambda item: item.published, reverse=True)

    def _item(self, feed: Feed | None) -> Item:
        self.serial += 1
        n = self.serial
        words = self.rng.choices(self.words, k=self.rng.randint(300, 3000) // 6)
        paragraphs: list[str] = []
        while words:
            take, words = words[: self.rng.randint(40, 90)], words[90:]
            paragraphs.append(" ".join(take).capitalize() + ".")
        owner = f"site{feed.index}" if feed else "wire"
        return Item(
            guid=f"https://{owner}.bench.example/story/{n}",
            title=" ".join(self.rng.choices(self.words, k=self.rng.randint(5, 11))).title(),
            link=f"https://{owner}.bench.example/story/{n}",
            paragraphs=paragraphs,
            published=START + timedelta(minutes=n),
        )

    def _pick(self, feed: Feed) -> Item:
        if self.rng.random() < 0.08:  # a wire story, carried with a tracking parameter
            base = self.rng.choice(self.shared)
            link = f"{base.link}?utm_source=feed{feed.index}&utm_medium=rss"
            return Item(f"{base.guid}#feed{feed.index}", base.title, link, base.paragraphs,
                        base.published)  # fmt: skip
        return self._item(feed)

    def change(self, share: float) -> list[int]:
        """Add 1 to 3 new items to ``share`` of the feeds; return which changed."""
        count = round(len(self.feeds) * share)
        changed = sorted(self.rng.sample(range(len(self.feeds)), count))
        for index in changed:
            feed = self.feeds[index]
            for _ in range(self.rng.randint(1, 3)):
                feed.items.insert(0, self._pick(feed))
            feed.version += 1
        return changed

    def item_count(self) -> int:
        return sum(len(f.items) for f in self.feeds)


def _html(item: Item) -> str:
    return "".join(f"<p>{escape(p)}</p>" for p in item.paragraphs)


def _rss(feed: Feed) -> str:
    items = "".join(
        f"<item><title>{escape(i.title)}</title><link>{escape(i.link)}</link>"
        f'<guid isPermaLink="false">{escape(i.guid)}</guid>'
        f"<pubDate>{i.published.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
        f"<description>{escape(_html(i))}</description></item>"
        for i in feed.items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {feed.index}</title><link>https://site{feed.index}.bench.example/</link>"
        f"<description>Feed {feed.index}</description>{items}</channel></rss>"
    )


def _atom(feed: Feed) -> str:
    entries = "".join(
        f'<entry><title>{escape(i.title)}</title><link href="{escape(i.link)}"/>'
        f"<id>{escape(i.guid)}</id><updated>{i.published.isoformat()}</updated>"
        f'<content type="html">{escape(_html(i))}</content></entry>'
        for i in feed.items
    )
    updated = feed.items[0].published.isoformat() if feed.items else START.isoformat()
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Bench feed {feed.index}</title><id>urn:bench:{feed.index}</id>"
        f"<updated>{updated}</updated>{entries}</feed>"
    )
