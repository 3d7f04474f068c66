"""Pretrained word vectors: :class:`WordVectors`, read and written in the GloVe and word2vec
formats, with cosine similarity, nearest neighbours and analogies.

The formats, as gensim's ``KeyedVectors.load_word2vec_format`` / ``save_word2vec_format``
read and write them (so files travel both ways):

- GloVe text: one word per line, then its values, separated by single spaces; no header
  (gensim: ``no_header=True``).
- word2vec text: a header line ``<count> <dimension>``, then lines as GloVe's.
- word2vec binary: the same header line, then per word its UTF-8 bytes, a space and
  ``dimension`` little-endian float32 values; a newline before a word is skipped (the C
  tool writes one after each vector, gensim none; rnnrs writes none, as gensim).

Values are stored as float32. A word listed twice keeps its first vector, as gensim does.
Text values are written as the shortest decimal that reads back to the same float32. A
malformed file raises :class:`rnnrs.FormatError` naming the file and the line (for the
binary format, the entry) and what was expected there.

Example:
    >>> import numpy as np
    >>> wv = WordVectors(["king", "queen", "man", "woman"],
    ...                  np.array([[1, 1, 0], [1, 0, 1], [0, 1, 0], [0, 0, 1]], np.float32))
    >>> wv.analogy("man", "king", "woman", topn=1)[0][0]    # man : king :: woman : ?
    'queen'
    >>> round(wv.similarity("king", "man"), 4)
    0.7071
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..errors import FormatError
from .atomic import atomic_open

PathLike = Union[str, "os.PathLike[str]"]

_Keys = Union[str, Iterable[str]]


class WordVectors:
    """Words and their vectors (float32, one row per word), like gensim's KeyedVectors.

    Args:
        words: the words, each once.
        vectors: (len(words), dimension) numbers.
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray) -> None:
        words = list(words)
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(words):
            raise ValueError(
                f"vectors: expected shape ({len(words)}, dimension), got {matrix.shape}"
            )
        if not all(isinstance(w, str) and w for w in words):
            raise TypeError("words: expected non-empty strings")
        index: dict[str, int] = {}
        for i, w in enumerate(words):
            if index.setdefault(w, i) != i:
                raise ValueError(f"words: {w!r} appears twice (rows {index[w]} and {i})")
        self.words = words
        self.vectors = np.ascontiguousarray(matrix)
        self._index = index
        self._unit: Optional[np.ndarray] = None

    # ------------------------------------------------------------------ lookups

    @property
    def dim(self) -> int:
        """The dimension of the vectors."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index(word)]

    def index(self, word: str) -> int:
        """The row of ``word``; KeyError naming it when it has no vector."""
        try:
            return self._index[word]
        except KeyError:
            raise KeyError(f"word {word!r} has no vector ({len(self)} words)") from None

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words, dim={self.dim})"

    # ------------------------------------------------------------------ similarity

    def _unit_vectors(self) -> np.ndarray:
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.where(norms > 0, norms, 1.0)
        return self._unit

    def similarity(self, word1: str, word2: str) -> float:
        """Cosine similarity of two words' vectors."""
        unit = self._unit_vectors()
        return float(np.dot(unit[self.index(word1)], unit[self.index(word2)]))

    def most_similar(
        self, positive: _Keys = (), negative: _Keys = (), topn: int = 10
    ) -> list[tuple[str, float]]:
        """The ``topn`` words nearest (by cosine) to the mean of the unit vectors of
        ``positive`` minus those of ``negative``, normalised, the query words left out:
        gensim's ``most_similar``.

        Example:
            >>> wv = WordVectors(["a", "b", "c"], np.array([[1, 0], [1, 1], [0, 1]]))
            >>> [w for w, _ in wv.most_similar("a")]
            ['b', 'c']
        """
        pos = [positive] if isinstance(positive, str) else list(positive)
        neg = [negative] if isinstance(negative, str) else list(negative)
        if not pos and not neg:
            raise ValueError("positive, negative: give at least one word")
        if not isinstance(topn, int) or isinstance(topn, bool) or topn < 1:
            raise ValueError(f"topn: expected a positive integer, got {topn!r}")
        unit = self._unit_vectors()
        rows = [self.index(w) for w in [*pos, *neg]]
        signs = np.array([1.0] * len(pos) + [-1.0] * len(neg), dtype=np.float32)
        mean = (signs[:, None] * unit[rows]).mean(axis=0)
        norm = float(np.linalg.norm(mean))
        query = mean / norm if norm > 0 else mean
        scores = unit @ query
        scores[rows] = -np.inf
        count = min(topn, len(self) - len(set(rows)))
        best = np.argsort(-scores, kind="stable")[:count]
        return [(self.words[i], float(scores[i])) for i in best]

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        """``a`` is to ``b`` as ``c`` is to ...? By 3CosAdd: the words nearest to
        b - a + c (unit vectors), the three left out; ``most_similar([b, c], [a])``."""
        return self.most_similar(positive=[b, c], negative=[a], topn=topn)

    # ------------------------------------------------------------------ files

    @classmethod
    def load_glove(cls, path: PathLike) -> WordVectors:
        """Read GloVe text: ``word v1 v2 ...`` per line, no header."""
        p = _existing(path)
        lines = p.read_bytes().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if not lines:
            raise FormatError(f"{p}: no vectors in the file")
        dim = lines[0].rstrip().count(b" ")
        if dim < 1:
            raise FormatError(f"{p}:1: expected a word and its values separated by spaces")
        return cls._from_text_lines(p, lines, dim, first_line=1)

    @classmethod
    def load_word2vec_format(cls, path: PathLike, binary: bool = False) -> WordVectors:
        """Read the word2vec text (``binary=False``) or binary format: gensim's
        ``KeyedVectors.load_word2vec_format(path, binary=binary)``."""
        p = _existing(path)
        data = p.read_bytes()
        end = data.find(b"\n")
        header = data[: end if end >= 0 else len(data)]
        fields = header.split()
        try:
            count, dim = (int(x) for x in fields)
        except ValueError:
            count = dim = -1
        if len(fields) != 2 or count < 0 or dim < 1:
            raise FormatError(
                f"{p}:1: expected the header '<count> <dimension>', got {header[:60]!r}"
            )
        body = data[end + 1 :] if end >= 0 else b""
        if binary:
            return cls._from_binary(p, body, count, dim)
        lines = body.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if len(lines) != count:
            raise FormatError(
                f"{p}: the header announces {count} vectors, the file has {len(lines)}"
            )
        return cls._from_text_lines(p, lines, dim, first_line=2)

    @classmethod
    def _from_text_lines(
        cls, path: Path, lines: list[bytes], dim: int, first_line: int
    ) -> WordVectors:
        """Words and vectors of text lines ``word v1 ... v_dim`` (single spaces)."""
        words: list[str] = []
        rests: list[bytes] = []
        for number, raw in enumerate(lines, start=first_line):
            line = raw.rstrip()
            if line.count(b" ") != dim:
                found = len(line.split(b" ")) - 1
                raise FormatError(
                    f"{path}:{number}: expected a word and {dim} values, got {found} values"
                )
            word, _, rest = line.partition(b" ")
            if not word:
                raise FormatError(f"{path}:{number}: the line starts with a space, not a word")
            try:
                words.append(word.decode("utf-8"))
            except UnicodeDecodeError:
                raise FormatError(f"{path}:{number}: the word is not UTF-8") from None
            rests.append(rest)
        values = _parse_floats(b"\n".join(rests))
        if values is None or values.size != len(rests) * dim:
            # A token that is not a number stops the parse: find its line.
            for number, rest in enumerate(rests, start=first_line):
                parsed = _parse_floats(rest)
                if parsed is None or parsed.size != dim:
                    raise FormatError(
                        f"{path}:{number}: expected {dim} numbers after the word, got "
                        f"{rest[:60].decode('utf-8', 'replace')!r}"
                    )
            raise FormatError(f"{path}: the values do not read as {len(rests)} x {dim} numbers")
        return cls._first_of_each(words, values.reshape(len(rests), dim))

    @classmethod
    def _from_binary(cls, path: Path, body: bytes, count: int, dim: int) -> WordVectors:
        """Words and vectors of the binary body: ``word`` SPACE float32 * dim, ``count``
        times, a newline before a word skipped."""
        width = 4 * dim
        # Each entry takes at least a one-byte word, a space and its values: a header
        # announcing more than the body can hold is refused before allocating for it.
        if count * (width + 2) > len(body):
            raise FormatError(
                f"{path}: the header announces {count} vectors of dimension {dim}, more than "
                f"the file's {len(body)} bytes after it can hold"
            )
        words: list[str] = []
        vectors = np.empty((count, dim), dtype="<f4")
        rows = vectors.view(np.uint8).reshape(count, width)
        raw = np.frombuffer(body, dtype=np.uint8)
        position = 0
        for entry in range(count):
            while position < len(body) and body[position] == 0x0A:
                position += 1
            space = body.find(b" ", position)
            if space < 0 or space + 1 + width > len(body):
                raise FormatError(
                    f"{path}: entry {entry + 1} of {count} is cut short (the header announces "
                    f"{count} vectors of dimension {dim})"
                )
            if space == position:
                raise FormatError(f"{path}: entry {entry + 1}: an empty word")
            try:
                words.append(body[position:space].decode("utf-8"))
            except UnicodeDecodeError:
                raise FormatError(f"{path}: entry {entry + 1}: the word is not UTF-8") from None
            rows[entry] = raw[space + 1 : space + 1 + width]
            position = space + 1 + width
        if body[position:].strip(b"\n"):
            raise FormatError(
                f"{path}: data after the {count} vectors the header announces (is the "
                "dimension right?)"
            )
        return cls._first_of_each(words, vectors.astype(np.float32, copy=False))

    @classmethod
    def _first_of_each(cls, words: list[str], vectors: np.ndarray) -> WordVectors:
        """A word listed twice keeps its first vector (gensim's rule)."""
        first: dict[str, int] = {}
        for i, w in enumerate(words):
            first.setdefault(w, i)
        if len(first) == len(words):
            return cls(words, vectors)
        rows = sorted(first.values())
        return cls([words[i] for i in rows], vectors[rows])

    def save_glove(self, path: PathLike) -> None:
        """Write GloVe text (atomically)."""
        self._write_text(path, header=False)

    def save_word2vec_format(self, path: PathLike, binary: bool = False) -> None:
        """Write the word2vec text or binary format (atomically), readable by gensim's
        ``KeyedVectors.load_word2vec_format``."""
        if binary:
            self._check_words_for_files()
            with atomic_open(path, "wb") as f:
                f.write(f"{len(self)} {self.dim}\n".encode())
                little = self.vectors.astype("<f4")
                for word, row in zip(self.words, little):
                    f.write(word.encode("utf-8") + b" " + row.tobytes())
            return
        self._write_text(path, header=True)

    def _write_text(self, path: PathLike, *, header: bool) -> None:
        self._check_words_for_files()
        with atomic_open(path, "w") as f:
            if header:
                f.write(f"{len(self)} {self.dim}\n")
            for word, row in zip(self.words, self.vectors):
                # str() of a float32 is the shortest text that reads back to it.
                f.write(word + " " + " ".join(str(v) for v in row) + "\n")

    def _check_words_for_files(self) -> None:
        for w in self.words:
            if any(c.isspace() for c in w):
                raise ValueError(f"words: {w!r} holds whitespace; the file formats cannot hold it")


