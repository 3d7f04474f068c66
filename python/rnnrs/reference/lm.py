"""The recurrent language model as one forward/backward pair:
embedding -> stacked cells -> dropout -> linear -> softmax cross-entropy.

Parameter names are the RNNLM's (``embedding.weight``, ``rnn.weight_ih_l0``, ...,
``output.weight``, ``output.bias``); with tied weights ``output.weight`` is absent and the
embedding table serves as the decoder, its gradient summing both uses.

Rust: src/lm/model.rs (embedding + the src/nn/stack.rs encoder + the src/nn/decoder.rs
output layer).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .cells import State
from .dropout import dropout_mask
from .embedding import embedding_backward, embedding_forward
from .loss import cross_entropy, linear_backward, linear_forward
from .stack import stack_backward, stack_forward, stack_shapes


def parameter_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Parameter names (canonical order) and PyTorch shapes of the language model of a
    complete ``config`` (vocab_size, cell, hidden_size, num_layers, embed_size,
    tie_weights).

    Rust: src/lm/model.rs (Model::new).

    Example:
        >>> cfg = {"vocab_size": 5, "cell": "gru", "hidden_size": 4, "num_layers": 1,
        ...        "embed_size": 4, "tie_weights": False}
        >>> parameter_shapes(cfg)["rnn.weight_ih_l0"]
        (12, 4)
    """
    vocab, hid, emb = config["vocab_size"], config["hidden_size"], config["embed_size"]
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (vocab, emb)}
    stack = stack_shapes(config["cell"], emb, hid, config["num_layers"], False)
    shapes.update((f"rnn.{name}", shape) for name, shape in stack.items())
    if not config["tie_weights"]:
        shapes["output.weight"] = (vocab, hid)
    shapes["output.bias"] = (vocab,)
    return shapes


def _rnn_params(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    # The encoder's tensors without the "rnn." prefix (Rust: the Stack's part of the Params).
    return {k[4:]: v for k, v in params.items() if k.startswith("rnn.")}


def decoder_weight(params: dict[str, np.ndarray]) -> np.ndarray:
    """The output projection (V, H): ``output.weight``, or the embedding when tied.

    Rust: src/lm/model.rs (Model::decoder).
    """
    return params.get("output.weight", params["embedding.weight"])


def lm_forward(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    x: np.ndarray,
    state0: State,
    rng: Optional[np.random.Generator] = None,
) -> tuple[np.ndarray, State, dict[str, Any]]:
    """x (B, T) token ids, state0 tuple of (L, B, H) -> logits (T*B, V) time-major rows,
    final state, cache. Dropout applies only when ``rng`` is given (training).

    Rust: src/lm/model.rs (the forward pass of Model::logits, Model::loss and Model::loss_and_grads;
    layer 0 reads src/nn/projected_embedding.rs when ids repeat).
    """
    p = config["dropout"] if rng is not None else 0.0
    emb = embedding_forward(params["embedding.weight"], x)  # (T, B, E)
    out, final, stack_cache = stack_forward(
        config["cell"], emb, state0, _rnn_params(params), config["num_layers"], False, p, rng
    )
    mask = dropout_mask(rng, out.shape, p, out.dtype) if rng is not None and p > 0 else None
    h = out if mask is None else out * mask
    h2 = h.reshape(-1, h.shape[-1])  # (T*B, H)
    logits = linear_forward(h2, decoder_weight(params), params["output.bias"])  # (T*B, V)
    cache = {"x": x, "stack": stack_cache, "mask": mask, "h": h2}
    return logits, final, cache


def targets_time_major(y: np.ndarray) -> np.ndarray:
    """y (B, T) -> (T*B,) in the row order of :func:`lm_forward`'s logits.

    Rust: src/lm/model.rs (the same time-major rows, t*B + b).
    """
    return y.T.reshape(-1)


def lm_backward(
    d_logits: np.ndarray,
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    cache: dict[str, Any],
    keep_dh: bool = False,
) -> tuple[dict[str, np.ndarray], Optional[np.ndarray]]:
    """Backward of :func:`lm_forward` from dLoss/dlogits (T*B, V).

    Returns (grads keyed like ``params``, dLoss/dh of the top layer (T, B, H) when
    ``keep_dh``).

    Rust: src/lm/model.rs (the backward pass of Model::loss_and_grads).
    """
    x = cache["x"]
    t_len, batch = x.shape[1], x.shape[0]
    dh, dw_out, db_out = linear_backward(d_logits, cache["h"], decoder_weight(params))
    d_out = dh.reshape(t_len, batch, -1)
    if cache["mask"] is not None:
        d_out = d_out * cache["mask"]
    d_emb, _, rnn_grads, dh_steps = stack_backward(d_out, None, cache["stack"], keep_dh)
    grads = {"embedding.weight": embedding_backward(d_emb, x, config["vocab_size"])}
    grads.update({f"rnn.{k}": v for k, v in rnn_grads.items()})
    if "output.weight" in params:
        grads["output.weight"] = dw_out
    else:
        grads["embedding.weight"] += dw_out
    grads["output.bias"] = db_out
    return grads, dh_steps


def lm_loss_and_grads(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    state0: State,
    rng: Optional[np.random.Generator] = None,
) -> tuple[float, dict[str, np.ndarray], State]:
    """Mean cross-entropy of next tokens y (B, T) given x (B, T), its gradients, final state.

    Rust: src/lm/model.rs (Model::loss_and_grads).
    """
    logits, final, cache = lm_forward(params, config, x, state0, rng)
    loss, d_logits, _ = cross_entropy(logits, targets_time_major(y))
    grads, _ = lm_backward(d_logits, params, config, cache)
    return loss, grads, final
