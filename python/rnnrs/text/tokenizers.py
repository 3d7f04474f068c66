"""Tokenizers: text <-> numpy ``uint32`` ids. Character, word and byte-level BPE.

All three share one interface: a fitting classmethod that returns the fitted tokenizer,
``encode(text)`` -> ``np.ndarray[uint32]``, ``decode(ids)`` -> ``str``, ``vocab_size``,
``token_to_id`` / ``id_to_token`` / ``vocab``, and ``save(path)`` / ``load(path)`` as JSON with
a ``"kind"`` and a ``"version"`` field. :func:`load_tokenizer` reads any kind.

Example:
    >>> import rnnrs
    >>> tok = rnnrs.CharTokenizer.fit("hello world")
    >>> tok.decode(tok.encode("low"))
    'low'
    >>> bpe = rnnrs.BPETokenizer.train(["low lower lowest"] * 3, vocab_size=260)
    >>> bpe.decode(bpe.encode("lowest 🙂"))
    'lowest 🙂'
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any, ClassVar, Optional, Union

import numpy as np

from ..backends.engines import bpe_encoder, bpe_trainer
from ..backends.selection import resolve_backend
from ..errors import FormatError
from ..io.jsonfile import PathLike, read_json_kind, write_json_atomic
from ..reference import bpe as reference_bpe

UNK, BOS, EOS, PAD = "<unk>", "<s>", "</s>", "<pad>"
FORMAT_VERSION = 1

IdsLike = Union[Sequence[int], np.ndarray]


def _texts(texts: Union[str, Iterable[str]], name: str = "texts") -> Iterator[str]:
    """Iterate ``texts`` (one string or an iterable of strings), checking each is a str."""
    if isinstance(texts, str):
        yield texts
        return
    if isinstance(texts, (bytes, bytearray)):
        raise TypeError(f"{name}: expected str or an iterable of str, got bytes (decode it first)")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{name}: item {i} is {type(t).__name__}, expected str")
        yield t


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text: expected str, got {type(text).__name__}")
    return text


def _check_ids(ids: IdsLike, vocab_size: int) -> np.ndarray:
    """``ids`` as a 1-D int64 array, every id in ``[0, vocab_size)``."""
    arr = np.asarray(ids)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"ids: expected integer token ids, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"ids: expected a 1-D sequence of ids, got shape {arr.shape}")
    bad = np.flatnonzero((arr < 0) | (arr >= vocab_size))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"ids: id {int(arr[i])} at position {i} is out of range for a vocabulary of "
            f"size {vocab_size} (valid ids: 0..{vocab_size - 1})"
        )
    return arr.astype(np.int64, copy=False)


def _check_int(value: object, name: str, minimum: int, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: must be at least {minimum}{why}, got {value}")
    return int(value)


class _Vocabulary(ABC):
    """Shared token <-> id lookups over a list of token strings (id = position)."""

    kind: ClassVar[str]
    _tokens: list[str]
    _index: dict[str, int]

    def _set_tokens(self, tokens: list[str]) -> None:
        index: dict[str, int] = {}
        for i, t in enumerate(tokens):
            surrogate = _LONE_SURROGATE.search(t)
            if surrogate:
                # Refused here, or the vocabulary would load but never save (UTF-8 cannot
                # hold it).
                raise ValueError(
                    f"tokens: {t!r} holds a lone surrogate (U+{ord(surrogate.group()):04X}), "
                    "which UTF-8 cannot hold: the text was decoded with "
                    "errors='surrogateescape' or holds broken UTF-16"
                )
            if t in index:
                raise ValueError(f"tokens: {t!r} appears twice (ids {index[t]} and {i})")
            index[t] = i
        self._tokens, self._index = tokens, index

    @property
    def vocab_size(self) -> int:
        """Number of ids; valid ids are ``0 .. vocab_size - 1``."""
        return len(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    @property
    def vocab(self) -> dict[str, int]:
        """A copy of the token -> id mapping."""
        return dict(self._index)

    def token_to_id(self, token: str) -> int:
        """The id of ``token``; KeyError naming it when it is not in the vocabulary."""
        try:
            return self._index[token]
        except KeyError:
            raise KeyError(
                f"token {token!r} is not in the vocabulary ({self.vocab_size} tokens)"
            ) from None

    def id_to_token(self, token_id: int) -> str:
        """The token of ``token_id``; ValueError when out of range."""
        (i,) = _check_ids([token_id], self.vocab_size)
        return self._tokens[int(i)]

    def save(self, path: PathLike) -> None:
        """Write the tokenizer as JSON to ``path`` (atomically)."""
        write_json_atomic(path, {"kind": self.kind, "version": FORMAT_VERSION, **self._config()})

    @abstractmethod
    def _config(self) -> dict[str, Any]:
        """The kind-specific fields of the JSON file."""

    @classmethod
    def _read(cls, path: PathLike) -> dict[str, Any]:
        return read_json_kind(path, what="tokenizer", versions=(FORMAT_VERSION,), kinds=(cls.kind,))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


class CharTokenizer(_Vocabulary):
    """One id per Unicode character (code point), plus ``<unk>`` (id 0).

    The other ids are the fitted characters in code-point order. A character not seen when
    fitting encodes to ``<unk>``, so a prompt with unseen characters still encodes;
    ``<unk>`` decodes to U+FFFD (the replacement character), keeping one character per id.

    Example:
        >>> tok = CharTokenizer.fit("abca")
        >>> tok.encode("cab?").tolist()
        [3, 1, 2, 0]
        >>> tok.decode([3, 1, 2, 0])
        'cab\\ufffd'
    """

    kind: ClassVar[str] = "char"
    unk_id: ClassVar[int] = 0

    def __init__(self, chars: Iterable[str]) -> None:
        unique = set(chars)
        for c in unique:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"chars: expected single characters, got {c!r}")
        chars = sorted(unique)
        self._set_tokens([UNK, *chars])
        self._codes = np.array([ord(c) for c in chars], dtype=np.uint32)

    @classmethod
    def fit(
        cls,
        text: Union[str, Iterable[str]],
        *,
        min_freq: int = 1,
        max_size: Optional[int] = None,
    ) -> CharTokenizer:
        """Fit on ``text`` (a string or an iterable of strings, e.g. a file's lines).

        Characters seen fewer than ``min_freq`` times are left out; ``max_size`` caps the
        vocabulary (``<unk>`` included), keeping the most frequent characters.
        """
        min_freq = _check_int(min_freq, "min_freq", 1)
        counts: Counter[str] = Counter()
        for t in _texts(text, "text"):
            counts.update(t)
        if not counts:
            raise ValueError("text: empty, nothing to fit a character vocabulary on")
        kept = sorted(
            (c for c, n in counts.items() if n >= min_freq), key=lambda c: (-counts[c], c)
        )
        if max_size is not None:
            kept = kept[: _check_int(max_size, "max_size", 1) - 1]
        return cls(kept)

    def encode(self, text: str) -> np.ndarray:
        """The ids of each character of ``text`` (unseen characters -> ``<unk>``, id 0)."""
        codes = np.frombuffer(
            _check_text(text).encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32
        )
        if self._codes.size == 0:
            return np.zeros(codes.size, dtype=np.uint32)
        pos = np.searchsorted(self._codes, codes)
        found = self._codes[np.minimum(pos, self._codes.size - 1)] == codes
        return np.where(found, pos + 1, self.unk_id).astype(np.uint32)

    def decode(self, ids: IdsLike) -> str:
        """The text of ``ids``; ``<unk>`` becomes U+FFFD."""
        arr = _check_ids(ids, self.vocab_size)
        return "".join(self._tokens[i] if i else "\ufffd" for i in arr.tolist())

    def _config(self) -> dict[str, Any]:
        return {"chars": self._tokens[1:]}

    @classmethod
    def load(cls, path: PathLike) -> CharTokenizer:
        """Read a tokenizer written by :meth:`save`."""
        obj = cls._read(path)
        chars = obj.get("chars")
        if not isinstance(chars, list) or not all(
            isinstance(c, str) and len(c) == 1 for c in chars
        ):
            raise FormatError(f'{path}: "chars" must be a list of single characters')
        try:
            return cls(chars)
        except ValueError as exc:
            raise FormatError(f"{path}: {exc}") from None


class WordTokenizer(_Vocabulary):
    """One id per word. Words are split on whitespace, or found with a regex ``pattern``.

    Ids 0-3 are the specials ``<unk>``, ``<s>``, ``</s>``, ``<pad>``; the words follow by
    decreasing frequency (ties in string order). A word not in the vocabulary encodes to
    ``<unk>``; a word spelled like a special (e.g. PTB's ``<unk>``) encodes to that special.
    ``decode`` joins the tokens with single spaces.

    Example:
        >>> tok = WordTokenizer.fit(["the cat sat", "the dog"], lowercase=True)
        >>> tok.encode("The bird sat", eos=True).tolist()
        [4, 0, 7, 2]
        >>> tok.decode([4, 5, 7])
        'the cat sat'
    """

    kind: ClassVar[str] = "word"
    SPECIALS: ClassVar[tuple[str, ...]] = (UNK, BOS, EOS, PAD)
    unk_id: ClassVar[int] = 0
    bos_id: ClassVar[int] = 1
    eos_id: ClassVar[int] = 2
    pad_id: ClassVar[int] = 3

    def __init__(
        self, words: Iterable[str], *, pattern: Optional[str] = None, lowercase: bool = False
    ) -> None:
        words = [w for w in words if w not in self.SPECIALS]
        self._set_tokens([*self.SPECIALS, *words])
        try:
            self._regex = re.compile(pattern) if pattern is not None else None
        except re.error as exc:
            raise ValueError(f"pattern: not a valid regular expression ({exc})") from None
        self.pattern, self.lowercase = pattern, bool(lowercase)

    def split(self, text: str) -> list[str]:
        """The words of ``text`` (lowercased when the tokenizer lowercases)."""
        text = _check_text(text)
        if self.lowercase:
            text = text.lower()
        if self._regex is None:
            return text.split()
        return [m.group(0) for m in self._regex.finditer(text)]

    @classmethod
    def fit(
        cls,
        texts: Union[str, Iterable[str]],
        *,
        min_freq: int = 1,
        max_size: Optional[int] = None,
        pattern: Optional[str] = None,
        lowercase: bool = False,
    ) -> WordTokenizer:
        """Fit on ``texts`` (a string or an iterable of strings, e.g. a file's lines).

        Words seen fewer than ``min_freq`` times are left out; ``max_size`` caps the
        vocabulary, the four specials included, keeping the most frequent words.
        """
        min_freq = _check_int(min_freq, "min_freq", 1)
        if max_size is not None:
            max_size = _check_int(max_size, "max_size", len(cls.SPECIALS), " (the specials)")
        splitter = cls((), pattern=pattern, lowercase=lowercase)
        counts: Counter[str] = Counter()
        for t in _texts(texts):
            counts.update(splitter.split(t))
        if not counts:
            raise ValueError("texts: no words found, nothing to fit a vocabulary on")
        kept = sorted(
            (w for w, n in counts.items() if n >= min_freq and w not in cls.SPECIALS),
            key=lambda w: (-counts[w], w),
        )
        if max_size is not None:
            kept = kept[: max_size - len(cls.SPECIALS)]
        return cls(kept, pattern=pattern, lowercase=lowercase)

    def encode(
        self, text: str, *, bos: bool = False, eos: bool = False, strict: bool = False
    ) -> np.ndarray:
        """The ids of the words of ``text``, with ``<s>`` / ``</s>`` around when asked.

        Unknown words encode to ``<unk>``; with ``strict=True`` they raise ValueError instead.
        """
        index, unk = self._index, self.unk_id
        words = self.split(text)
        if strict:
            for i, w in enumerate(words):
                if w not in index:
                    raise ValueError(f"text: unknown word {w!r} (word {i}) not in the vocabulary")
        ids = [index.get(w, unk) for w in words]
        if bos:
            ids.insert(0, self.bos_id)
        if eos:
            ids.append(self.eos_id)
        return np.asarray(ids, dtype=np.uint32)

    def encode_lines(
        self, lines: Union[str, Iterable[str]], *, bos: bool = False, eos: bool = True
    ) -> np.ndarray:
        """Encode line by line, each line followed by ``</s>`` (and preceded by ``<s>`` when
        asked), as PyTorch's word_language_model reads a corpus. A string is split into lines.
        """
        if isinstance(lines, str):
            lines = lines.splitlines()
        parts = [self.encode(line, bos=bos, eos=eos) for line in _texts(lines, "lines")]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint32)

    def decode(self, ids: IdsLike, *, skip_specials: bool = False) -> str:
        """The words of ``ids`` joined by single spaces (specials left out when asked)."""
        arr = _check_ids(ids, self.vocab_size)
        first = len(self.SPECIALS) if skip_specials else 0
        return " ".join(self._tokens[i] for i in arr.tolist() if i >= first)

    def _config(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "lowercase": self.lowercase,
            "words": self._tokens[len(self.SPECIALS) :],
        }

    @classmethod
    def load(cls, path: PathLike) -> WordTokenizer:
        """Read a tokenizer written by :meth:`save`."""
        obj = cls._read(path)
        words, pattern = obj.get("words"), obj.get("pattern")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise FormatError(f'{path}: "words" must be a list of strings')
        if pattern is not None and not isinstance(pattern, str):
            raise FormatError(f'{path}: "pattern" must be a string or null')
        try:
            return cls(words, pattern=pattern, lowercase=bool(obj.get("lowercase", False)))
        except (ValueError, re.error) as exc:
            raise FormatError(f"{path}: {exc}") from None


@lru_cache(maxsize=1)
def _byte_symbols() -> tuple[str, ...]:
    """GPT-2's printable stand-in for each byte (space -> 'Ġ', newline -> 'Ċ', ...)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    symbols, extra = {}, 0
    for b in range(256):
        if b in keep:
            symbols[b] = chr(b)
        else:
            symbols[b] = chr(256 + extra)
            extra += 1
    return tuple(symbols[b] for b in range(256))


class BPETokenizer(_Vocabulary):
    """Byte-level BPE: every UTF-8 string round-trips exactly; no ``<unk>`` is ever needed.

    Ids 0-255 are the bytes; merge ``r`` (in rank order) makes id ``256 + r``. Text is first
    split GPT-2 style into pieces (words with their leading space, digit runs, punctuation
    runs, whitespace) so merges stay within words; see docs/tokenizers.md. Training and
    encoding run in the Rust core, or in the pure-Python reference on the NumPy backend
    (same merges, same ids). Tokens are shown with GPT-2's byte symbols (``"Ġthe"``).

    Example:
        >>> tok = BPETokenizer.train("the theme then the thesis " * 5, vocab_size=260)
        >>> tok.vocab_size
        260
        >>> tok.id_to_token(int(tok.encode(" the")[0]))
        'Ġthe'
    """

    kind: ClassVar[str] = "bpe"
    PRETOKENIZER: ClassVar[str] = "rnnrs-gpt2-v1"

    def __init__(self, merges: Iterable[tuple[int, int]], *, backend: Optional[str] = None) -> None:
        self.merges: list[tuple[int, int]] = []
        for r, merge in enumerate(merges):
            pair = tuple(merge)
            if len(pair) != 2 or not all(
                isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in pair
            ):
                raise TypeError(f"merges: merge {r} must be a pair of int ids, got {merge!r}")
            self.merges.append((int(pair[0]), int(pair[1])))
        for r, (a, b) in enumerate(self.merges):
            if min(a, b) < 0:
                raise ValueError(f"merges: merge {r} ({a}, {b}) has a negative id")
            # As the core checks (src/text/bpe.rs), before ids too large for it reach it.
            limit = 256 + r
            if max(a, b) >= limit:
                raise ValueError(
                    f"merges: merge {r} ({a}, {b}) uses an id not defined before it (< {limit})"
                )
        self.backend = resolve_backend(backend)
        self._encoder = bpe_encoder(self.merges, self.backend)
        symbols = list(_byte_symbols())
        pieces = [bytes([b]) for b in range(256)]
        for a, b in self.merges:
            symbols.append(symbols[a] + symbols[b])
            pieces.append(pieces[a] + pieces[b])
        self._pieces = pieces
        # Different merges can spell the same bytes; later ids get a "#id" suffix in lookups.
        seen: set[str] = set()
        tokens = []
        for i, s in enumerate(symbols):
            tokens.append(s if s not in seen else f"{s}#{i}")
            seen.add(s)
        self._set_tokens(tokens)

    @classmethod
    def train(
        cls,
        texts: Union[str, Iterable[str]],
        vocab_size: int,
        *,
        min_frequency: int = 2,
        backend: Optional[str] = None,
    ) -> BPETokenizer:
        """Learn merges from ``texts`` until ``vocab_size`` ids (256 bytes + merges).

        Stops early, with a smaller vocabulary, when no pair of adjacent tokens occurs at
        least ``min_frequency`` times. ``texts`` may be one string or any iterable of strings
        (e.g. :func:`rnnrs.text.corpus.iter_blocks` of a file larger than memory): only the counts
        of distinct pre-tokens are kept.
        """
        vocab_size = _check_int(
            vocab_size, "vocab_size", reference_bpe.BYTE_VOCAB, " (the 256 byte ids)"
        )
        min_frequency = _check_int(min_frequency, "min_frequency", 1)
        name = resolve_backend(backend)
        trainer = bpe_trainer(name)
        batch: list[str] = []
        size = 0
        for t in _texts(texts):
            batch.append(t)
            size += len(t)
            if size >= 1 << 22:
                _feed(trainer, batch)
                batch, size = [], 0
        _feed(trainer, batch)
        if trainer.num_words == 0:
            raise ValueError("texts: empty, nothing to train on")
        merges = trainer.train(vocab_size, min_frequency=min_frequency)
        return cls(merges, backend=name)

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text`` (uint32)."""
        text = _check_text(text)
        try:
            return np.asarray(self._encoder.encode(text), dtype=np.uint32)
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"text: not valid Unicode for UTF-8 (lone surrogate at index {exc.start})"
            ) from None

    def encode_batch(self, texts: Iterable[str]) -> list[np.ndarray]:
        """The ids of each text; on the Rust backend in parallel."""
        batch = list(_texts(texts))
        try:
            return [np.asarray(a, dtype=np.uint32) for a in self._encoder.encode_batch(batch)]
        except UnicodeEncodeError as exc:
            raise ValueError(f"texts: not valid Unicode for UTF-8 ({exc.reason})") from None

    def decode_bytes(self, ids: IdsLike) -> bytes:
        """The bytes of ``ids``."""
        pieces = self._pieces
        return b"".join(pieces[i] for i in _check_ids(ids, self.vocab_size).tolist())

    def decode(self, ids: IdsLike, *, errors: str = "replace") -> str:
        """The text of ``ids``. Ids that cut a character's bytes apart decode to U+FFFD
        with ``errors="replace"`` (the default) or raise with ``errors="strict"``."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def _config(self) -> dict[str, Any]:
        return {
            "pretokenizer": self.PRETOKENIZER,
            "merges": [[a, b] for a, b in self.merges],
        }

    @classmethod
    def load(cls, path: PathLike, *, backend: Optional[str] = None) -> BPETokenizer:
        """Read a tokenizer written by :meth:`save`."""
        obj = cls._read(path)
        if obj.get("pretokenizer") != cls.PRETOKENIZER:
            raise FormatError(
                f"{path}: unknown pre-tokenizer {obj.get('pretokenizer')!r} "
                f"(this rnnrs knows {cls.PRETOKENIZER!r})"
            )
        merges = obj.get("merges")
        if not isinstance(merges, list) or not all(
            isinstance(m, list) and len(m) == 2 and all(type(x) is int for x in m) for m in merges
        ):
            raise FormatError(f'{path}: "merges" must be a list of [left_id, right_id] pairs')
        try:
            return cls([(a, b) for a, b in merges], backend=backend)
        except ValueError as exc:
            raise FormatError(f"{path}: {exc}") from None


def _feed(trainer: Any, batch: list[str]) -> None:
    if batch:
        trainer.feed(batch)


Tokenizer = Union[CharTokenizer, WordTokenizer, BPETokenizer]
_KINDS: dict[str, Any] = {c.kind: c for c in (CharTokenizer, WordTokenizer, BPETokenizer)}


def load_tokenizer(path: PathLike) -> Tokenizer:
    """Read a tokenizer of any kind written by ``save``; the file's ``"kind"`` decides.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "tok.json")
        >>> WordTokenizer.fit("a b a").save(path)
        >>> load_tokenizer(path)
        WordTokenizer(vocab_size=6)
    """
    obj = read_json_kind(path, what="tokenizer", versions=(FORMAT_VERSION,), kinds=tuple(_KINDS))
    loaded: Tokenizer = _KINDS[obj["kind"]].load(path)
    return loaded


__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "UNK",
    "BPETokenizer",
    "CharTokenizer",
    "Tokenizer",
    "WordTokenizer",
    "load_tokenizer",
]
