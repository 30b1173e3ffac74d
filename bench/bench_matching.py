"""Matching speed as rules grow (issue 5, point 5): items per second for 10, 1,000 and
10,000 keywords, over real text (the State of the Union articles of the labelled set).

    .venv/bin/python bench/bench_matching.py

Keywords are drawn, seeded, from the texts' own vocabulary, one rule per 10 keywords; a
quarter of the rules are queries with phrases, prefixes and NOT. "absent" keywords appear in
no text (what most of a large watch list is, most of the time); "rare" keywords are words
found in at most two of the texts, as names and places a user watches mostly are; "common"
ones are any word of four letters or more, so that most items raise many alerts: there the
cost grows with the alerts produced, not with the rules.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from pathlib import Path

from feedwatch.config import AlertRule
from feedwatch.matching import Document, Matcher
from feedwatch.query import parse_query

PAIRS = Path(__file__).resolve().parents[1] / "tests" / "data" / "stories" / "pairs.jsonl"


def load_texts() -> list[tuple[str, str]]:
    seen, texts = set(), []
    for line in PAIRS.read_text(encoding="utf-8").splitlines():
        pair = json.loads(line)
        for side in ("a", "b"):
            article = pair[side]
            if article["text"] not in seen:
                seen.add(article["text"])
                texts.append((article["title"], article["text"]))
    return texts


def rules_for(count: int, vocabulary: list[str], rng: random.Random) -> list[AlertRule]:
    rules = []
    for r in range(max(1, count // 10)):
        words = rng.sample(vocabulary, 10)
        if r % 4 == 3:
            text = f'"{words[0]} {words[1]}" OR {words[2][:4]}* OR ({words[3]} -{words[4]})'
            text += " OR " + " OR ".join(words[5:10])
            rules.append(AlertRule(f"q{r}", (), (), parse_query(text)))
        else:
            rules.append(AlertRule(f"k{r}", tuple(words), ()))
    return rules


def main() -> None:
    texts = load_texts()
    documents = [Document(f"{t}\n\n{x}", t, "", "bench feed") for t, x in texts]
    frequency = Counter(w for _, x in texts for w in set(re.findall(r"[a-z]{4,}", x.lower())))
    common = sorted(frequency)
    rare = sorted(w for w, n in frequency.items() if n <= 2)
    rng = random.Random(20261128)
    absent = sorted({"".join(rng.choices("bcdfghjklmnpqrstvwxz", k=7)) for _ in range(20_000)})
    print(f"{len(documents)} items, {sum(len(x) for _, x in texts) // len(texts)} chars each")
    print("| keywords | rules | kind | items/s | alerts per item |")
    print("| ---: | ---: | --- | ---: | ---: |")
    for kind, vocabulary in (("absent", absent), ("rare", rare), ("common", common)):
        for count in (10, 1_000, 10_000):
            matcher = Matcher(rules_for(count, vocabulary, rng))
            best, hits = 0.0, 0
            for _ in range(3):
                start = time.perf_counter()
                hits = sum(len(matcher.match_document(d)) for d in documents)
                best = max(best, len(documents) / (time.perf_counter() - start))
            rules = max(1, count // 10)
            per_item = hits / len(documents)
            print(f"| {count:,} | {rules:,} | {kind} | {best:,.0f} | {per_item:.2f} |")


if __name__ == "__main__":
    main()
