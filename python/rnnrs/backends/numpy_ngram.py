"""The NumPy-backend engines of ``NGramCounts`` and ``NGramLM``: the same methods as
``rnnrs._core.NGramCounts`` / ``rnnrs._core.NGramModel``, built on the pure-Python
reference (``rnnrs.reference.ngram``), ARPA text (``rnnrs.backends.arpa``), the binary
form (``rnnrs.backends.ngram_binary``) and the counts file
(``rnnrs.backends.ngram_counts_file``). Slower, same numbers.

Example:
    >>> c = RefNGramCounts(2)
    >>> c.add_lines(["a b", "b a"])
    >>> c.count(["a", "b"]), c.num_ngrams()
    (1, [4, 6])
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import FormatError
from ..reference.ngram import (
    BOS,
    EOS,
    SPECIAL_WORDS,
    Counts,
    Model,
    Smoothing,
    count_ngrams,
    counts_of_counts,
    estimate,
    logprob10,
    merge_counts,
    ngram_length,
)
from . import arpa, ngram_binary, ngram_counts_file

MAX_ORDER = 16
METHOD_ALIASES = {"laplace": "add_k"}


def check_order(order: int) -> None:
    """Raise ValueError unless 1 <= order <= MAX_ORDER."""
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise ValueError(f"order: must be between 1 and {MAX_ORDER}, got {order!r}")


def read_text(path: Path) -> str:
    """The UTF-8 text of a file (FormatError naming the line and byte when it is not UTF-8,
    as ``NGramCounts::add_file`` in src/ngram/counts.rs)."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = 1 + data.count(b"\n", 0, exc.start)
        raise FormatError(
            f"malformed text file {path} at line {line}: not UTF-8 (byte {exc.start})"
        ) from None


class Vocabulary:
    """Words <-> ids with the specials first."""

    def __init__(self, words: Sequence[str] = SPECIAL_WORDS) -> None:
        self.words: list[str] = []
        self.index: dict[str, int] = {}
        for w in words:
            self.intern(w)

    def intern(self, word: str) -> int:
        i = self.index.get(word)
        if i is None:
            i = self.index[word] = len(self.words)
            self.words.append(word)
        return i


class RefNGramCounts:
    """Raw counts of orders 1..order (dicts keyed by id tuples)."""

    def __init__(self, order: int) -> None:
        check_order(order)
        self.order = order
        self.vocabulary = Vocabulary()
        self.table: Counts = [{} for _ in range(order)]
        self.tokens = 0
        self.sentences = 0

    def _add_sentences(self, sentences: list[list[int]]) -> None:
        self.table = merge_counts(self.table, count_ngrams(sentences, self.order))
        self.sentences += len(sentences)
        self.tokens += sum(len(s) + 1 for s in sentences)

    def add_lines(self, lines: Sequence[str]) -> None:
        intern = self.vocabulary.intern
        sentences = [[intern(t) for t in line.split()] for line in lines]
        self._add_sentences([s for s in sentences if s])

    def add_file(self, path: Path) -> None:
        self.add_lines(read_text(path).split("\n"))  # as Rust: lines end at \\n only

    def add_ids(self, ids: np.ndarray) -> None:
        sentences: list[list[int]] = [[]]
        size = len(self.vocabulary.words)
        for position, w in enumerate(ids.tolist()):
            if w >= size or w == BOS:
                what = "<s>, which is added, never given" if w == BOS else "out of range"
                raise ValueError(
                    f"ids: id {w} at position {position} is {what} (the vocabulary has "
                    f"{size} words)"
                )
            if w == EOS:
                sentences.append([])
            else:
                sentences[-1].append(w)
        complete = sentences[:-1] if not sentences[-1] else sentences
        self._add_sentences(complete)

    def merge(self, other: RefNGramCounts) -> None:
        if other.order != self.order:
            raise ValueError(
                f"other: counts of order {other.order} cannot merge into order {self.order}"
            )
        remap = [self.vocabulary.intern(w) for w in other.vocabulary.words]
        moved = [{tuple(remap[i] for i in g): c for g, c in t.items()} for t in other.table]
        self.table = merge_counts(self.table, moved)
        self.tokens += other.tokens
        self.sentences += other.sentences

    def count(self, words: Sequence[str]) -> int:
        if not words or len(words) > self.order:
            return 0
        index = self.vocabulary.index
        if any(w not in index for w in words):
            return 0
        return self.table[len(words) - 1].get(tuple(index[w] for w in words), 0)

    def num_ngrams(self) -> list[int]:
        return [len(t) for t in self.table]

    def counts_of_counts(self, n: int) -> list[int]:
        if not 1 <= n <= self.order:
            raise ValueError(f"n: must be in 1..={self.order}, got {n}")
        return counts_of_counts(self.table[n - 1])[1:]

    def vocab(self) -> list[str]:
        return list(self.vocabulary.words)

    def memory_bytes(self) -> int:
        return sum(sys.getsizeof(t) + 120 * len(t) for t in self.table)

    def to_bytes(self) -> bytes:
        return ngram_counts_file.to_bytes(
            self.order, self.vocabulary.words, self.table, self.sentences, self.tokens
        )

    @staticmethod
    def _from_data(data: ngram_counts_file.CountsData) -> RefNGramCounts:
        counts = RefNGramCounts(data.order)
        counts.vocabulary = Vocabulary(data.words)
        counts.table = data.table
        counts.sentences, counts.tokens = data.sentences, data.tokens
        return counts

    @staticmethod
    def from_bytes(data: bytes) -> RefNGramCounts:
        return RefNGramCounts._from_data(ngram_counts_file.from_bytes(data))

    def save(self, path: Path) -> None:
        ngram_counts_file.save(Path(path), self.to_bytes())

    @staticmethod
    def load(path: Path) -> RefNGramCounts:
        return RefNGramCounts._from_data(ngram_counts_file.load(Path(path)))


