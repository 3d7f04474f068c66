"""The sequence tagger as one forward/backward pair, and its decoding:
word embedding [+ character-level word encoder] -> dropout -> masked stack -> dropout ->
linear emission scores per token -> softmax cross-entropy or a linear-chain CRF.

Inputs: ``ids`` (B, T) word ids (padding never read), ``lengths`` (B,) ints in 1..T
(lengths.py), ``tags`` (B, T) tag indices (padding never read) and, with a character
encoder, ``chars`` (B, T, W) character ids and ``char_lengths`` (B, T) (each real token's
length in 1..W; padded tokens ignored). Time-major inside.

Parameters by PyTorch state_dict name:

- ``embedding.weight`` (V, E);
- with ``char_encoder``: ``char_embedding.weight`` (Vc, Ec) and ``char_rnn.*`` (``lstm``:
  a one-layer bidirectional ``nn.LSTM(Ec, Hc)``) or ``char_cnn.weight`` (Hc, Ec, 3),
  ``char_cnn.bias`` (``cnn``: ``nn.Conv1d(Ec, Hc, 3, padding=1)``), char_encoder.py;
- ``rnn.*``: the stack over [word embedding | word's character vector] (stack.py);
- ``emission.weight`` (K, D*H), ``emission.bias`` (K,);
- with ``output == "crf"``: ``crf.transitions`` (K, K), ``crf.start_transitions`` (K,),
  ``crf.end_transitions`` (K,) (crf.py).

``config``: ``cell``, ``num_layers``, ``bidirectional``, ``char_encoder`` (None, "lstm",
"cnn"), ``output`` ("softmax", "crf"), ``dropout``. The loss is in nats per real token:
the softmax's mean cross-entropy over all real tokens of the batch; the CRF's summed
negative log-likelihood of the rows divided by the number of real tokens. With an ``rng``
(training), dropout of probability ``dropout`` applies, in this order of mask draws, to the
stack's input (T, B, E + char features), between its layers (the stack's masks) and to its
top output (T, B, D*H).

Rust: src/tag/model.rs (Tagger), bound as TaggerEngine in src/python/tag.rs.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .cells import state_size
from .char_encoder import (
    char_encoder_backward,
    char_encoder_forward,
    char_encoder_shapes,
    char_features,
    gather_words,
    scatter_words,
)
from .crf import Constraints, crf_nll_and_grads, viterbi
from .dropout import dropout_mask
from .embedding import embedding_backward, embedding_forward
from .lengths import check_lengths, valid_steps
from .loss import cross_entropy, linear_backward, linear_forward
from .stack import stack_backward, stack_forward, stack_shapes

OUTPUTS = ("softmax", "crf")


def tagger_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Parameter names (canonical order) and PyTorch shapes of the tagger of a complete
    ``config`` (vocab_size, num_tags, cell, embed_size, hidden_size, num_layers,
    bidirectional, char_encoder, char_vocab_size, char_embed_size, char_hidden_size,
    output).

    Rust: src/tag/model.rs (Tagger::new names the tensors in a src/nn/params.rs Layout).

    Example:
        >>> cfg = {"vocab_size": 5, "num_tags": 3, "cell": "lstm", "embed_size": 2,
        ...        "hidden_size": 4, "num_layers": 1, "bidirectional": True,
        ...        "char_encoder": "lstm", "char_vocab_size": 7, "char_embed_size": 3,
        ...        "char_hidden_size": 2, "output": "crf"}
        >>> s = tagger_shapes(cfg)
        >>> s["rnn.weight_ih_l0"], s["char_rnn.weight_ih_l0_reverse"], s["crf.transitions"]
        ((16, 6), (8, 3), (3, 3))
    """
    hidden, embed, tags = config["hidden_size"], config["embed_size"], config["num_tags"]
    feat = hidden * (2 if config["bidirectional"] else 1)
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (config["vocab_size"], embed)}
    width = embed
    kind = config.get("char_encoder")
    if kind is not None:
        ce, ch = config["char_embed_size"], config["char_hidden_size"]
        shapes["char_embedding.weight"] = (config["char_vocab_size"], ce)
        prefix = "char_rnn." if kind == "lstm" else "char_cnn."
        shapes.update((prefix + n, s) for n, s in char_encoder_shapes(kind, ce, ch).items())
        width += char_features(kind, ch)
    stack = stack_shapes(
        config["cell"], width, hidden, config["num_layers"], config["bidirectional"]
    )
    shapes.update((f"rnn.{name}", shape) for name, shape in stack.items())
    shapes["emission.weight"] = (tags, feat)
    shapes["emission.bias"] = (tags,)
    if config["output"] == "crf":
        shapes.update(
            {
                "crf.transitions": (tags, tags),
                "crf.start_transitions": (tags,),
                "crf.end_transitions": (tags,),
            }
        )
    return shapes


