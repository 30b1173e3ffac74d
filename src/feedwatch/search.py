"""Queries over stored items: ``feedwatch search`` and the ``feedwatch match`` backtest.

Orchestration: SQLite's full-text index proposes candidates, the matcher decides, so results
follow exactly the rules an alert would (issue 5, point 3). Nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from feedwatch.config import AlertRule
from feedwatch.matching import Document, Matcher, item_snippets
from feedwatch.models import Snippet
from feedwatch.query import Node, to_fts


class SearchStore(Protocol):
    """What searching needs of the database."""

    def refresh_search_index(self) -> int:
        """Index the items stored since the last search."""
        ...  # pragma: no cover

    def candidates(
        self,
        fts: str | None,
        since: datetime | None = None,
        originals_only: bool = False,
        batch: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """Stored items the FTS expression finds, newest first."""
        ...  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Hit:
    """A stored item the query matches, with the matched terms and snippets."""

    item: dict[str, Any]
    keywords: tuple[str, ...]
    snippets: tuple[Snippet, ...]


def find(
    store: SearchStore,
    query: Node,
    limit: int | None = None,
    since: datetime | None = None,
    originals_only: bool = False,
) -> list[Hit]:
    """The newest stored items the query matches, at most ``limit``."""
    matcher = Matcher([AlertRule("query", (), (), query)])
    store.refresh_search_index()
    hits: list[Hit] = []
    for row in store.candidates(to_fts(query), since, originals_only):
        feed = " ".join(p for p in (row["feed_name"], row["feed_own_title"], row["feed_url"]) if p)
        summary = row["summary"] or ""
        document = Document(
            (row["title"], summary, row["content"]), row["title"], row["author"] or "", feed
        )
        matches = matcher.match_document(document)
        if not matches:
            continue
        match = matches[0]
        pieces = item_snippets(row["content"], match.terms, row["title"])
        hits.append(Hit(row, match.keywords, tuple(pieces)))
        if limit is not None and len(hits) >= limit:
            break
    return hits
