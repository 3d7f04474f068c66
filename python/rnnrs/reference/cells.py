"""Recurrent cells over a chunk of T steps: forward, and backward through time.

The executable specification of rnnrs's cells (PyTorch equations, gate orders and layouts).
Everything is time-major inside the kernels:

- ``x``: (T, B, I) inputs; ``out``: (T, B, H) hidden state of every step;
- a state is a tuple of (B, H) arrays: ``(h,)`` for RNN and GRU, ``(h, c)`` for LSTM;
- weights in PyTorch layout: ``w_ih`` (G*H, I), ``w_hh`` (G*H, H), ``b_ih`` and ``b_hh``
  (G*H,), with G = 1 (rnn_tanh, rnn_relu), 4 (lstm: gates i, f, g, o) or 3 (gru: r, z, n).

The input projection of all T steps is one matmul before the recurrence; the weight
gradients are single matmuls after it: only the (B, H) x (H, G*H) work stays in the loop.
Backward functions return fresh gradient arrays (callers accumulate where they need to).

Variable lengths (``lengths`` (B,), see ``lengths.py``; ``None`` = every row runs T steps):
with ``valid[t, b] = t < lengths[b]``, every step computes the cell for all rows as usual,
then each row past its length keeps its previous state (a select, h_t = valid ? h' : h_{t-1},
and the same for c), so the state freezes at the row's last real step and the final state
is the state after step lengths[b]-1. Outputs at padded steps are 0. Backward mirrors it:
the gradient reaching a frozen step is carried unchanged to step t-1 and nothing enters the
cell there, so padding adds exactly zero to every gradient. The cache holds ``valid``, so
the backward functions take no lengths. With every length T the selects pick the unmasked
values: the results equal those of ``lengths=None`` bit for bit.

Rust: the elementwise step of each cell in src/nn/cell.rs; the chunk (the matmuls around
the time loop, in src/linalg/gemm.rs) in src/nn/recurrent.rs. Each function below names its
counterpart; docs/equations.md has the table with the tests that hold them together.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import numpy as np

from .lengths import valid_steps

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
CELLS = tuple(GATES)
State = tuple[np.ndarray, ...]


class LayerWeights(NamedTuple):
    """The four tensors of one direction of one layer (PyTorch layout); also their grads.

    Rust: src/nn/recurrent.rs (Weights, Grads).
    """

    w_ih: np.ndarray  # (G*H, I)
    w_hh: np.ndarray  # (G*H, H)
    b_ih: np.ndarray  # (G*H,)
    b_hh: np.ndarray  # (G*H,)


class CellGrads(NamedTuple):
    """What a cell's backward returns.

    Rust: src/nn/recurrent.rs (Grads, StateGrads).
    """

    dx: np.ndarray  # (T, B, I)
    d_state0: State  # tuple of (B, H)
    dw: LayerWeights
    dh_steps: Optional[np.ndarray]  # (T, B, H) dLoss/dh_t, only when asked for


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function, written with tanh so it never overflows in float32.

    Rust: src/runtime/simd.rs (sigmoid).
    """
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def _input_projection(x: np.ndarray, w_ih: np.ndarray, bias: np.ndarray) -> np.ndarray:
    # x (T, B, I) @ w_ih.T (I, G*H) + bias (G*H,) -> (T, B, G*H): all steps in one matmul.
    # Rust: the input GEMM of src/nn/recurrent.rs (forward).
    t, b, i = x.shape
    xp = (x.reshape(t * b, i) @ w_ih.T).reshape(t, b, -1)
    xp += bias
    return xp


def _valid(lengths: Optional[np.ndarray], t_len: int) -> Optional[np.ndarray]:
    # (T, B, 1) bool, broadcast over the hidden units; None when every row runs T steps.
    return None if lengths is None else valid_steps(lengths, t_len)[:, :, None]


