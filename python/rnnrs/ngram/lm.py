"""n-gram language models: every classic smoothing method, ARPA files, scoring,
generation. As exact as KenLM's lmplz for modified Kneser-Ney, trainable from Python.

The Rust engine (``rnnrs._core``) does the work when present; the pure-Python reference
(``rnnrs.reference``) runs the same API otherwise (``RNNRS_BACKEND=numpy``), slower.

Example:
    >>> from rnnrs import NGramLM
    >>> lm = NGramLM(2, smoothing="witten_bell").fit(["a b a", "b a b", "a a b"])
    >>> round(lm.logprob("b", ["a"]), 4)
    -0.3065
    >>> round(lm.perplexity(["a b"]), 3)
    2.063
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..backends.engines import ngram_model_engine
from ..backends.numpy_ngram import check_order, check_smoothing_args
from ..backends.selection import resolve_backend
from ..errors import NotFittedError
from ..generation import Prompt, beam_search, generate
from ..reference.ngram import EOS, INTERPOLATED, METHODS, UNK
from ..scoring import SentenceScores
from .counts import NGramCounts
from .inputs import (
    PathLike,
    Text,
    file_path,
    id_array,
    parse_memory,
    sentence_lines,
    sentence_texts,
    temp_folder,
    text_lines,
)

LN10 = math.log(10.0)

__all__ = ["NGramLM", "build_arpa"]


class NGramLM:
    """An n-gram language model (see docs/ngram.md for every smoothing formula).

    ``smoothing``: ``mle``, ``add_k`` (``laplace`` is ``add_k`` with ``k=1``),
    ``witten_bell``, ``absolute``, ``kneser_ney``, ``modified_kneser_ney`` (the default,
    as KenLM's lmplz) or ``stupid_backoff``. Knobs: ``k`` (add_k), ``discount`` (absolute,
    kneser_ney: fixed; default estimated per order as t1/(t1+2 t2)), ``alpha`` (stupid
    backoff), ``discount_fallback`` (use KenLM's fallback discounts 0.5/1/1.5 — 0.75 for the
    single-discount methods — when the counts-of-counts cannot give them, instead of
    failing), ``min_counts`` (one per order: n-grams of order >= 2 seen fewer times are
    pruned and their probability mass goes to the lower order).

    ``stupid_backoff`` yields *scores*, not probabilities (they do not sum to 1):
    :meth:`perplexity` and :meth:`to_arpa` refuse it; :meth:`logprob` and :meth:`score`
    return log10 scores.

    Example:
        >>> lm = NGramLM(3).fit(["a b c", "a b d", "b c d", "c d a"], discount_fallback=True)
        >>> round(lm.logprob("b", ["a"]), 4)
        -0.4722
    """

    def __init__(
        self,
        order: int = 3,
        smoothing: str = "modified_kneser_ney",
        *,
        k: float = 1.0,
        discount: Optional[float] = None,
        alpha: float = 0.4,
        discount_fallback: bool = False,
        min_counts: Optional[Sequence[int]] = None,
        backend: Optional[str] = None,
    ) -> None:
        check_order(order)
        if smoothing == "laplace":
            smoothing, k = "add_k", 1.0
        if smoothing not in METHODS:
            raise ValueError(f"smoothing: expected one of {', '.join(METHODS)}, got {smoothing!r}")
        for name, value in (("k", k), ("alpha", alpha)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name}: expected a number, got {value!r}")
        self.order = order
        self.smoothing = smoothing
        self.options: dict[str, Any] = {}
        self._configure(
            k=k,
            discount=discount,
            alpha=alpha,
            discount_fallback=discount_fallback,
            min_counts=min_counts,
        )
        self.backend = resolve_backend(backend)
        self.counts: Optional[NGramCounts] = None
        self._model: Any = None
        self._words_cache: Optional[list[str]] = None
        self._index_cache: Optional[dict[str, int]] = None

    def _configure(self, **options: Any) -> None:
        """Check and store smoothing knobs (bad ones fail here, before any counting)."""
        o = {**self.options, **options}
        mc = o.get("min_counts")
        o["min_counts"] = [int(x) for x in mc] if mc is not None else []
        o["discount"] = None if o.get("discount") is None else float(o["discount"])
        o["k"], o["alpha"] = float(o["k"]), float(o["alpha"])
        o["discount_fallback"] = bool(o["discount_fallback"])
        check_smoothing_args(self.order, o["k"], o["discount"], o["alpha"], o["min_counts"])
        self.options = o

    # ----------------------------------------------------------------- building
    def fit(
        self,
        data: Union[Text, NGramCounts],
        *,
        keep_counts: bool = True,
        memory: Union[int, str, None] = None,
        temp_dir: Optional[PathLike] = None,
        **options: Any,
    ) -> NGramLM:
        """Count ``data`` and estimate the model; returns ``self``.

        ``data``: a ``pathlib.Path`` to a UTF-8 text file with one sentence per line, a
        string of text (one sentence per line), an iterable of sentences (strings split on
        whitespace, or lists of tokens), or an :class:`NGramCounts` of the same order (see
        :func:`rnnrs.ngram.inputs.text_lines`). Keyword ``options`` update the smoothing
        knobs given to the constructor. The counts stay in ``self.counts`` unless
        ``keep_counts=False``: then they are freed during estimation (less memory; counts
        passed as ``data`` are left empty).

        ``memory`` (with a path; e.g. ``"1G"``, see :func:`rnnrs.ngram.inputs.parse_memory`)
        bounds the memory of counting and estimation, temporary files going to
        ``temp_dir``: for the interpolated methods on the Rust backend the model is
        estimated as :func:`build_arpa` does, into an ARPA file in ``temp_dir`` that is then
        read (the model in memory is the only thing that outgrows the budget; no counts are
        kept); the other methods count within the budget (:meth:`NGramCounts.count_files`)
        and estimate in memory. The model is the same.

        Example:
            >>> NGramLM(2, "add_k").fit([["a", "b"], "b a"]).vocab_size
            5
        """
        unknown = set(options) - set(self.options)
        if unknown:
            raise TypeError(f"fit: unknown option(s) {sorted(unknown)}")
        if options:
            self._configure(**options)
        consume = not keep_counts
        if memory is not None and not isinstance(data, os.PathLike):
            raise TypeError("memory: bounded counting reads a text file: give data as a Path")
        if isinstance(data, NGramCounts):
            if data.order != self.order:
                raise ValueError(f"data: counts of order {data.order}, the model is {self.order}")
            counts = data
        elif isinstance(data, os.PathLike):
            path = file_path(data, "data")
            if memory is not None and self.backend == "rust" and self.smoothing in INTERPOLATED:
                return self._fit_bounded(path, memory, temp_dir)
            counts = NGramCounts.count_files(
                [path], self.order, memory=memory, temp_dir=temp_dir, backend=self.backend
            )
        else:
            counts = NGramCounts(self.order, backend=self.backend)
            counts.add(text_lines(data, "data"))
        if counts.tokens == 0:
            raise ValueError("data: the corpus is empty (no sentence has a token)")
        if counts.backend != self.backend:
            raise ValueError(f"data: counts of backend {counts.backend!r}, not {self.backend!r}")
        engine = ngram_model_engine(self.backend).estimate(
            counts._engine, self.smoothing, consume=consume, **self.options
        )
        self._set_model(engine)
        self.counts = None if consume else counts
        return self

    def _fit_bounded(
        self, path: Path, memory: Union[int, str], temp_dir: Optional[PathLike]
    ) -> NGramLM:
        """:meth:`fit` within a memory budget: :func:`build_arpa` into a temporary folder,
        then the model read from its ARPA file."""
        folder = temp_folder(temp_dir)
        budget = parse_memory(memory)
        with tempfile.TemporaryDirectory(prefix="rnnrs-", dir=folder) as tmp:
            arpa = Path(tmp) / "model.arpa"
            engines = ngram_model_engine(self.backend)
            engines.build_arpa_bounded(
                self.order, [path], arpa, self.smoothing, budget, folder, **self.options
            )
            self._set_model(engines.from_arpa(arpa))
        self.counts = None
        return self

    @classmethod
    def from_counts(
        cls, counts: NGramCounts, smoothing: str = "modified_kneser_ney", **kw: Any
    ) -> NGramLM:
        """A model estimated from existing counts.

        Example:
            >>> c = NGramCounts(2).add(["a b", "b a", "a a"])
            >>> NGramLM.from_counts(c, "witten_bell").order
            2
        """
        return cls(counts.order, smoothing, backend=counts.backend, **kw).fit(counts)

    def _set_model(self, engine: Any) -> None:
        self._model = engine
        self._words_cache = self._index_cache = None
        self.order = int(engine.order)

    # The word list and index are copied out of the engine on first use: for a large
    # vocabulary that takes longer than writing the model, which needs neither.
    @property
    def _words(self) -> list[str]:
        if self._words_cache is None:
            self._words_cache = list(self._engine().vocab())
        return self._words_cache

    @property
    def _index(self) -> dict[str, int]:
        if self._index_cache is None:
            self._index_cache = {w: i for i, w in enumerate(self._words)}
        return self._index_cache

    @classmethod
    def _wrap(cls, engine: Any, backend: str) -> NGramLM:
        method = engine.method
        lm = cls(
            int(engine.order),
            method if method in METHODS else "modified_kneser_ney",
            backend=backend,
        )
        lm.smoothing = method
        if engine.stupid_alpha is not None:
            lm.options["alpha"] = float(engine.stupid_alpha)
        lm._set_model(engine)
        return lm

    @classmethod
    def from_arpa(cls, path: PathLike, *, backend: Optional[str] = None) -> NGramLM:
        """Read an ARPA file (KenLM, SRILM or rnnrs). Malformed files raise
        :class:`rnnrs.ArpaError` naming the line.

        Example:
            >>> lm = NGramLM.from_arpa("ptb.o5.arpa")  # doctest: +SKIP
        """
        p = file_path(path, "path")
        b = resolve_backend(backend)
        engine = ngram_model_engine(b).from_arpa(p)
        return cls._wrap(engine, b)

    @classmethod
    def load(cls, path: PathLike, *, backend: Optional[str] = None, verify: bool = True) -> NGramLM:
        """Load rnnrs's binary form (memory-mapped on the Rust backend). The file's checksum
        and values are verified first (one pass over the file);
        ``verify=False`` skips that for a trusted file too large to read at every load, and
        is the only way to load a version-1 file (written without a checksum).

        Example:
            >>> lm = NGramLM.load("model.ngram")  # doctest: +SKIP
        """
        p = file_path(path, "path")
        b = resolve_backend(backend)
        if not isinstance(verify, bool):
            raise TypeError(f"verify: expected a bool, got {type(verify).__name__}")
        engine = ngram_model_engine(b).load(p, verify=verify)
        return cls._wrap(engine, b)

    def _engine(self) -> Any:
        if self._model is None:
            raise NotFittedError("the model is not trained: call fit() or load one first")
        return self._model

    def to_arpa(self, path: PathLike) -> None:
        """Write the model as an ARPA file (atomically). Refused for stupid_backoff.

        Example:
            >>> NGramLM(2, "witten_bell").fit(["a b"]).to_arpa("m.arpa")  # doctest: +SKIP
        """
        self._engine().to_arpa(file_path(path, "path", must_exist=False))

    def save(self, path: PathLike) -> None:
        """Write rnnrs's binary form (atomically); read it back with :meth:`load`.

        Example:
            >>> NGramLM(2, "witten_bell").fit(["a b"]).save("m.ngram")  # doctest: +SKIP
        """
        self._engine().save(file_path(path, "path", must_exist=False))

    # ------------------------------------------------------------------ queries
    @property
    def vocab(self) -> list[str]:
        """Words by id (``<unk>``, ``<s>``, ``</s>`` first)."""
        self._engine()
        return list(self._words)

    @property
    def vocab_size(self) -> int:
        """Number of words, specials included."""
        self._engine()
        return len(self._words)

    @property
    def num_ngrams(self) -> list[int]:
        """n-grams of each order in the model (as in an ARPA header)."""
        return [int(x) for x in self._engine().num_ngrams()]

    @property
    def memory_bytes(self) -> int:
        """Approximate bytes held by the model."""
        return int(self._engine().memory_bytes())

    def _check_proper(self, what: str) -> None:
        if self.smoothing == "stupid_backoff":
            raise ValueError(
                f"{what}: stupid_backoff gives scores, not probabilities, so a {what} would "
                "mislead; use score() for the scores or another smoothing"
            )

    def word_id(self, word: str) -> int:
        """The id of ``word`` (``<unk>``'s, 0, when unknown)."""
        self._engine()
        return self._index.get(word, UNK)

    def logprob(
        self, word: str, context: Union[str, Sequence[str]] = (), *, bos: bool = False
    ) -> float:
        """log10 p(word | context), as ARPA files hold it. ``context`` is a string of words
        or a list (oldest first); with ``bos=True`` it follows ``<s>`` (a sentence start).
        Unknown words count as ``<unk>``.

        Example:
            >>> lm = NGramLM(2, "witten_bell").fit(["a b"])
            >>> round(lm.logprob("b", "a"), 4)
            -0.1899
        """
        if not isinstance(word, str):
            raise TypeError(f"word: expected a string, got {type(word).__name__}")
        ctx = context.split() if isinstance(context, str) else list(context)
        ids = [self.word_id(w) for w in ctx]
        return float(self._engine().logprob(ids, self.word_id(word), bool(bos)))

    def encode(self, sentences: Text) -> np.ndarray:
        """Sentences (a string of text, a list of sentences or a ``pathlib.Path``, as
        :meth:`perplexity` takes them) as one id stream for :meth:`score_ids`: each
        sentence's word ids then ``</s>`` (id 2); unknown words are ``<unk>`` (id 0).

        Example:
            >>> NGramLM(2, "mle").fit(["a b"]).encode(["b a c"]).tolist()
            [4, 3, 0, 2]
        """
        return self._engine().encode_lines(text_lines(sentences, "sentences"))

    def score_ids(self, ids: Any, *, per_token: bool = False) -> Union[float, np.ndarray]:
        """Score a 1-D array of ids: sentences ended by ``</s>``, each after ``<s>``.
        Returns the total log10 probability, or with ``per_token`` a float64 array of
        log10 p per token. Parallel and GIL-free on the Rust backend.

        Example:
            >>> lm = NGramLM(2, "witten_bell").fit(["a b"])
            >>> lm.score_ids(lm.encode(["a b"]), per_token=True).round(4).tolist()
            [-0.1899, -0.1899, -0.1899]
        """
        a = id_array(ids, "ids")
        engine = self._engine()
        if per_token:
            return engine.score_ids(a)
        return float(engine.total_ids(a))

    def ngram_lengths(self, ids: Any) -> np.ndarray:
        """For each token of a 1-D id stream (as :meth:`score_ids` takes it), the length of
        the longest n-gram of the model that scored it: ``order`` for a fully seen n-gram, 1
        when it backed off to the unigram (KenLM ``query``'s middle figure).

        Example:
            >>> lm = NGramLM(2, "witten_bell").fit(["a b"])
            >>> lm.ngram_lengths(lm.encode(["a b", "b a"])).tolist()
            [2, 2, 2, 1, 1, 1]
        """
        return np.asarray(self._engine().ngram_lengths(id_array(ids, "ids")), dtype=np.uint8)

    def score(self, sentence: Union[str, Sequence[str]], *, per_token: bool = False) -> Any:
        """log10 probability of a sentence (words then ``</s>``, after ``<s>``): the
        total, or with ``per_token`` a list of ``(word, log10 p)`` including ``</s>``.

        Example:
            >>> lm = NGramLM(2, "witten_bell").fit(["a b"])
            >>> round(lm.score("a b"), 4)
            -0.5696
        """
        words = sentence_lines([sentence], "sentence")[0].split()
        ids = np.array([self.word_id(w) for w in words] + [EOS], dtype=np.uint32)
        scores = self._engine().score_ids(ids)
        if per_token:
            return list(zip([*words, "</s>"], scores.tolist()))
        return float(scores.sum())

    def score_sentences(self, sentences: Text) -> SentenceScores:
        """Log-probability of each sentence (``sentences``: a string, one sentence per
        line; a ``pathlib.Path`` to such a file; or a list of strings or token lists): its
        words then ``</s>``, after ``<s>``; ``.log10`` is :meth:`score`'s figure (the ARPA
        log10 sum), ``.logprob`` the natural log. All sentences are scored
        in one batched call; an empty sentence scores its ``</s>``.

        Example:
            >>> lm = NGramLM(2, "witten_bell").fit(["a b"])
            >>> lm.score_sentences(["a b", ""]).log10.round(4).tolist()
            [-0.5696, -0.8361]
        """
        self._check_proper("score_sentences")
        words = [line.split() for line in sentence_texts(sentences)]
        index = self._index
        ids = [[index.get(w, UNK) for w in s] + [EOS] for s in words]
        flat = np.fromiter((i for s in ids for i in s), dtype=np.uint32)
        scores = np.asarray(self._engine().score_ids(flat)) * LN10
        bounds = np.cumsum([len(s) for s in ids])[:-1]
        return SentenceScores.from_token_logprobs(np.split(scores, bounds) if ids else [])

    def perplexity(self, text: Text, include_oov: bool = True) -> float:
        """Perplexity on ``text`` as KenLM's ``query`` reports it: 10 ** (-total log10 p /
        tokens), tokens counting every word and one ``</s>`` per sentence. ``text``: a
        string (one sentence, or one per line), a list of sentences, or a ``pathlib.Path``
        to a file with one sentence per line. With ``include_oov=False``, unknown words
        (``<unk>``, the corpus's own included: docs/ngram.md) are left out of both the total
        and the count (their ``<unk>`` context still conditions the words after them).

        Example:
            >>> lm = NGramLM(2, "witten_bell").fit(["a b", "b a"])
            >>> round(lm.perplexity("a b a"), 4)
            2.4828
            >>> lm.perplexity("a b\\nb b a") == lm.perplexity(["a b", "b b a"])
            True
        """
        self._check_proper("perplexity")
        ids = self.encode(text_lines(text, "text"))
        scores = self._engine().score_ids(ids)
        if not include_oov:
            scores = scores[ids != UNK]
        if scores.size == 0:
            raise ValueError("text: no tokens to score")
        return float(10.0 ** (-scores.sum() / scores.size))

    def stats(self, text: Text) -> dict[str, float]:
        """KenLM ``query``'s summary of ``text`` (as :meth:`perplexity` takes it):
        perplexity with and without OOVs, tokens, OOVs.

        Example:
            >>> NGramLM(2, "witten_bell").fit(["a b"]).stats(["a z"])["oovs"]
            1
        """
        self._check_proper("perplexity")
        ids = self.encode(text_lines(text, "text"))
        scores = self._engine().score_ids(ids)
        known = ids != UNK
        n_known = int(known.sum())
        return {
            "perplexity": float(10.0 ** (-scores.sum() / max(scores.size, 1))),
            "perplexity_excluding_oovs": float(10.0 ** (-scores[known].sum() / max(n_known, 1))),
            "tokens": int(scores.size),
            "oovs": int(scores.size - n_known),
            "log10_prob": float(scores.sum()),
        }

    # --------------------------------------------------------------- generation
    def encode_prompt(self, prompt: Prompt) -> list[int]:
        """A prompt as ids: text is split on whitespace (unknown words -> ``<unk>``); ids
        are checked. Generation starts after ``<s>`` and the prompt."""
        if isinstance(prompt, str):
            return [self.word_id(w) for w in prompt.split()]
        ids = [int(i) for i in prompt]
        if any(not 0 <= i < self.vocab_size for i in ids):
            raise ValueError(f"prompt: ids must be in [0, {self.vocab_size}), got {ids}")
        return ids

    def decode_ids(self, ids: Sequence[int]) -> str:
        """Ids as space-joined words."""
        return " ".join(self._words[int(i)] for i in ids)

    def gen_start(self, prompt_ids: list[int]) -> tuple[int, ...]:
        """Generation state: the ids after ``<s>`` and after the prompt's last ``</s>``
        (only the last order-1 matter)."""
        ends = [i for i, t in enumerate(prompt_ids) if t == EOS]
        return tuple(prompt_ids[ends[-1] + 1 :] if ends else prompt_ids)

    def gen_logprobs(self, state: tuple[int, ...]) -> np.ndarray:
        """Natural-log probabilities of the next word over the whole vocabulary (``<s>``:
        -inf)."""
        return np.asarray(self._engine().distribution(list(state), True)) * LN10

    def gen_advance(self, state: tuple[int, ...], token_id: int) -> tuple[int, ...]:
        """The state after ``token_id`` (a new tuple): after ``</s>``, a new sentence."""
        if token_id == EOS:
            return ()
        new = (*state, int(token_id))
        keep = self.order - 1
        return new[len(new) - keep :] if len(new) > keep else new

    def gen_end_ids(self) -> frozenset[int]:
        """``{</s>}``."""
        return frozenset({EOS})

    def generate(
        self,
        prompt: Prompt = "",
        max_new_tokens: int = 20,
        *,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        greedy: bool = False,
        seed: Optional[int] = None,
        stop: Union[str, Sequence[str], None] = None,
        stop_at_end: bool = True,
    ) -> Any:
        """Sample up to ``max_new_tokens`` words continuing ``prompt`` (words after
        ``<s>``, or word ids). Text in, space-separated words out; ids in, the new ids out.

        ``temperature`` (> 0) divides the log-probabilities; ``top_k`` keeps the k likeliest
        words, ``top_p`` the smallest set reaching that probability (nucleus sampling);
        ``greedy`` takes the likeliest word every time; the same ``seed`` gives the same
        result. ``stop`` (text prompts): stop as soon as the text contains one of these
        strings, cut just before it. ``stop_at_end``: stop at ``</s>``, not included;
        ``False`` goes on across sentence ends (``</s>`` is then a token of the result and
        starts a new sentence). See :func:`rnnrs.generation.generate`.

        Example:
            >>> lm = NGramLM(2, "witten_bell").fit(["a b", "b a"])
            >>> isinstance(lm.generate("a", 5, seed=0), str)
            True
            >>> len(lm.generate("a", 12, seed=0, stop_at_end=False).split())
            12
        """
        return generate(
            self,
            prompt,
            max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            greedy=greedy,
            seed=seed,
            stop=stop,
            stop_at_end=stop_at_end,
        )

    def beam_search(
        self,
        prompt: Prompt = "",
        beam_width: int = 4,
        max_new_tokens: int = 20,
        *,
        length_penalty: float = 1.0,
        stop_at_end: bool = True,
    ) -> Any:
        """The likeliest continuation of ``prompt`` found by a beam search of
        ``beam_width`` hypotheses, at most ``max_new_tokens`` words. Hypotheses are ranked
        by total log-probability / length ** ``length_penalty`` (0: raw probability, which
        favours short endings; 1: mean per word). ``stop_at_end``: a hypothesis ends at
        ``</s>``. See :func:`rnnrs.generation.beam_search`.

        Example:
            >>> NGramLM(2, "mle").fit(["a b"]).beam_search("a", 2, 5)
            'b'
        """
        return beam_search(
            self,
            prompt,
            beam_width,
            max_new_tokens,
            length_penalty=length_penalty,
            stop_at_end=stop_at_end,
        )

    def __repr__(self) -> str:
        sizes = self.num_ngrams if self._model is not None else "untrained"
        return f"NGramLM(order={self.order}, smoothing={self.smoothing!r}, ngrams={sizes})"


def build_arpa(
    texts: Sequence[PathLike],
    output: PathLike,
    order: int = 5,
    smoothing: str = "modified_kneser_ney",
    *,
    memory: Union[int, str, None] = None,
    temp_dir: Optional[PathLike] = None,
    backend: Optional[str] = None,
    **options: Any,
) -> list[int]:
    """Count text files and write the model as an ARPA file, as lmplz does; returns the
    number of n-grams of each order written. ``options``: the smoothing knobs of
    :class:`NGramLM`.

    With ``memory`` (bytes or a size such as ``"1G"``, ``"500M"``, ``"80%"``; see
    :func:`rnnrs.ngram.inputs.parse_memory`) and an interpolated method
    (``modified_kneser_ney``, ``kneser_ney``, ``absolute``, ``witten_bell``), the Rust
    engine counts and estimates within that budget, no model ever in memory: sorted runs
    spill to ``temp_dir`` (default: the system's temporary folder), the n-grams are
    estimated a group of last words at a time, and the file is written in sorted order, the
    same bytes as ``NGramLM(...).fit(...).to_arpa(output)``. The vocabulary comes on top of
    the budget. Temporary files are removed when it ends, also on errors and Ctrl-C. Other
    methods, and the NumPy backend, estimate in memory.

    Example:
        >>> build_arpa(["big.txt"], "big.arpa", 5, memory="2G")  # doctest: +SKIP
        [1234567, 9876543, 21234567, 30123456, 31234567]
    """
    lm = NGramLM(order, smoothing, backend=backend, **options)
    paths = [file_path(p, "texts") for p in texts]
    out = file_path(output, "output", must_exist=False)
    if memory is not None and lm.backend == "rust" and lm.smoothing in INTERPOLATED:
        written = ngram_model_engine(lm.backend).build_arpa_bounded(
            order,
            paths,
            out,
            lm.smoothing,
            parse_memory(memory),
            temp_folder(temp_dir),
            **lm.options,
        )
        return [int(x) for x in written]
    counts = NGramCounts.count_files(
        paths, order, memory=memory, temp_dir=temp_dir, backend=lm.backend
    )
    lm.fit(counts, keep_counts=False)
    lm.to_arpa(out)
    return lm.num_ngrams
