"""stories: the near-duplicate rule, measured on the labelled pairs in tests/data/stories."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedwatch.stories import best_story, similarity, sketch, stories_within
from feedwatch.text import fold, html_to_text
from harness.article import load_article

PAIRS = Path(__file__).resolve().parents[1] / "data" / "stories" / "pairs.jsonl"
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "stories"))

ARTICLE = html_to_text(load_article()["content"])
TEASER = " ".join(ARTICLE.split()[:60]) + " … Read more"


def test_labelled_pairs_meet_the_issue_targets() -> None:
    from evaluate import evaluate  # bench/stories/evaluate.py, the same code the README quotes

    result = evaluate(PAIRS)
    assert result["copies"] >= 300
    assert result["distinct"] >= 600
    assert result["precision"] >= 0.99, result["misses"]
    assert result["recall"] >= 0.9, result["misses"]


@pytest.mark.parametrize(
    ("copy", "same"),
    [
        pytest.param(ARTICLE, True, id="identical"),
        pytest.param(ARTICLE + " This article first appeared on Example News.", True,
                     id="boilerplate-added"),
        pytest.param(ARTICLE.replace("'", "’"), True, id="typographic-quotes"),
        pytest.param(TEASER, True, id="teaser"),
        pytest.param(
            "Protesters filled the streets of Lima again on Saturday, demanding new elections "
            "and the release of former president Pedro Castillo, while Canada's ambassador "
            "met ministers of the Boluarte government to discuss mining investment and trade. "
            "Human rights groups say security forces have killed dozens of demonstrators since "
            "December and call on Ottawa to halt arms exports to Peru.",
            False, id="same-event-other-words",
        ),
    ],
)  # fmt: skip
def test_similarity(copy: str, same: bool) -> None:
    score = similarity(sketch(ARTICLE), sketch(copy))
    assert (score >= 0.5) is same


def test_sketch_is_stable_and_empty_for_short_texts() -> None:
    assert sketch(ARTICLE) == sketch(ARTICLE)
    assert all(0 <= key < 2**30 for key in sketch(ARTICLE))
    assert sketch("Too short to judge.") == ()


def test_best_story_takes_the_closest_passing_candidate() -> None:
    assert best_story(10, [(1, 2, 40), (2, 8, 10), (3, 1, 10)]) == 2
    assert best_story(10, [(3, 1, 10)]) is None


def test_stories_within_a_batch_point_to_the_first_copy() -> None:
    full = sketch(ARTICLE)
    teaser = sketch(TEASER)
    other = sketch(" ".join(reversed(ARTICLE.split())))
    assert stories_within({0: full, 1: other, 2: teaser}) == {2: 0}


def _reference_sketch(text: str) -> tuple[int, ...]:
    """The sketch as first written, one shingle at a time: the samples stored by earlier
    versions must keep matching."""
    import hashlib
    import re

    mask = (1 << 64) - 1
    k1, k2, k3 = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
    h = [
        int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "big")
        for w in re.findall(r"\w+", fold(text))
    ]
    mixed = (
        ((a * k1) ^ (b * k2) ^ (c * k3) ^ d) & mask
        for a, b, c, d in zip(h, h[1:], h[2:], h[3:], strict=False)
    )
    # what earlier versions stored: each sampled hash's key, its high half divided by 6
    sampled = {(v >> 32) // 6 for v in mixed if (v >> 32) % 6 == 0}
    return tuple(sorted(sampled)) if len(sampled) >= 3 else ()


WORDS = ["the", "Peru", "mining", "Canadá", "über", "x_y", "42", "l’été", "日本語", "a-b", "c'd"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS) | st.text(max_size=6), max_size=80))
def test_sketch_matches_the_reference_one_shingle_at_a_time(words: list[str]) -> None:
    text = " ".join(words)
    assert sketch(text) == _reference_sketch(text)


def test_sketch_matches_the_reference_on_the_article() -> None:
    assert sketch(ARTICLE) == _reference_sketch(ARTICLE)
    assert len(sketch(ARTICLE)) > 10
