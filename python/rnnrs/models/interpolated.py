"""Linear interpolation of word-level language models: :func:`interpolate`.

P(w | h) = sum_k lambda_k P_k(w | h), token by token, over one shared word vocabulary; the
weights lambda_k >= 0 sum to 1 and are fit by EM on validation text when not given.

How the vocabularies meet (docs/wordlm.md):

- Text is read as an n-gram model reads it: one sentence per non-empty line, words split on
  whitespace, each sentence ended by ``</s>``. An n-gram model starts a sentence after
  ``<s>``; a word-level RNN after ``</s>``, the token before every line of its training
  stream. Both score the same tokens: every word and every ``</s>``.
- Specials are matched by name: ``<unk>`` with ``<unk>``, ``</s>`` with ``</s>``, ``<s>``
  with ``<s>``; the mixture's vocabulary holds every component's specials (the RNN's
  ``<pad>`` too) and a component gives probability 0 to a special it does not have (an
  n-gram model to ``<pad>``; to ``<s>`` it gives 0 anyway).
- Words are matched by spelling. With ``vocab="same"`` (the default) every model must know
  the same words (ValueError otherwise). With ``vocab="intersection"`` the mixture keeps the
  words every model knows, and a word outside them is the mixture's ``<unk>``: each model's
  probability of ``<unk>`` is then its summed probability of ``<unk>`` and of all its words
  the mixture leaves out, so each model still gives a distribution over the mixture's
  vocabulary that sums to 1.

A word unknown to the mixture is ``<unk>`` in every model's input too, unless a model knows
it (with ``vocab="intersection"``): models read the words they know.

Example:
    >>> import rnnrs
    >>> a = rnnrs.NGramLM(2, "witten_bell").fit(["a b", "b a b"])
    >>> b = rnnrs.NGramLM(2, "add_k").fit(["a b", "b a b"])
    >>> mix = rnnrs.interpolate([a, b], weights=[0.3, 0.7])
    >>> p = 0.3 * 10 ** a.logprob("b", "a") + 0.7 * 10 ** b.logprob("b", "a")
    >>> bool(np.isclose(mix.token_logprobs(["a b"])[1], np.log(p)))
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from ..generation import Prompt, beam_search, generate
from ..ngram.inputs import Text, sentence_texts
from ..scoring import SentenceScores
from .mixture_components import component

VOCAB_MODES = ("same", "intersection")


def check_weights(weights: Any, count: int) -> np.ndarray:
    """``weights`` as a float64 array: ``count`` finite non-negative numbers summing to 1
    (within 1e-6); ValueError naming what is wrong.

    Example:
        >>> check_weights([0.25, 0.75], 2).tolist()
        [0.25, 0.75]
    """
    try:
        w = np.asarray([float(x) for x in weights], dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"weights: expected a sequence of numbers, got {weights!r}") from None
    if w.shape != (count,):
        raise ValueError(f"weights: expected one weight per model ({count}), got {len(w)}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights: must be finite and non-negative, got {w.tolist()}")
    if abs(float(w.sum()) - 1.0) > 1e-6:
        raise ValueError(f"weights: must sum to 1, got {w.tolist()} (sum {float(w.sum())!r})")
    return w


def mix_logprobs(logprobs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """log sum_k w_k exp(logprobs[k]) along the first axis (a weight of 0 drops a model).

    Example:
        >>> mix_logprobs(np.log([[0.2], [0.6]]), np.array([0.5, 0.5])).round(6).tolist()
        [-0.916291]
    """
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    joint = logprobs + log_w.reshape((-1,) + (1,) * (logprobs.ndim - 1))
    top = joint.max(axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.asarray(safe + np.log(np.exp(joint - safe).sum(axis=0)))


def em_weights(
    logprobs: np.ndarray, *, max_iter: int = 1000, tol: float = 1e-9
) -> tuple[np.ndarray, int]:
    """Mixture weights maximising the mean log-likelihood of tokens whose natural-log
    probability under model k is ``logprobs[k]`` (K, N), by EM from equal weights:
    posterior of each model per token, new weight = mean posterior. Stops when the mean
    log-likelihood gains less than ``tol`` nats per token. Tokens no model can give are
    left out. Returns (weights, iterations).

    Example:
        >>> lp = np.log([[0.6, 0.6, 0.6, 0.1, 0.1], [0.2, 0.2, 0.2, 0.3, 0.3]])
        >>> w, _ = em_weights(lp, tol=1e-14)
        >>> w.round(4).tolist()
        [0.7, 0.3]
    """
    lp = np.asarray(logprobs, dtype=np.float64)
    lp = lp[:, np.isfinite(lp).any(axis=0)]
    k = lp.shape[0]
    weights = np.full(k, 1.0 / k)
    if lp.shape[1] == 0:
        raise ValueError("logprobs: no token that any model can give, nothing to fit")
    previous = -math.inf
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        total = mix_logprobs(lp, weights)
        with np.errstate(divide="ignore"):
            joint = lp + np.log(weights)[:, None]
        posterior = np.exp(joint - total)
        likelihood = float(total.mean())
        weights = posterior.mean(axis=1)
        weights /= weights.sum()
        if likelihood - previous < tol:
            break
        previous = likelihood
    return weights, iterations


def read_sentences(text: Text, name: str = "text", *, keep_empty: bool = False) -> list[list[str]]:
    """Sentences as word lists: a string is text (one sentence per line), a
    ``pathlib.Path`` a file of one sentence per line, a list holds strings (split on
    whitespace) or token lists. Lines without a word are skipped, as the
    n-gram models skip them in a perplexity, unless ``keep_empty``."""
    words = [line.split() for line in sentence_texts(text, name)]
    return words if keep_empty else [w for w in words if w]


class InterpolatedLM:
    """A linear mixture of word-level language models (:class:`rnnrs.RNNLM` with a
    WordTokenizer, :class:`rnnrs.NGramLM`); made by :func:`interpolate`.

    It scores and generates as the models do: :meth:`perplexity`, :meth:`token_logprobs`,
    :meth:`score_sentences`, :meth:`generate`, :meth:`beam_search`. ``weights`` are the
    mixture weights; :meth:`fit_weights` fits them by EM.
    """

    def __init__(
        self, models: Sequence[Any], weights: Any = None, *, vocab: str = "same"
    ) -> None:
        if isinstance(models, (str, bytes)) or not isinstance(models, Sequence):
            raise TypeError("models: expected a list of language models")
        if len(models) < 2:
            raise ValueError(f"models: a mixture needs at least 2 models, got {len(models)}")
        if vocab not in VOCAB_MODES:
            raise ValueError(f"vocab: expected one of {', '.join(VOCAB_MODES)}, got {vocab!r}")
        self.models = tuple(models)
        self._components = [component(m, f"models[{i}]") for i, m in enumerate(models)]
        self.vocab_mode = vocab
        self._build_vocab()
        count = len(models)
        given = [1.0 / count] * count if weights is None else weights
        self.weights: tuple[float, ...] = tuple(float(w) for w in check_weights(given, count))
        self.em_iterations = 0  # EM steps of the last fit_weights

    def _build_vocab(self) -> None:
        """The shared vocabulary and each model's way in and out of it."""
        specials: list[str] = []
        for comp in self._components:
            specials.extend(s for s in comp.specials if s not in specials)
        word_sets = [set(c.tokens) - set(c.specials) for c in self._components]
        if self.vocab_mode == "same":
            for i, words in enumerate(word_sets[1:], start=1):
                if words != word_sets[0]:
                    only_here = sorted(words - word_sets[0])
                    only_first = sorted(word_sets[0] - words)
                    raise ValueError(
                        f"models: the vocabularies differ: models[{i}] has {len(only_here)} "
                        f"words models[0] lacks (e.g. {only_here[:3]}) and lacks "
                        f"{len(only_first)} of its words (e.g. {only_first[:3]}); train them "
                        "on the same vocabulary, or give vocab='intersection' to map every "
                        "word outside the shared ones to <unk>"
                    )
        shared = set.intersection(*word_sets)
        first = self._components[0]
        kept = [w for w in first.tokens if w in shared and w not in first.specials]
        self.vocab: list[str] = [*specials, *kept]
        self._index = {w: i for i, w in enumerate(self.vocab)}
        self.unk_id = self._index["<unk>"]
        self.end_id = self._index["</s>"]
        # Per model: its id of each mixture token (its <unk> when it has none), the mixture
        # id of each of its tokens, and the ids it folds into the mixture's <unk>.
        self._into: list[np.ndarray] = []
        self._out_of: list[np.ndarray] = []
        self._folded: list[Optional[np.ndarray]] = []
        for comp in self._components:
            own = {t: i for i, t in enumerate(comp.tokens)}
            self._into.append(
                np.array([own.get(w, comp.unk_id) for w in self.vocab], dtype=np.int64)
            )
            out = np.array([self._index.get(t, self.unk_id) for t in comp.tokens], dtype=np.int64)
            self._out_of.append(out)
            folded = np.flatnonzero(out == self.unk_id)
            self._folded.append(folded if len(folded) > 1 else None)

    @property
    def vocab_size(self) -> int:
        """Number of tokens in the shared vocabulary (specials included)."""
        return len(self.vocab)

    def __repr__(self) -> str:
        names = ", ".join(type(m).__name__ for m in self.models)
        weights = ", ".join(f"{w:.4f}" for w in self.weights)
        return f"InterpolatedLM([{names}], weights=[{weights}], vocab_size={self.vocab_size})"

    # ------------------------------------------------------------------ scoring

    def _component_ids(self, sentences: list[list[str]], k: int) -> list[np.ndarray]:
        own = {t: i for i, t in enumerate(self._components[k].tokens)}
        unk = self._components[k].unk_id
        return [np.array([own.get(w, unk) for w in s], dtype=np.uint32) for s in sentences]

    def component_logprobs(self, text: Text, *, stream: bool = True) -> np.ndarray:
        """(models, tokens) natural-log probabilities of every word and ``</s>`` under each
        model, over the shared vocabulary. ``stream=True`` reads the sentences as one
        running text (an RNN carries its state across lines, as ``rnnrs eval`` scores a
        file); ``False`` scores each sentence on its own."""
        rows = self._component_sentence_logprobs(read_sentences(text), stream)
        return np.array([np.concatenate(r) if r else np.zeros(0) for r in rows])

    def _component_sentence_logprobs(
        self, sentences: list[list[str]], stream: bool
    ) -> list[list[np.ndarray]]:
        unknown = [np.array([w not in self._index for w in s]) for s in sentences]
        rows = []
        for k, comp in enumerate(self._components):
            folded = self._folded[k]
            fold = None if folded is None else (unknown, folded)
            ids = self._component_ids(sentences, k)
            rows.append(comp.sentence_logprobs(ids, stream=stream, fold=fold))
        return rows

    def token_logprobs(self, text: Text) -> np.ndarray:
        """Natural-log probability under the mixture of every word and ``</s>`` of ``text``
        (a path, or sentences as strings or token lists), read as one running text."""
        return mix_logprobs(self.component_logprobs(text), np.array(self.weights))

    def perplexity(self, text: Text) -> float:
        """exp(-mean natural-log probability) over every word and ``</s>`` of ``text``: the
        same tokens an n-gram model's perplexity counts (so the figure is comparable)."""
        logprobs = self.token_logprobs(text)
        if logprobs.size == 0:
            raise ValueError("text: no tokens to score")
        return float(math.exp(-float(logprobs.mean())))

    def evaluate(self, text: Text) -> dict[str, Any]:
        """Each model's perplexity and the mixture's on the same tokens of ``text``:
        ``perplexities`` (one per model), ``mixture_perplexity``, ``weights``, ``tokens``."""
        lp = self.component_logprobs(text)
        if lp.shape[1] == 0:
            raise ValueError("text: no tokens to score")
        mixed = mix_logprobs(lp, np.array(self.weights))
        return {
            "perplexities": [float(math.exp(-float(row.mean()))) for row in lp],
            "mixture_perplexity": float(math.exp(-float(mixed.mean()))),
            "weights": list(self.weights),
            "tokens": int(lp.shape[1]),
        }

    def fit_weights(self, text: Text, *, max_iter: int = 1000, tol: float = 1e-9) -> list[float]:
        """Fit the weights by EM (:func:`em_weights`) to maximise the likelihood of
        ``text`` (held-out validation text, read as :meth:`token_logprobs` reads it); sets
        and returns them. ``self.em_iterations`` tells how many EM steps it took."""
        lp = self.component_logprobs(text)
        if lp.shape[1] == 0:
            raise ValueError("text: no tokens to fit the weights on")
        weights, self.em_iterations = em_weights(lp, max_iter=max_iter, tol=tol)
        self.weights = tuple(float(w) for w in weights)
        return list(self.weights)

    def score_sentences(self, sentences: Text) -> SentenceScores:
        """Log-probability of each sentence (its words and ``</s>``) under the mixture, each
        sentence scored on its own from a sentence start: natural log and log10. An empty
        sentence scores its ``</s>``."""
        words = read_sentences(sentences, "sentences", keep_empty=True)
        rows = self._component_sentence_logprobs(words, False)
        weights = np.array(self.weights)
        per_sentence = [mix_logprobs(np.array(column), weights) for column in zip(*rows)]
        return SentenceScores.from_token_logprobs(per_sentence)

    # ------------------------------------------------------------------ generation protocol

    def encode_prompt(self, prompt: Prompt) -> list[int]:
        """A prompt as mixture ids: text split on whitespace (unknown words -> ``<unk>``),
        or ids checked against the shared vocabulary. Generation starts a sentence."""
        if isinstance(prompt, str):
            return [self._index.get(w, self.unk_id) for w in prompt.split()]
        ids = [int(i) for i in prompt]
        if any(not 0 <= i < self.vocab_size for i in ids):
            raise ValueError(f"prompt: ids must be in [0, {self.vocab_size}), got {ids}")
        return ids

    def decode_ids(self, ids: Sequence[int]) -> str:
        """Mixture ids as space-joined words."""
        return " ".join(self.vocab[int(i)] for i in ids)

    def gen_start(self, prompt_ids: list[int]) -> tuple[Any, ...]:
        """Every model's state after a sentence start and the prompt."""
        return tuple(
            comp.gen_start([int(into[i]) for i in prompt_ids])
            for comp, into in zip(self._components, self._into)
        )

    def gen_logprobs(self, state: tuple[Any, ...]) -> np.ndarray:
        """Natural-log probabilities (float64) of the next token over the shared vocabulary:
        each model's distribution carried into it (folded words summed into ``<unk>``),
        then mixed."""
        mixed = np.zeros(self.vocab_size)
        for comp, out, w, s in zip(self._components, self._out_of, self.weights, state):
            probs = np.exp(comp.gen_logprobs(s))
            mixed += w * np.bincount(out, weights=probs, minlength=self.vocab_size)
        with np.errstate(divide="ignore"):
            return np.asarray(np.log(mixed))

    def gen_advance(self, state: tuple[Any, ...], token_id: int) -> tuple[Any, ...]:
        """Every model's state after ``token_id`` (a mixture id)."""
        return tuple(
            comp.gen_advance(s, int(into[token_id]))
            for comp, into, s in zip(self._components, self._into, state)
        )

    def gen_end_ids(self) -> frozenset[int]:
        """``{</s>}``."""
        return frozenset({self.end_id})

    def generate(self, prompt: Prompt = "", max_new_tokens: int = 20, **kwargs: Any) -> Any:
        """Sample a continuation from the mixture (options of
        :func:`rnnrs.generation.generate`)."""
        return generate(self, prompt, max_new_tokens, **kwargs)

    def beam_search(
        self, prompt: Prompt = "", beam_width: int = 4, max_new_tokens: int = 20, **kwargs: Any
    ) -> Any:
        """The most likely continuation under the mixture (see
        :func:`rnnrs.generation.beam_search`)."""
        return beam_search(self, prompt, beam_width, max_new_tokens, **kwargs)