def _with_prefix(params: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def _char_prefix(kind: str) -> str:
    return "char_rnn." if kind == "lstm" else "char_cnn."


def tagger_forward(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    ids: np.ndarray,
    lengths: np.ndarray,
    chars: Optional[np.ndarray] = None,
    char_lengths: Optional[np.ndarray] = None,
    rng: Optional[np.random.Generator] = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """-> emission scores (T, B, K) (the bias alone at padded steps), cache. Dropout
    only with ``rng``.

    Rust: src/tag/model.rs (Tagger::forward).
    """
    p = config["dropout"] if rng is not None and config["dropout"] > 0 else 0.0
    batch, t_len = ids.shape
    lengths = check_lengths(lengths, t_len, batch)
    valid = valid_steps(lengths, t_len)
    dirs = 2 if config["bidirectional"] else 1
    num_layers = config["num_layers"]
    x = embedding_forward(params["embedding.weight"], np.where(valid.T, ids, 0))  # (T, B, E)
    cache: dict[str, Any] = {"ids": np.where(valid.T, ids, 0), "valid": valid, "lengths": lengths}
    kind = config.get("char_encoder")
    if kind is not None:
        if chars is None or char_lengths is None:
            raise ValueError("chars and char_lengths are required with a character encoder")
        words, word_lengths, _ = gather_words(chars, char_lengths, lengths)
        vectors, char_cache = char_encoder_forward(
            kind,
            _with_prefix(params, _char_prefix(kind)),
            params["char_embedding.weight"],
            words,
            word_lengths,
        )
        cache["chars"] = char_cache
        x = np.concatenate([x, scatter_words(vectors, valid, x.dtype)], axis=-1)
    x = x * valid[:, :, None]
    in_mask = dropout_mask(rng, x.shape, p, x.dtype) if rng is not None and p > 0 else None
    if in_mask is not None:
        x = x * in_mask
    rnn = _with_prefix(params, "rnn.")
    hidden = rnn["weight_hh_l0"].shape[1]
    zeros = np.zeros((num_layers * dirs, batch, hidden), dtype=x.dtype)
    state0 = tuple(zeros for _ in range(state_size(config["cell"])))
    out, _, stack_cache = stack_forward(
        config["cell"], x, state0, rnn, num_layers, dirs == 2, p, rng, lengths
    )
    out_mask = dropout_mask(rng, out.shape, p, out.dtype) if rng is not None and p > 0 else None
    h = out if out_mask is None else out * out_mask
    feat = h.shape[-1]
    scores = linear_forward(h.reshape(-1, feat), params["emission.weight"], params["emission.bias"])
    cache.update(stack=stack_cache, in_mask=in_mask, out_mask=out_mask, h=h)
    return scores.reshape(t_len, batch, -1), cache


def tagger_backward(
    d_scores: np.ndarray,
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    cache: dict[str, Any],
) -> dict[str, np.ndarray]:
    """Backward of :func:`tagger_forward` from dLoss/d(emission scores) (T, B, K), 0 at
    padded steps. Returns the gradients keyed like ``params`` (the CRF's are the caller's).

    Rust: src/tag/model.rs (Tagger::backward).
    """
    t_len, batch, k = d_scores.shape
    h = cache["h"]
    feat = h.shape[-1]
    dh, dw, db = linear_backward(
        d_scores.reshape(-1, k), h.reshape(-1, feat), params["emission.weight"]
    )
    dh = dh.reshape(t_len, batch, feat)
    if cache["out_mask"] is not None:
        dh = dh * cache["out_mask"]
    dx, _, rnn_grads, _ = stack_backward(dh, None, cache["stack"])
    if cache["in_mask"] is not None:
        dx = dx * cache["in_mask"]
    dx = dx * cache["valid"][:, :, None]
    embed = params["embedding.weight"].shape[1]
    vocab = params["embedding.weight"].shape[0]
    grads = {"embedding.weight": embedding_backward(dx[..., :embed], cache["ids"], vocab)}
    kind = config.get("char_encoder")
    if kind is not None:
        d_words = dx[..., embed:][cache["valid"]]
        prefix = _char_prefix(kind)
        char_grads, d_table = char_encoder_backward(
            kind, d_words, _with_prefix(params, prefix), cache["chars"]
        )
        grads["char_embedding.weight"] = d_table
        grads.update({prefix + n: g for n, g in char_grads.items()})
    grads.update({f"rnn.{n}": g for n, g in rnn_grads.items()})
    grads["emission.weight"] = dw
    grads["emission.bias"] = db
    return grads


def tagger_loss_and_grads(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    ids: np.ndarray,
    lengths: np.ndarray,
    tags: np.ndarray,
    chars: Optional[np.ndarray] = None,
    char_lengths: Optional[np.ndarray] = None,
    rng: Optional[np.random.Generator] = None,
) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
    """The loss (nats per real token, module docstring), every gradient, and the emission
    scores (T, B, K). Dropout only with ``rng``.

    Rust: src/tag/model.rs (Tagger::loss_and_grads).
    """
    scores, cache = tagger_forward(params, config, ids, lengths, chars, char_lengths, rng)
    valid, lengths = cache["valid"], cache["lengths"]
    gold = np.where(valid, np.asarray(tags).T, 0).astype(np.int64)
    t_len, batch, k = scores.shape
    if config["output"] == "crf":
        nll, d_scores, crf_grads = crf_nll_and_grads(
            scores,
            gold,
            lengths,
            params["crf.transitions"],
            params["crf.start_transitions"],
            params["crf.end_transitions"],
        )
        count = int(lengths.sum())
        loss = float(nll.sum(dtype=np.float64)) / count
        scale = np.asarray(1.0 / count, dtype=scores.dtype)
        d_scores = d_scores * scale
        grads = tagger_backward(d_scores, params, config, cache)
        grads.update({f"crf.{n}": (g * scale).astype(scores.dtype) for n, g in crf_grads.items()})
        return loss, grads, scores
    flat = np.where(valid, gold, -1).reshape(-1)
    loss, d_flat, _ = cross_entropy(scores.reshape(-1, k), flat, ignore_index=-1)
    grads = tagger_backward(d_flat.reshape(t_len, batch, k), params, config, cache)
    return loss, grads, scores


def tagger_decode(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    ids: np.ndarray,
    lengths: np.ndarray,
    chars: Optional[np.ndarray] = None,
    char_lengths: Optional[np.ndarray] = None,
    constraints: Optional[Constraints] = None,
) -> list[np.ndarray]:
    """The predicted tag indices of each row (B int64 arrays of its length), without
    dropout: the argmax of each token's scores (lowest index on ties) for softmax, the
    Viterbi path (``constraints`` applied) for the CRF.

    Rust: src/tag/model.rs (Tagger::decode).
    """
    scores, cache = tagger_forward(params, config, ids, lengths, chars, char_lengths)
    lengths = cache["lengths"]
    if config["output"] == "crf":
        return viterbi(
            scores,
            lengths,
            params["crf.transitions"],
            params["crf.start_transitions"],
            params["crf.end_transitions"],
            constraints,
        )
    best = np.argmax(scores, axis=2)  # (T, B)
    return [best[: int(n), b].astype(np.int64) for b, n in enumerate(lengths)]
