"""rnnrs's binary n-gram file for the NumPy backend: the very layout src/ngram/binary.rs
writes and memory-maps (described there and in docs/ngram.md), read and written with
NumPy, so files move freely between the backends. The last 8 bytes hold the CRC-32
(``zlib.crc32``) of every byte before them; loading checks it and every value unless told
not to (``verify=False``), the only way to read version 1 (no checksum).

Example:
    >>> import tempfile, pathlib
    >>> model = [{(0,): [-1.0, 0.0], (1,): [0.0, -0.5], (2,): [-0.2, 0.0]}, {(1, 2): [-0.1, 0.0]}]
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.bin"
    >>> save(path, model, ["<unk>", "<s>", "</s>"], "mle", None)
    >>> load(path)[0][1]
    {(1, 2): [-0.1, 0.0]}
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import FormatError
from ..io.atomic import atomic_open
from ..reference.ngram import Model

MAGIC = b"RNNRSNGM"
VERSION = 2
VERSION_UNCHECKED = 1
CHECKSUM = struct.Struct("<Q")
BOM = 0x01020304
EMPTY = (1 << 64) - 1
_MASK = EMPTY
SLOT = np.dtype(
    [("key", "<u8"), ("prob", "<f8"), ("bow", "<f8"), ("prefix", "<u4"), ("word", "<u4")]
)
PROB_BOW = np.dtype([("prob", "<f8"), ("bow", "<f8")])


def combine(prefix: int, word: int) -> int:
    """The hash of an n-gram from its prefix's hash and last word (as src/ngram/store.rs).

    Example:
        >>> combine(unigram_key(3), 4) == combine(unigram_key(3), 4) != combine(unigram_key(4), 3)
        True
    """
    z = ((prefix << 21) | (prefix >> 43)) & _MASK
    z = (z + (word + 1) * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    h = z ^ (z >> 31)
    return EMPTY - 1 if h == EMPTY else h


def unigram_key(word: int) -> int:
    """The hash of a unigram."""
    return combine(0x5851F42D4C957F2D, word)


def _pad8(n: int) -> bytes:
    return b"\0" * ((8 - n % 8) % 8)


def _table(model: Model, n: int, keys: dict, slots_below: dict) -> tuple[np.ndarray, dict, int]:
    """The probing table of order n: slots, each n-gram's slot index, and the real count."""
    grams = model[n - 1]
    capacity = max(2, 1 << (len(grams) + len(grams) // 2).bit_length())
    slots = np.zeros(capacity, dtype=SLOT)
    slots["key"] = EMPTY
    where: dict[tuple[int, ...], int] = {}
    for gram, (prob, bow) in grams.items():
        key = combine(keys[gram[:-1]], gram[-1])
        keys[gram] = key
        i = key & (capacity - 1)
        while slots["key"][i] != EMPTY:
            i = (i + 1) & (capacity - 1)
        prefix = gram[0] if n == 2 else slots_below[gram[:-1]]
        slots[i] = (key, prob, bow, prefix, gram[-1])
        where[gram] = i
    real = sum(1 for e in grams.values() if e[0] != math.inf)
    return slots, where, real


def _with_prefixes(model: Model) -> Model:
    """A copy where every n-gram's prefix is present (blank entries, prob +inf, added)."""
    out = [dict(t) for t in model]
    for n in range(len(model), 2, -1):
        for gram in list(out[n - 1]):
            out[n - 2].setdefault(gram[:-1], [math.inf, 0.0])
    return out


def save(
    path: Path, model: Model, words: Sequence[str], method: str, stupid: Optional[float]
) -> None:
    """Write the binary form atomically."""
    model = _with_prefixes(model)
    order = len(model)
    keys: dict[tuple[int, ...], int] = {(w,): unigram_key(w) for w in range(len(words))}
    tables = []
    below: dict = {}
    for n in range(2, order + 1):
        slots, below, real = _table(model, n, keys, below)
        tables.append((slots, real))
    uni = np.zeros(len(words), dtype=PROB_BOW)
    for (w,), (prob, bow) in model[0].items():
        uni[w] = (prob, bow)
    m = method.encode()
    head = MAGIC + struct.pack(
        "<6Id", VERSION, BOM, order, len(words), stupid is not None, len(m), stupid or 0.0
    )
    for slots, real in tables:
        head += struct.pack("<QQ", len(slots), real)
    vocab = b"".join(struct.pack("<I", len(w.encode())) + w.encode() for w in words)
    parts = [
        head + m + _pad8(len(m)),
        struct.pack("<Q", len(vocab)) + vocab + _pad8(len(vocab)),
        uni.tobytes(),
        *(slots.tobytes() for slots, _ in tables),
    ]
    crc = 0
    with atomic_open(path, "wb") as f:
        for part in parts:
            f.write(part)
            crc = zlib.crc32(part, crc)
        f.write(CHECKSUM.pack(crc))


def _check_values(uni: np.ndarray, tables: list[np.ndarray], vsize: int) -> Optional[str]:
    """What is wrong with the values of a loaded file (None: nothing), as src/ngram/binary.rs
    (check_values): log10 probabilities <= 0, or +inf in a context-only entry of a higher
    order; backoffs not NaN or +inf; words and prefixes in range."""
    bad = np.isnan(uni["prob"]) | (uni["prob"] > 0) | np.isnan(uni["bow"]) | (uni["bow"] == np.inf)
    if bad.any():
        w = int(np.flatnonzero(bad)[0])
        return (
            f"word {w} has log10 probability {uni['prob'][w]} and backoff {uni['bow'][w]}: "
            "expected a probability <= 0 and a backoff that is not NaN or +inf"
        )
    below = vsize
    for n, slots in enumerate(tables, 2):
        prob, bow = slots["prob"], slots["bow"]
        bad = (slots["key"] != EMPTY) & (
            np.isnan(prob)
            | ((prob > 0) & (prob != np.inf))
            | np.isnan(bow)
            | (bow == np.inf)
            | (slots["word"] >= vsize)
            | (slots["prefix"] >= below)
        )
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _, p, b, prefix, word = slots[i].tolist()
            return (
                f"slot {i} of order {n} holds log10 probability {p}, backoff {b}, word {word}, "
                f"prefix {prefix}: not a valid entry"
            )
        below = len(slots)
    return None


def load(path: Path, *, verify: bool = True) -> tuple[Model, list[str], str, Optional[float]]:
    """Read the binary form: the model as dicts, its words, method and stupid alpha; with
    ``verify``, the checksum and every value are checked first."""
    data = path.read_bytes()

    def bad(message: str) -> FormatError:
        return FormatError(f"malformed rnnrs binary n-gram model {path}: {message}")

    try:
        if data[:8] != MAGIC:
            raise bad("not an rnnrs n-gram model (bad magic bytes)")
        version, bom, order, vsize, has_alpha, mlen, alpha = struct.unpack_from("<6Id", data, 8)
        if version == VERSION:
            if len(data) < CHECKSUM.size:
                raise bad("the file is truncated")
            body = len(data) - CHECKSUM.size
            (stored,) = CHECKSUM.unpack_from(data, body)
            if verify and zlib.crc32(memoryview(data)[:body]) != stored:
                raise bad(
                    "the checksum does not match: the file is damaged, truncated or was modified"
                )
            data = data[:body]
        elif version != VERSION_UNCHECKED:
            raise bad(f"version {version}; this rnnrs reads version {VERSION}")
        elif verify:
            raise bad(
                "version 1, written before rnnrs checksummed its binary models: it cannot be "
                "verified; load it with verify=False (rnnrs ngram: --no-verify) if you trust "
                "it, and save it again to add a checksum"
            )
        if bom != BOM:
            raise bad("written on a machine of the other byte order")
        at = 8 + 32
        sizes = []
        for _ in range(2, order + 1):
            sizes.append(struct.unpack_from("<QQ", data, at))
            at += 16
        method = data[at : at + mlen].decode()
        at += mlen + (8 - mlen % 8) % 8
        (total,) = struct.unpack_from("<Q", data, at)
        at += 8
        end = at + total
        words = []
        while at < end:
            (n,) = struct.unpack_from("<I", data, at)
            words.append(data[at + 4 : at + 4 + n].decode())
            at += 4 + n
        at = end + (8 - total % 8) % 8
        uni = np.frombuffer(data, dtype=PROB_BOW, count=vsize, offset=at)
        at += vsize * PROB_BOW.itemsize
        model: Model = [{(w,): [float(p), float(b)] for w, (p, b) in enumerate(uni.tolist())}]
        all_slots = []
        for capacity, _ in sizes:
            all_slots.append(np.frombuffer(data, dtype=SLOT, count=capacity, offset=at))
            at += capacity * SLOT.itemsize
        if at != len(data):
            raise bad("the file is longer than its tables")
        if len(words) != vsize:
            raise bad("the vocabulary does not match its size")
        problem = _check_values(uni, all_slots, vsize) if verify else None
        if problem is not None:
            raise bad(problem)
        grams_below: list[tuple[int, ...]] = []
        for n, slots in enumerate(all_slots, 2):
            capacity = len(slots)
            table: dict[tuple[int, ...], list[float]] = {}
            gram_at: list[tuple[int, ...]] = [()] * capacity
            for i in np.flatnonzero(slots["key"] != EMPTY).tolist():
                _, prob, bow, prefix, word = slots[i].tolist()
                head = (prefix,) if n == 2 else grams_below[prefix]
                gram = (*head, word)
                gram_at[i] = gram
                table[gram] = [prob, bow]
            model.append(table)
            grams_below = gram_at
    except FormatError:
        raise
    except (struct.error, ValueError, IndexError, OverflowError, UnicodeDecodeError) as exc:
        raise bad(f"truncated or corrupt ({exc})") from None
    return model, words, method, (alpha if has_alpha else None)
