"""Variable-length batches: the validity mask and the per-row reversal index.

A padded batch is time-major ``x`` (T, B, ·) with ``lengths`` (B,) integers: row b holds
``lengths[b]`` real tokens at steps 0 .. lengths[b]-1 and padding after them (any values).
As ``torch.nn.utils.rnn.pack_padded_sequence``, every length is at least 1; T may exceed
the longest length (a batch padded to a fixed size gives the same results).

Both helpers are dense (T, B) arrays built once per batch, so every kernel that uses them
costs what the unmasked kernel costs: a select per element, a gather per row.

Rust: src/nn/recurrent.rs (the freeze) and src/nn/stack.rs (the reverse index), used by
src/nn/pooling.rs and src/classify/model.rs; docs/equations.md has the table.
"""

from __future__ import annotations

import numpy as np


def check_lengths(lengths: np.ndarray, t_len: int, batch: int) -> np.ndarray:
    """``lengths`` as an int64 (B,) array, after checking 1 <= lengths[b] <= T.

    Raises ValueError naming the argument otherwise.

    Example:
        >>> check_lengths(np.array([3, 1]), 3, 2).tolist()
        [3, 1]

    Rust: src/nn/stack.rs (check_lengths, inside Stack::forward); src/classify/model.rs
    (Classifier::load).
    """
    arr = np.asarray(lengths)
    if arr.shape != (batch,):
        raise ValueError(f"lengths must have shape ({batch},), got {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"lengths must be integers, got dtype {arr.dtype}")
    if batch and (arr.min() < 1 or arr.max() > t_len):
        raise ValueError(
            f"lengths must lie in 1..{t_len} (the padded number of steps), "
            f"got min {arr.min()} and max {arr.max()}"
        )
    return arr.astype(np.int64)


def valid_steps(lengths: np.ndarray, t_len: int) -> np.ndarray:
    """(T, B) bool: ``valid[t, b] = t < lengths[b]`` (step t of row b is a real token).

    Example:
        >>> valid_steps(np.array([2, 3]), 3).astype(int).tolist()
        [[1, 1], [1, 1], [0, 1]]

    Rust: the per-row ``t < lengths[b]`` tests of src/nn/recurrent.rs (forward, backward),
    src/nn/pooling.rs and src/nn/stack.rs (Stack::top_outputs).
    """
    return np.arange(t_len)[:, None] < np.asarray(lengths)[None, :]


def reverse_index(lengths: np.ndarray, t_len: int) -> np.ndarray:
    """(T, B) int64: ``rev[t, b] = lengths[b] - 1 - t`` for a real step, ``t`` for padding.

    Gathering ``x[rev[t, b], b]`` reverses each row within its own length and leaves the
    padding where it is, so the reverse direction reads the row's last real token at step 0
    and its padding, as the forward direction does, after lengths[b] steps. The index is
    its own inverse: the same gather puts outputs (and gradients) back in place.
    With every length equal to T it is the plain reversal ``T - 1 - t``.

    Example:
        >>> reverse_index(np.array([2, 3]), 3).tolist()
        [[1, 2], [0, 1], [2, 0]]

    Rust: src/nn/stack.rs (reverse_step).
    """
    steps = np.arange(t_len)[:, None]
    lens = np.asarray(lengths, dtype=np.int64)[None, :]
    return np.where(steps < lens, lens - 1 - steps, steps)


def gather_steps(a: np.ndarray, index: np.ndarray) -> np.ndarray:
    """a (T, B, F), index (T, B) -> out (T, B, F) with ``out[t, b] = a[index[t, b], b]``.

    Rust: src/nn/stack.rs (reverse_time, gather_outputs, scatter_outputs through reverse_step).
    """
    return np.take_along_axis(a, index[:, :, None], axis=0)
