"""The recurrent language model as one forward/backward pair:
embedding -> stacked cells -> dropout -> linear -> softmax cross-entropy.

Parameter names are the RNNLM's (``embedding.weight``, ``rnn.weight_ih_l0``, ...,
``output.weight``, ``output.bias``); with tied weights ``output.weight`` is absent and the
embedding table serves as the decoder, its gradient summing both uses. With
``config["softmax"] == "class"`` the output layer is the class-factored softmax of
``class_softmax.py`` (``output_class.weight``, ``output_class.bias`` besides), and the
"logits" of :func:`lm_forward` are the exact log-probabilities (softmax leaves them unchanged).

Rust: src/lm/model.rs (embedding + the src/nn/stack.rs encoder + the src/nn/decoder.rs
output layer).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .cells import State
from .class_softmax import class_log_probs, class_softmax_backward, class_softmax_loss
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
    if is_class_softmax(config):
        k = int(max(config["classes"])) + 1
        shapes["output_class.weight"] = (k, hid)
        shapes["output_class.bias"] = (k,)
    return shapes


def is_class_softmax(config: dict[str, Any]) -> bool:
    """Whether the output layer is the class-factored softmax.

    Rust: src/lm/model.rs (Softmax::Class).
    """
    return config.get("softmax", "full") == "class"


def _rnn_params(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    # The encoder's tensors without the "rnn." prefix (Rust: the Stack's part of the Params).
    return {k[4:]: v for k, v in params.items() if k.startswith("rnn.")}


def decoder_weight(params: dict[str, np.ndarray]) -> np.ndarray:
    """The output projection (V, H): ``output.weight``, or the embedding when tied.

    Rust: src/lm/model.rs (Model::decoder).
    """
    return params.get("output.weight", params["embedding.weight"])


def lm_hidden(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    x: np.ndarray,
    state0: State,
    rng: Optional[np.random.Generator] = None,
) -> tuple[np.ndarray, State, dict[str, Any]]:
    """The (dropped) top outputs (T*B, H) time-major rows that feed the output layer, the
    final state and the cache of :func:`lm_backward_hidden`.

    Rust: src/lm/model.rs (Model::forward, up to the decoder).
    """
    p = config["dropout"] if rng is not None else 0.0
    emb = embedding_forward(params["embedding.weight"], x)  # (T, B, E)
    out, final, stack_cache = stack_forward(
        config["cell"], emb, state0, _rnn_params(params), config["num_layers"], False, p, rng
    )
    mask = dropout_mask(rng, out.shape, p, out.dtype) if rng is not None and p > 0 else None
    h = out if mask is None else out * mask
    h2 = h.reshape(-1, h.shape[-1])  # (T*B, H)
    return h2, final, {"x": x, "stack": stack_cache, "mask": mask, "h": h2}


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
    h2, final, cache = lm_hidden(params, config, x, state0, rng)
    w_out, b_out = decoder_weight(params), params["output.bias"]
    if is_class_softmax(config):
        classes = np.asarray(config["classes"])
        wc, bc = params["output_class.weight"], params["output_class.bias"]
        logits = class_log_probs(h2, w_out, b_out, wc, bc, classes)  # (T*B, V)
    else:
        logits = linear_forward(h2, w_out, b_out)  # (T*B, V)
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
    """Backward of :func:`lm_forward` (full softmax) from dLoss/dlogits (T*B, V).

    Returns (grads keyed like ``params``, dLoss/dh of the top layer (T, B, H) when
    ``keep_dh``).

    Rust: src/lm/model.rs (the backward pass of Model::loss_and_grads).
    """
    dh, dw_out, db_out = linear_backward(d_logits, cache["h"], decoder_weight(params))
    return lm_backward_hidden(
        dh, {"output.weight": dw_out, "output.bias": db_out}, params, config, cache, keep_dh
    )


def lm_backward_hidden(
    dh: np.ndarray,
    output_grads: dict[str, np.ndarray],
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    cache: dict[str, Any],
    keep_dh: bool = False,
) -> tuple[dict[str, np.ndarray], Optional[np.ndarray]]:
    """Backward of :func:`lm_forward` below the output layer, from dLoss/dh (T*B, H) of the
    (dropped) top outputs and the output layer's own gradients (``output.weight`` is added
    to the embedding's gradient when tied).

    Rust: src/lm/model.rs (the backward pass of Model::loss_and_grads).
    """
    x = cache["x"]
    t_len, batch = x.shape[1], x.shape[0]
    d_out = dh.reshape(t_len, batch, -1)
    if cache["mask"] is not None:
        d_out = d_out * cache["mask"]
    d_emb, _, rnn_grads, dh_steps = stack_backward(d_out, None, cache["stack"], keep_dh)
    grads = {"embedding.weight": embedding_backward(d_emb, x, config["vocab_size"])}
    grads.update({f"rnn.{k}": v for k, v in rnn_grads.items()})
    out = dict(output_grads)
    dw_out = out.pop("output.weight")
    if "output.weight" in params:
        grads["output.weight"] = dw_out
    else:
        grads["embedding.weight"] += dw_out
    grads.update(out)
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
    if not is_class_softmax(config):
        logits, final, cache = lm_forward(params, config, x, state0, rng)
        loss, d_logits, _ = cross_entropy(logits, targets_time_major(y))
        grads, _ = lm_backward(d_logits, params, config, cache)
        return loss, grads, final
    h2, final, cache = lm_hidden(params, config, x, state0, rng)
    loss, dh, out_grads = class_output_loss_and_grads(params, config, h2, targets_time_major(y))
    grads, _ = lm_backward_hidden(dh, out_grads, params, config, cache)
    return loss, grads, final


def class_output_loss(
    params: dict[str, np.ndarray], config: dict[str, Any], h2: np.ndarray, targets: np.ndarray
) -> tuple[float, dict[str, Any]]:
    """Mean class-softmax loss of the top outputs h2 (T*B, H) against targets (T*B,), and its
    cache.

    Rust: src/lm/model.rs (Model::loss with Softmax::Class).
    """
    return class_softmax_loss(
        h2,
        decoder_weight(params),
        params["output.bias"],
        params["output_class.weight"],
        params["output_class.bias"],
        np.asarray(config["classes"]),
        targets,
    )


def class_output_loss_and_grads(
    params: dict[str, np.ndarray], config: dict[str, Any], h2: np.ndarray, targets: np.ndarray
) -> tuple[float, np.ndarray, dict[str, np.ndarray]]:
    """(mean loss, dLoss/dh2, the output layer's gradients by parameter name; the word
    weight's under ``output.weight`` even when tied).

    Rust: src/lm/model.rs (Model::loss_and_grads with Softmax::Class).
    """
    loss, cache = class_output_loss(params, config, h2, targets)
    dh, dw, db, dwc, dbc = class_softmax_backward(
        cache, decoder_weight(params), params["output_class.weight"]
    )
    grads = {
        "output.weight": dw,
        "output.bias": db,
        "output_class.weight": dwc,
        "output_class.bias": dbc,
    }
    return loss, dh, grads
