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
from feedwatch.text import fold, fold_with_offsets

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


def keyword_spans(text: str, keywords: Sequence[str]) -> list[tuple[int, int]]:
    """Where in ``text`` the keywords match, by the same rules as ``Matcher``, as
    (start, end) ranges of the original text: what a snippet highlights."""
    phrases = {tuple(words(k)) for k in keywords} - {()}
    if not phrases:
        return []
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for phrase in phrases:
        by_first.setdefault(phrase[0], []).append(phrase)
    folded, offsets = fold_with_offsets(text)
    tokens = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(folded)]
    spans = []
    for i, (token, start, _) in enumerate(tokens):
        for phrase in by_first.get(token, ()):
            n = len(phrase)
            if tuple(t for t, _, _ in tokens[i : i + n]) == phrase:
                last_end = tokens[i + n - 1][2]
                spans.append((offsets[start], offsets[last_end - 1] + 1))
    return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