@dataclass(frozen=True)
class EmbeddingOverlap:
    """How many of a model's tokens took their embedding from pretrained vectors."""

    found: int
    total: int
    missing: tuple[str, ...]

    @property
    def rate(self) -> float:
        """The share of the vocabulary found in the vectors."""
        return self.found / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.found:,} of {self.total:,} tokens have a pretrained vector ({self.rate:.1%})"


def seed_embedding(
    table: np.ndarray, tokens: Sequence[str], vectors: WordVectors
) -> EmbeddingOverlap:
    """Copy into row i of the embedding ``table`` (V, E) the vector of ``tokens[i]`` where
    ``vectors`` has one (the other rows keep their initial draw); returns the overlap.

    Example:
        >>> wv = WordVectors(["cat"], np.ones((1, 2)))
        >>> table = np.zeros((2, 2), np.float32)
        >>> seed_embedding(table, ["<unk>", "cat"], wv).found, table[1].tolist()
        (1, [1.0, 1.0])
    """
    if table.ndim != 2 or table.shape[0] != len(tokens):
        raise ValueError(f"table: expected ({len(tokens)}, E) rows, got {table.shape}")
    if table.shape[1] != vectors.dim:
        raise ValueError(
            f"embeddings: the vectors have dimension {vectors.dim}, the model's embedding "
            f"{table.shape[1]} (give embed_size={vectors.dim})"
        )
    rows = [(i, vectors._index.get(t)) for i, t in enumerate(tokens)]
    found = [(i, j) for i, j in rows if j is not None]
    if found:
        mine, theirs = (np.array(x) for x in zip(*found))
        table[mine] = vectors.vectors[theirs]
    missing = tuple(t for (i, j), t in zip(rows, tokens) if j is None)
    return EmbeddingOverlap(len(found), len(tokens), missing)