def interpolate(
    models: Sequence[Any],
    weights: Any = None,
    *,
    tune_on: Optional[Text] = None,
    vocab: str = "same",
) -> InterpolatedLM:
    """A linear mixture of word-level language models (see this module's docstring for how
    vocabularies and sentence ends are matched).

    ``weights``: one per model, non-negative, summing to 1; or None to fit them by EM on
    ``tune_on`` (validation text: a path or sentences), reported in ``mix.weights``.

    Example:
        >>> import rnnrs
        >>> lm = rnnrs.NGramLM(2, "witten_bell").fit(["a b", "b a b"])
        >>> mix = rnnrs.interpolate([lm, lm], tune_on=["a b a"])
        >>> [round(w, 3) for w in mix.weights]
        [0.5, 0.5]
        >>> round(mix.perplexity(["a b"]) / lm.perplexity(["a b"]), 9)
        1.0
    """
    if weights is not None and tune_on is not None:
        raise ValueError("weights, tune_on: give one (fixed weights, or text to fit them on)")
    if weights is None and tune_on is None:
        raise ValueError(
            "weights: give the mixture weights, or tune_on= validation text to fit them by EM"
        )
    mix = InterpolatedLM(models, weights, vocab=vocab)
    if tune_on is not None:
        mix.fit_weights(tune_on)
    return mix
