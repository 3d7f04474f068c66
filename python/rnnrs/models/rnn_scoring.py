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

# Sentences share the steps of their common first words: a level of prefixes runs once
# per distinct prefix while the distinct prefixes are at most this share of the sentences
# that reach it (each level is one more engine call). On PTB's 3,000 validation sentences
# that is the first three positions, 2,713 steps instead of 9,000; on n-best lists, whose
# hypotheses share long prefixes, it goes deeper.
_PREFIX_SHARE = 0.75


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

    Every sentence starts from the same state, so sentences that begin with the same words
    share those steps: their first words run once per distinct prefix (see
    :func:`_shared_prefix_logprobs`), the rest of each sentence from its prefix's state in
    padded batches (:func:`_batched_logprobs`). ``fold`` as in :func:`rnn_stream_logprobs`,
    with one mask per sentence; with it, and with the class softmax, every sentence runs
    whole in the batches."""
    if fold is None and model.config.get("softmax", "full") == "full":
        return _shared_prefix_logprobs(model, sentences, start_id, end_id)
    inputs = [np.concatenate(([start_id], s)).astype(np.uint32) for s in sentences]
    targets = [np.concatenate((s, [end_id])).astype(np.uint32) for s in sentences]
    return _batched_logprobs(model, inputs, targets, end_id, fold=fold)


def _batched_logprobs(
    model: Any,
    inputs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    pad_id: int,
    *,
    init: Optional[tuple[tuple[np.ndarray, ...], np.ndarray]] = None,
    fold: Optional[tuple[Sequence[np.ndarray], np.ndarray]] = None,
) -> list[np.ndarray]:
    """Log-probability of ``targets[i]`` after ``inputs[i]`` (equal lengths >= 1), from the
    zero state or, with ``init`` = (a state of N rows, the row of each sequence), from that
    row. Sequences of similar length run together as one padded (B, T) batch through the
    model's forward (the Rust engine on that backend): the recurrence is causal, so padding
    after a sequence's end changes none of its scores."""
    out: list[np.ndarray] = [np.zeros(0)] * len(inputs)
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    vocab = int(model.vocab_size)
    position = 0
    while position < len(order):
        longest, end = 0, position
        # Grow the batch while a (B, T, V) block of the longest sequence so far fits.
        while end < len(order):
            width = len(inputs[order[end]])
            if (end - position + 1) * width * vocab > _BLOCK_ELEMENTS and end > position:
                break
            longest = width
            end += 1
        group = order[position:end]
        x = np.full((len(group), longest), pad_id, dtype=np.uint32)
        y = np.full((len(group), longest), pad_id, dtype=np.uint32)
        for row, i in enumerate(group):
            x[row, : len(inputs[i])] = inputs[i]
            y[row, : len(targets[i])] = targets[i]
        state = None if init is None else _rows(init[0], init[1][group])
        if fold is None:
            # The log-softmax at the targets, computed by the engine (in Rust, in parallel);
            # the padding after each sequence is not scored.
            lengths = np.array([len(inputs[i]) for i in group], dtype=np.int64)
            nll, _ = model.engine.token_nll(x, y, state, lengths)
            for row, i in enumerate(group):
                out[i] = -nll[row, : len(inputs[i])]
        else:
            logits, _ = model.logits(x, state)
            for row, i in enumerate(group):
                n = len(inputs[i])
                rows = np.flatnonzero(fold[0][i])
                out[i] = _target_logprobs(logits[row, :n], y[row, :n], rows, fold[1])
        position = end
    return out


def _rows(state: tuple[np.ndarray, ...], rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """The batch rows ``rows`` of a state (each array (layers, batch, hidden))."""
    return tuple(np.take(a, rows, axis=1) for a in state)


def _shared_prefix_logprobs(
    model: Any, sentences: Sequence[np.ndarray], start_id: int, end_id: int
) -> list[np.ndarray]:
    """:func:`rnn_sentence_logprobs` of a full-softmax model, with shared prefixes.

    Level d holds the distinct prefixes of d words: one step each (the start token at level
    0, the prefix's last word after its parent's state), whose output distribution scores
    position d of every sentence under it. Levels run while they share enough (see
    ``_PREFIX_SHARE``). The engine gives one target's log-probability per step; another
    target t of the same step differs from it by the logits' difference
    (h . (w[t0] - w[t]) + b[t0] - b[t], in float64). The rest of each longer sentence runs in
    the batches from the state of its prefix on the last level."""
    out = [np.empty(len(s) + 1) for s in sentences]
    words = [np.asarray(s, dtype=np.uint32).tolist() for s in sentences]
    params = model.engine.get_parameters()
    weight = params.get("output.weight", params["embedding.weight"])
    bias = params["output.bias"]
    state: tuple[np.ndarray, ...] = ()
    node = np.zeros(len(words), dtype=np.int64)  # each sentence's node on the last level
    depth = 0
    while True:
        members = [i for i, w in enumerate(words) if len(w) >= depth]
        # A node is (its parent on the level before, its last word); level 0 is one node.
        index: dict[tuple[int, int], int] = {}
        first: list[int] = []
        level_node = np.empty(len(members), dtype=np.int64)
        for j, i in enumerate(members):
            key = (int(node[i]), words[i][depth - 1]) if depth else (0, 0)
            k = index.setdefault(key, len(index))
            if k == len(first):
                first.append(i)
            level_node[j] = k
        if not members or (depth and len(first) > _PREFIX_SHARE * len(members)):
            break
        target = np.array(
            [words[i][depth] if len(words[i]) > depth else end_id for i in members],
            dtype=np.int64,
        )
        x = np.array([words[i][depth - 1] if depth else start_id for i in first], dtype=np.uint32)
        y = np.empty(len(first), dtype=np.uint32)
        y[level_node] = target  # each node's step scores one of its members' targets
        nll, state = model.engine.token_nll(
            x[:, None], y[:, None], _rows(state, node[first]) if depth else None
        )
        top = state[0][-1].astype(np.float64)[level_node]  # each member's node output
        scored = y[level_node].astype(np.int64)
        delta = np.einsum(
            "ij,ij->i", top, weight[scored].astype(np.float64) - weight[target]
        ) + (bias[scored].astype(np.float64) - bias[target])
        logp = -(nll[level_node, 0] + delta)
        for j, i in enumerate(members):
            out[i][depth] = logp[j]
        node[members] = level_node
        depth += 1
    last = depth - 1  # the last level that ran
    rest = [i for i, w in enumerate(words) if len(w) > last]
    tails = _batched_logprobs(
        model,
        [np.asarray(words[i][last:], dtype=np.uint32) for i in rest],
        [np.asarray([*words[i][last + 1 :], end_id], dtype=np.uint32) for i in rest],
        end_id,
        init=(state, node[rest]),
    )
    for i, tail in zip(rest, tails):
        out[i][last + 1 :] = tail
    return out
