"""Byte-level BPE in pure Python: the specification of ``src/text/`` and the NumPy-backend path.

Ids 0..255 are the bytes themselves; the merge of rank ``r`` (0-based) creates id ``256 + r``.

**Pre-tokenization.** Text is split into pieces and merges never cross a piece boundary, so
they stay within words. Each character is in one class: *space* (the 25 Unicode White_Space
code points), *digit* (ASCII 0-9), *other* (ASCII punctuation and controls, plus the fixed
ranges in :data:`OTHER_RANGES`: Latin-1 punctuation, general punctuation, symbols, arrows,
CJK and full-width punctuation, emoji, variation selectors, tags) and *letter* (everything
else). The classes are fixed tables, not Unicode-database look-ups, so Python and Rust split
identically. Pieces follow GPT-2's pattern with those classes:
``'s|'t|'re|'ve|'m|'ll|'d| ?L+| ?D+| ?O+|S+(?!\\S)|S+``.

**Training.** Pre-tokens are counted (duplicates collapse into one word with a frequency);
each step merges the adjacent pair with the highest count over all words (overlapping
occurrences counted, as a plain pair count does), ties broken by the smallest
``(left, right)`` ids. Within a word, a merge replaces every occurrence left to right.
Counts are updated only around each merged occurrence; a max-heap with lazy invalidation
finds the best pair. Training stops at ``vocab_size`` ids or when the best count falls below
``min_frequency``.

**Encoding.** Each piece starts as its bytes; the adjacent pair of lowest rank is merged
(every occurrence, left to right) until no pair has a rank.

Example:
    >>> from rnnrs.reference.bpe import BpeTrainer, BpeEncoder
    >>> trainer = BpeTrainer()
    >>> trainer.feed(["low lower lowest"])
    >>> merges = trainer.train(258, min_frequency=1)
    >>> [bytes([a]) + bytes([b]) if max(a, b) < 256 else (a, b) for a, b in merges]
    [b'lo', (256, 119)]
    >>> BpeEncoder(merges).encode("low").tolist()
    [257]
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np

BYTE_VOCAB = 256

SPACES = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

OTHER_RANGES: tuple[tuple[int, int], ...] = (
    (0x80, 0xA9),
    (0xAB, 0xB4),
    (0xB6, 0xB9),
    (0xBB, 0xBF),
    (0xD7, 0xD7),
    (0xF7, 0xF7),
    (0x2000, 0x2BFF),
    (0x3000, 0x3004),
    (0x3006, 0x303F),
    (0xFE00, 0xFE0F),
    (0xFE30, 0xFE4F),
    (0xFF01, 0xFF0F),
    (0xFF1A, 0xFF20),
    (0xFF3B, 0xFF40),
    (0xFF5B, 0xFF65),
    (0x1F000, 0x1FAFF),
    (0xE0000, 0xE007F),
)


def _char_class_pattern() -> tuple[str, str, str, str]:
    """Regex character classes (without brackets) for space, digit, other, letter."""
    space = "".join(f"\\U{ord(c):08x}" for c in SPACES)
    ascii_other = "".join(
        f"\\x{i:02x}" for i in range(128) if not chr(i).isalnum() and chr(i) not in SPACES
    )
    ranges = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in OTHER_RANGES)
    # Spaces are classified first, so "other" excludes them explicitly.
    other = f"{ascii_other}{ranges}"
    return space, "0-9", other, f"{space}0-9{other}"


def _compile_pattern() -> re.Pattern[str]:
    space, digit, other, not_letter = _char_class_pattern()
    s, d = f"[{space}]", f"[{digit}]"
    o = f"(?:(?![{space}])[{other}])"
    letter = f"[^{not_letter}]"
    return re.compile(rf"'(?:re|ve|ll|[stmd])| ?{letter}+| ?{d}+| ?{o}+|{s}+(?![^{space}])|{s}+")


PATTERN = _compile_pattern()


def pretokenize(text: str) -> list[str]:
    """Split ``text`` into pre-tokens; concatenated they give back ``text``.

    Rust: src/text/pretokenize.rs (pretokenize).

    Example:
        >>> pretokenize("Hello world, it's 2024!")
        ['Hello', ' world', ',', ' it', "'s", ' 2024', '!']
    """
    return PATTERN.findall(text)


def _merge_word(
    word: list[int],
    pair: tuple[int, int],
    new_id: int,
    changes: Counter[tuple[int, int]],
    freq: int,
) -> None:
    """Merge every occurrence of ``pair`` in ``word`` left to right, in place, recording the
    change of each adjacent-pair count (times ``freq``) in ``changes``."""
    a, b = pair
    i = 0
    while i + 1 < len(word):
        if word[i] == a and word[i + 1] == b:
            if i > 0:
                prev = word[i - 1]
                changes[(prev, a)] -= freq
                changes[(prev, new_id)] += freq
            if i + 2 < len(word):
                nxt = word[i + 2]
                changes[(b, nxt)] -= freq
                changes[(new_id, nxt)] += freq
            changes[pair] -= freq
            word[i : i + 2] = [new_id]
        i += 1


class BpeTrainer:
    """Counts pre-tokens of fed texts, then learns merges (same interface as the Rust one).

    Rust: src/text/bpe.rs (BpeTrainer).
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    @property
    def num_words(self) -> int:
        """Number of distinct pre-tokens counted so far."""
        return len(self._counts)

    def feed(self, texts: Iterable[str]) -> None:
        """Count the pre-tokens of ``texts``."""
        for text in texts:
            self._counts.update(pretokenize(text))

    def train(self, vocab_size: int, *, min_frequency: int = 2) -> list[tuple[int, int]]:
        """Learn merges until ``vocab_size`` ids or no pair occurs ``min_frequency`` times."""
        if vocab_size < BYTE_VOCAB:
            raise ValueError(
                f"vocab_size: must be at least {BYTE_VOCAB} (the byte alphabet), got {vocab_size}"
            )
        if not self._counts:
            raise ValueError("texts: no text to train on (all texts were empty)")
        pieces = sorted(self._counts)
        words = [list(p.encode("utf-8")) for p in pieces]
        freqs = [self._counts[p] for p in pieces]
        counts: Counter[tuple[int, int]] = Counter()
        where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)
        for w, (word, f) in enumerate(zip(words, freqs)):
            for pair in zip(word, word[1:]):
                counts[pair] += f
                where[pair].add(w)
        heap = [(-c, pair) for pair, c in counts.items()]
        heapq.heapify(heap)
        merges: list[tuple[int, int]] = []
        min_count = max(1, min_frequency)
        while len(merges) < vocab_size - BYTE_VOCAB and heap:
            neg, pair = heapq.heappop(heap)
            current = counts.get(pair, 0)
            if current != -neg:
                if current > 0:
                    heapq.heappush(heap, (-current, pair))
                continue
            if current < min_count:
                break
            new_id = BYTE_VOCAB + len(merges)
            merges.append(pair)
            changes: Counter[tuple[int, int]] = Counter()
            for w in sorted(where.pop(pair, ())):
                _merge_word(words[w], pair, new_id, changes, freqs[w])
                for p in zip(words[w], words[w][1:]):
                    if new_id in p:
                        where[p].add(w)
            for p, delta in changes.items():
                counts[p] += delta
                if delta > 0 and counts[p] > 0:
                    heapq.heappush(heap, (-counts[p], p))
            counts.pop(pair, None)
        return merges