def _zero_padding(a: np.ndarray, valid: Optional[np.ndarray]) -> np.ndarray:
    # a (T, B, H) with its padded steps set to 0 (the outputs there, and their gradients).
    return a if valid is None else np.where(valid, a, a.dtype.type(0))


def _weight_grads(
    x: np.ndarray, h_prev: np.ndarray, d_in: np.ndarray, d_rec: np.ndarray, w: LayerWeights
) -> tuple[np.ndarray, LayerWeights]:
    # d_in: dLoss/d(input pre-activations) (T, B, G*H); d_rec: same for the recurrent side.
    # Rust: the weight-gradient GEMMs after the loop of src/nn/recurrent.rs (backward).
    t, b, i = x.shape
    h = h_prev.shape[-1]
    d_in2 = d_in.reshape(t * b, -1)
    d_rec2 = d_rec.reshape(t * b, -1)
    dw_ih = d_in2.T @ x.reshape(t * b, i)  # (G*H, I)
    dw_hh = d_rec2.T @ h_prev.reshape(t * b, h)  # (G*H, H)
    dx = (d_in2 @ w.w_ih).reshape(t, b, i)  # (T, B, I)
    return dx, LayerWeights(dw_ih, dw_hh, d_in2.sum(axis=0), d_rec2.sum(axis=0))


# ----------------------------------------------------------------------------- Elman RNN


def rnn_forward(
    x: np.ndarray,
    state0: State,
    w: LayerWeights,
    relu: bool,
    lengths: Optional[np.ndarray] = None,
) -> tuple[np.ndarray, State, dict[str, Any]]:
    """h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu.

    x (T, B, I), state0 = (h0 (B, H),), lengths (B,) or None
    -> out (T, B, H), (h_T,), cache.

    Rust: src/nn/cell.rs (rnn_forward, one step), run over the chunk by src/nn/recurrent.rs
    (forward).
    """
    t_len = x.shape[0]
    valid = _valid(lengths, t_len)
    h0 = state0[0]
    xp = _input_projection(x, w.w_ih, w.b_ih + w.b_hh)  # (T, B, H)
    hs = np.empty((t_len + 1, *h0.shape), dtype=x.dtype)  # hs[t+1] = h_t; hs[0] = h0
    hs[0] = h0
    w_hh_t = w.w_hh.T
    for t in range(t_len):
        a = xp[t]
        a += hs[t] @ w_hh_t
        if relu:
            np.maximum(a, 0.0, out=hs[t + 1])
        else:
            np.tanh(a, out=hs[t + 1])
        if valid is not None:  # rows past their length keep h_{t-1}
            np.copyto(hs[t + 1], hs[t], where=~valid[t])
    cache = {"x": x, "hs": hs, "w": w, "relu": relu, "valid": valid}
    return _zero_padding(hs[1:], valid), (hs[t_len].copy(),), cache


def rnn_backward(
    d_out: np.ndarray, d_state: Optional[State], cache: dict[str, Any], keep_dh: bool = False
) -> CellGrads:
    """Backward of :func:`rnn_forward`. d_out (T, B, H); d_state = (dh_T,) or None.

    Rust: src/nn/cell.rs (rnn_backward, one step), run over the chunk by src/nn/recurrent.rs
    (backward).
    """
    x, hs, w, relu, valid = (cache[k] for k in ("x", "hs", "w", "relu", "valid"))
    t_len = x.shape[0]
    dh = np.zeros_like(hs[0]) if d_state is None else d_state[0].astype(x.dtype, copy=True)
    d_out = _zero_padding(d_out, valid)
    da = np.empty_like(d_out)  # (T, B, H) dLoss/d(pre-activation)
    dh_steps = np.empty_like(d_out) if keep_dh else None
    zero = x.dtype.type(0)
    for t in range(t_len - 1, -1, -1):
        dh += d_out[t]
        if valid is not None:  # a frozen row passes dh to step t-1; its cell gets 0
            carry = dh
            dh = np.where(valid[t], dh, zero)
        if dh_steps is not None:
            dh_steps[t] = dh
        h = hs[t + 1]
        if relu:
            np.multiply(dh, h > 0, out=da[t])
        else:
            np.multiply(dh, 1.0 - h * h, out=da[t])
        dh = da[t] @ w.w_hh  # (B, H)
        if valid is not None:
            dh = np.where(valid[t], dh, carry)
    dx, dw = _weight_grads(x, hs[:-1], da, da, w)
    return CellGrads(dx, (dh,), dw, dh_steps)


