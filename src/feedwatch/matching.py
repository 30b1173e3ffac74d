"""Which rules an item raises, with which keywords, and where they are in its text.

Pure: no I/O. Every term of every rule is compiled once into indexes keyed by field and
first word (and prefix), so an item costs one pass over its words whatever the number of
rules; only the rules that one of its words touches are then evaluated (issue 5, point 5).
Words are compared folded: case- and accent-insensitive, whole words only, so ``Peru``
matches "Perú" and "Peru’s" but never "Peruvian" (SPEC: matching).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from feedwatch.models import Match, ParsedItem, Snippet
from feedwatch.query import Atom, Node, Regex, Term, atoms, evaluate, make_term
from feedwatch.text import fold, fold_with_offsets, one_line, snippets

if TYPE_CHECKING:  # a type only: worker processes (workers.py) need not load pydantic
    from feedwatch.config import AlertRule

_WORD = re.compile(r"\w+")
Key = tuple[object, ...]
_FEW_CLUES = 24  # up to this many first words and prefixes, test them before splitting


def words(text: str) -> list[str]:
    """The folded words of a text, in order."""
    return _WORD.findall(fold(text))


@dataclass(frozen=True, slots=True)
class Document:
    """An item as the matcher reads it: each field's text."""

    # title, summary and content: a phrase matches inside one of them, never across two
    text: str | tuple[str, ...]
    title: str
    author: str
    feed: str  # the configured name, the feed's own title and its URL

    @classmethod
    def of(cls, item: ParsedItem, feed: str = "") -> Document:
        """The fields of a parsed item; ``feed`` names the feed it came from."""
        return cls((item.title, item.summary, item.content), item.title, item.author or "", feed)

    def field(self, name: str | None) -> tuple[str, ...]:
        """The texts a term scoped to ``name`` reads (None: title, summary and content)."""
        if name is None:
            return self.text if isinstance(self.text, tuple) else (self.text,)
        return ({"title": self.title, "author": self.author}.get(name, self.feed),)


@dataclass
class _FieldIndex:
    by_first: dict[str, list[tuple[tuple[str, ...], bool, Key]]] = field(default_factory=dict)
    prefixes: dict[str, list[Key]] = field(default_factory=dict)
    prefix_lengths: set[int] = field(default_factory=set)
    substrings: list[tuple[str, Key]] = field(default_factory=list)
    regexes: list[tuple[re.Pattern[str], Key]] = field(default_factory=list)
    _clues: tuple[str, ...] | None = None  # built on first use, once every term is added

    def add(self, atom: Atom) -> None:
        key = atom.key()
        self._clues = None
        if isinstance(atom, Regex):
            self.regexes.append((atom.pattern, key))
        elif atom.substring is not None:
            self.substrings.append((atom.substring, key))
        elif atom.prefix and len(atom.words) == 1:
            self.prefixes.setdefault(atom.words[0], []).append(key)
            self.prefix_lengths.add(len(atom.words[0]))
        else:
            self.by_first.setdefault(atom.words[0], []).append((atom.words, atom.prefix, key))

    def find(self, texts: tuple[str, ...], found: set[Key]) -> None:
        for text in dict.fromkeys(texts):  # summary and content are often the same text
            if text:
                self._find(fold(text), found)

    def _word_terms_absent(self, folded: str) -> bool:
        """True when no word or prefix term can match: each needs its first word (or its
        prefix) somewhere in the text. With a few terms, these substring tests cost far
        less than splitting the text into words, and most items match nothing."""
        if self._clues is None:
            clues = (*self.by_first, *self.prefixes)
            self._clues = clues if len(clues) <= _FEW_CLUES else ()
        if not self._clues:
            return not self.by_first and not self.prefixes
        return not any(clue in folded for clue in self._clues)

    def _find(self, folded: str, found: set[Key]) -> None:
        self._find_substrings(folded, found)
        if self._word_terms_absent(folded):
            return
        tokens = _WORD.findall(folded)
        distinct = set(tokens)
        # set intersections run in C: only the words that start some term are walked
        firsts = distinct.intersection(self.by_first)
        if firsts:
            by_first = self.by_first
            for i, token in enumerate(tokens):
                if token in firsts:
                    for phrase, prefix, key in by_first[token]:
                        if key not in found and _phrase_at(tokens, i, phrase, prefix):
                            found.add(key)
        prefixes = self.prefixes
        for n in self.prefix_lengths:
            for start in {t[:n] for t in distinct if len(t) >= n}.intersection(prefixes):
                found.update(prefixes[start])

    def _find_substrings(self, folded: str, found: set[Key]) -> None:
        for substring, key in self.substrings:
            if substring in folded:
                found.add(key)
        for pattern, key in self.regexes:
            if pattern.search(folded):
                found.add(key)


