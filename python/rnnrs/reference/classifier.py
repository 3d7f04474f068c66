"""The sequence classifier as one forward/backward pair, and its saliency:
embedding -> masked stack -> pooling over the real tokens -> dropout -> linear ->
softmax cross-entropy averaged over the batch.

Inputs: ``ids`` (B, T) token ids (padding may hold any id of the vocabulary: it is never
read), ``lengths`` (B,) ints in 1..T (lengths.py), ``labels`` (B,) class indices. Time-major
inside, as everywhere in the reference.

Parameters by PyTorch state_dict name (the equivalent torch module: ``nn.Embedding``, an
``nn.LSTM/GRU/RNN`` fed a ``pack_padded_sequence``, the pooling, ``nn.Linear``):

- ``embedding.weight`` (V, E);
- ``rnn.weight_ih_l{k}``, ``rnn.weight_hh_l{k}``, ``rnn.bias_ih_l{k}``, ``rnn.bias_hh_l{k}``
  and their ``_reverse`` twins (stack.py);
- ``pool.weight`` (A, D*H), ``pool.bias`` (A,), ``pool.v`` (A,) for attention pooling only
  (pooling.py);
- ``classifier.weight`` (C, D*H), ``classifier.bias`` (C,).

``config``: ``cell`` (cells.CELLS), ``num_layers``, ``bidirectional``, ``pooling``
(pooling.POOLINGS), ``dropout``, ``embedding_dropout`` (0 when absent). The stack starts
from a zero state. With an ``rng`` (training), dropout of probability
``embedding_dropout`` applies to the embedded tokens (one (T, B, E) mask, drawn first), and
dropout of probability ``dropout`` to the inputs of layers 2..L (the stack's masks) and
then to the pooled vector (one (B, D*H) mask).

Rust: src/classify/model.rs (Classifier), bound as ClassifierEngine in
src/python/classify.rs.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import numpy as np

from .cells import state_size
from .dropout import dropout_mask
from .embedding import embedding_backward, embedding_forward
from .loss import cross_entropy, linear_backward, linear_forward
from .pooling import pool_backward, pool_forward
from .stack import stack_backward, stack_forward, stack_shapes


def classifier_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Parameter names (canonical order) and PyTorch shapes of the classifier of a complete
    ``config`` (vocab_size, num_classes, cell, embed_size, hidden_size, num_layers,
    bidirectional, pooling, attention_size).

    Rust: src/classify/model.rs (Classifier::new names the tensors in a src/nn/params.rs
    Layout).

    Example:
        >>> cfg = {"vocab_size": 5, "num_classes": 3, "cell": "gru", "embed_size": 2,
        ...        "hidden_size": 4, "num_layers": 1, "bidirectional": True,
        ...        "pooling": "attention", "attention_size": 6}
        >>> shapes = classifier_shapes(cfg)
        >>> shapes["rnn.weight_ih_l0_reverse"], shapes["pool.weight"], shapes["classifier.weight"]
        ((12, 2), (6, 8), (3, 8))
    """
    hidden, embed = config["hidden_size"], config["embed_size"]
    feat = hidden * (2 if config["bidirectional"] else 1)
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (config["vocab_size"], embed)}
    stack = stack_shapes(
        config["cell"], embed, hidden, config["num_layers"], config["bidirectional"]
    )
    shapes.update((f"rnn.{name}", shape) for name, shape in stack.items())
    if config["pooling"] == "attention":
        att = config["attention_size"]
        shapes.update({"pool.weight": (att, feat), "pool.bias": (att,), "pool.v": (att,)})
    shapes["classifier.weight"] = (config["num_classes"], feat)
    shapes["classifier.bias"] = (config["num_classes"],)
    return shapes


