"""Story-level near-duplicates: the same article republished with small edits (issue 5).

Pure: no I/O. A text's sketch is a consistent sample of its word 4-gram shingles: the ones
whose stable 64-bit hash falls in 1/6 of the hash space. Two texts that share an article
share the same sampled shingles, whatever else each adds, so the share of the smaller sketch
found in the larger (containment) recognises a teaser inside the full text, a copy with a
line of boilerplate added or dropped, and a headline changed (headlines are not sketched).
Distinct reports of the same event share words but few four-word runs.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence

from feedwatch.text import fold

SHINGLE_WORDS = 4
SAMPLE_ONE_IN = 6
MIN_SKETCH = 3  # a shorter text has too few samples to judge: exact keys only
MIN_SHARED = 2
CONTAINMENT = 0.5  # the share of the smaller sketch found in the larger
WINDOW_DAYS = 30

_WORD = re.compile(r"\w+")
_HALF = 1 << 63


_MASK = (1 << 64) - 1
# odd multipliers: a shingle's hash is a fixed mix of its four words' hashes, so each word is
# hashed once (BLAKE2b, stable across processes) and each shingle costs a few integer steps
_K1, _K2, _K3 = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9


@functools.lru_cache(maxsize=65536)
def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")


def sketch(text: str) -> tuple[int, ...]:
    """The sampled shingle hashes of a text, sorted; empty when the text is too short."""
    h = [_word_hash(w) for w in _WORD.findall(fold(text))]
    mixed = (
        ((a * _K1) ^ (b * _K2) ^ (c * _K3) ^ d) & _MASK
        for a, b, c, d in zip(h, h[1:], h[2:], h[3:], strict=False)
    )
    # the high half decides the sample, the whole value is kept (signed, as SQLite stores it)
    sampled = {v - (1 << 64) if v >= _HALF else v for v in mixed if (v >> 32) % SAMPLE_ONE_IN == 0}
    return tuple(sorted(sampled)) if len(sampled) >= MIN_SKETCH else ()


def containment(shared: int, size_a: int, size_b: int) -> float:
    """The share of the smaller sketch found in the larger."""
    smaller = min(size_a, size_b)
    return shared / smaller if smaller else 0.0


def is_same_story(shared: int, size_a: int, size_b: int) -> bool:
    """The rule: enough shared samples, covering enough of the smaller text."""
    return shared >= MIN_SHARED and containment(shared, size_a, size_b) >= CONTAINMENT


def similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """Containment of two sketches (0 when either is empty)."""
    if not a or not b:
        return 0.0
    return containment(len(set(a) & set(b)), len(a), len(b))


def best_story(size: int, candidates: Iterable[tuple[int, int, int]]) -> int | None:
    """Among (story id, shared samples, candidate sketch size), the story this text belongs
    to: the one covering most of it, if any passes the rule."""
    best: tuple[float, int] | None = None
    for story, shared, other_size in candidates:
        if is_same_story(shared, size, other_size):
            score = containment(shared, size, other_size)
            if best is None or score > best[0]:
                best = (score, story)
    return best[1] if best else None


def stories_within(sketches: Mapping[int, Sequence[int]]) -> dict[int, int]:
    """Inside one batch (index -> sketch, in feed order): each index that repeats an
    earlier one's story, mapped to that earlier index."""
    seen: dict[int, list[int]] = {}
    sizes: dict[int, int] = {}
    found: dict[int, int] = {}
    for index, hashes in sketches.items():
        if not hashes:
            continue
        shared: dict[int, int] = {}
        for value in hashes:
            for earlier in seen.get(value, ()):
                shared[earlier] = shared.get(earlier, 0) + 1
        match = best_story(len(hashes), ((e, n, sizes[e]) for e, n in shared.items()))
        if match is not None:
            found[index] = match
            continue
        sizes[index] = len(hashes)
        for value in hashes:
            seen.setdefault(value, []).append(index)
    return found