def _phrase_at(tokens: list[str], i: int, phrase: tuple[str, ...], prefix: bool) -> bool:
    n = len(phrase)
    if n == 1:
        return True
    window = tokens[i : i + n]
    if len(window) < n:
        return False
    if prefix:
        return window[:-1] == list(phrase[:-1]) and window[-1].startswith(phrase[-1])
    return tuple(window) == phrase


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    query: Node
    positives: tuple[Atom, ...]  # the atoms that count for the rule, in written order


class Matcher:
    """All rules compiled together."""

    def __init__(self, rules: Sequence[AlertRule]) -> None:
        self._rules = []
        for rule in rules:
            query = rule.expression
            positives = tuple(a for a, positive in atoms(query) if positive)
            self._rules.append(_Rule(rule.name, query, positives))
        self._fields: dict[str | None, _FieldIndex] = {}
        self._rules_by_key: dict[Key, list[int]] = {}
        self._always: list[int] = []  # rules that can hold with no term found (NOT x)
        for index, compiled in enumerate(self._rules):
            for atom, _ in atoms(compiled.query):
                self._fields.setdefault(atom.field, _FieldIndex()).add(atom)
                self._rules_by_key.setdefault(atom.key(), []).append(index)
            if evaluate(compiled.query, set()):
                self._always.append(index)

    def match_document(self, doc: Document) -> list[Match]:
        """The rules the document satisfies, each with the terms that matched."""
        found: set[Key] = set()
        for name, field_index in self._fields.items():
            field_index.find(doc.field(name), found)
        candidates = set(self._always)
        for key in found:
            candidates.update(self._rules_by_key.get(key, ()))
        matches = []
        for index in sorted(candidates):
            rule = self._rules[index]
            if evaluate(rule.query, found):
                hit = _unique(a for a in rule.positives if a.key() in found)
                matches.append(Match(rule.name, tuple(a.text for a in hit), tuple(hit)))
        return matches

    def match(self, item: ParsedItem, feed: str = "") -> list[Match]:
        """Title, summary and content are searched (SPEC: matching); ``feed`` names the
        item's feed for ``feed:`` terms."""
        if not self._rules:
            return []
        return self.match_document(Document.of(item, feed))

    def match_text(self, text: str) -> list[Match]:
        """Match a bare text (no title, author or feed)."""
        return self.match_document(Document(text, "", "", ""))


def _unique(found: Iterable[Atom]) -> list[Atom]:
    seen: set[Key] = set()
    out = []
    for atom in found:
        if atom.key() not in seen:
            seen.add(atom.key())
            out.append(atom)
    return out


def term_spans(text: str, terms: Sequence[object]) -> list[tuple[int, int]]:
    """Where in ``text`` the given terms match, as (start, end) ranges of the original text,
    by the matcher's own rules: what a snippet highlights."""
    folded, offsets = fold_with_offsets(text)
    tokens = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(folded)]
    words_only = [t for t, _, _ in tokens]
    spans: list[tuple[int, int]] = []

    def original(start: int, end: int) -> tuple[int, int]:
        return offsets[start], offsets[end - 1] + 1

    for term in terms:
        if isinstance(term, Regex):
            found = term.pattern.finditer(folded)
            spans += [original(*m.span()) for m in found if m.end() > m.start()]
        elif isinstance(term, Term) and term.substring is not None:
            start = folded.find(term.substring)
            while start >= 0 and term.substring:
                spans.append(original(start, start + len(term.substring)))
                start = folded.find(term.substring, start + 1)
        elif isinstance(term, Term) and term.words:
            n = len(term.words)
            for i in range(len(tokens) - n + 1):
                if _term_at(words_only, i, term):
                    spans.append(original(tokens[i][1], tokens[i + n - 1][2]))
    return _merge(spans)


def _term_at(tokens: list[str], i: int, term: Term) -> bool:
    if term.prefix and len(term.words) == 1:
        return tokens[i].startswith(term.words[0])
    return tokens[i] == term.words[0] and _phrase_at(tokens, i, term.words, term.prefix)


def keyword_spans(text: str, keywords: Sequence[str]) -> list[tuple[int, int]]:
    """Where the given keywords (taken literally, as in ``keywords:``) match in ``text``."""
    return term_spans(text, [make_term(k, None) for k in keywords if any(c.isalnum() for c in k)])


def item_snippets(text: str, terms: Sequence[object], title: str = "") -> list[Snippet]:
    """One to three pieces of at most 200 characters of ``text`` around the matched terms;
    the title, marked, when the terms matched there only."""
    flat = one_line(text)
    spans = term_spans(flat, terms)
    if not spans and title:
        title_spans = term_spans(one_line(title), terms)
        if title_spans:
            return snippets(one_line(title), title_spans)
    return snippets(flat, spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
