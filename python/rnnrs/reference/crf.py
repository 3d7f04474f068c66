"""Linear-chain CRF over per-token emission scores: loss, gradient, Viterbi decoding.

A batch is time-major ``emissions`` (T, B, K) with ``lengths`` (B,) (lengths.py) and tags
``tags`` (T, B) (padding never read). Parameters, as pytorch-crf names them:
``transitions`` (K, K) (``transitions[i, j]`` scores tag i followed by tag j),
``start_transitions`` (K,) and ``end_transitions`` (K,). For a row of length L:

    score(y) = start[y_0] + sum_{t<L} e[t, y_t] + sum_{1<=t<L} trans[y_{t-1}, y_t] + end[y_{L-1}]
    log Z    = logsumexp over all K^L tag paths of score(y)
    nll      = log Z - score(gold)

log Z by the forward algorithm in log space: alpha_0 = start + e[0];
alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + trans[i, j]) + e[t, j]; log Z = logsumexp(alpha_{L-1}
+ end). The gradient is marginals minus the gold path's counts; the marginals come from the
backward recursion beta_{L-1} = end, beta_t[i] = logsumexp_j(trans[i, j] + e[t+1, j] +
beta_{t+1}[j]): p(y_t = j) = exp(alpha_t[j] + beta_t[j] - log Z), p(y_{t-1} = i, y_t = j) =
exp(alpha_{t-1}[i] + trans[i, j] + e[t, j] + beta_t[j] - log Z).

Viterbi replaces logsumexp by max and keeps the argmax (the lowest index on ties).
Decoding may forbid transitions (``Constraints``: allowed (K, K), allowed_start (K,),
allowed_end (K,); a forbidden one scores -inf), as AllenNLP's constrained decoding: the loss
is not constrained, only the decoding. :func:`allowed_transitions` builds them for BIO and
BIOES tag sets.

Rust: src/nn/crf.rs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Optional

import numpy as np

from .lengths import check_lengths


class Constraints(NamedTuple):
    """Which transitions decoding may use.

    Rust: src/nn/crf.rs (Constraints).
    """

    allowed: np.ndarray  # (K, K) bool: tag i may be followed by tag j
    allowed_start: np.ndarray  # (K,) bool: a sentence may start with tag j
    allowed_end: np.ndarray  # (K,) bool: a sentence may end with tag i


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis) + np.log(np.exp(a - m).sum(axis=axis))


def crf_forward(
    emissions: np.ndarray,
    lengths: np.ndarray,
    transitions: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The forward algorithm: (log Z (B,), alpha (T, B, K)); alpha at padded steps is the
    row's last real alpha carried forward.

    Rust: src/nn/crf.rs (forward_row).
    """
    t_len, batch, _ = emissions.shape
    lengths = check_lengths(lengths, t_len, batch)
    alpha = np.empty_like(emissions)
    alpha[0] = start + emissions[0]
    for t in range(1, t_len):
        nxt = _logsumexp(alpha[t - 1][:, :, None] + transitions[None], axis=1) + emissions[t]
        alpha[t] = np.where((t < lengths)[:, None], nxt, alpha[t - 1])
    last = alpha[lengths - 1, np.arange(batch)]
    return _logsumexp(last + end, axis=1), alpha


