"""Precision and recall of feedwatch's story rule on the labelled pairs (issue 5, point 4).

    .venv/bin/python bench/stories/evaluate.py [tests/data/stories/pairs.jsonl]

Precision: of the pairs the rule calls one story, the share that are copies (so distinct
articles kept apart). Recall: of the copies, the share the rule recognises.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from feedwatch.stories import is_same_story, sketch

DEFAULT = Path(__file__).resolve().parents[2] / "tests" / "data" / "stories" / "pairs.jsonl"


def judge(pair: dict[str, object]) -> bool:
    """The rule's verdict on one pair, exactly as the poller applies it."""
    a = sketch(pair["a"]["text"])  # type: ignore[index]
    b = sketch(pair["b"]["text"])  # type: ignore[index]
    if not a or not b:
        return False
    return is_same_story(len(set(a) & set(b)), len(a), len(b))


def evaluate(path: Path) -> dict[str, object]:
    """Counts, precision and recall, and the misses by kind."""
    tp = fp = fn = tn = 0
    misses: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        pair = json.loads(line)
        said = judge(pair)
        if pair["label"] and said:
            tp += 1
        elif pair["label"]:
            fn += 1
            misses[pair["kind"]] += 1
        elif said:
            fp += 1
            misses[pair["kind"]] += 1
        else:
            tn += 1
    return {
        "pairs": tp + fp + fn + tn,
        "copies": tp + fn,
        "distinct": fp + tn,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "distinct_kept_apart": tn / (tn + fp) if tn + fp else 1.0,
        "misses": dict(misses),
    }


if __name__ == "__main__":
    result = evaluate(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
    print(json.dumps(result, indent=2))
