"""The counts file for the NumPy backend: the very bytes src/ngram/counts_file.rs writes
and reads (the layout is in docs/ngram.md), so counts move freely between the backends,
processes and machines.

Counts here are the reference's tables (``Counts``: per order, a dict from id tuples to
counts); on disk each order n >= 2 is its n-grams in sorted order as keys ``(index of the
prefix one order down, last word)``, varint-packed, as the Rust engine keeps them.

Example:
    >>> table = [{(1,): 1, (3,): 1, (2,): 1}, {(1, 3): 1, (3, 2): 1}]
    >>> data = to_bytes(2, ["<unk>", "<s>", "</s>", "a"], table, 1, 2)
    >>> data[:8], len(data)
    (b'RNNRSCNT', 87)
    >>> from_bytes(data).table[1]
    {(1, 3): 1, (3, 2): 1}
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import FormatError
from ..io.atomic import atomic_open
from ..reference.ngram import BOS, EOS, SPECIAL_WORDS, Counts

MAGIC = b"RNNRSCNT"
VERSION = 1
BOUNDARIES_PADDED = 1  # each sentence counted as <s> w1 .. wk </s>
_HEAD = struct.Struct("<8sIIIIQQ")
MAX_ORDER = 16


@dataclass
class CountsData:
    """What a counts file holds."""

    order: int
    words: list[str]
    table: Counts
    sentences: int
    tokens: int


def encode_varints(values: np.ndarray) -> bytes:
    """Unsigned LEB128 of each value, one after another.

    Example:
        >>> encode_varints(np.array([0, 127, 128, 300], dtype=np.uint64)).hex()
        '007f8001ac02'
    """
    x = np.asarray(values, dtype=np.uint64)
    sizes = np.ones(x.size, dtype=np.int64)
    rest = x >> np.uint64(7)
    while rest.any():
        sizes += rest > 0
        rest >>= np.uint64(7)
    starts = np.cumsum(sizes) - sizes
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    for k in range(int(sizes.max(initial=0))):
        has = sizes > k
        byte = (x[has] >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = (sizes[has] > k + 1).astype(np.uint64) << np.uint64(7)
        out[starts[has] + k] = (byte | more).astype(np.uint8)
    return out.tobytes()


class _Reader:
    """Bounds-checked reading of the payload (the bytes before the checksum)."""

    def __init__(self, data: bytes, path: Optional[Path]) -> None:
        self.data = np.frombuffer(data, dtype=np.uint8)
        self.raw = data
        self.at = 0
        self.path = path

    def error(self, message: str) -> FormatError:
        where = f" {self.path}" if self.path is not None else ""
        return FormatError(f"malformed rnnrs n-gram counts{where}: {message}")

    def left(self) -> int:
        return len(self.raw) - self.at

    def take(self, n: int) -> bytes:
        if n > self.left():
            raise self.error("the data is truncated")
        out = self.raw[self.at : self.at + n]
        self.at += n
        return out

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def varints(self, count: int, end: Optional[int] = None) -> np.ndarray:
        """The next ``count`` varints (all before ``end`` when given, which they must fill)."""
        stop = len(self.raw) if end is None else end
        window = self.data[self.at : stop]
        ends = np.flatnonzero(window < 0x80)
        if count == 0:
            used = 0
        elif ends.size < count:
            raise self.error("the data is truncated")
        else:
            used = int(ends[count - 1]) + 1
        if end is not None and used != stop - self.at:
            raise self.error("an order's byte length does not match its entries")
        chunk = window[:used]
        first = np.zeros(used, dtype=bool)
        if used:
            first[0] = True
            first[1:] = chunk[:-1] < 0x80
        starts = np.flatnonzero(first)
        position = np.arange(used) - np.repeat(starts, np.diff(np.append(starts, used)))
        if position.size and (position.max() > 9 or (chunk[position == 9] > 1).any()):
            raise self.error("a number is longer than 64 bits")
        shifted = (chunk & 0x7F).astype(np.uint64) << (7 * position).astype(np.uint64)
        self.at += used
        if count == 0:
            return np.zeros(0, dtype=np.uint64)
        return np.bitwise_or.reduceat(shifted, starts)


def to_bytes(order: int, words: Sequence[str], table: Counts, sentences: int, tokens: int) -> bytes:
    """Counts in the counts format (the same bytes as the Rust engine's ``to_bytes``)."""
    out = bytearray(
        _HEAD.pack(MAGIC, VERSION, order, BOUNDARIES_PADDED, len(words), sentences, tokens)
    )
    for w in words:
        b = w.encode("utf-8")
        out += encode_varints(np.array([len(b)], dtype=np.uint64)) + b
    unigrams = [table[0].get((i,), 0) for i in range(len(words))]
    out += encode_varints(np.array(unigrams, dtype=np.uint64))
    index_below: dict[tuple[int, ...], int] = {}
    for n in range(2, order + 1):
        grams = sorted(table[n - 1].items())
        parent = np.array(
            [g[0] if n == 2 else index_below[g[:-1]] for g, _ in grams], dtype=np.int64
        )
        word = np.array([g[-1] for g, _ in grams], dtype=np.int64)
        counts = np.array([c for _, c in grams], dtype=np.uint64)
        step = np.diff(parent, prepend=0)
        same = step == 0
        if same.size:
            same[0] = False
        field = np.where(same, word - np.concatenate(([0], word[:-1])) - 1, word)
        fields = np.stack([step.astype(np.uint64), field.astype(np.uint64), counts], axis=1)
        body = encode_varints(fields.ravel())
        out += struct.pack("<QQ", len(grams), len(body)) + body
        index_below = {g: i for i, (g, _) in enumerate(grams)}
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


def from_bytes(data: bytes, path: Optional[Path] = None) -> CountsData:
    """Read counts; malformed, truncated or corrupt data, another version or counting
    convention raise :class:`rnnrs.FormatError` (as the Rust reader, message for message)."""
    r = _Reader(bytes(data), path)
    if r.raw[:8] != MAGIC:
        raise r.error("not rnnrs n-gram counts (bad magic bytes)")
    if len(r.raw) < _HEAD.size + 4:
        raise r.error("the data is truncated")
    _, version, order, boundaries, size, sentences, tokens = _HEAD.unpack_from(r.raw)
    if version != VERSION:
        raise r.error(f"version {version}; this rnnrs reads version {VERSION}")
    payload = r.raw[:-4]
    if zlib.crc32(payload) != struct.unpack("<I", r.raw[-4:])[0]:
        raise r.error("checksum mismatch: the data is corrupt or truncated")
    r = _Reader(payload, path)
    r.at = _HEAD.size
    if not 1 <= order <= MAX_ORDER:
        raise r.error(f"bad order {order}")
    if boundaries != BOUNDARIES_PADDED:
        raise r.error(
            f"counted with sentence-boundary convention {boundaries}; this rnnrs counts and "
            f"reads only convention {BOUNDARIES_PADDED} (<s> w1 .. wk </s>)"
        )
    if size < len(SPECIAL_WORDS) or 2 * size > r.left():
        raise r.error(f"a vocabulary of {size} words does not fit the data")
    words: list[str] = []
    seen: set[str] = set()
    for i in range(size):
        n = int(r.varints(1)[0])
        if n == 0 or n > r.left():
            raise r.error(f"word {i} has a bad length {n}")
        try:
            word = r.take(n).decode("utf-8")
        except UnicodeDecodeError:
            word = " "
        if not word or any(c.isspace() for c in word):
            raise r.error(f"word {i} is not one UTF-8 token")
        expected = SPECIAL_WORDS[i] if i < len(SPECIAL_WORDS) else None
        if (expected is not None and word != expected) or (expected is None and word in seen):
            raise r.error(f"bad or duplicate word {word!r} (id {i})")
        seen.add(word)
        words.append(word)
    if size > r.left():
        raise r.error("the unigram counts are truncated")
    unigrams = r.varints(size).tolist()
    table: Counts = [{(i,): c for i, c in enumerate(unigrams) if c > 0}]
    below: list[tuple[int, ...]] = [(i,) for i in range(size)]
    for n in range(2, order + 1):
        entries, nbytes = r.u64(), r.u64()
        if nbytes > r.left() or 3 * entries > nbytes:
            raise r.error(
                f"the {n}-grams ({entries} entries in {nbytes} bytes) do not fit the data"
            )
        fields = r.varints(3 * entries, r.at + nbytes).reshape(-1, 3)
        limit = len(below)
        # Clipped so that the sums below cannot overflow; a clipped number stays out of range.
        step = np.minimum(fields[:, 0], limit).astype(np.int64)
        field = np.minimum(fields[:, 1], size).astype(np.int64)
        counts = fields[:, 2]
        parent = np.cumsum(step)
        new_parent = step > 0
        if new_parent.size:
            new_parent[0] = True
        # Within a parent's run the words are steps from the previous word plus one.
        run = np.cumsum(new_parent) - 1
        starts = np.flatnonzero(new_parent)
        increments = np.where(new_parent, field, field + 1)
        word = np.cumsum(increments) - np.repeat(
            np.cumsum(increments)[starts] - field[starts], np.bincount(run)
        )
        bad = (parent >= limit) | (word >= size) | (word == BOS) | (counts == 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise r.error(
                f"bad entry {i} (parent {parent[i]}, word {word[i]}, count {counts[i]})"
            )
        grams = [(*below[p], w) for p, w in zip(parent.tolist(), word.tolist())]
        if any(g[-2] == EOS for g in grams):
            raise r.error(f"a {n}-gram continues after </s>")
        table.append(dict(zip(grams, counts.tolist())))
        below = grams
    if r.left():
        raise r.error(f"{r.left()} bytes after the last order")
    bos = unigrams[BOS]
    if bos != sentences or sum(unigrams) - bos != tokens:
        raise r.error("the sentence and token totals do not match the unigram counts")
    return CountsData(order, words, table, sentences, tokens)


def save(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temporary name, then a rename)."""
    with atomic_open(Path(path), "wb") as f:
        f.write(data)


def load(path: Path) -> CountsData:
    """Read a counts file (see :func:`from_bytes`)."""
    return from_bytes(Path(path).read_bytes(), Path(path))
