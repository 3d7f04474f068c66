"""Inverted dropout masks, as torch.nn.functional.dropout in training mode.

An element is kept with probability 1 - p and then scaled by 1 / (1 - p), so the expected
value is unchanged and evaluation needs no rescaling.
"""

from __future__ import annotations

import numpy as np


def dropout_mask(
    rng: np.random.Generator, shape: tuple[int, ...], p: float, dtype: np.dtype
) -> np.ndarray:
    """A mask of ``shape``: 1/(1-p) where ``rng.random() >= p`` (kept), 0 elsewhere.

    Rust: src/nn/dropout.rs (fill_mask), from its own xoshiro256** generator: the same rule, other
    masks.

    Example:
        >>> import numpy as np
        >>> m = dropout_mask(np.random.default_rng(0), (1000,), 0.5, np.dtype("float32"))
        >>> sorted(set(m.tolist()))
        [0.0, 2.0]
    """
    keep = rng.random(shape) >= p
    return keep.astype(dtype) * np.asarray(1.0 / (1.0 - p), dtype=dtype)
