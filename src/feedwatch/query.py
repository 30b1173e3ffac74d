"""The query language of alert rules, parsed into a tree of terms (issue 5).

Pure: no I/O. Like Google's and FreshRSS's: words side by side must all match; ``OR`` and
``AND`` in capitals are operators (in lower case they are words); ``NOT term`` and
``-term`` exclude; parentheses group; NOT binds tighter than AND, AND tighter than OR.
``"quoted phrases"``, a prefix wildcard ``Peru*``, field scopes ``title:``, ``author:`` and
``feed:`` (also before a phrase or a group), and ``/regex/`` as an escape hatch.

A query that does not parse raises QueryError with the 1-based column of the problem.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from feedwatch.text import fold

FIELDS = ("title", "author", "feed")
_WORD = re.compile(r"\w+")
_OPERATORS = ("OR", "AND", "NOT")


class QueryError(ValueError):
    """The query does not parse; ``column`` counts from 1."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column


def _spaceless(char: str) -> bool:
    """True for scripts written without spaces between words (Chinese, Japanese, Thai...)."""
    if char.isascii() or not char.isalpha():
        return False
    name = unicodedata.name(char, "")
    return name.startswith(
        ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN", "HANGUL")
    ) and not name.startswith("HANGUL SYLLABLE")


@dataclass(frozen=True, slots=True)
class Term:
    """A word, a phrase or a prefix (``Peru*``), matched as whole words in its field."""

    text: str  # as written, for the alert's ``keywords``
    field: str | None  # None: title, summary and content
    words: tuple[str, ...]  # folded
    prefix: bool = False  # the last word is a prefix
    substring: str | None = None  # folded text, for scripts written without spaces

    def key(self) -> tuple[object, ...]:
        """What makes two terms the same test."""
        return (self.field, self.words, self.prefix, self.substring)


@dataclass(frozen=True, slots=True)
class Regex:
    """``/pattern/``: Python syntax, case-insensitive, over the folded text of its field."""

    text: str
    field: str | None
    pattern: re.Pattern[str]

    def key(self) -> tuple[object, ...]:
        """What makes two regexes the same test."""
        return (self.field, self.pattern.pattern)


@dataclass(frozen=True, slots=True)
class And:
    """Every child matches."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child matches."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The child does not match."""

    child: Node


Atom = Term | Regex
Node = Term | Regex | And | Or | Not


def make_term(
    text: str, field: str | None, column: int = 1, prefix: bool = False, written: str = ""
) -> Term:
    """A term from its text (``written`` is how the query spelt it, ``Peru*`` say); raise
    QueryError when it has nothing to match."""
    folded = fold(text)
    shown = written or text
    if any(_spaceless(c) for c in folded):
        return Term(shown, field, tuple(_WORD.findall(folded)), False, folded)
    words = tuple(_WORD.findall(folded))
    if not words:
        raise QueryError(f"{text!r} has no letter or digit to match", column)
    return Term(shown, field, words, prefix)


def keywords_query(keywords: Sequence[str]) -> Node:
    """``keywords: [a, b]``, the simple form: ``"a" OR "b"``, each taken literally."""
    terms = tuple(make_term(k, None) for k in keywords)
    return terms[0] if len(terms) == 1 else Or(terms)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # WORD PHRASE REGEX FIELD LPAREN RPAREN OR AND NOT MINUS
    text: str
    column: int
    written: str = ""  # the token as it stands in the query, where it differs from text


_FIELD_RE = re.compile(r"(title|author|feed):", re.IGNORECASE)


def _tokens(source: str) -> Iterator[_Token]:
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        column = i + 1
        if c.isspace():
            i += 1
        elif c in "()":
            yield _Token("LPAREN" if c == "(" else "RPAREN", c, column)
            i += 1
        elif c == '"':
            end = source.find('"', i + 1)
            if end < 0:
                raise QueryError("this quote is never closed", column)
            yield _Token("PHRASE", source[i + 1 : end], column)
            i = end + 1
        elif c == "/":
            end, pattern = _regex_end(source, i)
            yield _Token("REGEX", pattern, column, source[i : end + 1])
            i = end + 1
        elif c == "-" and i + 1 < n and not source[i + 1].isspace() and source[i + 1] != "-":
            yield _Token("MINUS", c, column)
            i += 1
        elif (m := _FIELD_RE.match(source, i)) is not None:
            yield _Token("FIELD", m.group(1).lower(), column)
            i = m.end()
            if i >= n or source[i].isspace():
                raise QueryError(f"{m.group(0)} must be followed by a term", column)
        else:
            j = i
            while j < n and not source[j].isspace() and source[j] not in '()"':
                j += 1
            word = source[i:j]
            yield _Token(word if word in _OPERATORS else "WORD", word, column)
            i = j


