"""Linear output layer and softmax cross-entropy (mean over targets, optional ignore index)."""

from __future__ import annotations

from typing import Optional

import numpy as np


def linear_forward(h: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """h (N, H), weight (V, H), bias (V,) -> logits (N, V) = h W^T + b.

    Rust: src/nn/decoder.rs (logits).
    """
    out = h @ weight.T
    out += bias
    return out


def linear_backward(
    d_out: np.ndarray, h: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """d_out (N, V) -> (dh (N, H), dweight (V, H), dbias (V,)).

    Rust: src/nn/decoder.rs (backward_weights, backward_input).
    """
    return d_out @ weight, d_out.T @ h, d_out.sum(axis=0)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log softmax of (N, V) logits, stable for any magnitude.

    Rust: src/nn/decoder.rs (cross_entropy) for the loss, src/lm/sampler.rs for generation.
    """
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def cross_entropy(
    logits: np.ndarray, targets: np.ndarray, ignore_index: Optional[int] = None
) -> tuple[float, np.ndarray, int]:
    """Mean softmax cross-entropy (nats) of logits (N, V) against integer targets (N,).

    Targets equal to ``ignore_index`` contribute neither loss nor gradient and are not
    counted in the mean (torch.nn.functional.cross_entropy's ignore_index). When every
    target is ignored the loss is 0 with a zero gradient.
    Returns (loss, dLoss/dlogits (N, V), number of counted targets).

    Rust: src/nn/decoder.rs (cross_entropy).

    Example:
        >>> import numpy as np
        >>> loss, d, n = cross_entropy(np.zeros((2, 4)), np.array([1, 3]))
        >>> round(loss, 6) == round(float(np.log(4)), 6), n
        (True, 2)
    """
    n_rows = logits.shape[0]
    targets = targets.astype(np.int64, copy=False)
    keep = np.ones(n_rows, dtype=bool) if ignore_index is None else targets != ignore_index
    count = int(keep.sum())
    logp = log_softmax(logits)
    d_logits = np.exp(logp)
    rows = np.nonzero(keep)[0]
    if count == 0:
        return 0.0, np.zeros_like(logits), 0
    picked = logp[rows, targets[rows]]
    loss = -float(picked.sum(dtype=np.float64)) / count
    d_logits[rows, targets[rows]] -= 1.0
    d_logits[~keep] = 0.0
    d_logits *= np.asarray(1.0 / count, dtype=logits.dtype)
    return loss, d_logits, count
