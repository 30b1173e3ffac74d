"""Story-level near-duplicates: the same article republished with small edits (issue 5).

Pure: no I/O. A text's sketch is a consistent sample of its word 4-gram shingles: the ones
whose stable 64-bit hash falls in 1/6 of the hash space. Two texts that share an article
share the same sampled shingles, whatever else each adds, so the share of the smaller sketch
found in the larger (containment) recognises a teaser inside the full text, a copy with a
line of boilerplate added or dropped, and a headline changed (headlines are not sketched).
Distinct reports of the same event share words but few four-word runs.
"""

from __future__ import annotations

import hashlib
import re
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence

from feedwatch.text import fold

SHINGLE_WORDS = 4
SAMPLE_ONE_IN = 6
MIN_SKETCH = 3  # a shorter text has too few samples to judge: exact keys only
MIN_SHARED = 2
CONTAINMENT = 0.5  # the share of the smaller sketch found in the larger
WINDOW_DAYS = 30
KEY_LIMIT = (1 << 32) // SAMPLE_ONE_IN + 1  # every sample key is under this

_WORD = re.compile(r"\w+")


_MASK = (1 << 64) - 1
# odd multipliers: a shingle's hash is a fixed mix of its four words' hashes, so each word is
# hashed once (BLAKE2b, stable across processes) and each shingle costs a few integer steps
_K1, _K2, _K3 = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
# \w+ for ASCII text: every byte that is not a letter, a digit or "_" becomes a space
_ASCII_WORD_BYTES = bytes(b if chr(b).isalnum() or b == 0x5F else 0x20 for b in range(128))
_ASCII_WORD_BYTES += b" " * 128


class _WordMixes(dict[bytes, tuple[bytes, bytes, bytes, bytes]]):
    """Each word's hash times each multiplier (mod 2**64), as 8 big-endian bytes: built once
    per word, then looked up in C by ``map``."""

    def __missing__(self, word: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        h = int.from_bytes(hashlib.blake2b(word, digest_size=8).digest(), "big")
        mixes = tuple(((h * k) & _MASK).to_bytes(8, "big") for k in (_K1, _K2, _K3, 1))
        if len(self) >= 200_000:  # a bound on memory; the common words come straight back
            self.clear()
        self[word] = mixes  # type: ignore[assignment]
        return mixes  # type: ignore[return-value]


_word_mixes = _WordMixes()


def _words(folded: str) -> list[bytes]:
    if folded.isascii():
        return folded.encode().translate(_ASCII_WORD_BYTES).split()
    return [w.encode() for w in _WORD.findall(folded)]


# the hashes' 32-bit halves, read straight from their big-endian bytes
_HALF = next(code for code in "IL" if array(code).itemsize == 4)


def sketch(text: str) -> tuple[int, ...]:
    """The text's sample keys (``sample_key`` of each sampled shingle hash), sorted; empty
    when the text is too short. These are what the store indexes and compares.

    A shingle's hash is (a*K1) ^ (b*K2) ^ (c*K3) ^ d over its four word hashes (mod 2**64).
    The per-shingle XORs are done all at once, on the words' mixes laid end to end as four
    long integers: one C operation each instead of one Python step per shingle. Only the
    high half of each hash decides and names a sample, so the bytes are read as 32-bit
    halves and every other one kept."""
    words = _words(fold(text))
    count = len(words) - SHINGLE_WORDS + 1
    if count <= 0:
        return ()
    first, second, third, fourth = zip(*map(_word_mixes.__getitem__, words), strict=True)
    join = b"".join
    mixed = (
        int.from_bytes(join(first[:count]), "big")
        ^ int.from_bytes(join(second[1 : count + 1]), "big")
        ^ int.from_bytes(join(third[2 : count + 2]), "big")
        ^ int.from_bytes(join(fourth[3:]), "big")
    )
    halves = array(_HALF, mixed.to_bytes(8 * count, "big"))
    if sys.byteorder == "little":
        halves.byteswap()
    sampled = {high // SAMPLE_ONE_IN for high in halves[::2] if not high % SAMPLE_ONE_IN}
    return tuple(sorted(sampled)) if len(sampled) >= MIN_SKETCH else ()


def sample_key(value: int) -> int:
    """The key a sampled 64-bit shingle hash is stored under: its sampled half (a multiple
    of SAMPLE_ONE_IN) divided by the rate, under 2**30. Two samples of a sketch rarely
    share one (one in 700 million), and a story needs MIN_SHARED of them."""
    return ((value >> 32) & 0xFFFFFFFF) // SAMPLE_ONE_IN


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
    # sample key -> the originals carrying it; most keys are carried by one text, so the
    # keys shared with earlier texts are found by a set operation, not a step per key
    owners: dict[int, tuple[int, ...]] = {}
    sizes: dict[int, int] = {}
    found: dict[int, int] = {}
    for index, keys in sketches.items():
        if not keys:
            continue
        common = {key: owners[key] for key in owners.keys() & keys}
        shared: dict[int, int] = {}
        for earlier_owners in common.values():
            for earlier in earlier_owners:
                shared[earlier] = shared.get(earlier, 0) + 1
        match = best_story(len(keys), ((e, n, sizes[e]) for e, n in shared.items()))
        if match is not None:
            found[index] = match
            continue
        sizes[index] = len(keys)
        owners.update(dict.fromkeys(keys, (index,)))
        for key, earlier_owners in common.items():
            owners[key] = (*earlier_owners, index)
    return found
