"""Plain text out of feed HTML, and the folded form that matching and dedup compare.

Pure: no I/O. HTML goes through the standard library's tokenizer, so text inside tags or
attributes never counts, and script and style contents are dropped (issue 2, point 4).
"""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

# Elements whose text is never shown to a reader, so it must never match a keyword.
_HIDDEN = frozenset({"script", "style", "template", "noscript", "head", "title", "svg", "math"})
# Elements that start a new line of text: without a break their words would run together.
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip
_SPACES = re.compile(r"\s+")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u0060": "'"})
_LOOKS_LIKE_HTML = re.compile(r"<[a-zA-Z/!]|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden_depth += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Readable plain text: tags dropped, entities decoded, whitespace collapsed per line."""
    if not markup:
        return ""
    if _LOOKS_LIKE_HTML.search(markup) is None:
        return _tidy(markup)
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    return _tidy("".join(collector.parts))


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    paragraphs: list[str] = []
    for line in lines:
        if line:
            paragraphs.append(line)
    return "\n".join(paragraphs)


def one_line(text: str) -> str:
    """The text with every run of whitespace, line breaks included, made one space."""
    return _SPACES.sub(" ", text).strip()


def fold(text: str) -> str:
    """The matching form: casefolded, accents removed, apostrophes unified, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", stripped.translate(_APOSTROPHES)).strip()


def unescape(text: str) -> str:
    """Entities decoded, nothing else touched."""
    return html.unescape(text)


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def snippet(text: str, words: list[str], width: int = 240) -> str:
    """About ``width`` characters of ``text`` around the first of ``words`` found in it."""
    flat = one_line(text)
    folded = flat.casefold()
    positions = [folded.find(w.casefold()) for w in words]
    found = [p for p in positions if p >= 0]
    if not found:
        return truncate(flat, width)
    start = max(0, min(found) - width // 3)
    if start:
        space = flat.find(" ", start)
        start = space + 1 if 0 <= space < min(found) else start
    piece = truncate(flat[start:], width)
    return ("…" if start else "") + piece
