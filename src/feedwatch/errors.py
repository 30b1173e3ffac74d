"""The exception hierarchy of feedwatch.

Vocabulary: imports nothing from feedwatch. Messages are lowercase and name the resource;
the library's own exception travels in ``__cause__``.
"""

from __future__ import annotations


class FeedwatchError(Exception):
    """Base of every error feedwatch raises on purpose."""


class ConfigError(FeedwatchError):
    """Bad usage or bad config: the CLI exits 2 with ``FILE:LINE: KEY: message``."""

    def __init__(
        self, message: str, source: str = "", line: int | None = None, key: str = ""
    ) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        parts = [p for p in (where, self.key, self.message) if p]
        return ": ".join(parts)


class FeedError(FeedwatchError):
    """A feed could not be polled; recorded on the feed's health, other feeds go on."""

    transient = True

    def __init__(self, feed_url: str, message: str) -> None:
        self.feed_url = feed_url
        self.message = message
        super().__init__(f"{feed_url}: {message}")


class FetchError(FeedError):
    """The request failed before a usable response arrived (DNS, connect, timeout, TLS)."""

    def __init__(self, feed_url: str, message: str, transient: bool = True) -> None:
        super().__init__(feed_url, message)
        self.transient = transient


class HTTPStatusError(FeedError):
    """The server answered with a status that carries no feed."""

    def __init__(self, feed_url: str, status: int, retry_after: str | None = None) -> None:
        super().__init__(feed_url, f"http status {status}")
        self.status = status
        self.retry_after = retry_after
        self.transient = status in (408, 425, 429) or status >= 500


class ResponseTooLarge(FeedError):
    """The body passed the size cap while streaming."""


class ParseError(FeedError):
    """The body is not a feed, or not one that can be read."""

    transient = False


class StoreError(FeedwatchError):
    """The database could not be read or written: the CLI exits 1."""


class DeliveryError(FeedwatchError):
    """A notifier could not deliver; recorded on the delivery row and retried if transient."""

    def __init__(self, notifier: str, message: str, transient: bool = True) -> None:
        self.notifier = notifier
        self.message = message
        self.transient = transient
        super().__init__(f"{notifier}: {message}")
