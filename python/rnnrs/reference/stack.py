"""Stacked, optionally bidirectional recurrent layers with inter-layer dropout.

Mirrors torch.nn.RNN / LSTM / GRU: layer k > 0 reads the (dropped-out) output of layer k-1;
with two directions, the reverse direction runs over the time-reversed input and the two
outputs are concatenated on the feature axis (forward first). Time-major throughout:

- ``x``: (T, B, I); output (T, B, D*H) with D = 2 when bidirectional, else 1;
- state: tuple of (L*D, B, H) arrays — ``(h,)`` or ``(h, c)`` — index ``k*D + d``;
- ``params``: PyTorch names ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
  ``bias_hh_l{k}`` with suffix ``_reverse`` for the backward direction.

Padded batches of sequences of different lengths (``lengths`` (B,), 1 <= lengths[b] <= T)
give what ``pack_padded_sequence(x, lengths, enforce_sorted=False)`` through the torch
module and ``pad_packed_sequence`` (padding value 0) give, at the dense cost:

- every direction of every layer runs its cell with ``lengths`` (cells.py): the state of row
  b freezes after step lengths[b]-1, outputs at padded steps are 0;
- the forward direction reads the input as it is: its final state is the state after the
  row's last real step;
- the reverse direction reads the input gathered by ``rev = reverse_index(lengths, T)``,
  ``rev[t, b] = lengths[b]-1-t`` for t < lengths[b] and ``t`` after (lengths.py): row b's
  reverse run starts at its own last real token and ends at step 0, which its final state
  belongs to; its outputs go back in place through the same gather (rev is an involution),
  and so do the gradients in backward;
- layer k > 0 reads the [forward | reverse] outputs of layer k-1, 0 at padded steps.

Padding never changes a result: row b gives the same outputs, final state and gradients
alone (T = lengths[b]) as in any batch. ``lengths=None`` is the unmasked stack (every row
runs T steps), and ``lengths`` all equal to T gives the same numbers bit for bit.

Rust: src/nn/stack.rs, the recurrent encoder every model composes.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .cells import GATES, LayerWeights, State, cell_backward, cell_forward, state_size
from .dropout import dropout_mask
from .lengths import check_lengths, gather_steps, reverse_index


def layer_names(k: int, reverse: bool) -> tuple[str, str, str, str]:
    """The four PyTorch parameter names of layer k (one direction).

    Rust: src/nn/stack.rs (Stack::new names the tensors in a src/nn/params.rs Layout).
    """
    sfx = "_reverse" if reverse else ""
    return (
        f"weight_ih_l{k}{sfx}",
        f"weight_hh_l{k}{sfx}",
        f"bias_ih_l{k}{sfx}",
        f"bias_hh_l{k}{sfx}",
    )


def stack_shapes(
    cell: str, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool
) -> dict[str, tuple[int, ...]]:
    """Parameter names (canonical order: by layer, then direction) and PyTorch shapes.

    Rust: src/nn/stack.rs (Stack::new, into a src/nn/params.rs Layout).

    Example:
        >>> stack_shapes("gru", 3, 4, 2, True)["weight_ih_l1_reverse"]
        (12, 8)
    """
    dirs = 2 if bidirectional else 1
    gates = GATES[cell] * hidden_size
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(num_layers):
        width = input_size if k == 0 else hidden_size * dirs
        for d in range(dirs):
            w_ih, w_hh, b_ih, b_hh = layer_names(k, d == 1)
            shapes[w_ih] = (gates, width)
            shapes[w_hh] = (gates, hidden_size)
            shapes[b_ih] = (gates,)
            shapes[b_hh] = (gates,)
    return shapes


def _weights(params: dict[str, np.ndarray], k: int, reverse: bool) -> LayerWeights:
    return LayerWeights(*(params[n] for n in layer_names(k, reverse)))


def stack_forward(
    cell: str,
    x: np.ndarray,
    state0: State,
    params: dict[str, np.ndarray],
    num_layers: int,
    bidirectional: bool = False,
    dropout: float = 0.0,
    rng: Optional[np.random.Generator] = None,
    lengths: Optional[np.ndarray] = None,
) -> tuple[np.ndarray, State, dict[str, Any]]:
    """Forward through all layers. x (T, B, I), state0 tuple of (L*D, B, H),
    lengths (B,) ints in 1..T or None (every row runs T steps; see the module docstring).

    Dropout (probability ``dropout``) is applied to the input of layers 2..L only when an
    ``rng`` is given (training); it draws one mask per layer boundary, of shape (T, B, D*H)
    whatever the lengths (its padded entries multiply zeros).
    Returns (out (T, B, D*H), 0 at padded steps; final state tuple of (L*D, B, H), each
    row's state after its own last step in each direction; cache).

    Rust: src/nn/stack.rs (Stack::forward).
    """
    dirs = 2 if bidirectional else 1
    rev = None
    if lengths is not None:
        lengths = check_lengths(lengths, x.shape[0], x.shape[1])
        rev = reverse_index(lengths, x.shape[0])
    finals = [np.empty_like(s) for s in state0]
    layer_caches: list[list[dict[str, Any]]] = []
    masks: list[Optional[np.ndarray]] = []
    inp = x
    for k in range(num_layers):
        mask = None
        if k > 0 and rng is not None and dropout > 0.0:
            mask = dropout_mask(rng, inp.shape, dropout, inp.dtype)
            inp = inp * mask
        masks.append(mask)
        outs = []
        caches = []
        for d in range(dirs):
            idx = k * dirs + d
            s0 = tuple(s[idx] for s in state0)
            xin = inp if d == 0 else _reverse(inp, rev)
            out, s_t, cache = cell_forward(cell, xin, s0, _weights(params, k, d == 1), lengths)
            outs.append(out if d == 0 else _reverse(out, rev))
            caches.append(cache)
            for j, s in enumerate(s_t):
                finals[j][idx] = s
        layer_caches.append(caches)
        inp = outs[0] if dirs == 1 else np.concatenate(outs, axis=-1)
    cache = {
        "cell": cell,
        "layers": layer_caches,
        "masks": masks,
        "dirs": dirs,
        "num_layers": num_layers,
        "rev": rev,
    }
    return inp, tuple(finals), cache


def _reverse(a: np.ndarray, rev: Optional[np.ndarray]) -> np.ndarray:
    # a (T, B, F) in reverse-direction time order, or back: all of T, or each row within
    # its length (rev from reverse_index).
    return np.ascontiguousarray(a[::-1] if rev is None else gather_steps(a, rev))


def stack_backward(
    d_out: np.ndarray,
    d_final: Optional[State],
    cache: dict[str, Any],
    keep_dh: bool = False,
) -> tuple[np.ndarray, State, dict[str, np.ndarray], Optional[np.ndarray]]:
    """Backward of :func:`stack_forward`. d_out (T, B, D*H); d_final like the final state.

    Returns (dx (T, B, I), d_state0 tuple of (L*D, B, H), grads by PyTorch name,
    dh_steps (T, B, D*H) = dLoss/d(top layer output at each step) when ``keep_dh``).

    Rust: src/nn/stack.rs (Stack::backward).
    """
    cell, dirs, num_layers, rev = (cache[k] for k in ("cell", "dirs", "num_layers", "rev"))
    first = cache["layers"][0][0]
    hid = first["hs"].shape[-1]
    batch = first["hs"].shape[1]
    n_state = state_size(cell)
    dtype = d_out.dtype
    d_state0 = tuple(np.zeros((num_layers * dirs, batch, hid), dtype=dtype) for _ in range(n_state))
    grads: dict[str, np.ndarray] = {}
    dh_top: Optional[np.ndarray] = None
    d_layer_out = d_out
    for k in range(num_layers - 1, -1, -1):
        dxs = []
        dh_parts = []
        for d in range(dirs):
            idx = k * dirs + d
            d_o = d_layer_out[..., d * hid : (d + 1) * hid]
            d_o = np.ascontiguousarray(d_o) if d == 0 else _reverse(d_o, rev)
            d_s = None if d_final is None else tuple(s[idx] for s in d_final)
            res = cell_backward(cell, d_o, d_s, cache["layers"][k][d], keep_dh)
            for name, g in zip(layer_names(k, d == 1), res.dw):
                grads[name] = g
            for j, s in enumerate(res.d_state0):
                d_state0[j][idx] = s
            dxs.append(res.dx if d == 0 else _reverse(res.dx, rev))
            if keep_dh and k == num_layers - 1 and res.dh_steps is not None:
                dh_parts.append(res.dh_steps if d == 0 else _reverse(res.dh_steps, rev))
        if dh_parts:
            dh_top = dh_parts[0] if dirs == 1 else np.concatenate(dh_parts, axis=-1)
        d_inp = dxs[0] if dirs == 1 else dxs[0] + dxs[1]
        mask = cache["masks"][k]
        if mask is not None:
            d_inp = d_inp * mask
        d_layer_out = d_inp
    return np.ascontiguousarray(d_layer_out), d_state0, grads, dh_top
