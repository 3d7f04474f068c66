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
    words, lengths = _padded(sentences, end_id)
    if fold is None and model.config.get("softmax", "full") == "full":
        return _shared_prefix_logprobs(model, words, lengths, start_id)
    rows = np.arange(len(sentences))
    return _batched_logprobs(model, words, lengths, rows, 0, start_id, fold=fold)


def _padded(sentences: Sequence[np.ndarray], end_id: int) -> tuple[np.ndarray, np.ndarray]:
    """The sentences as rows of one (N, longest + 1) matrix, each row's words followed by
    ``end_id`` to its end (so position p of sentence i, 0 <= p <= its length, has the target
    ``words[i, p]``), and their lengths."""
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    words = np.full((len(sentences), int(lengths.max(initial=0)) + 1), end_id, dtype=np.uint32)
    for i, s in enumerate(sentences):
        words[i, : len(s)] = s
    return words, lengths


def _batched_logprobs(
    model: Any,
    words: np.ndarray,
    lengths: np.ndarray,
    rows: np.ndarray,
    first: int,
    start_id: int,
    *,
    init: Optional[tuple[tuple[np.ndarray, ...], np.ndarray]] = None,
    fold: Optional[tuple[Sequence[np.ndarray], np.ndarray]] = None,
) -> list[np.ndarray]:
    """Log-probability of the targets at positions ``first`` .. L of each sentence ``rows[j]``
    of :func:`_padded`'s ``words`` (L its length; the input at position p is ``start_id``
    for p = 0, else word p - 1), one array per row. From the zero state (``first`` = 0) or,
    with ``init`` = (a state, each sentence's row in it), from the state before position
    ``first``. Sentences of similar length run together as one padded (B, T) batch through the
    model's forward (the Rust engine on that backend): the recurrence is causal, so padding
    after a sentence's end changes none of its scores."""
    counts = lengths + 1 - first  # positions scored per sentence
    out: dict[int, np.ndarray] = {}
    order = rows[np.argsort(counts[rows], kind="stable")].tolist()
    vocab = int(model.vocab_size)
    position = 0
    while position < len(order):
        longest, end = 0, position
        # Grow the batch while a (B, T, V) block of the longest sentence so far fits.
        while end < len(order):
            width = int(counts[order[end]])
            if (end - position + 1) * width * vocab > _BLOCK_ELEMENTS and end > position:
                break
            longest = width
            end += 1
        group = np.array(order[position:end])
        y = np.ascontiguousarray(words[group, first : first + longest])
        if first:
            x = np.ascontiguousarray(words[group, first - 1 : first - 1 + longest])
        else:
            x = np.empty_like(y)
            x[:, 0] = start_id
            x[:, 1:] = words[group, : longest - 1]
        state = None if init is None else _rows(init[0], init[1][group])
        if fold is None:
            # The log-softmax at the targets, computed by the engine (in Rust, in parallel);
            # the padding after each sentence is not scored.
            nll, _ = model.engine.token_nll(x, y, state, counts[group])
            for row, i in enumerate(group.tolist()):
                out[i] = -nll[row, : counts[i]]
        else:
            logits, _ = model.logits(x, state)
            for row, i in enumerate(group.tolist()):
                n = counts[i]
                masked = np.flatnonzero(fold[0][i])
                out[i] = _target_logprobs(logits[row, :n], y[row, :n], masked, fold[1])
        position = end
    return [out[i] for i in rows.tolist()]


def _rows(state: tuple[np.ndarray, ...], rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """The batch rows ``rows`` of a state (each array (layers, batch, hidden))."""
    return tuple(np.take(a, rows, axis=1) for a in state)


def prefix_levels(
    words: np.ndarray, lengths: np.ndarray, vocab: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The levels of shared prefixes that :func:`_shared_prefix_logprobs` runs, for the
    sentences of :func:`_padded`: level d as (the sentences of at least d words, the first
    sentence of each distinct d-word prefix, each of those sentences' prefix as an index
    into the second). Levels go on while their distinct prefixes are at most
    ``_PREFIX_SHARE`` of the sentences that reach them; level 0 (the start, one prefix)
    always runs when there is a sentence. Each level saves ``members.size - first.size``
    steps."""
    levels = []
    node = np.zeros(len(lengths), dtype=np.int64)  # each sentence's prefix on the last level
    # Past the longest sentence no sentence reaches a level: the loop always breaks.
    for depth in range(int(lengths.max(initial=0)) + 2):
        members = np.flatnonzero(lengths >= depth)
        if depth == 0:
            first, level_node = members[:1], np.zeros(members.size, dtype=np.int64)
        else:
            # A prefix is its parent on the level before and its last word.
            keys = node[members] * vocab + words[members, depth - 1]
            _, at, level_node = np.unique(keys, return_index=True, return_inverse=True)
            first = members[at]
        if members.size == 0 or (depth and first.size > _PREFIX_SHARE * members.size):
            break
        levels.append((members, first, level_node))
        node[members] = level_node
    return levels


def _shared_prefix_logprobs(
    model: Any, words: np.ndarray, lengths: np.ndarray, start_id: int
) -> list[np.ndarray]:
    """:func:`rnn_sentence_logprobs` of a full-softmax model (sentences as :func:`_padded`
    gives them), with shared prefixes.

    Level d holds the distinct prefixes of d words: one step each (the start token at level
    0, the prefix's last word after its parent's state), whose output distribution scores
    position d of every sentence under it. Levels run while they share enough (see
    :func:`prefix_levels`). The engine gives one target's log-probability per step; another
    target t of the same step differs from it by the logits' difference
    (h . (w[t0] - w[t]) + b[t0] - b[t], in float64). The rest of each longer sentence runs in
    the batches from the state of its prefix on the last level."""
    n = len(lengths)
    params = model.engine.get_parameters()
    weight = params.get("output.weight", params["embedding.weight"])
    bias = params["output.bias"]
    state: tuple[np.ndarray, ...] = ()
    node = np.zeros(n, dtype=np.int64)  # each sentence's node on the last level
    levels: list[np.ndarray] = []  # per level, the log-probability at that position
    for depth, (members, first, level_node) in enumerate(
        prefix_levels(words, lengths, int(model.vocab_size))
    ):
        target = words[members, depth].astype(np.int64)
        x = words[first, depth - 1] if depth else np.full(1, start_id, dtype=np.uint32)
        y = np.empty(first.size, dtype=np.uint32)
        y[level_node] = target  # each node's step scores one of its members' targets
        nll, state = model.engine.token_nll(
            x[:, None], y[:, None], _rows(state, node[first]) if depth else None
        )
        top = state[0][-1].astype(np.float64)[level_node]  # each member's node output
        scored = y[level_node].astype(np.int64)
        delta = np.einsum(
            "ij,ij->i", top, weight[scored].astype(np.float64) - weight[target]
        ) + (bias[scored].astype(np.float64) - bias[target])
        logp = np.zeros(n)
        logp[members] = -(nll[level_node, 0] + delta)
        levels.append(logp)
        node[members] = level_node
    head = np.stack(levels, axis=1) if levels else np.zeros((n, 0))
    last = len(levels) - 1  # the last level that ran
    rest = np.flatnonzero(lengths > last)
    tails = _batched_logprobs(model, words, lengths, rest, last + 1, start_id, init=(state, node))
    out = [head[i, : min(length, last) + 1] for i, length in enumerate(lengths.tolist())]
    for i, tail in zip(rest.tolist(), tails):
        out[i] = np.concatenate((out[i], tail))
    return out
