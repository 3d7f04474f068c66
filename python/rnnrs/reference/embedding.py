"""Embedding lookup and its backward (a scatter-add into the table's gradient)."""

from __future__ import annotations

import numpy as np


def embedding_forward(weight: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """weight (V, E), ids (B, T) -> time-major vectors (T, B, E).

    Rust: src/nn/embedding.rs (forward); src/nn/projected_embedding.rs folds it into layer 0's input
    projection.

    Example:
        >>> import numpy as np
        >>> embedding_forward(np.eye(3), np.array([[2, 0]])).shape
        (2, 1, 3)
    """
    return weight[ids.T]


def embedding_backward(d_emb: np.ndarray, ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """d_emb (T, B, E), ids (B, T) -> dLoss/dweight (V, E): rows of repeated ids add up.

    Rust: src/nn/embedding.rs (backward).
    """
    grad = np.zeros((vocab_size, d_emb.shape[-1]), dtype=d_emb.dtype)
    np.add.at(grad, ids.T.reshape(-1), d_emb.reshape(-1, d_emb.shape[-1]))
    return grad
