"""Argument checks for arrays crossing the public API: token ids, states, parameter dicts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import numpy as np


def as_token_array(ids: Any, name: str, vocab_size: int, ndim: int = 2) -> np.ndarray:
    """``ids`` as a C-contiguous uint32 array of ``ndim`` dimensions with values in
    [0, vocab_size); TypeError/ValueError naming ``name`` otherwise.

    Example:
        >>> as_token_array([[1, 2]], "x", 3).dtype
        dtype('uint32')
    """
    arr = np.asarray(ids)
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array of token ids, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: expected at least one token, got shape {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name}: expected an integer array of token ids, got dtype {arr.dtype}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name}: token id {bad} is outside [0, vocab_size={vocab_size})")
    return np.ascontiguousarray(arr, dtype=np.uint32)


def as_float_array(x: Any, name: str, ndim: int, dtype: np.dtype) -> np.ndarray:
    """``x`` as a C-contiguous float array of ``ndim`` dims in ``dtype``."""
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{name}: expected a float array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=dtype)


def check_state(
    state: Any, name: str, n_tensors: int, shape: tuple[int, ...], dtype: np.dtype
) -> Optional[tuple[np.ndarray, ...]]:
    """None, or a tuple of ``n_tensors`` float arrays of ``shape`` (converted to dtype)."""
    if state is None:
        return None
    if isinstance(state, np.ndarray) or not isinstance(state, (tuple, list)):
        raise TypeError(f"{name}: expected None or a tuple of {n_tensors} arrays of shape {shape}")
    if len(state) != n_tensors:
        raise ValueError(f"{name}: expected {n_tensors} arrays of shape {shape}, got {len(state)}")
    out = []
    for k, s in enumerate(state):
        arr = np.asarray(s)
        if not np.issubdtype(arr.dtype, np.floating):
            raise TypeError(f"{name}[{k}]: expected a float array, got dtype {arr.dtype}")
        if arr.shape != shape:
            raise ValueError(f"{name}[{k}]: expected shape {shape}, got {arr.shape}")
        out.append(np.array(arr, dtype=dtype, order="C"))
    return tuple(out)


def check_param_dict(
    params: Any, shapes: Mapping[str, tuple[int, ...]], name: str = "params"
) -> None:
    """Every name of ``shapes`` present with that shape, and no other name."""
    if not isinstance(params, Mapping):
        raise TypeError(f"{name}: expected a dict of arrays, got {type(params).__name__}")
    missing = [n for n in shapes if n not in params]
    extra = [n for n in params if n not in shapes]
    if missing or extra:
        raise ValueError(f"{name}: missing tensors {missing}, unexpected tensors {extra}")
    for n, shape in shapes.items():
        got = np.shape(params[n])
        if tuple(got) != tuple(shape):
            raise ValueError(f"{name}[{n!r}]: expected shape {tuple(shape)}, got {tuple(got)}")
