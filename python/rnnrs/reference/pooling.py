"""Poolings of a recurrent stack's output over each row's real tokens: forward and backward.

The input is the top layer's output ``out`` (T, B, F), F = D*H ([forward | reverse] halves
when D = 2), with ``lengths`` (B,) as in lengths.py; the result is ``pooled`` (B, F). Padded
steps never contribute: they get exactly zero gradient and their values are never read
(they must only be finite; the masked stack gives 0 there). With ``valid[t, b] =
t < lengths[b]`` and n_b = lengths[b]:

- ``last``: one direction: pooled[b] = out[n_b - 1, b]. Two directions: the forward half
  at the row's last real step and the reverse half at step 0, pooled[b] =
  [out[n_b - 1, b, :H] | out[0, b, H:]]: the top layer's final states of both directions,
  ``torch.cat([h_n[-2], h_n[-1]], dim=1)`` in PyTorch.
- ``mean``: pooled[b] = (sum over t < n_b of out[t, b]) / n_b.
- ``max``: per feature, pooled[b, f] = out[s, b, f] with s the first t < n_b holding the
  largest value (ties go to the lowest step, as numpy.argmax); the gradient goes to that one
  step only.
- ``attention`` (additive, learned): u_t = tanh(W h_t + b) (A), score_t = v . u_t,
  a = softmax over the real steps (scores of padded steps are -inf, so a_t = 0 there),
  pooled[b] = sum_t a_t h_t. Parameters (PyTorch-style names under the ``pool.`` prefix
  of a model): ``weight`` (A, F), ``bias`` (A,), ``v`` (A,).

``last`` and ``max`` both pick one step per (row, feature): ``index`` (B, F) of steps, the
forward a gather and the backward a scatter into zeros. Backward functions return
``d_out`` (T, B, F) and the parameter gradients by short name (empty for the others).

Rust: src/nn/pooling.rs, each function naming its counterpart (docs/equations.md).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .lengths import valid_steps

POOLINGS = ("last", "mean", "max", "attention")
Params = dict[str, np.ndarray]


def _pick_forward(out: np.ndarray, index: np.ndarray) -> np.ndarray:
    # out (T, B, F), index (B, F) -> out[index[b, f], b, f] (B, F)
    return np.take_along_axis(out, index[None], axis=0)[0]


def _pick_backward(d_pooled: np.ndarray, index: np.ndarray, t_len: int) -> np.ndarray:
    # Scatter d_pooled (B, F) to the picked steps of a zero (T, B, F).
    d_out = np.zeros((t_len, *d_pooled.shape), dtype=d_pooled.dtype)
    np.put_along_axis(d_out, index[None], d_pooled[None], axis=0)
    return d_out


def last_index(lengths: np.ndarray, num_directions: int, features: int) -> np.ndarray:
    """(B, F) steps of ``last``: lengths[b]-1 on the forward half, 0 on the reverse half.

    Example:
        >>> last_index(np.array([3, 1]), 2, 4).tolist()
        [[2, 2, 0, 0], [0, 0, 0, 0]]

    Rust: src/nn/pooling.rs (last_forward writes the index).
    """
    index = np.repeat((np.asarray(lengths, dtype=np.int64) - 1)[:, None], features, axis=1)
    if num_directions == 2:
        index[:, features // 2 :] = 0
    return index


def last_pool_forward(
    out: np.ndarray, lengths: np.ndarray, num_directions: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """out (T, B, F), lengths (B,) -> pooled (B, F): each direction's final output.

    Rust: src/nn/pooling.rs (last_forward).
    """
    index = last_index(lengths, num_directions, out.shape[-1])
    return _pick_forward(out, index), {"index": index, "t_len": out.shape[0]}


def max_pool_forward(out: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """out (T, B, F), lengths (B,) -> pooled (B, F): the maximum over the real steps,
    per feature; the first such step on ties.

    Rust: src/nn/pooling.rs (max_forward).
    """
    valid = valid_steps(lengths, out.shape[0])[:, :, None]
    masked = np.where(valid, out, out.dtype.type(-np.inf))
    index = np.argmax(masked, axis=0)  # (B, F), the first step on ties
    return _pick_forward(out, index), {"index": index, "t_len": out.shape[0]}


def pick_pool_backward(d_pooled: np.ndarray, cache: dict[str, Any]) -> np.ndarray:
    """Backward of ``last`` and ``max``: d_pooled (B, F) -> d_out (T, B, F), zero except at
    the picked step of each (row, feature).

    Rust: src/nn/pooling.rs (pick_backward).
    """
    return _pick_backward(d_pooled, cache["index"], cache["t_len"])


def mean_pool_forward(out: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """out (T, B, F), lengths (B,) -> pooled (B, F): the mean over the real steps.

    Rust: src/nn/pooling.rs (mean_forward).
    """
    valid = valid_steps(lengths, out.shape[0])[:, :, None]
    count = np.asarray(lengths)[:, None].astype(out.dtype)  # (B, 1)
    pooled = np.where(valid, out, out.dtype.type(0)).sum(axis=0) / count
    return pooled, {"valid": valid, "count": count}


def mean_pool_backward(d_pooled: np.ndarray, cache: dict[str, Any]) -> np.ndarray:
    """d_pooled (B, F) -> d_out (T, B, F) = d_pooled / n_b at the real steps, 0 after.

    Rust: src/nn/pooling.rs (mean_backward).
    """
    valid = cache["valid"]
    return np.where(valid, d_pooled / cache["count"], d_pooled.dtype.type(0))


def attention_pool_forward(
    out: np.ndarray, lengths: np.ndarray, params: Params
) -> tuple[np.ndarray, dict[str, Any]]:
    """out (T, B, F), lengths (B,), params ``weight`` (A, F), ``bias`` (A,), ``v`` (A,)
    -> pooled (B, F) = sum_t a_t out_t, a = softmax over real t of v . tanh(W out_t + b).

    The scores of all T*B steps are one (T*B, F) x (F, A) product; the softmax subtracts
    each row's maximum over its real steps before exp.

    Rust: src/nn/pooling.rs (attention_forward).
    """
    t_len, batch, feat = out.shape
    valid = valid_steps(lengths, t_len)  # (T, B)
    u = np.tanh(out.reshape(t_len * batch, feat) @ params["weight"].T + params["bias"])
    u = u.reshape(t_len, batch, -1)  # (T, B, A)
    scores = np.where(valid, u @ params["v"], u.dtype.type(-np.inf))  # (T, B)
    e = np.exp(scores - scores.max(axis=0))  # exp(-inf) = 0 at padded steps
    weights = e / e.sum(axis=0)  # (T, B)
    pooled = (weights[:, :, None] * out).sum(axis=0)
    cache = {"out": out, "u": u, "weights": weights, "params": params}
    return pooled, cache


def attention_pool_backward(
    d_pooled: np.ndarray, cache: dict[str, Any]
) -> tuple[np.ndarray, Params]:
    """d_pooled (B, F) -> (d_out (T, B, F), grads ``weight``, ``bias``, ``v``).

    da_t = out_t . d_pooled; d_score_t = a_t (da_t - sum_s a_s da_s) (0 at padded steps,
    where a_t = 0); d_pre = d_score_t v * (1 - u_t^2);
    d_out_t = a_t d_pooled + d_pre W; dW = sum d_pre^T out_t; db = sum d_pre;
    dv = sum d_score_t u_t (sums over all T*B steps).

    Rust: src/nn/pooling.rs (attention_backward).
    """
    out, u, weights, params = cache["out"], cache["u"], cache["weights"], cache["params"]
    t_len, batch, feat = out.shape
    d_weights = (out * d_pooled).sum(axis=-1)  # (T, B)
    d_scores = weights * (d_weights - (weights * d_weights).sum(axis=0))  # (T, B)
    d_pre = (d_scores[:, :, None] * params["v"]) * (1.0 - u * u)  # (T, B, A)
    d_pre2 = d_pre.reshape(t_len * batch, -1)
    out2 = out.reshape(t_len * batch, feat)
    d_out = weights[:, :, None] * d_pooled + (d_pre2 @ params["weight"]).reshape(out.shape)
    grads = {
        "weight": d_pre2.T @ out2,
        "bias": d_pre2.sum(axis=0),
        "v": d_scores.reshape(-1) @ u.reshape(t_len * batch, -1),
    }
    return d_out, grads


def pool_forward(
    kind: str,
    out: np.ndarray,
    lengths: np.ndarray,
    num_directions: int = 1,
    params: Optional[Params] = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Pool out (T, B, F) over each row's lengths[b] real steps -> (pooled (B, F), cache).

    ``num_directions`` matters to ``last`` only; ``params`` (short names) to ``attention``.

    Rust: src/classify/model.rs (Classifier::forward dispatches on nn::pooling::Pooling).
    """
    if kind == "last":
        pooled, cache = last_pool_forward(out, lengths, num_directions)
    elif kind == "mean":
        pooled, cache = mean_pool_forward(out, lengths)
    elif kind == "max":
        pooled, cache = max_pool_forward(out, lengths)
    elif kind == "attention":
        if params is None:
            raise ValueError("attention pooling needs params weight, bias and v")
        pooled, cache = attention_pool_forward(out, lengths, params)
    else:
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {kind!r}")
    cache["kind"] = kind
    return pooled, cache


def pool_backward(d_pooled: np.ndarray, cache: dict[str, Any]) -> tuple[np.ndarray, Params]:
    """Backward of :func:`pool_forward`: d_pooled (B, F) -> (d_out (T, B, F), grads of
    the pooling's parameters by short name, empty when it has none).

    Rust: src/classify/model.rs (Classifier::backward).
    """
    kind = cache["kind"]
    if kind == "attention":
        return attention_pool_backward(d_pooled, cache)
    if kind == "mean":
        return mean_pool_backward(d_pooled, cache), {}
    return pick_pool_backward(d_pooled, cache), {}
