"""Batches of token ids: for truncated BPTT, random chunks, and padded batches of
variable-length sequences (shuffled and bucketed by length for training).

Batching follows PyTorch's word_language_model: :func:`batchify` cuts one id sequence into
``B`` equal streams (dropping the remainder) laid out as rows of a ``(B, N)`` array — the
transpose of PyTorch's ``(N, B)`` — and :func:`bptt_batches` walks them in chunks of ``T``
steps, ``y`` being ``x`` shifted by one.

Example:
    >>> import numpy as np
    >>> from rnnrs.text.batching import batchify, bptt_batches
    >>> stream = batchify(np.arange(10), batch_size=2)
    >>> stream.tolist()
    [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    >>> [(x.tolist(), y.tolist()) for x, y in bptt_batches(stream, bptt=3)]
    [([[0, 1, 2], [5, 6, 7]], [[1, 2, 3], [6, 7, 8]]), ([[3], [8]], [[4], [9]])]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Optional, Union

import numpy as np


def _as_ids(ids: Union[Sequence[int], np.ndarray], name: str = "ids") -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of token ids, got shape {arr.shape}")
    if arr.size and (arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name}: expected integer token ids, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > np.iinfo(np.uint32).max):
        raise ValueError(f"{name}: token ids must be in [0, 2**32), got {arr.min()}..{arr.max()}")
    return arr.astype(np.uint32, copy=False)


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def batchify(ids: Union[Sequence[int], np.ndarray], batch_size: int) -> np.ndarray:
    """Cut ``ids`` into ``batch_size`` parallel streams: a C-contiguous ``(B, N)`` uint32 array
    whose row ``b`` is ``ids[b*N:(b+1)*N]`` with ``N = len(ids) // B`` (the remainder is
    dropped), as PyTorch's word_language_model does (it stores the transpose, ``(N, B)``).

    Example:
        >>> batchify([1, 2, 3, 4, 5, 6, 7], batch_size=3).tolist()
        [[1, 2], [3, 4], [5, 6]]
    """
    arr = _as_ids(ids)
    b = _check_count(batch_size, "batch_size")
    n = arr.size // b
    if n < 1:
        raise ValueError(f"batch_size: {b} streams need at least {b} ids, got {arr.size}")
    return np.ascontiguousarray(arr[: b * n].reshape(b, n))


def bptt_batches(stream: np.ndarray, bptt: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chunks ``(x, y)`` of a batchified ``(B, N)`` stream for truncated BPTT: for
    ``s = 0, bptt, 2*bptt, ...`` below ``N - 1``, ``T = min(bptt, N - 1 - s)``,
    ``x = stream[:, s:s+T]`` and ``y = stream[:, s+1:s+1+T]`` (views, no copies).

    Example:
        >>> import numpy as np
        >>> [x.shape for x, _ in bptt_batches(np.zeros((4, 10), np.uint32), bptt=4)]
        [(4, 4), (4, 4), (4, 1)]
    """
    stream = np.asarray(stream)
    if stream.ndim != 2:
        raise ValueError(f"stream: expected a (batch, N) array from batchify, got {stream.shape}")
    t = _check_count(bptt, "bptt")
    n = stream.shape[1]
    for s in range(0, n - 1, t):
        length = min(t, n - 1 - s)
        yield stream[:, s : s + length], stream[:, s + 1 : s + 1 + length]


