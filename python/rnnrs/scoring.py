"""Sentence scores: what ``score_sentences`` returns for every word-level language model
(``RNNLM``, ``NGramLM``, ``InterpolatedLM``).

Example:
    >>> import numpy as np
    >>> s = SentenceScores.from_token_logprobs([np.log([0.5, 0.5]), np.log([0.1])])
    >>> s.log10.round(4).tolist(), s.tokens.tolist()
    ([-0.6021, -1.0], [2, 1])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LN10 = math.log(10.0)


@dataclass(frozen=True)
class SentenceScores:
    """Log-probability of each sentence (words and ``</s>``): ``logprob`` in nats (natural
    log), ``log10`` as ARPA files and KenLM report it, ``tokens`` scored per sentence, and
    ``token_logprobs``, each sentence's natural-log probability per token (``</s>`` last)."""

    logprob: np.ndarray
    log10: np.ndarray
    tokens: np.ndarray
    token_logprobs: tuple[np.ndarray, ...]

    @classmethod
    def from_token_logprobs(cls, per_sentence: Sequence[np.ndarray]) -> SentenceScores:
        """Sum natural-log token probabilities sentence by sentence."""
        logprob = np.array([np.asarray(s).sum() for s in per_sentence], dtype=np.float64)
        tokens = np.array([len(s) for s in per_sentence], dtype=np.int64)
        return cls(logprob, logprob / LN10, tokens, tuple(np.asarray(s) for s in per_sentence))

    @property
    def perplexity(self) -> float:
        """exp(-total log-probability / tokens) over all the sentences."""
        return math.exp(-float(self.logprob.sum()) / max(int(self.tokens.sum()), 1))

    def __len__(self) -> int:
        return len(self.logprob)
