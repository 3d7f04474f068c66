"""A word-level RNN's token log-probabilities over text: one running stream, or sentence by
sentence in padded batches.

A sentence is scored as an n-gram model scores it: each word and one ``</s>``, after a
sentence start. A word-level RNN's sentence start is ``</s>`` (the token before every line
but the first in its training stream, as in PyTorch's word_language_model and Mikolov's
RNNLM), so the RNN and the n-gram model score the same tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from ..reference.loss import log_softmax

# Elements of one (B, T, V) float64 block of log-probabilities: 128 MB.
_BLOCK_ELEMENTS = 1 << 24


def _folded_logprob(logp: np.ndarray, folded: np.ndarray) -> np.ndarray:
    """log of the summed probability of the ``folded`` columns, per row of ``logp``."""
    cols = logp[..., folded]
    top = cols.max(axis=-1, keepdims=True)
    return np.asarray((top + np.log(np.exp(cols - top).sum(axis=-1, keepdims=True)))[..., 0])


def rnn_stream_logprobs(
    model: Any,
    ids: np.ndarray,
    *,
    bptt: int = 256,
    fold: Optional[tuple[np.ndarray, np.ndarray]] = None,
) -> np.ndarray:
    """Natural-log probability of ids[t] given ids[:t] (t = 1..N-1) under an RNNLM, one
    stream with the state carried across chunks of ``bptt``. ``fold`` = (a bool mask, one
    per target; ids): where the mask is set, the probability is that of the whole set of
    ids (a word class the caller merges, e.g. every word outside a shared vocabulary)."""
    out = np.empty(len(ids) - 1)
    state = None
    for s in range(0, len(ids) - 1, bptt):
        t = min(bptt, len(ids) - 1 - s)
        logits, state = model.logits(ids[None, s : s + t], state)
        logp = log_softmax(logits[0].astype(np.float64))
        out[s : s + t] = logp[np.arange(t), ids[s + 1 : s + 1 + t]]
        if fold is not None:
            rows = np.flatnonzero(fold[0][s : s + t])
            if rows.size:
                out[s + rows] = _folded_logprob(logp[rows], fold[1])
    return out


def rnn_sentence_logprobs(
    model: Any,
    sentences: Sequence[np.ndarray],
    start_id: int,
    end_id: int,
    *,
    fold: Optional[tuple[Sequence[np.ndarray], np.ndarray]] = None,
) -> list[np.ndarray]:
    """Natural-log probability of each word and the final ``end_id`` of every sentence (ids
    without start or end), each sentence read from a fresh state after ``start_id``.

    Sentences of similar length run together as one padded (B, T) batch through the
    model's forward (the Rust engine on that backend): the recurrence is causal, so padding
    after a sentence's end changes none of its scores. ``fold`` as in
    :func:`rnn_stream_logprobs`, with one mask per sentence."""
    out: list[np.ndarray] = [np.zeros(0)] * len(sentences)
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    vocab = int(model.vocab_size)
    position = 0
    while position < len(order):
        longest, end = 0, position
        # Grow the batch while a (B, T, V) block of the longest sentence so far fits.
        while end < len(order):
            width = len(sentences[order[end]]) + 1
            if (end - position + 1) * width * vocab > _BLOCK_ELEMENTS and end > position:
                break
            longest = width
            end += 1
        group = order[position:end]
        x = np.full((len(group), longest), end_id, dtype=np.uint32)
        y = np.full((len(group), longest), end_id, dtype=np.uint32)
        for row, i in enumerate(group):
            words = np.asarray(sentences[i], dtype=np.uint32)
            x[row, 0] = start_id
            x[row, 1 : len(words) + 1] = words
            y[row, : len(words)] = words
        logits, _ = model.logits(x, None)
        logp = log_softmax(logits.astype(np.float64))
        for row, i in enumerate(group):
            n = len(sentences[i]) + 1
            scores = logp[row, np.arange(n), y[row, :n]]
            if fold is not None:
                rows = np.flatnonzero(fold[0][i])
                if rows.size:
                    scores[rows] = _folded_logprob(logp[row, rows], fold[1])
            out[i] = scores
        position = end
    return out