def crf_score(
    emissions: np.ndarray,
    tags: np.ndarray,
    lengths: np.ndarray,
    transitions: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> np.ndarray:
    """score(tags) of every row (B,).

    Rust: src/nn/crf.rs (gold_score).
    """
    t_len, batch, _ = emissions.shape
    rows = np.arange(batch)
    score = start[tags[0]] + emissions[0, rows, tags[0]]
    for t in range(1, t_len):
        step = transitions[tags[t - 1], tags[t]] + emissions[t, rows, tags[t]]
        score = score + np.where(t < lengths, step, 0.0)
    return score + end[tags[lengths - 1, rows]]


def crf_nll_and_grads(
    emissions: np.ndarray,
    tags: np.ndarray,
    lengths: np.ndarray,
    transitions: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Per-row negative log-likelihood (B,), dSum(nll)/d emissions (T, B, K) (0 at padded
    steps) and the gradients of ``transitions``, ``start_transitions``, ``end_transitions``.

    Rust: src/nn/crf.rs (nll_and_grads).
    """
    t_len, batch, _ = emissions.shape
    lengths = check_lengths(lengths, t_len, batch)
    tags = np.where(np.arange(t_len)[:, None] < lengths[None], tags, 0)
    log_z, alpha = crf_forward(emissions, lengths, transitions, start, end)
    nll = log_z - crf_score(emissions, tags, lengths, transitions, start, end)
    rows = np.arange(batch)
    beta = np.zeros_like(emissions)
    beta[lengths - 1, rows] = end
    for t in range(t_len - 2, -1, -1):
        nxt = transitions[None] + (emissions[t + 1] + beta[t + 1])[:, None, :]
        beta[t] = np.where((t + 1 < lengths)[:, None], _logsumexp(nxt, axis=2), beta[t])
    valid = (np.arange(t_len)[:, None] < lengths[None])[:, :, None]
    unary = np.exp(alpha + beta - log_z[None, :, None]) * valid
    d_emissions = unary.copy()
    d_trans = np.zeros_like(transitions)
    for t in range(1, t_len):
        pair = (
            alpha[t - 1][:, :, None]
            + transitions[None]
            + (emissions[t] + beta[t])[:, None, :]
            - log_z[:, None, None]
        )
        live = (t < lengths)[:, None, None]
        d_trans += (np.exp(pair) * live).sum(axis=0)
        for b in np.nonzero(t < lengths)[0]:
            d_trans[tags[t - 1, b], tags[t, b]] -= 1.0
    for t in range(t_len):
        rows_t = np.nonzero(t < lengths)[0]
        d_emissions[t, rows_t, tags[t, rows_t]] -= 1.0
    d_start = unary[0].sum(axis=0)
    np.subtract.at(d_start, tags[0], 1.0)
    last = unary[lengths - 1, rows]
    d_end = last.sum(axis=0)
    np.subtract.at(d_end, tags[lengths - 1, rows], 1.0)
    grads = {"transitions": d_trans, "start_transitions": d_start, "end_transitions": d_end}
    return nll, d_emissions, grads


def viterbi(
    emissions: np.ndarray,
    lengths: np.ndarray,
    transitions: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    constraints: Optional[Constraints] = None,
) -> list[np.ndarray]:
    """The highest-scoring tag path of each row (a list of B int64 arrays of its length),
    using only allowed transitions when ``constraints`` are given.

    Rust: src/nn/crf.rs (viterbi_row).
    """
    t_len, batch, _ = emissions.shape
    lengths = check_lengths(lengths, t_len, batch)
    if constraints is not None:
        transitions = np.where(constraints.allowed, transitions, -np.inf)
        start = np.where(constraints.allowed_start, start, -np.inf)
        end = np.where(constraints.allowed_end, end, -np.inf)
    paths = []
    for b in range(batch):
        n = int(lengths[b])
        score = start + emissions[0, b]
        back = np.zeros((n, emissions.shape[2]), dtype=np.int64)
        for t in range(1, n):
            cand = score[:, None] + transitions  # (from, to)
            back[t] = np.argmax(cand, axis=0)
            score = cand[back[t], np.arange(cand.shape[1])] + emissions[t, b]
        path = np.empty(n, dtype=np.int64)
        path[-1] = int(np.argmax(score + end))
        for t in range(n - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
        paths.append(path)
    return paths


def _scheme_parts(tags: Sequence[str]) -> Optional[list[tuple[str, str]]]:
    parts = []
    for tag in tags:
        if tag == "O":
            parts.append(("O", ""))
            continue
        prefix, dash, kind = tag.partition("-")
        if prefix not in ("B", "I", "E", "S") or not dash or not kind:
            return None
        parts.append((prefix, kind))
    return parts


def allowed_transitions(tags: Sequence[str]) -> Optional[Constraints]:
    """The transitions a BIO or BIOES tag set allows, or None for other tag sets.

    BIO (no ``E-``/``S-`` tag): ``I-X`` only after ``B-X`` or ``I-X``, never first. BIOES:
    after ``B-X``/``I-X`` only ``I-X``/``E-X``; after ``O``/``E-``/``S-`` (and first) only
    ``O``/``B-``/``S-``; last only ``O``/``E-``/``S-``.

    Rust: src/nn/crf.rs (Constraints, built in Python and passed to decoding).

    Example:
        >>> c = allowed_transitions(["O", "B-PER", "I-PER"])
        >>> c.allowed.astype(int).tolist(), c.allowed_start.astype(int).tolist()
        ([[1, 1, 0], [1, 1, 1], [1, 1, 1]], [1, 1, 0])
    """
    parts = _scheme_parts(tags)
    if parts is None:
        return None
    k = len(parts)
    bioes = any(p in ("E", "S") for p, _ in parts)
    allowed = np.zeros((k, k), dtype=bool)
    for i, (pi, ki) in enumerate(parts):
        for j, (pj, kj) in enumerate(parts):
            if bioes:
                inside = pi in ("B", "I")
                ok = pj in ("I", "E") and kj == ki if inside else pj in ("O", "B", "S")
            else:
                ok = pj != "I" or (pi in ("B", "I") and ki == kj)
            allowed[i, j] = ok
    begins = np.array([p in (("O", "B", "S") if bioes else ("O", "B")) for p, _ in parts])
    ends = np.array([p in ("O", "E", "S") if bioes else True for p, _ in parts])
    return Constraints(allowed, begins, ends)
