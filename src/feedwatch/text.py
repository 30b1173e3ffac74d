"""Plain text out of feed HTML, and the folded form that matching and dedup compare.

Pure: no I/O. HTML goes through the standard library's tokenizer, so text inside tags or
attributes never counts, and script and style contents are dropped (issue 2, point 4). Most
feed HTML is plain paragraphs and inline tags; that markup takes a regex fast path that gives
the tokenizer's output exactly, and anything it cannot vouch for goes to the tokenizer.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from html import unescape
from html.parser import HTMLParser

from feedwatch.models import Snippet

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
            # a line break in HTML source is a space; only block elements break lines
            self.parts.append(data.replace("\n", " ").replace("\r", " "))


def html_to_text(markup: str) -> str:
    """Readable plain text: tags dropped, entities decoded, whitespace collapsed per line."""
    if not markup:
        return ""
    if _LOOKS_LIKE_HTML.search(markup) is None:
        return _tidy(markup)
    text = _html_to_text_fast(markup)
    return _html_to_text_slow(markup) if text is None else text


def _html_to_text_slow(markup: str) -> str:
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    return _tidy("".join(collector.parts))


# The fast path. HTMLParser costs a Python call per tag and per text run, about 0.2 ms for a
# typical item, so markup made only of well-formed tags is handled with a few whole-string
# passes instead. It must give exactly what _html_to_text_slow gives, so its tag grammar is a
# strict subset of what HTMLParser accepts as a tag: ASCII names, whitespace-separated
# attributes with quoted or plain values, no space after "</". Any "<" the grammar does not
# consume (comments, doctypes, "<?", a bare "<", a tag it cannot read, script, style and the
# other hidden elements) sends the whole string to HTMLParser.
_TAG_NAME = r"[a-zA-Z][-.:_a-zA-Z0-9]*"
# HTMLParser ends a tag name at exactly these characters, not at any \s.
_TAG_SPACE = r"[\t\n\r\f ]"
_ATTRIBUTE_VALUE = r"""(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+)"""
_ATTRIBUTE = rf"[a-zA-Z_:][-.:_a-zA-Z0-9]*(?:{_TAG_SPACE}*={_TAG_SPACE}*{_ATTRIBUTE_VALUE})?"
# "a" with "i": ASCII-only case folding, as .lower() on an ASCII name; plain (?i) would also
# fold the Kelvin sign and the long s. The names are ASCII, so non-ASCII names fall back.
_HIDDEN_NAME = r"(?ai:{})(?![-.:_a-zA-Z0-9])".format("|".join(sorted(_HIDDEN)))
_TAG = re.compile(
    rf"<(?!/?{_HIDDEN_NAME})"
    rf"(?:{_TAG_NAME}(?:{_TAG_SPACE}+{_ATTRIBUTE})*{_TAG_SPACE}*/?|/{_TAG_NAME}{_TAG_SPACE}*)>"
)
# Marks where a block tag starts by a lookahead only, so it never consumes text that _TAG
# would read differently; a mark inside an attribute value goes away with its tag. The
# commonest names go first: the regex tries the names in order at every "<".
_COMMON_BLOCKS = ("p", "br", "div", "li")
_BLOCK_TAG_START = re.compile(
    r"<(?=/?(?ai:{})[\t\n\r\f />])".format(
        "|".join([*_COMMON_BLOCKS, *sorted(_BLOCKS.difference(_COMMON_BLOCKS))])
    )
)
# Placeholders for tags while entities are decoded. A tag must still end an entity
# ("&am<b>p;" stays as it is, as HTMLParser decodes each text run alone), and no entity name
# contains these characters nor does unescape produce them ("&#0;" is U+FFFD, "&#1;" is "").
_INLINE_MARK = "\x00"
_BLOCK_MARK = "\x01"


def _html_to_text_fast(markup: str) -> str | None:
    """The text as _html_to_text_slow gives it, or None when the markup is not simple."""
    if _INLINE_MARK in markup or _BLOCK_MARK in markup:
        return None  # a placeholder already in the text would be read as a tag
    marked = _TAG.sub(_INLINE_MARK, _BLOCK_TAG_START.sub(_BLOCK_MARK + "<", markup))
    # _TAG.sub reads like HTMLParser: text up to the next "<", then a tag from there. With no
    # "<" left, every tag it took starts where HTMLParser starts one, and ends where it does.
    if "<" in marked:
        return None
    text = unescape(marked).replace(_INLINE_MARK, "")
    # Only block tags break lines: a line break in the text, or one that &#10; decodes to, is
    # whitespace like any other, which _tidy_lines makes one space.
    return _tidy_lines(text.split(_BLOCK_MARK))


def _tidy(text: str) -> str:
    return _tidy_lines(text.split("\n"))


def _tidy_lines(lines: list[str]) -> str:
    """The lines with each run of whitespace made one space, the ends trimmed, empty lines
    dropped, joined by newlines: what two regex subs used to do, one match per space, at the
    cost of HTMLParser itself on a long item."""
    tidied = []
    for line in lines:
        # Every whitespace character but the space is unprintable, so a printable line with
        # no double space only needs its ends trimmed; splitting it into words costs far more.
        trim_only = line.isprintable() and "  " not in line
        line = line.strip() if trim_only else " ".join(line.split())
        if line:
            tidied.append(line)
    return "\n".join(tidied)


def one_line(text: str) -> str:
    """The text with every run of whitespace, line breaks included, made one space."""
    # str.split() and \s agree on what is whitespace (every code point), and split is C
    return " ".join(text.split())


# The combining marks that accents decompose into (Latin, Greek, Cyrillic and the rest of the
# diacritics blocks); a regex is far faster than testing each character.
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


@functools.lru_cache(maxsize=512)
def fold(text: str) -> str:
    """The matching form: casefolded, accents removed, apostrophes unified, spaces collapsed.

    Cached: matching, dedup and story sketches each fold the same item text in turn."""
    if text.isascii():
        return " ".join(text.lower().replace("`", "'").split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = _COMBINING.sub("", decomposed)
    return " ".join(stripped.translate(_APOSTROPHES).split())


@functools.lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    decomposed = unicodedata.normalize("NFKD", char.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_APOSTROPHES)


def fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """The folded text (spaces kept as they are) and, for each of its characters, the index
    of the character of ``text`` it came from, so a match can be found in the original."""
    if text.isascii():  # one character each, as the loop below would fold them
        return text.lower().replace("`", "'"), list(range(len(text)))
    folded: list[str] = []
    offsets: list[int] = []
    for index, char in enumerate(text):
        piece = char.lower() if char.isascii() and char != "`" else _fold_char(char)
        folded.append(piece)
        offsets.extend([index] * len(piece))
    return "".join(folded), offsets


def snippets(
    text: str, spans: list[tuple[int, int]], count: int = 3, width: int = 200
) -> list[Snippet]:
    """Up to ``count`` pieces of at most ``width`` characters (ellipses included) around the
    given match spans of ``text``, showing as many different matched words as they can; the
    start of the text when nothing matched."""
    if not spans:
        return [Snippet(truncate(text, width), ())] if text else []
    ordered = sorted(spans)
    firsts: dict[str, tuple[int, int]] = {}
    for start, end in ordered:
        firsts.setdefault(fold(text[start:end]), (start, end))
    seeds = sorted(firsts.values()) + [s for s in ordered if s not in firsts.values()]
    windows: list[tuple[int, int]] = []
    for start, end in seeds:
        if len(windows) == count:
            break
        if any(lo <= start and end <= hi for lo, hi in windows):
            continue
        lo, hi = _window(text, start, end, width - 2)
        windows.append((lo, hi))
    return [_piece(text, lo, hi, ordered, width) for lo, hi in sorted(windows)]


def _piece(text: str, lo: int, hi: int, spans: list[tuple[int, int]], width: int) -> Snippet:
    """The window as a snippet whose marked form (``**word**``) still fits in ``width``."""
    while True:
        lead = "…" if lo > 0 else ""
        tail = "…" if hi < len(text) else ""
        inside = [(s, e) for s, e in spans if s >= lo and e <= hi]
        over = len(lead) + (hi - lo) + len(tail) + 4 * len(inside) - width
        if over <= 0 or hi - over <= (inside[0][1] if inside else lo + 1):
            marks = tuple((s - lo + len(lead), e - lo + len(lead)) for s, e in inside)
            return Snippet(lead + text[lo:hi] + tail, marks)
        hi -= over


def _window(text: str, start: int, end: int, width: int) -> tuple[int, int]:
    lo = max(0, start - width // 3)
    if lo > 0:
        space = text.find(" ", lo, start)
        lo = space + 1 if space >= 0 else lo
    hi = min(len(text), max(lo + width, end))
    if hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space > end else hi
    return lo, hi


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"
