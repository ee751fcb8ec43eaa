"""Mergeable quantile sketches with a 1 % relative-error guarantee (DDSketch).

Why a sketch: the exact percentile of merged series or minutes needs every
raw value, which is kept only for RETENTION_RAW; averaging stored
percentiles understates the tail several-fold. A DDSketch (Masson, Rim,
Lee, VLDB 2019) counts values in logarithmic buckets — bucket i holds
(γ^(i-1), γ^i] with γ = (1+α)/(1-α) — and answers any rank with the
bucket's midpoint 2γ^i/(γ+1), which is within α of every value in the
bucket. Counts of the same bucket simply add, so merged sketches keep the
guarantee whatever was merged, in any order, any number of times.

Our own ~150 lines rather than a library: the `ddsketch` package is pure
Python as well (no faster) and needs protobuf to serialise; DataSketches'
KLL/REQ and t-digests (`fastdigest`) bound the *rank* error, not the value
error the spec asks for. See docs/benchmarks.md for the measured
comparison.

Negative values are counted in a mirrored store, exact zeros apart. The
encoded form is compact and decodes with `array` (C speed): per store a base
index, the gaps between occupied buckets and their counts, each in the
narrowest integer type that holds them — about two bytes per occupied
bucket, ~100 bytes for a typical minute of latencies.
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import accumulate, repeat
from operator import mul
from typing import Literal

#: The promised relative error is 1 %; the buckets are a hair finer so that
#: float rounding at a bucket's edge can never push an answer past it.
RELATIVE_ACCURACY = 0.0099
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
_INV_LOG_GAMMA = 1 / _LOG_GAMMA
_LOG_MIDPOINT = math.log(2 / (GAMMA + 1))

VERSION = 1
_HEADER = struct.Struct("<BB")  # version, flags
_STORE = struct.Struct("<iIcc")  # base index, buckets, gap type, count type
_ZEROS = struct.Struct("<Q")
_POSITIVE, _NEGATIVE, _ZERO = 1, 2, 4
_BIG_ENDIAN = sys.byteorder == "big"

Store = dict[int, int]


class SketchError(ValueError):
    """A stored sketch that cannot be read (corrupt or from a newer release)."""


def bucket_of(magnitude: float) -> int:
    """The bucket of a positive magnitude."""
    return math.ceil(math.log(magnitude) * _INV_LOG_GAMMA)


def _buckets(magnitudes: list[float]) -> Iterable[int]:
    """bucket_of for many positive values, in C callables only (no Python frame each)."""
    return map(math.ceil, map(mul, map(math.log, magnitudes), repeat(_INV_LOG_GAMMA)))


def value_of(index: int) -> float:
    """A bucket's representative: within RELATIVE_ACCURACY of all it holds.

    The top bucket's midpoint can lie past the largest float; the largest
    float is then the answer (it is within the bound of what the bucket holds).
    """
    try:
        return math.exp(index * _LOG_GAMMA + _LOG_MIDPOINT)
    except OverflowError:
        return sys.float_info.max


def _narrowest(largest: int, smallest: int = 0) -> str:
    if smallest >= 0:
        for code in ("B", "H", "I", "Q"):
            if largest < 1 << (8 * array(code).itemsize):
                return code
    raise OverflowError("count out of range")


class Sketch:
    """Counts of values per logarithmic bucket: add values, merge, ask for ranks."""

    __slots__ = ("positive", "negative", "zeros")

    def __init__(self) -> None:
        self.positive: Store = {}
        self.negative: Store = {}
        self.zeros = 0

    @classmethod
    def of(cls, values: Iterable[float]) -> Sketch:
        sketch = cls()
        sketch.add(values)
        return sketch

    @property
    def count(self) -> int:
        return sum(self.positive.values()) + sum(self.negative.values()) + self.zeros

    def add(self, values: Iterable[float]) -> None:
        """Count finite values (the caller validated them)."""
        items = values if isinstance(values, list) else list(values)
        if not items:
            return
        if min(items) > 0:  # the usual case (latencies, sizes): no per-value test
            _add_counter(self.positive, Counter(_buckets(items)))
            return
        _add_counter(self.positive, Counter(_buckets([v for v in items if v > 0])))
        _add_counter(self.negative, Counter(_buckets([-v for v in items if v < 0])))
        self.zeros += sum(1 for v in items if v == 0)

    def merge(self, other: Sketch) -> None:
        _add_counter(self.positive, other.positive)
        _add_counter(self.negative, other.negative)
        self.zeros += other.zeros

    def merge_encoded(self, blob: bytes) -> None:
        """Merge a stored sketch without building an intermediate object."""
        _decode_into(self, blob)

    def quantiles(
        self, percents: Iterable[float], low: float | None = None, high: float | None = None
    ) -> list[float | None]:
        """Nearest-rank percentiles (rank ceil(p/100 · n)), each within 1 % of the exact one.

        `low`/`high` are the true min and max when known: answers are clamped
        to them, and the first and last ranks are them — exact extremes.
        """
        n = self.count
        wanted = sorted((_rank(p, n), i) for i, p in enumerate(percents))
        out: list[float | None] = [None] * len(wanted)
        if n == 0:
            return out
        if low is not None or high is not None:
            ends = {0: low, n - 1: high}
            exact = [(rank, slot) for rank, slot in wanted if ends.get(rank) is not None]
            for rank, slot in exact:
                out[slot] = ends[rank]
            wanted = [w for w in wanted if w not in exact]
            if not wanted:
                return out
        # Buckets in value order (negatives from the largest magnitude, zeros, positives)
        # and their running counts; a rank's bucket is found by bisection, so only the
        # few answers pay for a representative (an exp), not every bucket.
        negative = sorted(self.negative, reverse=True)
        positive = sorted(self.positive)
        counts = list(map(self.negative.__getitem__, negative))
        if self.zeros:
            counts.append(self.zeros)
        counts += map(self.positive.__getitem__, positive)
        running = list(accumulate(counts))
        first_positive = len(counts) - len(positive)
        for rank, slot in wanted:
            at = min(bisect_right(running, rank), len(counts) - 1)
            if at >= first_positive:
                estimate = value_of(positive[at - first_positive])
            elif at < len(negative):
                estimate = -value_of(negative[at])
            else:
                estimate = 0.0
            if low is not None and estimate < low:
                estimate = low
            if high is not None and estimate > high:
                estimate = high
            out[slot] = estimate
        return out

    def quantile(self, percent: float) -> float | None:
        return self.quantiles((percent,))[0]

    def encode(self) -> bytes:
        flags = (
            (_POSITIVE if self.positive else 0)
            | (_NEGATIVE if self.negative else 0)
            | (_ZERO if self.zeros else 0)
        )
        parts = [_HEADER.pack(VERSION, flags)]
        for store in (self.positive, self.negative):
            if store:
                parts.append(_encode_store(store))
        if self.zeros:
            parts.append(_ZEROS.pack(self.zeros))
        return b"".join(parts)

    @classmethod
    def decode(cls, blob: bytes) -> Sketch:
        sketch = cls()
        _decode_into(sketch, blob)
        return sketch

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sketch):
            return NotImplemented
        return (self.positive, self.negative, self.zeros) == (
            other.positive,
            other.negative,
            other.zeros,
        )

    def __repr__(self) -> str:
        return f"Sketch(count={self.count}, buckets={len(self.positive) + len(self.negative)})"


def _rank(percent: float, n: int) -> int:
    """The 0-based nearest rank ceil(p/100 · n) − 1 (exact integer arithmetic for whole p)."""
    if isinstance(percent, int):
        return max((percent * n + 99) // 100 - 1, 0)
    return max(math.ceil(percent * n / 100) - 1, 0)


def _add_counter(store: Store, counts: dict[int, int]) -> None:
    if not store:
        store.update(counts)
        return
    get = store.get
    for index, n in counts.items():
        store[index] = get(index, 0) + n


def _encode_store(store: Store) -> bytes:
    indices = sorted(store)
    base = indices[0]
    gaps = [b - a for a, b in zip(indices, indices[1:], strict=False)]
    counts = [store[i] for i in indices]
    gap_code = _narrowest(max(gaps, default=0))
    count_code = _narrowest(max(counts))
    gap_array = array(gap_code, gaps)
    count_array = array(count_code, counts)
    if _BIG_ENDIAN:
        gap_array.byteswap()
        count_array.byteswap()
    return (
        _STORE.pack(base, len(indices), gap_code.encode(), count_code.encode())
        + gap_array.tobytes()
        + count_array.tobytes()
    )


#: Item size of each integer type an encoded store may use.
IntCode = Literal["B", "H", "I", "Q"]
_CODES: tuple[IntCode, ...] = ("B", "H", "I", "Q")
_SIZES: dict[bytes, tuple[IntCode, int]] = {c.encode(): (c, array(c).itemsize) for c in _CODES}


def _decode_into(sketch: Sketch, blob: bytes) -> None:
    """Add a stored sketch's counts. The hot path of every merged query: the arrays
    are read in place (memoryview casts, no copies) and summed into the stores."""
    try:
        version, flags = _HEADER.unpack_from(blob, 0)
        if version != VERSION:
            raise SketchError(f"sketch version {version} is not known to this release")
        view = memoryview(blob)
        offset = _HEADER.size
        for flag, store in ((_POSITIVE, sketch.positive), (_NEGATIVE, sketch.negative)):
            if not flags & flag:
                continue
            base, n, gap_code, count_code = _STORE.unpack_from(blob, offset)
            offset += _STORE.size
            gap_type, gap_size = _SIZES[gap_code]
            count_type, count_size = _SIZES[count_code]
            end = offset + gap_size * (n - 1)
            gap_view = view[offset:end].cast(gap_type)
            offset, end = end, end + count_size * n
            count_view = view[offset:end].cast(count_type)
            offset = end
            if len(count_view) != n or len(gap_view) != n - 1:
                raise SketchError("sketch is truncated")
            gaps: Sequence[int] = gap_view
            counts: Sequence[int] = count_view
            if _BIG_ENDIAN:
                gaps, counts = _swapped(gap_type, gap_view), _swapped(count_type, count_view)
            indices = accumulate(gaps, initial=base)
            if not store:
                store.update(zip(indices, counts, strict=True))
                continue
            get = store.get
            for index, count in zip(indices, counts, strict=True):
                store[index] = get(index, 0) + count
        if flags & _ZERO:
            sketch.zeros += _ZEROS.unpack_from(blob, offset)[0]
    except (struct.error, ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, SketchError):
            raise
        raise SketchError(f"sketch is unreadable: {exc!r}") from exc


def _swapped(code: str, items: memoryview) -> array[int]:
    out = array(code, items.tobytes())
    out.byteswap()
    return out
