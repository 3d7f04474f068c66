"""Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# torch adds this to the norm before dividing (clip_grad_norm_); so do we, for parity.
NORM_EPS = 1e-6


def global_norm(grads: Iterable[np.ndarray]) -> float:
    """L2 norm over all gradients together, accumulated in float64.

    Rust: src/train/clip.rs (global_norm).
    """
    total = 0.0
    for g in grads:
        flat = g.reshape(-1).astype(np.float64, copy=False)
        total += float(flat @ flat)
    return float(np.sqrt(total))


def clip_grad_norm(grads: list[np.ndarray], max_norm: float) -> float:
    """Scale all ``grads`` in place by min(1, max_norm / (norm + 1e-6)); return the norm
    *before* clipping.

    Rust: src/train/clip.rs (clip_by_norm).

    Example:
        >>> import numpy as np
        >>> g = [np.array([6.0, 8.0])]
        >>> clip_grad_norm(g, 5.0)
        10.0
        >>> np.round(g[0], 5).tolist()
        [3.0, 4.0]
    """
    norm = global_norm(grads)
    coef = max_norm / (norm + NORM_EPS)
    if coef < 1.0:
        for g in grads:
            g *= np.asarray(coef, dtype=g.dtype)
    return norm


def clip_grad_value(grads: list[np.ndarray], clip_value: float) -> None:
    """Clamp every gradient element in place to [-clip_value, clip_value].

    Rust: src/train/clip.rs (clip_by_value).

    Example:
        >>> import numpy as np
        >>> g = [np.array([-3.0, 0.5, 2.0])]
        >>> clip_grad_value(g, 1.0)
        >>> g[0].tolist()
        [-1.0, 0.5, 1.0]
    """
    for g in grads:
        np.clip(g, -clip_value, clip_value, out=g)