# ----------------------------------------------------------------------------- LSTM


def lstm_forward(
    x: np.ndarray, state0: State, w: LayerWeights, lengths: Optional[np.ndarray] = None
) -> tuple[np.ndarray, State, dict[str, Any]]:
    """[i f g o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh; i, f, o = sigmoid, g = tanh;
    c_t = f*c_{t-1} + i*g; h_t = o*tanh(c_t).

    x (T, B, I), state0 = (h0, c0) each (B, H), lengths (B,) or None
    -> out (T, B, H), (h_T, c_T), cache.

    Rust: src/nn/cell.rs (lstm_forward, one step), run over the chunk by src/nn/recurrent.rs
    (forward).
    """
    t_len = x.shape[0]
    valid = _valid(lengths, t_len)
    h0, c0 = state0
    hid = h0.shape[-1]
    xp = _input_projection(x, w.w_ih, w.b_ih + w.b_hh)  # (T, B, 4H)
    hs = np.empty((t_len + 1, *h0.shape), dtype=x.dtype)
    cs = np.empty((t_len + 1, *h0.shape), dtype=x.dtype)
    acts = np.empty_like(xp)  # activated gates i, f, g, o per step
    tanh_c = np.empty((t_len, *h0.shape), dtype=x.dtype)
    hs[0], cs[0] = h0, c0
    w_hh_t = w.w_hh.T
    for t in range(t_len):
        a = xp[t]
        a += hs[t] @ w_hh_t
        gates = acts[t]
        gates[:, : 2 * hid] = sigmoid(a[:, : 2 * hid])  # i, f
        np.tanh(a[:, 2 * hid : 3 * hid], out=gates[:, 2 * hid : 3 * hid])  # g
        gates[:, 3 * hid :] = sigmoid(a[:, 3 * hid :])  # o
        i, f, g, o = (gates[:, k * hid : (k + 1) * hid] for k in range(4))
        np.multiply(f, cs[t], out=cs[t + 1])
        cs[t + 1] += i * g
        np.tanh(cs[t + 1], out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=hs[t + 1])
        if valid is not None:  # rows past their length keep h_{t-1} and c_{t-1}
            np.copyto(cs[t + 1], cs[t], where=~valid[t])
            np.copyto(hs[t + 1], hs[t], where=~valid[t])
    cache = {"x": x, "hs": hs, "cs": cs, "acts": acts, "tanh_c": tanh_c, "w": w, "valid": valid}
    return _zero_padding(hs[1:], valid), (hs[t_len].copy(), cs[t_len].copy()), cache