def random_chunks(
    ids: Union[Sequence[int], np.ndarray],
    seq_len: int,
    batch_size: int,
    *,
    seed: int = 0,
    num_batches: Optional[int] = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches ``(x, y)`` of ``batch_size`` chunks taken at random offsets of ``ids`` (the
    nanoGPT way): ``x[i] = ids[s_i : s_i+seq_len]``, ``y[i] = ids[s_i+1 : s_i+1+seq_len]``.
    Offsets come from ``numpy.random.default_rng(seed)``, so a seed gives the same batches;
    ``num_batches=None`` never stops.

    Example:
        >>> x, y = next(random_chunks(list(range(100)), seq_len=5, batch_size=2, seed=1))
        >>> x.shape, bool((y == x + 1).all())
        ((2, 5), True)
    """
    arr = _as_ids(ids)
    t = _check_count(seq_len, "seq_len")
    b = _check_count(batch_size, "batch_size")
    if num_batches is not None:
        num_batches = _check_count(num_batches, "num_batches")
    if arr.size < t + 1:
        raise ValueError(f"seq_len: chunks of {t} need at least {t + 1} ids, got {arr.size}")
    rng = np.random.default_rng(seed)
    steps = np.arange(t)
    k = 0
    while num_batches is None or k < num_batches:
        starts = rng.integers(0, arr.size - t, size=b)
        idx = starts[:, None] + steps
        yield arr[idx], arr[idx + 1]
        k += 1


def pad_batch(sequences: Sequence[np.ndarray], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of ids as one padded batch: ids (B, T) uint32 with ``pad_id`` after each
    row's end (T the longest length) and lengths (B,) int64. Every sequence needs a token.

    Example:
        >>> ids, lengths = pad_batch([np.array([5, 6, 7]), np.array([8])])
        >>> ids.tolist(), lengths.tolist()
        ([[5, 6, 7], [8, 0, 0]], [3, 1])
    """
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    if lengths.size == 0 or lengths.min() < 1:
        raise ValueError("sequences: expected at least one sequence, each of at least one token")
    ids = np.full((len(sequences), int(lengths.max())), pad_id, dtype=np.uint32)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
    return ids, lengths


def length_buckets(
    lengths: Union[Sequence[int], np.ndarray],
    batch_size: int,
    rng: Optional[np.random.Generator] = None,
    pool_batches: int = 50,
) -> list[np.ndarray]:
    """Indices of ``lengths`` grouped into batches of ``batch_size`` (the last may be
    smaller) whose members have similar lengths, so little of a padded batch is padding.

    Without ``rng`` the indices are sorted by length (ties in index order) and cut in
    order: for evaluation. With ``rng`` (training) the indices are shuffled, cut into pools
    of ``pool_batches`` batches, each pool sorted by length (stably) and cut into batches,
    and the batches shuffled: a different, reproducible order for each generator state.

    Example:
        >>> [b.tolist() for b in length_buckets([5, 1, 4, 2, 3], 2)]
        [[1, 3], [4, 2], [0]]
        >>> sorted(len(b) for b in length_buckets([5, 1, 4, 2, 3], 2, np.random.default_rng(0)))
        [1, 2, 2]
    """
    lens = np.asarray(lengths, dtype=np.int64)
    b = _check_count(batch_size, "batch_size")
    if rng is None:
        order = np.argsort(lens, kind="stable")
        return [order[i : i + b] for i in range(0, len(order), b)]
    shuffled = rng.permutation(len(lens))
    pool = b * _check_count(pool_batches, "pool_batches")
    batches: list[np.ndarray] = []
    for p in range(0, len(shuffled), pool):
        chunk = shuffled[p : p + pool]
        chunk = chunk[np.argsort(lens[chunk], kind="stable")]
        batches.extend(chunk[i : i + b] for i in range(0, len(chunk), b))
    return [batches[i] for i in rng.permutation(len(batches))]


def seen_once(sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per sequence, a boolean mask of its tokens whose id occurs exactly once in all of
    ``sequences``: the rare words that :func:`replace_rare` may turn into ``<unk>``.

    Example:
        >>> [m.tolist() for m in seen_once([np.array([5, 6]), np.array([5, 7, 7])])]
        [[False, True], [False, False, False]]
    """
    flat = np.concatenate([np.asarray(s) for s in sequences]) if len(sequences) else np.zeros(0)
    ids, counts = np.unique(flat, return_counts=True)
    once = ids[counts == 1]
    return [np.isin(s, once) for s in sequences]


def replace_rare(
    ids: np.ndarray, rare: np.ndarray, probability: float, unk_id: int, rng: np.random.Generator
) -> np.ndarray:
    """``ids`` with each token where ``rare`` is true replaced by ``unk_id`` with
    ``probability`` (a new array; one uniform draw per token, rare or not, so the draws
    of a batch do not depend on which words are rare). Training with it teaches ``<unk>``
    to stand for a rare word (Lample et al. 2016's unknown-word replacement).

    Example:
        >>> replace_rare(np.array([5, 6, 7]), np.array([False, True, True]), 1.0, 0,
        ...              np.random.default_rng(0)).tolist()
        [5, 0, 0]
    """
    drop = rare & (rng.random(len(ids)) < probability)
    return np.where(drop, np.asarray(unk_id, dtype=ids.dtype), ids)


__all__ = [
    "batchify",
    "bptt_batches",
    "length_buckets",
    "pad_batch",
    "random_chunks",
    "replace_rare",
    "seen_once",
]
