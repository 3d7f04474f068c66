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

# Elements of one (B, T, V) float32 block of logits: 64 MB.
_BLOCK_ELEMENTS = 1 << 24


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    """log sum exp over the last axis: the exponentials in float32 (as the logits), their
    sum and log in float64. Only the normaliser is computed, never a (.., V) float64 copy."""
    top = logits.max(axis=-1, keepdims=True)
    sums = np.exp(logits - top).sum(axis=-1, dtype=np.float64)
    return np.asarray(top[..., 0].astype(np.float64) + np.log(sums))


def _target_logprobs(
    logits: np.ndarray, targets: np.ndarray, fold_rows: np.ndarray, folded: np.ndarray
) -> np.ndarray:
    """log-softmax of ``logits`` (T, V) at ``targets`` (T,), float64; at the rows
    ``fold_rows``, that of the whole set of ids ``folded`` instead."""
    normaliser = _logsumexp(logits)
    out = logits[np.arange(len(targets)), targets].astype(np.float64) - normaliser
    if fold_rows.size:
        out[fold_rows] = _logsumexp(logits[fold_rows][:, folded]) - normaliser[fold_rows]
    return out


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
        x, y = ids[None, s : s + t], ids[None, s + 1 : s + 1 + t]
        if fold is None:
            nll, state = model.engine.token_nll(x, y, state)
            out[s : s + t] = -nll[0]
            continue
        logits, state = model.logits(x, state)
        rows = np.flatnonzero(fold[0][s : s + t])
        out[s : s + t] = _target_logprobs(logits[0], y[0], rows, fold[1])
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
        if fold is None:
            # The log-softmax at the targets, computed by the engine (in Rust, in parallel);
            # the padding after each sentence is not scored.
            lengths = np.array([len(sentences[i]) + 1 for i in group], dtype=np.int64)
            nll, _ = model.engine.token_nll(x, y, None, lengths)
            for row, i in enumerate(group):
                out[i] = -nll[row, : len(sentences[i]) + 1]
        else:
            logits, _ = model.logits(x, None)
            for row, i in enumerate(group):
                n = len(sentences[i]) + 1
                rows = np.flatnonzero(fold[0][i])
                out[i] = _target_logprobs(logits[row, :n], y[row, :n], rows, fold[1])
        position = end
    return out