def _with_prefix(params: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    # The parameters under ``prefix`` ("rnn.", "pool."), by their short names.
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def classifier_forward(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    ids: np.ndarray,
    lengths: np.ndarray,
    rng: Optional[np.random.Generator] = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """ids (B, T), lengths (B,) -> logits (B, C), cache. Dropout only with ``rng``.

    Rust: src/classify/model.rs (Classifier::forward, through logits / loss_and_grads).
    """
    p = config["dropout"] if rng is not None else 0.0
    dirs = 2 if config["bidirectional"] else 1
    num_layers = config["num_layers"]
    rnn = _with_prefix(params, "rnn.")
    emb = embedding_forward(params["embedding.weight"], ids)  # (T, B, E)
    p_emb = config.get("embedding_dropout", 0.0) if rng is not None else 0.0
    emb_mask = (
        dropout_mask(rng, emb.shape, p_emb, emb.dtype) if rng is not None and p_emb > 0 else None
    )
    if emb_mask is not None:
        emb = emb * emb_mask
    hidden = rnn["weight_hh_l0"].shape[1]
    zeros = np.zeros((num_layers * dirs, ids.shape[0], hidden), dtype=emb.dtype)
    state0 = tuple(zeros for _ in range(state_size(config["cell"])))
    out, _, stack_cache = stack_forward(
        config["cell"], emb, state0, rnn, num_layers, dirs == 2, p, rng, lengths
    )
    pooled, pool_cache = pool_forward(
        config["pooling"], out, lengths, dirs, _with_prefix(params, "pool.")
    )
    mask = dropout_mask(rng, pooled.shape, p, pooled.dtype) if rng is not None and p > 0 else None
    h = pooled if mask is None else pooled * mask
    logits = linear_forward(h, params["classifier.weight"], params["classifier.bias"])
    cache = {
        "ids": ids,
        "emb": emb,
        "emb_mask": emb_mask,
        "out": out,
        "stack": stack_cache,
        "pool": pool_cache,
        "mask": mask,
        "h": h,
    }
    return logits, cache


def classifier_backward(
    d_logits: np.ndarray,
    params: dict[str, np.ndarray],
    cache: dict[str, Any],
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Backward of :func:`classifier_forward` from dLoss/dlogits (B, C).

    Returns (grads keyed like ``params``, dLoss/d(embedding output, before its dropout)
    (T, B, E), 0 at padded steps).

    Rust: src/classify/model.rs (Classifier::backward).
    """
    dh, dw, db = linear_backward(d_logits, cache["h"], params["classifier.weight"])
    if cache["mask"] is not None:
        dh = dh * cache["mask"]
    d_out, pool_grads = pool_backward(dh, cache["pool"])
    d_emb, _, rnn_grads, _ = stack_backward(d_out, None, cache["stack"])
    if cache["emb_mask"] is not None:
        d_emb = d_emb * cache["emb_mask"]
    vocab = params["embedding.weight"].shape[0]
    grads = {"embedding.weight": embedding_backward(d_emb, cache["ids"], vocab)}
    grads.update({f"rnn.{k}": v for k, v in rnn_grads.items()})
    grads.update({f"pool.{k}": v for k, v in pool_grads.items()})
    grads["classifier.weight"] = dw
    grads["classifier.bias"] = db
    return grads, d_emb


def classifier_loss_and_grads(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    ids: np.ndarray,
    lengths: np.ndarray,
    labels: np.ndarray,
    rng: Optional[np.random.Generator] = None,
) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
    """Mean cross-entropy (nats per sequence) of the batch against ``labels`` (B,), the
    gradient of every parameter, and the logits (B, C). Dropout only with ``rng``.

    Rust: src/classify/model.rs (Classifier::loss_and_grads).
    """
    logits, cache = classifier_forward(params, config, ids, lengths, rng)
    loss, d_logits, _ = cross_entropy(logits, labels)
    grads, _ = classifier_backward(d_logits, params, cache)
    return loss, grads, logits


class Saliency(NamedTuple):
    """What :func:`classifier_saliency` returns; time-major, 0 at padded steps.

    Rust: src/classify/model.rs (Saliency).
    """

    target: np.ndarray  # (B,) the class explained
    logits: np.ndarray  # (B, C)
    grad: np.ndarray  # (T, B, E) d logits[b, target[b]] / d embedding of token t of row b
    saliency: np.ndarray  # (T, B) L2 norm of grad over E
    grad_x_input: np.ndarray  # (T, B) sum over E of grad * embedding
    activations: np.ndarray  # (T, B, D*H) the top layer's output


def classifier_saliency(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    ids: np.ndarray,
    lengths: np.ndarray,
    target: Optional[np.ndarray] = None,
) -> Saliency:
    """Sensitivity of a class's score to each token, in evaluation mode (no dropout).

    The score of class c for row b is its logit (before the softmax), s = logits[b, c], with
    c = ``target[b]``, or the predicted class argmax_c logits[b, c] (the lowest index on
    ties) when ``target`` is None. grad[t, b] = ds / de_{t,b}, e_{t,b} the embedding vector
    of token t of row b (one backward from d_logits = onehot(target): rows do not interact
    in evaluation mode, so each row gets its own gradient); saliency[t, b] = ||grad[t, b]||_2;
    grad_x_input[t, b] = sum_j grad[t, b, j] * e_{t,b,j}. ``activations`` is the top layer's
    output at every step, for heat maps over the real tokens.

    Rust: src/classify/model.rs (Classifier::saliency).
    """
    logits, cache = classifier_forward(params, config, ids, lengths)
    batch, classes = logits.shape
    if target is None:
        target = np.argmax(logits, axis=1)
    target = np.asarray(target)
    if target.shape != (batch,) or target.dtype.kind not in "iu":
        raise ValueError(f"target must be ({batch},) class indices, got {target.shape}")
    if batch and (target.min() < 0 or target.max() >= classes):
        raise ValueError(f"target must lie in 0..{classes - 1}")
    d_logits = np.zeros_like(logits)
    d_logits[np.arange(batch), target] = 1.0
    _, grad = classifier_backward(d_logits, params, cache)
    return Saliency(
        target=target,
        logits=logits,
        grad=grad,
        saliency=np.sqrt((grad * grad).sum(axis=-1)),
        grad_x_input=(grad * cache["emb"]).sum(axis=-1),
        activations=cache["out"],
    )
