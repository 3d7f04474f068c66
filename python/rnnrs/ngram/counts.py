"""Raw n-gram counts: :class:`NGramCounts`, on the Rust engine or the NumPy reference."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np

from ..backends.engines import ngram_counts_class, ngram_counts_engine
from ..backends.numpy_ngram import check_order
from ..backends.selection import resolve_backend
from ..errors import FormatError
from ..reference.ngram import EOS, UNK
from .inputs import (
    PathLike,
    Text,
    file_path,
    id_array,
    parse_memory,
    temp_folder,
    text_lines,
)

__all__ = ["NGramCounts"]


class NGramCounts:
    """Raw counts of every n-gram of orders 1..``order``, mergeable across processes.

    Sentences get ``<s>`` before and ``</s>`` after; lines without tokens are skipped.
    On the Rust backend counting runs in parallel (partitions by first word).

    Example:
        >>> from rnnrs import NGramCounts
        >>> c = NGramCounts(3).add(["the cat sat", "the cat ran"])
        >>> c["the cat"], c["<s> the cat"], c.num_ngrams
        (2, 2, [6, 6, 5])
    """

    def __init__(self, order: int, *, backend: Optional[str] = None) -> None:
        check_order(order)
        self.backend = resolve_backend(backend)
        self._engine = ngram_counts_engine(order, self.backend)

    @property
    def order(self) -> int:
        """The highest order counted."""
        return int(self._engine.order)

    def add(self, sentences: Text) -> NGramCounts:
        """Count sentences: strings (split on whitespace) or lists of tokens; a string is
        text (one sentence per line), a ``pathlib.Path`` a file (as
        :func:`rnnrs.ngram.inputs.text_lines` reads them).

        Example:
            >>> NGramCounts(2).add([["a", "b"], "b c"])["b"]
            2
            >>> NGramCounts(2).add("a b\\nb c")["b"]
            2
        """
        self._engine.add_lines(text_lines(sentences, "sentences"))
        return self

    def add_file(self, path: PathLike) -> NGramCounts:
        """Count a UTF-8 text file, one sentence per line.

        Example:
            >>> NGramCounts(3).add_file("corpus.txt")  # doctest: +SKIP
        """
        self._engine.add_file(file_path(path, "path"))
        return self

    def add_ids(self, ids: Any) -> NGramCounts:
        """Count a 1-D array of ids of this vocabulary (see :meth:`encode`), sentences ended
        by ``</s>`` (id 2).

        Example:
            >>> c = NGramCounts(2).add(["a b"])
            >>> c.add_ids(c.encode(["b a"]))["b a"]
            1
        """
        self._engine.add_ids(id_array(ids, "ids"))
        return self

    def encode(self, sentences: Text) -> np.ndarray:
        """Sentences (as :meth:`add` takes them) as one id stream of this vocabulary
        (``</s>`` after each; unknown words are ``<unk>``, id 0).

        Example:
            >>> NGramCounts(2).add(["a b"]).encode(["b a zz"]).tolist()
            [4, 3, 0, 2]
        """
        index = {w: i for i, w in enumerate(self.vocab)}
        out: list[int] = []
        for line in text_lines(sentences, "sentences"):
            tokens = line.split()
            if tokens:
                out.extend(index.get(t, UNK) for t in tokens)
                out.append(EOS)
        return np.array(out, dtype=np.uint32)

    def merge(self, other: NGramCounts) -> NGramCounts:
        """Add the counts of ``other`` (same order, any vocabulary, same backend).

        Example:
            >>> a, b = NGramCounts(2).add(["x y"]), NGramCounts(2).add(["y x"])
            >>> a.merge(b)["y x"], a["x"]
            (1, 2)
        """
        if not isinstance(other, NGramCounts):
            raise TypeError(f"other: expected NGramCounts, got {type(other).__name__}")
        if other.backend != self.backend:
            raise ValueError(f"other: counts of backend {other.backend!r}, not {self.backend!r}")
        self._engine.merge(other._engine)
        return self

    def count(self, ngram: Union[str, Sequence[str]]) -> int:
        """The raw count of an n-gram (a string of words or a list of words).

        Example:
            >>> NGramCounts(2).add(["a a"]).count(["a", "a"])
            1
        """
        words = ngram.split() if isinstance(ngram, str) else list(ngram)
        return int(self._engine.count(words))

    __getitem__ = count

    @property
    def num_ngrams(self) -> list[int]:
        """Distinct n-grams of each order 1..order."""
        return [int(x) for x in self._engine.num_ngrams()]

    def counts_of_counts(self, n: int) -> list[int]:
        """``[t1, t2, t3, t4]``: how many n-grams of order n occur exactly 1..4 times (raw
        counts; ``<s>`` left out).

        Example:
            >>> NGramCounts(1).add(["a a b"]).counts_of_counts(1)
            [2, 1, 0, 0]
        """
        return [int(x) for x in self._engine.counts_of_counts(n)]

    @property
    def vocab(self) -> list[str]:
        """Words by id: ``<unk>``, ``<s>``, ``</s>``, then in order of first appearance."""
        return list(self._engine.vocab())

    @property
    def tokens(self) -> int:
        """Tokens counted (words and ``</s>``)."""
        return int(self._engine.tokens)

    @property
    def memory_bytes(self) -> int:
        """Approximate bytes held by the tables."""
        return int(self._engine.memory_bytes())

    @property
    def sentences(self) -> int:
        """Sentences counted."""
        return int(self._engine.sentences)

    # ------------------------------------------------------------- files, bytes
    def to_bytes(self) -> bytes:
        """The counts in rnnrs's counts format (versioned, checksummed; docs/ngram.md):
        the same bytes on both backends, readable by :meth:`from_bytes` on either.

        Example:
            >>> NGramCounts(2).add(["a b"]).to_bytes()[:8]
            b'RNNRSCNT'
        """
        return bytes(self._engine.to_bytes())

    @classmethod
    def _wrap(cls, engine: Any, backend: str, order: Optional[int], source: str) -> NGramCounts:
        if order is not None and int(engine.order) != order:
            raise FormatError(f"{source}: counts of order {engine.order}, expected order {order}")
        counts = cls.__new__(cls)
        counts._engine, counts.backend = engine, backend
        return counts

    @classmethod
    def from_bytes(
        cls, data: bytes, *, order: Optional[int] = None, backend: Optional[str] = None
    ) -> NGramCounts:
        """Counts from :meth:`to_bytes`'s bytes. Corrupt, truncated or foreign data, another
        version, or (with ``order``) another order raise :class:`rnnrs.FormatError`.

        Example:
            >>> c = NGramCounts(2).add(["a b", "b a"])
            >>> NGramCounts.from_bytes(c.to_bytes())["a b"]
            1
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expected bytes, got {type(data).__name__}")
        b = resolve_backend(backend)
        return cls._wrap(ngram_counts_class(b).from_bytes(bytes(data)), b, order, "data")

    def save(self, path: PathLike) -> None:
        """Write the counts to ``path`` in the counts format (atomically).

        Example:
            >>> NGramCounts(3).add(["a b c"]).save("part1.counts")  # doctest: +SKIP
        """
        self._engine.save(file_path(path, "path", must_exist=False))

    @classmethod
    def load(
        cls, path: PathLike, *, order: Optional[int] = None, backend: Optional[str] = None
    ) -> NGramCounts:
        """Read counts written by :meth:`save` (on either backend, on any machine); errors as
        :meth:`from_bytes`, naming the file.

        Example:
            >>> counts = NGramCounts.load("part1.counts", order=3)  # doctest: +SKIP
        """
        p = file_path(path, "path")
        b = resolve_backend(backend)
        return cls._wrap(ngram_counts_class(b).load(p), b, order, str(p))

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        # Pickled through the counts format: no code, only checked numbers, any backend.
        return (NGramCounts.from_bytes, (self.to_bytes(),))

    @classmethod
    def count_files(
        cls,
        paths: Sequence[PathLike],
        order: int,
        *,
        memory: Union[int, str, None] = None,
        temp_dir: Optional[PathLike] = None,
        backend: Optional[str] = None,
    ) -> NGramCounts:
        """Count text files (one sentence per line). With ``memory`` (bytes, or a size such
        as ``"1G"``, ``"500M"``, ``"80%"``, see :func:`rnnrs.ngram.inputs.parse_memory`) the
        Rust engine reads the text in chunks and spills sorted runs to ``temp_dir``
        (default: the system's temporary folder) when its tables outgrow the budget, then
        merges them: the same counts, counted in bounded memory (the vocabulary and the
        merged counts aside). The runs are removed when counting ends, also on errors and
        Ctrl-C. The NumPy backend counts in memory whatever ``memory`` says (it is meant
        for small data).

        Example:
            >>> c = NGramCounts.count_files(["a.txt"], 5, memory="1G")  # doctest: +SKIP
        """
        checked = [file_path(p, "paths") for p in paths]
        b = resolve_backend(backend)
        if memory is None and temp_dir is not None:
            raise ValueError("temp_dir: only used with memory= (bounded counting)")
        if memory is None or b != "rust":
            if memory is not None:
                parse_memory(memory)
                temp_folder(temp_dir)
            counts = cls(order, backend=b)
            for p in checked:
                counts.add_file(p)
            return counts
        check_order(order)
        engine = ngram_counts_class(b).count_files_bounded(
            order, checked, parse_memory(memory), temp_folder(temp_dir)
        )
        return cls._wrap(engine, b, None, "")

    def __repr__(self) -> str:
        return f"NGramCounts(order={self.order}, ngrams={self.num_ngrams}, tokens={self.tokens})"