def seed_model_embedding(
    initial: dict[str, np.ndarray], vectors: object, tokenizer: object
) -> EmbeddingOverlap:
    """A model's ``embeddings=`` argument applied to its initial weights: the rows of
    ``initial["embedding.weight"]`` of the tokenizer's tokens that ``vectors`` holds take
    their vectors (:func:`seed_embedding`); TypeError for anything but a WordVectors or a
    tokenizer without a vocab."""
    if not isinstance(vectors, WordVectors):
        raise TypeError(f"embeddings: expected rnnrs.WordVectors, got {type(vectors).__name__}")
    vocab = getattr(tokenizer, "vocab", None)
    if not isinstance(vocab, dict):
        raise TypeError("embeddings: matching vectors to tokens needs a tokenizer with a vocab")
    tokens = sorted(vocab, key=vocab.__getitem__)
    return seed_embedding(initial["embedding.weight"], tokens, vectors)


def _parse_floats(text: bytes) -> Optional[np.ndarray]:
    """The float32 numbers of whitespace-separated ``text`` (NumPy's C parser), or None
    when a token is not a number. (Older NumPy stops at such a token with a warning and
    returns the numbers before it: the caller checks the count.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return np.fromstring(text, dtype=np.float32, sep=" ")
        except ValueError:
            return None


def _existing(path: PathLike) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a path, got {type(path).__name__}")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"path: no such file: {p}")
    return p