class BpeEncoder:
    """Encodes text with a fixed list of merges (same interface as the Rust one).

    Rust: src/text/bpe.rs (BpeModel::encode).
    """

    def __init__(self, merges: Iterable[tuple[int, int]]) -> None:
        self._ranks: dict[tuple[int, int], int] = {}
        for r, (a, b) in enumerate(merges):
            limit = BYTE_VOCAB + r
            if not (0 <= a < limit and 0 <= b < limit):
                raise ValueError(
                    f"merges: merge {r} ({a}, {b}) uses an id not defined before it (< {limit})"
                )
            if (a, b) in self._ranks:
                raise ValueError(f"merges: merge {r} ({a}, {b}) appears twice")
            self._ranks[(a, b)] = r
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        """Number of ids: 256 bytes + merges."""
        return BYTE_VOCAB + len(self._ranks)

    def _encode_piece(self, piece: str) -> list[int]:
        word = list(piece.encode("utf-8"))
        ranks = self._ranks
        while len(word) > 1:
            ranked = [(ranks[p], p) for p in zip(word, word[1:]) if p in ranks]
            if not ranked:
                break
            rank, pair = min(ranked)
            merged: list[int] = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
                    merged.append(BYTE_VOCAB + rank)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        return word

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text`` as a uint32 array."""
        out: list[int] = []
        cache = self._cache
        for piece in pretokenize(text):
            ids = cache.get(piece)
            if ids is None:
                ids = self._encode_piece(piece)
                if len(cache) < 100_000:
                    cache[piece] = ids
            out.extend(ids)
        return np.asarray(out, dtype=np.uint32)

    def encode_batch(self, texts: Iterable[str]) -> list[np.ndarray]:
        """The ids of each text."""
        return [self.encode(t) for t in texts]