def _regex_end(source: str, start: int) -> tuple[int, str]:
    i = start + 1
    chars: list[str] = []
    while i < len(source):
        c = source[i]
        if c == "\\" and i + 1 < len(source) and source[i + 1] == "/":
            chars.append("/")
            i += 2
            continue
        if c == "\\" and i + 1 < len(source):
            chars += [c, source[i + 1]]
            i += 2
            continue
        if c == "/":
            return i, "".join(chars)
        chars.append(c)
        i += 1
    raise QueryError("this /regex/ is never closed", start + 1)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = list(_tokens(source))
        self.pos = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def end_column(self) -> int:
        return len(self.source) + 1

    def parse(self) -> Node:
        if not self.tokens:
            raise QueryError("the query is empty", 1)
        node = self.or_expr(None)
        token = self.peek()
        if token is not None:
            raise QueryError(f"unexpected {token.text!r}", token.column)
        return node

    def or_expr(self, field: str | None) -> Node:
        children = [self.and_expr(field)]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            children.append(self.and_expr(field, after=token))
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_expr(self, field: str | None, after: _Token | None = None) -> Node:
        children = [self.unary(field, after)]
        while (token := self.peek()) is not None and token.kind not in ("OR", "RPAREN"):
            if token.kind == "AND":
                self.take()
                children.append(self.unary(field, token))
            else:
                children.append(self.unary(field))
        return children[0] if len(children) == 1 else And(tuple(children))

    def unary(self, field: str | None, after: _Token | None = None) -> Node:
        token = self.peek()
        if token is None:
            where = f" after {after.text}" if after else ""
            raise QueryError(f"expected a term{where}", self.end_column())
        if token.kind in ("NOT", "MINUS"):
            self.take()
            return Not(self.unary(field, token))
        return self.primary(field, after)

    def primary(self, field: str | None, after: _Token | None) -> Node:
        token = self.take()
        if token.kind == "FIELD":
            return self.primary(token.text, token)
        if token.kind == "LPAREN":
            if (inner := self.peek()) is not None and inner.kind == "RPAREN":
                raise QueryError("empty parentheses", token.column)
            node = self.or_expr(field)
            closing = self.peek()
            if closing is None or closing.kind != "RPAREN":
                raise QueryError("this parenthesis is never closed", token.column)
            self.take()
            return node
        if token.kind == "PHRASE":
            return make_term(token.text, field, token.column)
        if token.kind == "REGEX":
            return _regex(token, field)
        if token.kind == "WORD":
            prefix = token.text.endswith("*") and len(token.text.rstrip("*")) > 0
            text = token.text.rstrip("*") if prefix else token.text
            return make_term(text, field, token.column, prefix, token.text)
        where = f" after {after.text}" if after else ""
        raise QueryError(f"expected a term{where}, found {token.text!r}", token.column)


def _regex(token: _Token, field: str | None) -> Regex:
    try:
        pattern = re.compile(token.text, re.IGNORECASE)
    except re.error as e:
        column = token.column + 1 + (e.pos or 0)
        raise QueryError(f"bad regex: {e.msg}", column) from e
    return Regex(token.written or f"/{token.text}/", field, pattern)


def parse_query(source: str) -> Node:
    """Parse a query; raise QueryError naming the column of the first problem."""
    return _Parser(source).parse()


def atoms(node: Node, positive: bool = True) -> Iterator[tuple[Atom, bool]]:
    """Every term and regex in written order, each with whether it counts for the rule
    (under an even number of NOTs) rather than against it."""
    if isinstance(node, Term | Regex):
        yield node, positive
    elif isinstance(node, Not):
        yield from atoms(node.child, not positive)
    else:
        for child in node.children:
            yield from atoms(child, positive)


def evaluate(node: Node, matched: set[tuple[object, ...]]) -> bool:
    """Whether the query holds, given the keys of the atoms found in a document."""
    if isinstance(node, Term | Regex):
        return node.key() in matched
    if isinstance(node, Not):
        return not evaluate(node.child, matched)
    if isinstance(node, And):
        return all(evaluate(child, matched) for child in node.children)
    return any(evaluate(child, matched) for child in node.children)


def to_fts(node: Node) -> str | None:
    """An SQLite FTS5 expression that finds every item the query can match (and maybe more),
    or None when no such filter can be written (a regex, NOT alone, ``feed:``, a script
    written without spaces): the matcher then checks each candidate (issue 5, point 3). The
    index holds folded text, so the folded words of a term are what it looks for."""
    if isinstance(node, Term):
        if node.substring is not None or node.field == "feed" or not node.words:
            return None
        if not all(w.isalnum() for w in node.words):
            return None
        phrase = '"' + " ".join(node.words) + '"' + ("*" if node.prefix else "")
        return f"{node.field} : {phrase}" if node.field else phrase
    if isinstance(node, Regex | Not):
        return None
    parts = [to_fts(child) for child in node.children]
    if isinstance(node, And):
        kept = [p for p in parts if p is not None]
        return "(" + " AND ".join(kept) + ")" if kept else None
    if any(p is None for p in parts):
        return None
    return "(" + " OR ".join(p for p in parts if p is not None) + ")"
