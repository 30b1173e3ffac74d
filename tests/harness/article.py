"""The Peru article fixture as a feed item, and unrelated items that must not match it.

load_article() parses tests/data/ottawa-peru-article.txt as /work/shared/fixtures/README.md
describes it: first line the title, then the byline, then paragraphs separated by blank
lines, and last the line "Posted August 7, 2023". Reads one local file; no network.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ARTICLE_PATH = Path(__file__).resolve().parent.parent / "data" / "ottawa-peru-article.txt"
ARTICLE_LINK = (
    "https://canadiandimension.com/articles/view/"
    "democracy-vs-repression-guess-what-ottawa-supports-in-peru"
)  # never fetched: it is only the item's link text

# The rule the article must trigger, and the keywords it must name (SPEC: Matching).
ARTICLE_KEYWORDS = ("Peru", "Canada", "mining")


def load_article() -> dict[str, Any]:
    """The article as an item dict: title, link, author, content (HTML) and published."""
    text = ARTICLE_PATH.read_text(encoding="utf-8")
    blocks = [block.strip() for block in text.split("\n\n") if block.strip()]
    title, byline, *paragraphs, posted = blocks
    if not byline.startswith("By ") or not posted.startswith("Posted ") or not paragraphs:
        raise ValueError(f"{ARTICLE_PATH} does not have the layout the fixtures README gives")
    author = byline.removeprefix("By ").split(",")[0].strip()
    published = datetime.strptime(posted.removeprefix("Posted "), "%B %d, %Y").replace(tzinfo=UTC)
    content = "\n".join(_html_paragraph(paragraph) for paragraph in paragraphs)
    return {
        "title": title,
        "link": ARTICLE_LINK,
        "author": author,
        "content": content,
        "published": published,
    }


def _html_paragraph(text: str) -> str:
    # Keep the text as it is (curly quotes, no-break spaces); only join wrapped lines.
    return "<p>" + html.escape(" ".join(text.splitlines()), quote=False) + "</p>"


def unrelated_items() -> list[dict[str, Any]]:
    """Items that must not match Peru, Canada or mining (whole words, any case or accent).

    They use near misses on purpose: Peruvian, Canadian, Canadiens, undermining, mined.
    """
    return [
        {
            "id": "unrelated-1",
            "title": "Peruvian cuisine conquers Lima's neighbours",
            "link": "https://news.example.org/food/peruvian-cuisine",
            "summary": "<p>Ceviche and <em>lomo saltado</em> top the menus of the region.</p>",
            "content": (
                "<p>Peruvian chefs say the secret is lime, chili and patience.</p>"
                "<p>Restaurants from Quito to Santiago now copy the recipes.</p>"
            ),
            "author": "Ana Quispe",
            "published": datetime(2023, 8, 1, 12, 0, tzinfo=UTC),
        },
        {
            "id": "unrelated-2",
            "title": "Canadian geese return early to Ottawa's canals",
            "link": "https://news.example.org/nature/geese",
            "summary": "Birdwatchers counted flocks &amp; nests along the Rideau.",
            "content": "<p>The CANADIAN birds arrived two weeks early this spring.</p>",
            "author": "Sam Birder",
            "published": datetime(2023, 8, 2, 8, 30, tzinfo=UTC),
        },
        {
            "id": "unrelated-3",
            "title": "Undermining trust: a short history of undersea cables",
            "link": "https://news.example.org/tech/undersea-cables",
            "summary": "Engineers mined old archives for the first transatlantic designs.",
            "content": "<p>Sabotage fears keep <b>undermining</b> confidence in the network.</p>",
            "author": "Lee Wire",
            "published": datetime(2023, 8, 3, 17, 45, tzinfo=UTC),
        },
        {
            "id": "unrelated-4",
            "title": "Canadiens win in overtime",
            "link": "https://news.example.org/sport/canadiens-overtime",
            "summary": "Montréal's hockey club took the game 3–2 after a late goal.",
            "content": "<p>The crowd in Montréal celebrated past midnight.</p>",
            "author": "Jo Puck",
            "published": datetime(2023, 8, 4, 23, 15, tzinfo=UTC),
        },
    ]
