"""Diagnostics of recurrent models: how gradients flow back through time."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends.arrays import as_token_array
from ..reference.cells import state_size
from ..reference.lm import lm_backward, lm_forward
from ..reference.loss import cross_entropy
from .rnnlm import RNNLM


def gradient_flow(model: RNNLM, x: Any) -> np.ndarray:
    """The vanishing/exploding-gradient picture of ``model`` on the token ids ``x``.

    ``x`` is a (B, T+1) array (or a 1-D sequence): the model reads x[:, :T] from a zero
    state and Loss_T is the cross-entropy of its last prediction, x[:, T]. Returns
    ``norms`` (T,) float64 with ``norms[k-1] = ||dLoss_T / dh_k||`` for k = 1..T, h_k being
    the top layer's hidden state after step k (L2 norm over the batch). Reading it from
    k = T down to 1 shows how far back the loss still reaches. Computed in float64 by the
    NumPy reference from the model's current parameters, whatever its backend.

    Example:
        >>> import numpy as np, rnnrs
        >>> model = rnnrs.RNNLM(10, cell="rnn_tanh", hidden_size=16, backend="numpy")
        >>> norms = gradient_flow(model, np.arange(21) % 10)
        >>> norms.shape, bool(norms[0] < norms[-1])
        ((20,), True)
    """
    arr = np.asarray(x)
    ids = as_token_array(arr[None, :] if arr.ndim == 1 else arr, "x", model.vocab_size)
    if ids.shape[1] < 2:
        raise ValueError(f"x: expected at least 2 tokens per row, got shape {ids.shape}")
    config = model.config
    params = {k: v.astype(np.float64) for k, v in model.parameters().items()}
    inputs, target = ids[:, :-1], ids[:, -1]
    batch, steps = inputs.shape
    shape = (config["num_layers"], batch, config["hidden_size"])
    state0 = tuple(np.zeros(shape) for _ in range(state_size(config["cell"])))
    logits, _, cache = lm_forward(params, config, inputs, state0)
    last = slice((steps - 1) * batch, steps * batch)  # logits rows are time-major
    _, d_last, _ = cross_entropy(logits[last], target)
    d_logits = np.zeros_like(logits)
    d_logits[last] = d_last
    _, dh_steps = lm_backward(d_logits, params, config, cache, keep_dh=True)
    assert dh_steps is not None  # keep_dh=True always returns the per-step gradients
    return np.sqrt((dh_steps.reshape(steps, -1) ** 2).sum(axis=1))
