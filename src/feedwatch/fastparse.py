"""A fast reader for the feeds most of the web serves: well-formed UTF-8 RSS 2.0 and Atom 1.0
made of the usual elements. It gives exactly the fields feedparser would give, or declines.

Pure: no I/O. feedparser costs about a millisecond per item, more than everything else a poll
does; this reads the same document with expat in a twentieth of that (issue 6). It knows a
closed set of elements and, for each, what feedparser makes of it (links resolved against the
feed's address, a permalink guid standing in for a missing link, the first title kept, text
stripped and repaired). Anything outside that set, anything ill-formed, any DOCTYPE or
xml:base, any other encoding, anything xmlguard would refuse: ``read`` returns None and
parse.py asks xmlguard, then feedparser, which stays the parser of record.
tests/unit/test_fastparse.py holds both to the same answers.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from feedparser.datetimes import _parse_date as feedparser_date
from feedparser.urls import _urljoin as feedparser_urljoin

from feedwatch.text import one_line
from feedwatch.xmlguard import MAX_ATTRIBUTE, MAX_DEPTH, MAX_ELEMENTS

# Names are compared lowercased, namespace and all, as feedparser compares them.
ATOM = "http://www.w3.org/2005/atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
SY = "http://purl.org/rss/1.0/modules/syndication/"
SLASH = "http://purl.org/rss/1.0/modules/slash/"
WFW = "http://wellformedweb.org/commentapi/"
WORDPRESS = "com-wordpress:feed-additions:1"

_DECLARATION = re.compile(rb"^<\?xml[^>]*?\?>")
_DECLARED_ENCODING = re.compile(rb"\bencoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_UTF8 = frozenset({"utf-8", "utf8"})
_C1_CONTROLS = re.compile("[\x80-\x9f]")
_LINK_ENTITY = re.compile("&([A-Za-z0-9_]+);")
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_TYPES = {None: "text/plain", "text": "text/plain", "html": "text/html"}
_SHORT_TYPES = {"text": "text/plain", "plain": "text/plain", "html": "text/html",
                "xhtml": "application/xhtml+xml"}  # fmt: skip

# What each element of a channel or an item becomes: a field (text gathered), a date, a
# subtree that changes none of the fields we use (skipped whole), or the start of an item.
_RSS_CHANNEL = {
    "title": "title",
    "link": "link",
    "ttl": "ttl",
    SY + " updateperiod": "sy_updateperiod",
    SY + " updatefrequency": "sy_updatefrequency",
}
_RSS_CHANNEL_SKIPPED = frozenset(
    {
        "description", "language", "copyright", "managingeditor", "webmaster", "pubdate",
        "lastbuilddate", "category", "generator", "docs", "cloud", "rating", "image",
        "textinput", "skiphours", "skipdays", SY + " updatebase", WORDPRESS + " site",
    }
)  # fmt: skip
_RSS_ITEM = {
    "title": "title",
    "link": "link",
    "guid": "id",
    "description": "summary",
    "pubdate": "published",
    CONTENT + " encoded": "content",
    DC + " creator": "author",
    "author": "author",
}
# WordPress's comment links and count: feedparser keeps them as fields of their own
_RSS_ITEM_SKIPPED = frozenset(
    {"category", "comments", "enclosure", "source", WFW + " commentrss", WFW + " comment",
     SLASH + " comments"}
)  # fmt: skip
_ATOM_FEED = {ATOM + " title": "title", ATOM + " id": "id"}
_ATOM_FEED_SKIPPED = frozenset(
    ATOM + " " + name
    for name in (
        "updated", "subtitle", "rights", "generator", "icon", "logo", "category", "author",
        "contributor",
    )
)  # fmt: skip
_ATOM_ENTRY = {
    ATOM + " title": "title",
    ATOM + " id": "id",
    ATOM + " summary": "summary",
    ATOM + " content": "content",
    ATOM + " updated": "updated",
    ATOM + " published": "published",
}
_ATOM_ENTRY_SKIPPED = frozenset({ATOM + " category"})
# The skipped elements whose children feedparser keeps to themselves; any other skipped
# element with a child is declined (feedparser would read a <title> inside a <category>).
_PERSON = frozenset({ATOM + " name", ATOM + " email", ATOM + " uri"})
_SKIPPED_CHILDREN = {
    "image": frozenset({"title", "url", "link", "width", "height", "description"}),
    "skiphours": frozenset({"hour"}),
    "skipdays": frozenset({"day"}),
    ATOM + " author": _PERSON,
    ATOM + " contributor": _PERSON,
}
_DATES = frozenset({"published", "updated"})


class _Decline(Exception):
    """The document is outside what this reader reproduces exactly."""


@dataclass
class Document:
    """What feedparser would have returned, in the shape parse.py reads it."""

    version: str
    feed: dict[str, Any] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)


def read(
    body: bytes,
    base: str,
    content_type: str | None = None,
    known_guid: Callable[[str], bool] | None = None,
) -> Document | None:
    """The feed in ``body`` (fetched from ``base``), or None when feedparser must read it.

    An entry whose guid ``known_guid`` accepts is stored already, and parse.py keeps only
    its guid: the fields after it are checked as usual but neither gathered nor read."""
    if not _plain_utf8(body, content_type):
        return None
    reader = _Reader(base, known_guid)
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.StartNamespaceDeclHandler = _check_namespace
    try:
        parser.Parse(body, True)
    except (_Decline, expat.ExpatError):
        return None
    if reader.document is None or reader.depth != 0:
        return None
    return reader.document


def _refuse(*_: object) -> None:
    raise _Decline


def _check_namespace(_prefix: str | None, uri: str | None) -> None:
    if uri and len(uri) > MAX_ATTRIBUTE:
        raise _Decline  # for xmlguard to refuse


def _plain_utf8(body: bytes, content_type: str | None) -> bool:
    """UTF-8 by every account: feedparser's encoding rules then agree with expat's."""
    if body.startswith((b"\xef\xbb\xbf", b"\xfe\xff", b"\xff\xfe")) or not body.startswith(b"<"):
        return False
    media, _, params = (content_type or "").partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower()
    if charset is not None and charset not in _UTF8:
        return False
    media = media.strip().lower()
    # RFC 3023, which feedparser follows: text/* without a charset is us-ascii
    if charset is None and media.startswith("text/") and not body.isascii():
        return False
    declaration = _DECLARATION.match(body[:500])
    encoding = _DECLARED_ENCODING.search(declaration.group(0)) if declaration else None
    if declaration and b"encoding" in declaration.group(0) and encoding is None:
        return False
    if encoding is not None:
        return encoding.group(1).decode().lower() in _UTF8
    # nothing declared: UTF-8 only by the charset, or by RFC 3023's default for application/*
    return charset is not None or media == "application/xml" or media.endswith("+xml")


def _repair(text: str) -> str:
    """What feedparser does to every text it keeps: undo UTF-8 that was read as Latin-1."""
    if text.isascii():
        return text
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    if _C1_CONTROLS.search(text):  # feedparser maps these through windows-1252
        raise _Decline
    return text


class _Reader:
    def __init__(self, base: str, known_guid: Callable[[str], bool] | None = None) -> None:
        self.base = base
        self.known_guid = known_guid
        self.entry_known = False  # the open entry's guid is a stored one
        self.discard = False  # the open field belongs to a known entry: its text is not kept
        self.document: Document | None = None
        self.depth = 0
        self.elements = 0
        self.skip_depth = 0  # inside a skipped subtree while > 0
        self.skipped = ""  # the element that began it
        self.context: dict[str, Any] = {}
        self.fields: dict[str, str] = {}
        self.rss = True
        self.collecting: str | None = None  # the field whose text is being gathered
        self.pieces: list[str] = []
        self.guid_is_link = False
        self.in_entry = False
        self.channels = 0
        self.feed_seen: set[str] = set()  # the fields of the feed met so far
        self.seen = self.feed_seen
        self.person: dict[str, str] | None = None  # inside an entry's Atom <author>
        self.person_depth = 0

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        self.elements += 1
        if self.depth > MAX_DEPTH or self.elements > MAX_ELEMENTS:
            raise _Decline  # for xmlguard to refuse, as it does before feedparser
        if attributes and max(map(len, attributes.values())) > MAX_ATTRIBUTE:
            raise _Decline
        name = name.lower()
        if self.skip_depth:
            if self.skip_depth > 1 or name not in _SKIPPED_CHILDREN.get(self.skipped, ()):
                raise _Decline
            self.skip_depth += 1
            return
        attrs = {key.lower(): value for key, value in attributes.items()}
        if self.collecting is not None:
            raise _Decline  # markup inside a text field: feedparser re-serialises it
        if self.person is not None:
            self._person_child(name, attrs)
            return
        if any(" " in k and k != _XML_LANG for k in attrs):
            raise _Decline  # a namespaced attribute: feedparser drops the namespace
        if any(k.endswith(("base", "lastmod", "href")) for k in attrs) and not name.endswith(
            " link"
        ):
            raise _Decline
        if self.depth == 1:
            self._root(name, attrs)
        elif self.rss and self.depth == 2:
            if name != "channel" or self.channels or attrs:
                raise _Decline
            self.channels += 1
            self.fields = _RSS_CHANNEL
        elif self.in_entry:
            self._entry_child(name, attrs)
        elif (self.rss and self.depth == 3 and name == "item") or (
            not self.rss and self.depth == 2 and name == ATOM + " entry"
        ):
            self._open_entry(attrs)
        else:
            self._feed_child(name, attrs)

    def _root(self, name: str, attrs: dict[str, str]) -> None:
        if name == "rss" and attrs.get("version") == "2.0" and len(attrs) == 1:
            self.document = Document("rss20")
        elif name == ATOM + " feed" and not (set(attrs) - {_XML_LANG}):
            self.document = Document("atom10")
            self.rss = False
            self.fields = _ATOM_FEED
        else:
            raise _Decline
        self.context = self.document.feed

    def _open_entry(self, attrs: dict[str, str]) -> None:
        if attrs and set(attrs) - {_XML_LANG}:
            raise _Decline
        assert self.document is not None
        self.context = {}
        self.seen = set()
        self.document.entries.append(self.context)
        self.in_entry = True
        self.entry_known = False
        self.guid_is_link = False
        self.fields = _RSS_ITEM if self.rss else _ATOM_ENTRY

    def _feed_child(self, name: str, attrs: dict[str, str]) -> None:
        if self.rss:
            # an atom:link without href is read as text by feedparser, and becomes the link
            atom_link = name == ATOM + " link" and "href" in attrs and _not_alternate(attrs)
            if name in _RSS_CHANNEL_SKIPPED or atom_link:
                self._skip(name)
                return
        elif name == ATOM + " link":
            self._atom_link(attrs)
            self._skip(name)
            return
        elif name in _ATOM_FEED_SKIPPED:
            self._skip(name)
            return
        self._open_field(name, attrs)

    def _entry_child(self, name: str, attrs: dict[str, str]) -> None:
        if name in (_RSS_ITEM_SKIPPED if self.rss else _ATOM_ENTRY_SKIPPED):
            self._skip(name)
        elif not self.rss and name == ATOM + " author":
            if attrs or "author" in self.seen:
                raise _Decline  # a second author: feedparser keeps the first in ``author``
            self.seen.add("author")
            self.person = {}
            self.person_depth = self.depth
        elif not self.rss and name == ATOM + " link":
            self._atom_link(attrs)
            self._skip(name)
        else:
            self._open_field(name, attrs)

    def _person_child(self, name: str, attrs: dict[str, str]) -> None:
        assert self.person is not None
        part = name.rpartition(" ")[2]
        if attrs or self.depth != self.person_depth + 1 or name not in _PERSON:
            raise _Decline
        if part in self.person:
            raise _Decline
        self.collecting = "person " + part
        self.discard = False  # an author is read whole: its checks need its parts
        self.pieces = []

    def _close_person(self) -> None:
        """feedparser's ``author``: the name, with the email in brackets when both are given."""
        assert self.person is not None
        name, email = self.person.get("name"), self.person.get("email")
        self.person = None
        if name and email:
            self.context["author"] = f"{name} ({email})"
        elif name or email:
            self.context["author"] = name or email
        else:
            raise _Decline  # feedparser would read the author's own text, and look for an email

    def _skip(self, name: str) -> None:
        self.skip_depth = 1
        self.skipped = name

    def _open_field(self, name: str, attrs: dict[str, str]) -> None:
        key = self.fields.get(name)
        if key is None or key in self.seen:
            raise _Decline  # an element we do not know, or a second of one we do
        self.seen.add(key)
        if key == "id":
            self.guid_is_link = attrs.get("ispermalink", "true") == "true"
            if set(attrs) - ({"ispermalink"} if self.rss else set()):
                raise _Decline
        elif self.rss:
            if attrs:
                raise _Decline  # e.g. a type (feedparser may base64-decode) or a url
        else:
            kind = attrs["type"].lower() if "type" in attrs else None
            if set(attrs) - {"type"} or kind not in _TEXT_TYPES:
                raise _Decline  # xhtml, a MIME type, an out-of-line src
            if key in ("title", "summary", "content"):
                self.context[key + "_detail"] = {"type": _TEXT_TYPES[kind]}
        self.collecting = key
        self.discard = self.entry_known
        self.pieces = []

    def _atom_link(self, attrs: dict[str, str]) -> None:
        known = {"href", "rel", "type", "title", "hreflang", "length"}
        if "href" not in attrs or set(attrs) - known:
            raise _Decline
        rel = attrs.get("rel", "alternate").lower()
        kind = attrs.get("type", "application/atom+xml" if rel == "self" else "text/html").lower()
        if rel == "alternate" and _SHORT_TYPES.get(kind, kind) in _HTML_TYPES:
            self.context["link"] = _urljoin(self.base, attrs["href"])

    def text(self, data: str) -> None:
        if self.collecting is not None and not self.skip_depth:
            if not self.discard:
                self.pieces.append(data)
        elif self.person is not None and not data.isspace():
            raise _Decline  # text of the author's own, outside name, email and uri

    def end(self, name: str) -> None:
        self.depth -= 1
        if self.skip_depth:
            self.skip_depth -= 1
            return
        key = self.collecting
        if key is not None:
            self.collecting = None
            if self.discard:
                self.discard = False
            else:
                self._close_field(key, "".join(self.pieces).strip())
        elif self.person is not None:
            self._close_person()
        elif self.in_entry and self.depth == (2 if self.rss else 1):
            self.in_entry = False
            assert self.document is not None
            self.context = self.document.feed
            self.seen = self.feed_seen
            self.fields = _RSS_CHANNEL if self.rss else _ATOM_FEED

    def _close_field(self, key: str, value: str) -> None:
        # in feedparser's order: stripped, resolved when a link, then repaired
        context = self.context
        if key.startswith("person "):
            assert self.person is not None
            if _C1_CONTROLS.search(value):
                raise _Decline
            self.person[key[7:]] = value  # feedparser repairs no encoding in a person
        elif key in _DATES:
            value = _repair(value)
            context[key + "_parsed"] = feedparser_date(value)
            context[key] = value
        elif key == "id":
            if self.guid_is_link and value:
                value = _urljoin(self.base, value)
            value = _repair(value)
            context["id"] = value
            if self.in_entry and self.known_guid is not None and value:
                guid = one_line(value)  # as parse.py reads it
                self.entry_known = bool(guid) and self.known_guid(guid)
            context["guidislink"] = self.guid_is_link and "link" not in context
            if self.guid_is_link:
                context.setdefault("link", value)
        elif key == "link":
            if value:
                value = _urljoin(self.base, value)
            value = _repair(value)
            if self.in_entry:
                value = value.replace("&amp;", "&")
            context["link"] = _LINK_ENTITY.sub(r"&\g<1>", value)
        elif key == "content":
            value = _repair(value)
            context["content"] = [{"value": value}]
            context.setdefault("summary", value)
        else:
            context[key] = _repair(value)


# An absolute http(s) address that feedparser's join gives back unchanged: a lowercase
# scheme, a plain host, and no params, fragment, spaces or controls for urllib to rewrite.
# Nearly every link in a feed is one, and the join costs more than parsing its element.
_PLAIN_ABSOLUTE = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?"
    r"(?:/[A-Za-z0-9\-._~!$&'()*+,=:@%/]*)?(?:\?[A-Za-z0-9\-._~!$&'()*+,=:@%/?]+)?"
)


def _urljoin(base: str, uri: str) -> str:
    """``uri`` resolved against ``base`` exactly as feedparser resolves it."""
    if _PLAIN_ABSOLUTE.fullmatch(uri):
        return uri
    return str(feedparser_urljoin(base, uri))


_XML_LANG = "http://www.w3.org/xml/1998/namespace lang"


def _not_alternate(attrs: dict[str, str]) -> bool:
    return attrs.get("rel", "alternate").lower() != "alternate"
