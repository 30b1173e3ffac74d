"""Data passed between the stages of the pipeline.

Vocabulary: frozen, slotted dataclasses and enums; imports nothing from feedwatch and does no
work beyond small derived properties.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Snippet:
    """A piece of text around matches; ``marks`` are (start, end) ranges within ``text``."""

    text: str
    marks: tuple[tuple[int, int], ...]

    def marked(self, before: str = "**", after: str = "**") -> str:
        """The text with each mark wrapped, e.g. ``**Peru**``."""
        out, last = [], 0
        for start, end in self.marks:
            out += [self.text[last:start], before, self.text[start:end], after]
            last = end
        out.append(self.text[last:])
        return "".join(out)


@dataclass(frozen=True, slots=True)
class ParsedItem:
    """One feed entry as plain text, before it has an identity in the database.

    ``summary`` is at most 500 characters (SPEC); ``content`` is the whole body, taken from the
    entry's content, else its summary.
    """

    guid: str | None
    link: str | None
    title: str
    author: str | None
    published_at: datetime | None
    summary: str
    content: str

    @property
    def text(self) -> str:
        """The body that dedup and matching read: the full content, else the full summary."""
        return self.content


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A feed document reduced to what feedwatch keeps."""

    title: str | None
    link: str | None
    items: tuple[ParsedItem, ...]
    skipped: int = 0
    interval_hint: int | None = None  # seconds, from RSS ttl or sy:updatePeriod/Frequency


@dataclass(frozen=True, slots=True)
class ItemKeys:
    """The identities under which an item can be recognised again (SPEC: dedup).

    ``entry_key`` names the entry within its feed (its id, else its link, else its text), so
    polling the same feed again finds it; ``link_key`` and ``content_key`` find the same
    article in any feed.
    """

    entry_key: str
    link_key: str | None
    content_key: str | None

    def shared(self) -> tuple[str, ...]:
        """The keys that recognise the article across feeds."""
        return tuple(k for k in (self.link_key, self.content_key) if k)


class Verdict(enum.Enum):
    """What dedup decided about one parsed item."""

    NEW = "new"  # never seen: stored, matched, may alert
    COPY = "copy"  # the same article under another id or link: stored, linked, never alerts
    SEEN = "seen"  # this very entry is already stored: nothing to do


@dataclass(frozen=True, slots=True)
class Decision:
    """Dedup's verdict on one item; a copy points at a stored item or an earlier new one."""

    item: ParsedItem
    keys: ItemKeys
    verdict: Verdict
    copy_of_id: int | None = None
    copy_of_index: int | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """A rule that an item satisfies, with the keywords that matched, in rule order."""

    rule: str
    keywords: tuple[str, ...]
    # the query terms that matched, for snippets; not part of what the match is
    terms: tuple[object, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert decided during a poll, written in the same transaction as its item."""

    id: str
    rule: str
    keywords: tuple[str, ...]
    item_index: int
    notifiers: tuple[str, ...]
    snippets: tuple[Snippet, ...] = ()


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What the server answered. A 304 is a value here, not an error."""

    url: str
    status: int
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None
    permanent_redirect: str | None = None  # where 301/308 redirects from the URL ended
    max_age: int | None = None  # Cache-Control max-age, in seconds

    @property
    def not_modified(self) -> bool:
        """True when the server confirmed our copy is current (conditional GET)."""
        return self.status == 304


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed as the database knows it: what the poller needs to ask politely."""

    id: int
    url: str
    etag: str | None
    last_modified: str | None
    failures: int
    next_poll_at: datetime | None
    gone: bool = False  # answered 410: no longer polled unless asked for by name
    poll_url: str | None = None  # where the feed moved (permanent redirect), if it did
    redirect_to: str | None = None  # a permanent redirect seen but not yet adopted
    redirect_seen: int = 0
    interval_hint: int | None = None

    @property
    def address(self) -> str:
        """The URL to poll: the configured one, or where it permanently moved."""
        return self.poll_url or self.url


@dataclass(frozen=True, slots=True)
class Redirect:
    """A permanent redirect seen on a poll: where to, how many polls in a row, and the URL to
    poll from now on once it is adopted."""

    target: str | None = None
    seen: int = 0
    adopt: str | None = None


NO_REDIRECT = Redirect()


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """Everything one successful poll stores, in one transaction."""

    feed_id: int
    now: datetime
    status: int
    etag: str | None
    last_modified: str | None
    parsed: ParsedFeed | None
    decisions: Sequence[Decision]
    alerts: Sequence[NewAlert]
    next_poll_at: datetime
    # a delivery is due at once, or at its notifier's digest closing time
    first_attempt_at: Mapping[str, datetime] = field(default_factory=dict)
    redirect: Redirect = field(default_factory=Redirect)
    sketches: Mapping[int, Sequence[int]] = field(default_factory=dict)  # by decision index


@dataclass(frozen=True, slots=True)
class PollResult:
    """The outcome of polling one feed; a failure is a value, not an exception."""

    feed_url: str
    new_items: int = 0
    copies: int = 0
    alerts: int = 0
    not_modified: bool = False
    error: str | None = None
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        """True when the poll reached the feed and stored what it found."""
        return self.error is None


class DeliveryStatus(enum.StrEnum):
    """SPEC: a delivery is pending, sent or failed."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AlertItem:
    """The item as an alert presents it (SPEC: webhook payload ``item``)."""

    title: str
    url: str | None
    published_at: datetime
    author: str | None
    summary: str
    text: str
    feed_title: str
    feed_url: str


@dataclass(frozen=True, slots=True)
class Alert:
    """A stored alert, ready to render for any notifier."""

    id: str
    rule: str
    keywords: tuple[str, ...]
    item: AlertItem
    created_at: datetime
    snippets: tuple[Snippet, ...] = ()


@dataclass(frozen=True, slots=True)
class Delivery:
    """One alert on its way to one notifier: the outbox row."""

    id: int
    alert: Alert
    notifier: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    queued_at: datetime  # the retry window (give_up) counts from here
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one attempt did; ``next_attempt_at`` None with an error means give up."""

    delivery_id: int
    notifier: str
    alert_id: str
    status: DeliveryStatus
    error: str | None = None
    next_attempt_at: datetime | None = None