def lstm_backward(
    d_out: np.ndarray, d_state: Optional[State], cache: dict[str, Any], keep_dh: bool = False
) -> CellGrads:
    """Backward of :func:`lstm_forward`. d_out (T, B, H); d_state = (dh_T, dc_T) or None.

    Rust: src/nn/cell.rs (lstm_backward, one step), run over the chunk by src/nn/recurrent.rs
    (backward).
    """
    x, hs, cs, acts, tanh_c, w = (cache[k] for k in ("x", "hs", "cs", "acts", "tanh_c", "w"))
    valid = cache["valid"]
    t_len = x.shape[0]
    hid = hs.shape[-1]
    if d_state is None:
        dh, dc = np.zeros_like(hs[0]), np.zeros_like(hs[0])
    else:
        dh, dc = (s.astype(x.dtype, copy=True) for s in d_state)
    d_out = _zero_padding(d_out, valid)
    d_pre = np.empty_like(acts)  # (T, B, 4H) dLoss/d(gate pre-activations)
    dh_steps = np.empty_like(d_out) if keep_dh else None
    zero = x.dtype.type(0)
    for t in range(t_len - 1, -1, -1):
        dh += d_out[t]
        if valid is not None:  # a frozen row passes dh, dc to step t-1; its cell gets 0
            carry_h, carry_c = dh, dc
            dh = np.where(valid[t], dh, zero)
            dc = np.where(valid[t], dc, zero)
        if dh_steps is not None:
            dh_steps[t] = dh
        i, f, g, o = (acts[t][:, k * hid : (k + 1) * hid] for k in range(4))
        tc = tanh_c[t]
        dc += dh * o * (1.0 - tc * tc)
        dp = d_pre[t]
        dp[:, :hid] = dc * g * i * (1.0 - i)  # di
        dp[:, hid : 2 * hid] = dc * cs[t] * f * (1.0 - f)  # df
        dp[:, 2 * hid : 3 * hid] = dc * i * (1.0 - g * g)  # dg
        dp[:, 3 * hid :] = dh * tc * o * (1.0 - o)  # do
        dc = dc * f
        dh = dp @ w.w_hh  # (B, H)
        if valid is not None:
            dh = np.where(valid[t], dh, carry_h)
            dc = np.where(valid[t], dc, carry_c)
    dx, dw = _weight_grads(x, hs[:-1], d_pre, d_pre, w)
    return CellGrads(dx, (dh, dc), dw, dh_steps)


# ----------------------------------------------------------------------------- GRU


def gru_forward(
    x: np.ndarray, state0: State, w: LayerWeights, lengths: Optional[np.ndarray] = None
) -> tuple[np.ndarray, State, dict[str, Any]]:
    """r = s(W_ir x + b_ir + W_hr h + b_hr); z = s(W_iz x + b_iz + W_hz h + b_hz);
    n = tanh(W_in x + b_in + r*(W_hn h + b_hn)); h_t = (1-z)*n + z*h_{t-1}.

    x (T, B, I), state0 = (h0 (B, H),), lengths (B,) or None
    -> out (T, B, H), (h_T,), cache.

    Rust: src/nn/cell.rs (gru_forward, one step), run over the chunk by src/nn/recurrent.rs
    (forward).
    """
    t_len = x.shape[0]
    valid = _valid(lengths, t_len)
    h0 = state0[0]
    hid = h0.shape[-1]
    gi = _input_projection(x, w.w_ih, w.b_ih)  # (T, B, 3H), input side only
    hs = np.empty((t_len + 1, *h0.shape), dtype=x.dtype)
    hs[0] = h0
    rz = np.empty((t_len, h0.shape[0], 2 * hid), dtype=x.dtype)  # activated r, z
    n = np.empty((t_len, *h0.shape), dtype=x.dtype)
    hn = np.empty((t_len, *h0.shape), dtype=x.dtype)  # W_hn h + b_hn
    w_hh_t = w.w_hh.T
    for t in range(t_len):
        gh = hs[t] @ w_hh_t  # (B, 3H)
        gh += w.b_hh
        rz[t] = sigmoid(gi[t][:, : 2 * hid] + gh[:, : 2 * hid])
        r, z = rz[t][:, :hid], rz[t][:, hid:]
        hn[t] = gh[:, 2 * hid :]
        np.tanh(gi[t][:, 2 * hid :] + r * hn[t], out=n[t])
        hs[t + 1] = n[t] + z * (hs[t] - n[t])
        if valid is not None:  # rows past their length keep h_{t-1}
            np.copyto(hs[t + 1], hs[t], where=~valid[t])
    cache = {"x": x, "hs": hs, "rz": rz, "n": n, "hn": hn, "w": w, "valid": valid}
    return _zero_padding(hs[1:], valid), (hs[t_len].copy(),), cache


