"""The word-level language models an interpolated model mixes, behind one interface.

A component knows its vocabulary (tokens by id, which of them are specials), scores
sentences given as its own ids (each word and ``</s>``, after a sentence start), and takes
part in generation. Where a target is marked as folded, its probability is the summed
probability of the component's folded ids: the component's ``<unk>`` and every word the
mixture's shared vocabulary leaves out (see :mod:`rnnrs.models.interpolated`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Optional, Protocol

import numpy as np

from ..ngram.lm import NGramLM
from ..reference.ngram import EOS
from .rnn_scoring import rnn_sentence_logprobs, rnn_stream_logprobs
from .rnnlm import RNNLM

LN10 = math.log(10.0)

# (one bool mask per sentence marking the folded targets, the folded ids)
Fold = tuple[Sequence[np.ndarray], np.ndarray]


class MixtureComponent(Protocol):
    """One model of a mixture, as :class:`rnnrs.models.interpolated.InterpolatedLM` uses it."""

    model: Any
    tokens: list[str]
    specials: tuple[str, ...]
    unk_id: int

    def sentence_logprobs(
        self, sentences: Sequence[np.ndarray], *, stream: bool, fold: Optional[Fold]
    ) -> list[np.ndarray]: ...
    def gen_start(self, ids: list[int]) -> Any: ...
    def gen_logprobs(self, state: Any) -> np.ndarray: ...
    def gen_advance(self, state: Any, token_id: int) -> Any: ...


def _split(values: np.ndarray, sentences: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``values`` (one per word and per ``</s>``) cut sentence by sentence."""
    bounds = np.cumsum([len(s) + 1 for s in sentences])[:-1]
    return list(np.split(values, bounds)) if len(sentences) else []


class RNNComponent:
    """A word-level :class:`rnnrs.RNNLM` (its tokenizer a WordTokenizer splitting on
    whitespace). A sentence starts after ``</s>``, the token before each line in the
    training stream; ``stream=True`` reads the sentences as one stream, the state carried
    from line to line as the model was trained and as ``rnnrs eval`` scores a file."""

    def __init__(self, model: Any, name: str) -> None:
        tok: Any = getattr(model, "tokenizer", None)
        if getattr(tok, "kind", None) != "word":
            raise ValueError(
                f"{name}: an RNN language model in a mixture must be word-level (a "
                "WordTokenizer), as the n-gram models' vocabularies are words"
            )
        if tok.pattern is not None or tok.lowercase:
            raise ValueError(
                f"{name}: the model's tokenizer lowercases or splits with a pattern; a "
                "mixture reads words split on whitespace, as n-gram models do"
            )
        self.model = model
        vocab = tok.vocab
        self.tokens = sorted(vocab, key=vocab.__getitem__)
        self.specials = tuple(tok.SPECIALS)
        self.unk_id = int(tok.unk_id)
        self.end_id = int(tok.eos_id)

    def sentence_logprobs(
        self, sentences: Sequence[np.ndarray], *, stream: bool, fold: Optional[Fold]
    ) -> list[np.ndarray]:
        """Natural-log probability of each word and ``</s>`` of every sentence."""
        if not stream:
            start = end = self.end_id
            return rnn_sentence_logprobs(self.model, sentences, start, end, fold=fold)
        boundary = np.array([self.end_id], dtype=np.uint32)
        ids = np.concatenate([boundary, *(np.concatenate([s, boundary]) for s in sentences)])
        stream_fold = None
        if fold is not None:
            masks = [np.append(m, False) for m in fold[0]]
            stream_fold = (np.concatenate(masks), fold[1])
        return _split(rnn_stream_logprobs(self.model, ids, fold=stream_fold), sentences)

    def gen_start(self, ids: list[int]) -> Any:
        """The state after a sentence start and ``ids``."""
        return self.model.gen_start([self.end_id, *ids])

    def gen_logprobs(self, state: Any) -> np.ndarray:
        """Natural-log probabilities of the next token over the model's vocabulary."""
        return np.asarray(self.model.gen_logprobs(state), dtype=np.float64)

    def gen_advance(self, state: Any, token_id: int) -> Any:
        """The state after ``token_id``."""
        return self.model.gen_advance(state, token_id)


class NGramComponent:
    """An :class:`rnnrs.NGramLM` with probabilities (not stupid backoff). Every sentence
    starts after ``<s>``, so ``stream`` changes nothing."""

    def __init__(self, model: Any, name: str) -> None:
        if model.smoothing == "stupid_backoff":
            raise ValueError(
                f"{name}: stupid_backoff gives scores, not probabilities; a mixture of it "
                "would not be a language model"
            )
        self.model = model
        self.tokens = model.vocab
        self.specials = tuple(self.tokens[:3])  # <unk> <s> </s>
        self.unk_id = 0

    def sentence_logprobs(
        self, sentences: Sequence[np.ndarray], *, stream: bool, fold: Optional[Fold]
    ) -> list[np.ndarray]:
        """Natural-log probability of each word and ``</s>`` of every sentence."""
        ends = [np.append(np.asarray(s, dtype=np.uint32), np.uint32(EOS)) for s in sentences]
        if not ends:
            return []
        scores = np.asarray(self.model.score_ids(np.concatenate(ends), per_token=True)) * LN10
        out = _split(scores, sentences)
        if fold is not None:
            for words, mask, logp in zip(sentences, fold[0], out):
                for j in np.flatnonzero(mask):
                    # The whole next-word distribution, only where a target is folded.
                    dist = self.model.gen_logprobs(tuple(int(w) for w in words[:j]))
                    top = float(np.max(dist[fold[1]]))
                    logp[j] = top + math.log(float(np.exp(dist[fold[1]] - top).sum()))
        return out

    def gen_start(self, ids: list[int]) -> Any:
        """The state after ``<s>`` and ``ids``."""
        return self.model.gen_start(ids)

    def gen_logprobs(self, state: Any) -> np.ndarray:
        """Natural-log probabilities of the next word over the model's vocabulary."""
        return np.asarray(self.model.gen_logprobs(state), dtype=np.float64)

    def gen_advance(self, state: Any, token_id: int) -> Any:
        """The state after ``token_id``."""
        return self.model.gen_advance(state, token_id)


def component(model: Any, name: str) -> MixtureComponent:
    """The mixture interface of an RNNLM or an NGramLM (TypeError for anything else)."""
    if isinstance(model, RNNLM):
        return RNNComponent(model, name)
    if isinstance(model, NGramLM):
        return NGramComponent(model, name)
    raise TypeError(f"{name}: expected an RNNLM or an NGramLM, got {type(model).__name__}")
