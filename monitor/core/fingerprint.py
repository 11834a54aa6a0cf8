"""Near-duplicate detection: word shingles, MinHash signatures and LSH band hashes.

A story is reduced to the set of its word 4-grams (shingles). Two texts are compared
exactly through their shingle sets (``similarity``); to find candidates among many
stored stories without comparing against each one, each text also gets a MinHash
signature cut into bands, and each band is hashed to one signed 64-bit integer.
The store keeps these band hashes in an indexed table, so a lookup is one indexed
``IN (...)`` query at any store size, shared by all processes; the candidates it
returns are then confirmed with ``similarity`` and ``is_near_duplicate``.

Everything is deterministic across processes, machines and Python versions (no
``hash()``, no unseeded or version-dependent randomness); ``SCHEME`` names the
parameters, so stored band hashes can be recomputed if it changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

from monitor.core.normalize import words

if TYPE_CHECKING:  # numpy is imported where signatures are computed: see _Coefficients
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "BANDS",
    "CONTAINMENT_MIN",
    "COVERAGE_MIN",
    "JACCARD_MIN",
    "NUM_PERM",
    "ROWS",
    "SCHEME",
    "SHINGLE_WORDS",
    "Fingerprint",
    "Similarity",
    "band_hashes",
    "fingerprint",
    "is_near_duplicate",
    "minhash",
    "overlap",
    "score",
    "shingles",
    "similarity",
]

SHINGLE_WORDS = 4
"""Words per shingle. Texts written independently about the same event, with the same
names and numbers, still share hardly any 4-word run (the two seeds: 2 of 880, Jaccard
0.002; the distinct articles in the tests: at most 0.04, or 0.12 when they carry the
same site disclaimer), while each edited word disturbs only four shingles: a copy with
5% of its words dropped keeps Jaccard 0.72 on average, 0.55 at worst in 600 trials
(5-word shingles: 0.66 and 0.47, below the 0.5 threshold)."""

NUM_PERM = 128
"""MinHash values per signature: Jaccard estimates within about ±0.045 (one sigma)."""

BANDS = 42
ROWS = 3
"""LSH banding: 42 bands of 3 values (126 of the 128 are used). Two texts become
candidates with probability 1 - (1 - J**3)**42: 0.75 at J = 0.32, the lowest Jaccard
``is_near_duplicate`` can accept (containment 0.8, coverage 0.35); 0.996 at J = 0.5;
0.5% at J = 0.05 and 0.004% at J = 0.01, so unrelated stories rarely need confirming.
The threshold (1/42)**(1/3) is about 0.29. Of 600 copies quoting the first 40-60% of a
seed, 42x3 found all; 32x4 (threshold 0.42) would have missed one in five."""

SCHEME = f"minhash-v1:blake2b64:w{SHINGLE_WORDS}:m61:p{NUM_PERM}:b{BANDS}x{ROWS}"
"""Names the shingling, hashing and banding; stored fingerprints with another
scheme must be recomputed before their band hashes can be compared."""

JACCARD_MIN = 0.5
CONTAINMENT_MIN = 0.8
COVERAGE_MIN = 0.35
"""Thresholds of ``is_near_duplicate``; see there and tests/test_fingerprint.py."""

_MERSENNE = (1 << 61) - 1
_EMPTY = _MERSENNE  # a value no real hash reaches: the signature of an empty text
_CHUNK = 128  # shingles per pass: (NUM_PERM, _CHUNK) uint64 temporaries of 128 KiB stay
# cached and on the heap; larger ones are mmapped afresh on each pass, three times slower


def _stable_u64(data: bytes, person: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, person=person).digest(), "little")


def _permutation(index: int) -> tuple[int, int]:
    """Coefficients (a, b) of the index-th hash; derived from blake2b, not from a random
    generator whose stream could change with a numpy release."""
    a = 1 + _stable_u64(b"a%d" % index, b"monitor-mh-perm") % (_MERSENNE - 1)
    b = _stable_u64(b"b%d" % index, b"monitor-mh-perm") % _MERSENNE
    return a, b


class _Coefficients(NamedTuple):
    """The permutations' (a, b) as numpy columns, a split into 31-bit halves."""

    b: npt.NDArray[np.uint64]
    a_hi: npt.NDArray[np.uint64]  # < 2**30
    a_lo: npt.NDArray[np.uint64]  # < 2**31