def gru_backward(
    d_out: np.ndarray, d_state: Optional[State], cache: dict[str, Any], keep_dh: bool = False
) -> CellGrads:
    """Backward of :func:`gru_forward`. d_out (T, B, H); d_state = (dh_T,) or None.

    Rust: src/nn/cell.rs (gru_backward, one step), run over the chunk by src/nn/recurrent.rs
    (backward).
    """
    x, hs, rz, n, hn, w = (cache[k] for k in ("x", "hs", "rz", "n", "hn", "w"))
    valid = cache["valid"]
    t_len = x.shape[0]
    hid = hs.shape[-1]
    dh = np.zeros_like(hs[0]) if d_state is None else d_state[0].astype(x.dtype, copy=True)
    d_out = _zero_padding(d_out, valid)
    zero = x.dtype.type(0)
    d_gi = np.empty((t_len, hs.shape[1], 3 * hid), dtype=x.dtype)  # input-side pre-acts
    d_gh = np.empty_like(d_gi)  # recurrent-side pre-activations (W_hh h + b_hh)
    dh_steps = np.empty_like(d_out) if keep_dh else None
    for t in range(t_len - 1, -1, -1):
        dh += d_out[t]
        if valid is not None:  # a frozen row passes dh to step t-1; its cell gets 0
            carry = dh
            dh = np.where(valid[t], dh, zero)
        if dh_steps is not None:
            dh_steps[t] = dh
        r, z = rz[t][:, :hid], rz[t][:, hid:]
        nt = n[t]
        dn_pre = dh * (1.0 - z) * (1.0 - nt * nt)
        dr_pre = dn_pre * hn[t] * r * (1.0 - r)
        dz_pre = dh * (hs[t] - nt) * z * (1.0 - z)
        d_gi[t][:, :hid] = dr_pre
        d_gi[t][:, hid : 2 * hid] = dz_pre
        d_gi[t][:, 2 * hid :] = dn_pre
        d_gh[t][:, : 2 * hid] = d_gi[t][:, : 2 * hid]
        d_gh[t][:, 2 * hid :] = dn_pre * r
        dh = dh * z + d_gh[t] @ w.w_hh  # (B, H)
        if valid is not None:
            dh = np.where(valid[t], dh, carry)
    dx, dw = _weight_grads(x, hs[:-1], d_gi, d_gh, w)
    return CellGrads(dx, (dh,), dw, dh_steps)


# ----------------------------------------------------------------------------- dispatch


def state_size(cell: str) -> int:
    """Number of state tensors: 2 for lstm (h, c), 1 otherwise.

    Rust: src/nn/cell.rs (CellKind::has_cell_state).
    """
    return 2 if cell == "lstm" else 1


def cell_forward(
    cell: str,
    x: np.ndarray,
    state0: State,
    w: LayerWeights,
    lengths: Optional[np.ndarray] = None,
) -> tuple[np.ndarray, State, dict[str, Any]]:
    """Run ``cell`` over x (T, B, I) from state0; returns (out (T, B, H), state_T, cache).

    With ``lengths`` (B,), row b runs its first lengths[b] steps (module docstring).

    Rust: src/nn/recurrent.rs (forward).
    """
    if cell == "lstm":
        return lstm_forward(x, state0, w, lengths)
    if cell == "gru":
        return gru_forward(x, state0, w, lengths)
    return rnn_forward(x, state0, w, relu=cell == "rnn_relu", lengths=lengths)


def cell_backward(
    cell: str,
    d_out: np.ndarray,
    d_state: Optional[State],
    cache: dict[str, Any],
    keep_dh: bool = False,
) -> CellGrads:
    """Backward through time of :func:`cell_forward` over the same chunk.

    Rust: src/nn/recurrent.rs (backward).
    """
    if cell == "lstm":
        return lstm_backward(d_out, d_state, cache, keep_dh)
    if cell == "gru":
        return gru_backward(d_out, d_state, cache, keep_dh)
    return rnn_backward(d_out, d_state, cache, keep_dh)