class RefNGramModel:
    """A backoff model as dicts: ``model[n - 1][ids] = [log10 p, log10 backoff]``."""

    def __init__(
        self, model: Model, words: list[str], method: str, stupid_alpha: Optional[float]
    ) -> None:
        self.model = model
        self.vocabulary = Vocabulary(words)
        self.order = len(model)
        self.method = method
        self.stupid_alpha = stupid_alpha

    @staticmethod
    def estimate(
        counts: RefNGramCounts,
        method: str,
        *,
        k: float = 1.0,
        discount: Optional[float] = None,
        alpha: float = 0.4,
        discount_fallback: bool = False,
        min_counts: Sequence[int] = (),
        consume: bool = False,
    ) -> RefNGramModel:
        method = METHOD_ALIASES.get(method, method)
        check_smoothing_args(counts.order, k, discount, alpha, min_counts)
        if counts.tokens == 0:
            raise ValueError("corpus: is empty: no sentence has a token")
        smoothing = Smoothing(method, k, discount, alpha, discount_fallback, tuple(min_counts))
        model = estimate(counts.table, len(counts.vocabulary.words), smoothing)
        stupid = alpha if method == "stupid_backoff" else None
        words = counts.vocab()
        if consume:  # as the Rust engine: the counts are emptied
            counts.__init__(counts.order)  # type: ignore[misc]
        return RefNGramModel(model, words, method, stupid)

    @staticmethod
    def from_arpa(path: Path) -> RefNGramModel:
        model, words = arpa.read_arpa(Path(path))
        return RefNGramModel(model, words, "arpa", None)

    @staticmethod
    def load(path: Path, *, verify: bool = True) -> RefNGramModel:
        model, words, method, stupid = ngram_binary.load(Path(path), verify=verify)
        return RefNGramModel(model, words, method, stupid)

    def to_arpa(self, path: Path) -> None:
        if self.stupid_alpha is not None:
            raise ValueError(
                "model: stupid_backoff holds scores, not probabilities: an ARPA file would "
                "mislead other tools; save it with save() (rnnrs's binary form) instead"
            )
        arpa.write_arpa(Path(path), self.model, self.vocabulary.words)

    def save(self, path: Path) -> None:
        ngram_binary.save(
            Path(path), self.model, self.vocabulary.words, self.method, self.stupid_alpha
        )

    def vocab(self) -> list[str]:
        return list(self.vocabulary.words)

    def num_ngrams(self) -> list[int]:
        out = [len(self.vocabulary.words)]
        for table in self.model[1:]:
            out.append(sum(1 for e in table.values() if e[0] != math.inf))
        return out

    def memory_bytes(self) -> int:
        return sum(sys.getsizeof(t) + 150 * len(t) for t in self.model)

    def word_ids(self, words: Sequence[str]) -> np.ndarray:
        index = self.vocabulary.index
        return np.array([index.get(w, 0) for w in words], dtype=np.uint32)

    def encode_lines(self, lines: Sequence[str]) -> np.ndarray:
        index = self.vocabulary.index
        ids: list[int] = []
        for line in lines:
            tokens = line.split()
            if tokens:
                ids.extend(index.get(t, 0) for t in tokens)
                ids.append(EOS)
        return np.array(ids, dtype=np.uint32)

    def _check_ids(self, ids: Sequence[int], name: str) -> None:
        size = len(self.vocabulary.words)
        for position, w in enumerate(ids):
            if not 0 <= w < size:
                raise ValueError(
                    f"{name}: id {w} at position {position} is out of range (the vocabulary "
                    f"has {size} words)"
                )

    def _in_context(self, ids: np.ndarray) -> Iterator[tuple[list[int], int]]:
        """Each token of a stream of sentences with the words before it (from ``<s>``)."""
        stream = ids.tolist()
        self._check_ids(stream, "ids")
        context: list[int] = [BOS]
        keep = self.order - 1
        for i, w in enumerate(stream):
            if w == BOS:
                raise ValueError(
                    f"ids: <s> (id {BOS}) at position {i}: sentences start by themselves"
                )
            yield context, w
            context = [BOS] if w == EOS else [*context, w][max(0, len(context) + 1 - keep) :]

    def score_ids(self, ids: np.ndarray) -> np.ndarray:
        scores = [logprob10(self.model, c, w, self.stupid_alpha) for c, w in self._in_context(ids)]
        return np.array(scores, dtype=np.float64)

    def ngram_lengths(self, ids: np.ndarray) -> np.ndarray:
        lengths = [ngram_length(self.model, c, w) for c, w in self._in_context(ids)]
        return np.array(lengths, dtype=np.uint8)

    def total_ids(self, ids: np.ndarray) -> float:
        return float(self.score_ids(ids).sum())

    def _context(self, context: Sequence[int], bos: bool) -> list[int]:
        self._check_ids(context, "context")
        ctx = [BOS, *context] if bos else list(context)
        return ctx[max(0, len(ctx) - (self.order - 1)) :] if self.order > 1 else []

    def logprob(self, context: Sequence[int], word: int, bos: bool) -> float:
        self._check_ids([word], "word")
        if word == BOS:
            return -math.inf
        return logprob10(self.model, self._context(context, bos), word, self.stupid_alpha)

    def distribution(self, context: Sequence[int], bos: bool) -> np.ndarray:
        ctx = self._context(context, bos)
        out = np.array(
            [
                logprob10(self.model, ctx, w, self.stupid_alpha)
                for w in range(len(self.vocabulary.words))
            ]
        )
        out[BOS] = -math.inf
        return out


def check_smoothing_args(
    order: int, k: float, discount: Optional[float], alpha: float, min_counts: Sequence[int]
) -> None:
    """The argument checks of ``estimate`` (the Rust engine makes the same)."""
    if not (math.isfinite(k) and k > 0):
        raise ValueError(f"k: must be > 0, got {k}")
    if discount is not None and not 0 < discount <= 1:
        raise ValueError(f"discount: must be in (0, 1], got {discount}")
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha: must be in (0, 1], got {alpha}")
    m = list(min_counts)
    if m:
        if len(m) != order:
            raise ValueError(
                f"min_counts: expected one threshold per order ({order}), got {len(m)}"
            )
        if m[0] > 1:
            raise ValueError(
                "min_counts: unigrams are never pruned: the first threshold must be 0 or 1"
            )
        if any(b < a for a, b in zip(m[1:], m[2:])):
            raise ValueError(f"min_counts: thresholds must not decrease with the order, got {m}")