@cache
def _coefficients() -> _Coefficients:
    """Built on first use, with numpy's import: the service's own process compares shingle
    sets and never computes a signature (its pool's workers do), so it need not load numpy."""
    import numpy as np

    a, b = (
        np.array(column, dtype=np.uint64)
        for column in zip(*map(_permutation, range(NUM_PERM)), strict=True)
    )
    return _Coefficients(b, (a >> np.uint64(31))[:, None], (a & np.uint64((1 << 31) - 1))[:, None])


def shingles(text: str) -> frozenset[int]:
    """Hashes of the text's overlapping SHINGLE_WORDS-word windows (of normalize.words).

    A text shorter than one window yields the single shingle of all its words; an empty
    text yields no shingles.
    """
    tokens = words(text)
    width = min(SHINGLE_WORDS, len(tokens))
    return frozenset(
        _stable_u64(" ".join(tokens[i : i + width]).encode(), b"monitor-shingle")
        for i in range(len(tokens) - width + 1 if tokens else 0)
    )


def _mod_mersenne(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """values mod 2**61 - 1, in place, for any uint64 values (2**61 is 1 mod the prime)."""
    import numpy as np

    u = np.uint64
    high = values >> u(61)
    values &= u(_MERSENNE)
    values += high  # < 2**61 + 8
    np.subtract(values, u(_MERSENNE), out=values, where=values >= u(_MERSENNE))
    return values


def _least_hashes(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """min over x of (a*x + b) mod 2**61 - 1, for each permutation's (a, b); x < 2**61.

    a*x needs 122 bits, so both are split into 31-bit halves: every partial product fits
    in 62 bits, and 2**62 = 2, 2**61 = 1 modulo the prime fold them back without overflow.
    Operations are in place on (NUM_PERM, len(x)) arrays, which is why x comes in chunks.
    """
    import numpy as np

    u, c = np.uint64, _coefficients()
    x_hi = (x >> u(31))[None, :]  # < 2**30
    x_lo = (x & u((1 << 31) - 1))[None, :]  # < 2**31
    middle = c.a_hi * x_lo
    scratch = c.a_lo * x_hi
    middle += scratch  # < 2**62, weighs 2**31
    total = c.a_hi * x_hi
    total <<= u(1)  # weighed 2**62 = 2
    total += np.multiply(c.a_lo, x_lo, out=scratch)
    total += np.right_shift(middle, u(30), out=scratch)  # weighed 2**61 = 1
    middle &= u((1 << 30) - 1)
    middle <<= u(31)
    total += middle
    total += c.b[:, None]  # now < 2.5 * 2**62: no overflow
    least: npt.NDArray[np.uint64] = _mod_mersenne(total).min(axis=1)
    return least


def minhash(shingle_set: Collection[int]) -> npt.NDArray[np.uint64]:
    """MinHash signature: for each of NUM_PERM universal hashes, the least value over the
    shingles. An empty set gives NUM_PERM copies of 2**61 - 1, which no hash reaches."""
    import numpy as np

    signature = np.full(NUM_PERM, _EMPTY, dtype=np.uint64)
    x = _mod_mersenne(np.fromiter(shingle_set, dtype=np.uint64, count=len(shingle_set)))
    for start in range(0, len(x), _CHUNK):
        np.minimum(signature, _least_hashes(x[start : start + _CHUNK]), out=signature)
    return signature


def band_hashes(signature: Sequence[int] | npt.NDArray[np.uint64]) -> list[int]:
    """BANDS signed 64-bit integers (SQL BIGINT); element i hashes band i.

    The band index is mixed into the hash, so equal values mean "same band, same
    values": an index on the hash alone suffices, though (band, hash) pairs with the
    band as the list position work just as well.
    """
    import numpy as np

    values = np.asarray(signature, dtype=np.uint64)
    if values.shape != (NUM_PERM,):
        raise ValueError(f"signature must have {NUM_PERM} values, not {values.shape}")
    rows = values[: BANDS * ROWS].astype("<u8").reshape(BANDS, ROWS)
    return [
        int.from_bytes(
            hashlib.blake2b(
                band.tobytes(), digest_size=8, person=b"monitor-lsh", salt=b"%d" % index
            ).digest(),
            "little",
            signed=True,
        )
        for index, band in enumerate(rows)
    ]


@dataclass(frozen=True)
class Fingerprint:
    """A text's fingerprint: bands to find candidates (stored in the database) and
    shingles to confirm them (cheap to recompute from the stored text)."""

    shingles: frozenset[int]
    signature: tuple[int, ...]
    bands: tuple[int, ...]  # empty for a text without words: it has no candidates


def fingerprint(text: str) -> Fingerprint:
    """Shingles, MinHash signature and LSH band hashes of an article's text."""
    shingle_set = shingles(text)
    signature = minhash(shingle_set)
    bands = tuple(band_hashes(signature)) if shingle_set else ()
    return Fingerprint(shingle_set, tuple(int(v) for v in signature), bands)


@dataclass(frozen=True)
class Similarity:
    """Exact overlap of two shingle sets, each in [0, 1] (0 when either set is empty)."""

    jaccard: float  # |A ∩ B| / |A ∪ B|
    containment: float  # |A ∩ B| / min(|A|, |B|): how much of the shorter is in the longer
    coverage: float  # |A ∩ B| / max(|A|, |B|): how much of the longer the overlap covers


def similarity(a: frozenset[int], b: frozenset[int]) -> Similarity:
    """Exact Jaccard, containment and coverage of two shingle sets."""
    return overlap(len(a & b) if a and b else 0, len(a), len(b))


def overlap(common: int, size_a: int, size_b: int) -> Similarity:
    """The Similarity of two sets of these sizes sharing `common` members."""
    if not size_a or not size_b:
        return Similarity(0.0, 0.0, 0.0)
    return Similarity(
        jaccard=common / (size_a + size_b - common),
        containment=common / min(size_a, size_b),
        coverage=common / max(size_a, size_b),
    )


def _contained(sim: Similarity) -> bool:
    return sim.containment >= CONTAINMENT_MIN and sim.coverage >= COVERAGE_MIN


def is_near_duplicate(sim: Similarity) -> bool:
    """Same article, possibly republished: Jaccard >= 0.5, or the shorter text at least
    80% inside the longer one while covering at least 35% of it.

    Jaccard alone accepts copies that differ by a disclaimer, a wrapper, a few edited
    sentences, reordered paragraphs or dropped words; containment accepts a copy that
    quotes only the first half. The coverage floor stops a short text that merely shares
    boilerplate (a site's disclaimer) from matching every text carrying it. Distinct
    articles on the same event share names and numbers but hardly any 4-word run.
    Limit: when boilerplate is most of *both* texts, no shingle measure can tell them
    apart; extraction has to remove it.
    """
    return sim.jaccard >= JACCARD_MIN or _contained(sim)


def score(sim: Similarity) -> float:
    """The similarity to report, in [0, 1]: containment when that is what makes the
    pair a near-duplicate (a partial copy), else Jaccard. ``is_near_duplicate(sim)``
    holds exactly when ``score(sim) >= JACCARD_MIN``."""
    return max(sim.jaccard, sim.containment) if _contained(sim) else sim.jaccard
