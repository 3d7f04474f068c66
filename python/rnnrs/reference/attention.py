"""Encoder-decoder attention: scores, softmax over each row's real source positions, context.

A decoder query ``q`` (B, H) reads a memory ``mem`` (S, B, H), the encoder's outputs,
time-major; ``lengths`` (B,) says how many of the S positions of row b are real (lengths.py).
The three scores of Luong et al. (2015) and Bahdanau et al. (2015), named as OpenNMT-py names
them (and their parameters):

- ``dot``:      e[s, b] = q[b] . mem[s, b]
- ``general``:  e[s, b] = (W_in q[b]) . mem[s, b]        ``linear_in.weight`` (H, H)
- ``additive``: e[s, b] = v . tanh(W_q q[b] + b_q + W_k mem[s, b])
                ``linear_query.weight`` (A, H), ``linear_query.bias`` (A,),
                ``linear_context.weight`` (A, H), ``v`` (A,)

then a[s, b] = softmax over the real positions s < lengths[b] (0 at padding) and the
context c[b] = sum_s a[s, b] mem[s, b]. The key side of the additive score, W_k mem, does not
depend on the query: :func:`attention_keys` computes it once per source batch (S*B rows in
one matmul) and every decoder step reuses it; its gradient is gathered over all steps and
taken back through W_k once (:func:`attention_keys_backward`).

Parameters are passed by their short names (above); the model prefixes them with
``attention.``. Backward functions return fresh gradients (callers accumulate).

Rust: src/seq2seq/attention.rs (the kernels), wired by src/seq2seq/model.rs;
docs/equations.md has the table.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .lengths import valid_steps

ATTENTIONS = ("additive", "dot", "general")


def attention_shapes(
    kind: str, hidden_size: int, attention_size: int
) -> dict[str, tuple[int, ...]]:
    """Short parameter names and shapes of a score (the output layer is the model's).


    Example:
        >>> attention_shapes("additive", 4, 3)["linear_context.weight"]
        (3, 4)

    Rust: src/seq2seq/model.rs (Seq2Seq::new registers them).
    """
    if kind == "dot":
        return {}
    if kind == "general":
        return {"linear_in.weight": (hidden_size, hidden_size)}
    if kind == "additive":
        return {
            "linear_query.weight": (attention_size, hidden_size),
            "linear_query.bias": (attention_size,),
            "linear_context.weight": (attention_size, hidden_size),
            "v": (attention_size,),
        }
    raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)}, got {kind!r}")


def attention_keys(
    kind: str, mem: np.ndarray, params: dict[str, np.ndarray]
) -> Optional[np.ndarray]:
    """The query-independent part of the score: W_k mem (S, B, A) for ``additive``, else None.

    Rust: src/seq2seq/attention.rs (keys).
    """
    if kind != "additive":
        return None
    s, b, h = mem.shape
    return (mem.reshape(s * b, h) @ params["linear_context.weight"].T).reshape(s, b, -1)


def attention_keys_backward(
    kind: str, d_keys: Optional[np.ndarray], mem: np.ndarray, params: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Backward of :func:`attention_keys`: d_keys (S, B, A) -> (d_mem (S, B, H), grads).

    Rust: src/seq2seq/attention.rs (keys_backward).
    """
    if kind != "additive" or d_keys is None:
        return np.zeros_like(mem), {}
    s, b, h = mem.shape
    d2 = d_keys.reshape(s * b, -1)
    w_k = params["linear_context.weight"]
    d_mem = (d2 @ w_k).reshape(s, b, h)
    return d_mem, {"linear_context.weight": d2.T @ mem.reshape(s * b, h)}


def masked_softmax(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Softmax over axis 0 of scores (S, B) where ``valid`` (S, B); exactly 0 elsewhere.

    Every row must have at least one valid position (lengths >= 1).


    Example:
        >>> masked_softmax(np.zeros((3, 1)), np.array([[True], [True], [False]])).ravel().tolist()
        [0.5, 0.5, 0.0]

    Rust: src/seq2seq/attention.rs (masked_softmax).
    """
    masked = np.where(valid, scores, -np.inf)
    shifted = masked - masked.max(axis=0, keepdims=True)
    e = np.where(valid, np.exp(shifted), 0.0).astype(scores.dtype)
    return e / e.sum(axis=0, keepdims=True)


def attention_forward(
    kind: str,
    q: np.ndarray,
    mem: np.ndarray,
    keys: Optional[np.ndarray],
    lengths: np.ndarray,
    params: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """q (B, H), mem (S, B, H), keys from :func:`attention_keys`, lengths (B,)
    -> (context (B, H), weights (S, B), cache).

    Rust: src/seq2seq/attention.rs (forward).
    """
    valid = valid_steps(lengths, mem.shape[0])
    cache: dict[str, Any] = {"q": q, "valid": valid}
    if kind == "additive":
        qp = q @ params["linear_query.weight"].T + params["linear_query.bias"]  # (B, A)
        u = np.tanh(keys + qp[None])  # (S, B, A)
        scores = u @ params["v"]
        cache["u"] = u
    else:
        qq = q if kind == "dot" else q @ params["linear_in.weight"].T
        scores = np.einsum("sbh,bh->sb", mem, qq)
        cache["qq"] = qq
    a = masked_softmax(scores, valid)
    ctx = np.einsum("sb,sbh->bh", a, mem)
    cache["a"] = a
    return ctx, a, cache


def attention_backward(
    kind: str,
    d_ctx: np.ndarray,
    mem: np.ndarray,
    params: dict[str, np.ndarray],
    cache: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray], dict[str, np.ndarray]]:
    """Backward of :func:`attention_forward` from d_ctx (B, H).

    Returns (d_q (B, H), d_mem (S, B, H) through the scores and the context, d_keys
    (S, B, A) for ``additive`` else None, grads of the score's parameters).

    Rust: src/seq2seq/attention.rs (backward).
    """
    a, q = cache["a"], cache["q"]
    d_mem = a[:, :, None] * d_ctx[None]  # through c = sum_s a_s mem_s
    d_a = np.einsum("bh,sbh->sb", d_ctx, mem)
    d_e = a * (d_a - (a * d_a).sum(axis=0, keepdims=True))  # 0 at padding (a = 0 there)
    grads: dict[str, np.ndarray] = {}
    if kind == "additive":
        u = cache["u"]
        d_u = d_e[:, :, None] * params["v"]
        d_pre = d_u * (1.0 - u * u)  # (S, B, A)
        grads["v"] = np.einsum("sb,sba->a", d_e, u)
        d_qp = d_pre.sum(axis=0)  # (B, A)
        grads["linear_query.weight"] = d_qp.T @ q
        grads["linear_query.bias"] = d_qp.sum(axis=0)
        return d_qp @ params["linear_query.weight"], d_mem, d_pre, grads
    qq = cache["qq"]
    d_qq = np.einsum("sb,sbh->bh", d_e, mem)
    d_mem = d_mem + d_e[:, :, None] * qq[None]
    if kind == "dot":
        return d_qq, d_mem, None, grads
    grads["linear_in.weight"] = d_qq.T @ q
    return d_qq @ params["linear_in.weight"], d_mem, None, grads
