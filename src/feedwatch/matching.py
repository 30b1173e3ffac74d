"""Which rules an item raises, and with which keywords.

Pure: no I/O. Every keyword of every rule is compiled once into one index keyed by its first
word, so an item costs one pass over its words whatever the number of keywords (issue 2,
point 6). Words are compared in their folded form: case- and accent-insensitive, whole words
only, so ``Peru`` matches "Perú" and "Peru’s" but never "Peruvian" (SPEC: matching).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from feedwatch.config import AlertRule
from feedwatch.models import Match, ParsedItem
from feedwatch.text import fold

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The folded words of a text, in order."""
    return _WORD.findall(fold(text))


@dataclass(frozen=True, slots=True)
class _Phrase:
    words: tuple[str, ...]
    targets: tuple[tuple[int, int], ...]  # (rule index, keyword index) pairs using it


class Matcher:
    """All rules compiled together; ``match`` is a single pass over an item's words."""

    def __init__(self, rules: Sequence[AlertRule]) -> None:
        self.rules = tuple(rules)
        targets: dict[tuple[str, ...], list[tuple[int, int]]] = {}
        for r, rule in enumerate(self.rules):
            for k, keyword in enumerate(rule.keywords):
                phrase = tuple(words(keyword))
                if phrase:
                    targets.setdefault(phrase, []).append((r, k))
        self._by_first: dict[str, list[_Phrase]] = {}
        for phrase, pairs in targets.items():
            self._by_first.setdefault(phrase[0], []).append(_Phrase(phrase, tuple(pairs)))

    def match_text(self, text: str) -> list[Match]:
        """The rules the text satisfies, each with its matched keywords in rule order."""
        tokens = words(text)
        hits: set[tuple[int, int]] = set()
        by_first = self._by_first
        for i, token in enumerate(tokens):
            candidates = by_first.get(token)
            if candidates is None:
                continue
            for phrase in candidates:
                n = len(phrase.words)
                if n == 1 or tuple(tokens[i : i + n]) == phrase.words:
                    hits.update(phrase.targets)
        matches = []
        for r, rule in enumerate(self.rules):
            found = tuple(kw for k, kw in enumerate(rule.keywords) if (r, k) in hits)
            if found:
                matches.append(Match(rule.name, found))
        return matches

    def match(self, item: ParsedItem) -> list[Match]:
        """Title, summary and content are searched (SPEC: matching)."""
        if not self._by_first:
            return []
        return self.match_text(f"{item.title}\n{item.summary}\n{item.content}")
