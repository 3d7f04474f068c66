"""The encoder-decoder with attention: encoder, bridge, decoder step with input feeding,
teacher-forced loss (masked over target padding, optional label smoothing), and backward.

Inputs are batch-first ids: ``src`` (B, S) with ``src_len`` (B,) in 1..S, ``tgt`` (B, T)
with ``tgt_len`` (B,) in 1..T; a target row holds its tokens then ``eos`` (counted in its
length). Ids at padded positions are never read. Time-major inside.

The model (config keys in brackets):

- **Encoder**: ``encoder.embedding`` (V_s, E) -> the masked stack of ``encoder_layers``
  [cell] layers (stack.py), bidirectional when [bidirectional] with H/2 units per direction
  (so the memory is H wide either way, as OpenNMT-py's ``brnn``): memory (S, B, H), 0 at
  padding.
- **Bridge**: s (B, H) = the top layer's final h, [forward | reverse];
  h0 of every decoder layer = tanh(W_b s + b_b) (``bridge.weight`` (L_d*H, H),
  ``bridge.bias``), reshaped (L_d, B, H); an LSTM decoder's c0 = 0.
- **Decoder step** t (Luong et al. 2015, input feeding): x_t = [emb(y_{t-1}); h~_{t-1}]
  (h~_{-1} = 0; without [input_feeding] x_t = emb(y_{t-1})), y_{-1} = [bos]; the
  ``decoder_layers`` unidirectional cells (``decoder.rnn.*``, one step each) give h_t;
  c_t = attention(h_t, memory) (attention.py, [attention] in additive/dot/general);
  h~_t = tanh(W_c [c_t; h_t]) (``attention.linear_out.weight`` (H, 2H), no bias); without
  attention h~_t = h_t. With dropout (training) h~_t is multiplied by a mask, and the
  dropped vector is both what the generator reads and what step t+1 is fed.
- **Generator**: logits_t = W_g h~_t + b_g (``generator.weight`` (V_t, H), ``generator.bias``);
  with [tie_target_embeddings] W_g is ``decoder.embedding.weight`` (E must equal H).
- **Loss**: mean over the real target tokens of (1-eps) * (-log p(y_t)) + eps * mean_v
  (-log p(v)), eps = [label_smoothing] (torch's ``cross_entropy(label_smoothing=eps)``).
- **Teacher forcing**: y_{t-1} is the gold token, or, where ``feed_gold[t, b]`` is False,
  the argmax of the model's own logits at step t-1 (the engines draw ``feed_gold`` with
  probability [teacher_forcing]).

Dropout (probability [dropout], only with an ``rng``): the encoder stack's masks between its
layers are drawn first, then one (T, B, H) mask on h~.

Rust: src/seq2seq/model.rs (Seq2Seq), bound as Seq2SeqEngine in src/python/seq2seq.rs.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .attention import (
    attention_backward,
    attention_forward,
    attention_keys,
    attention_keys_backward,
    attention_shapes,
)
from .cells import LayerWeights, cell_backward, cell_forward, state_size
from .dropout import dropout_mask
from .embedding import embedding_backward, embedding_forward
from .loss import log_softmax
from .stack import layer_names, stack_backward, stack_forward, stack_shapes

State = list[tuple[np.ndarray, ...]]  # per decoder layer: (h,) or (h, c), each (B, H)


def encoder_hidden(config: dict[str, Any]) -> int:
    """Units per encoder direction: H/2 when bidirectional, else H.

    Rust: src/seq2seq/model.rs (Seq2SeqConfig::encoder_hidden).
    """
    return config["hidden_size"] // (2 if config["bidirectional"] else 1)


def decoder_input_size(config: dict[str, Any]) -> int:
    """E, plus H when the previous attentional vector is fed back (input feeding).

    Rust: src/seq2seq/model.rs (Seq2SeqConfig::decoder_input).
    """
    feed = config["input_feeding"] and config["attention"] is not None
    return config["embed_size"] + (config["hidden_size"] if feed else 0)


def seq2seq_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Parameter names (canonical order) and PyTorch shapes for a complete ``config``
    (source_vocab, target_vocab, cell, embed_size, hidden_size, encoder_layers,
    decoder_layers, bidirectional, attention, attention_size, input_feeding,
    tie_target_embeddings).


    Example:
        >>> cfg = {"source_vocab": 7, "target_vocab": 5, "cell": "gru", "embed_size": 3,
        ...        "hidden_size": 4, "encoder_layers": 1, "decoder_layers": 2,
        ...        "bidirectional": True, "attention": "general", "attention_size": 4,
        ...        "input_feeding": True, "tie_target_embeddings": False}
        >>> s = seq2seq_shapes(cfg)
        >>> s["encoder.rnn.weight_ih_l0_reverse"], s["bridge.weight"], s["decoder.rnn.weight_ih_l0"]
        ((6, 3), (8, 4), (12, 7))

    Rust: src/seq2seq/model.rs (Seq2Seq::new names the tensors in a src/nn/params.rs Layout).
    """
    h, e = config["hidden_size"], config["embed_size"]
    shapes: dict[str, tuple[int, ...]] = {"encoder.embedding.weight": (config["source_vocab"], e)}
    enc = stack_shapes(
        config["cell"], e, encoder_hidden(config), config["encoder_layers"], config["bidirectional"]
    )
    shapes.update((f"encoder.rnn.{k}", v) for k, v in enc.items())
    shapes["bridge.weight"] = (config["decoder_layers"] * h, h)
    shapes["bridge.bias"] = (config["decoder_layers"] * h,)
    shapes["decoder.embedding.weight"] = (config["target_vocab"], e)
    dec = stack_shapes(
        config["cell"], decoder_input_size(config), h, config["decoder_layers"], False
    )
    shapes.update((f"decoder.rnn.{k}", v) for k, v in dec.items())
    if config["attention"] is not None:
        att = attention_shapes(config["attention"], h, config["attention_size"])
        shapes.update((f"attention.{k}", v) for k, v in att.items())
        shapes["attention.linear_out.weight"] = (h, 2 * h)
    if not config["tie_target_embeddings"]:
        shapes["generator.weight"] = (config["target_vocab"], h)
    shapes["generator.bias"] = (config["target_vocab"],)
    return shapes


def _prefixed(params: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def _generator(params: dict[str, np.ndarray], config: dict[str, Any]) -> np.ndarray:
    key = "decoder.embedding.weight" if config["tie_target_embeddings"] else "generator.weight"
    return params[key]


# ----------------------------------------------------------------------------- encoder


def encode(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    src: np.ndarray,
    src_len: np.ndarray,
    rng: Optional[np.random.Generator] = None,
) -> tuple[np.ndarray, State, dict[str, Any]]:
    """src (B, S), src_len (B,) -> (memory (S, B, H), the decoder's initial state, cache).

    Rust: src/seq2seq/model.rs (Seq2Seq::encode).
    """
    cell, layers, dirs = (
        config["cell"],
        config["encoder_layers"],
        2 if config["bidirectional"] else 1,
    )
    emb = embedding_forward(params["encoder.embedding.weight"], src)  # (S, B, E)
    batch, he = src.shape[0], encoder_hidden(config)
    zeros = np.zeros((layers * dirs, batch, he), dtype=emb.dtype)
    state0 = tuple(zeros for _ in range(state_size(cell)))
    p = config["dropout"] if rng is not None else 0.0
    mem, final, stack_cache = stack_forward(
        cell, emb, state0, _prefixed(params, "encoder.rnn."), layers, dirs == 2, p, rng, src_len
    )
    top = final[0][(layers - 1) * dirs : layers * dirs]  # (D, B, He)
    s = np.concatenate(list(top), axis=-1)  # (B, H)
    init, state = bridge_forward(params, config, s)
    cache = {"src": src, "stack": stack_cache, "s": s, "init": init, "final": final}
    return mem, state, cache


def bridge_forward(
    params: dict[str, np.ndarray], config: dict[str, Any], s: np.ndarray
) -> tuple[np.ndarray, State]:
    """s (B, H) -> (tanh(W_b s + b_b) as (L_d, B, H), the decoder state built from it).

    Rust: src/seq2seq/model.rs (Seq2Seq::encode, its bridge).
    """
    h, layers = config["hidden_size"], config["decoder_layers"]
    pre = s @ params["bridge.weight"].T + params["bridge.bias"]
    init = np.tanh(pre).reshape(s.shape[0], layers, h).transpose(1, 0, 2)
    lstm = state_size(config["cell"]) == 2
    state: State = [
        (init[k], np.zeros_like(init[k])) if lstm else (init[k],) for k in range(layers)
    ]
    return init, state


def encode_backward(
    d_mem: np.ndarray,
    d_state: State,
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    cache: dict[str, Any],
) -> dict[str, np.ndarray]:
    """Backward of :func:`encode` from d_memory (S, B, H) and d(initial decoder state).

    Rust: src/seq2seq/model.rs (the end of Seq2Seq::backward).
    """
    layers, dirs = config["encoder_layers"], 2 if config["bidirectional"] else 1
    init, s = cache["init"], cache["s"]
    d_init = np.stack([st[0] for st in d_state])  # (L_d, B, H); c0 = 0 is no function of s
    d_pre = (d_init * (1.0 - init * init)).transpose(1, 0, 2).reshape(s.shape[0], -1)
    grads = {"bridge.weight": d_pre.T @ s, "bridge.bias": d_pre.sum(axis=0)}
    d_s = d_pre @ params["bridge.weight"]  # (B, H)
    d_final = tuple(np.zeros_like(f) for f in cache["final"])
    he = encoder_hidden(config)
    for d in range(dirs):
        d_final[0][(layers - 1) * dirs + d] = d_s[:, d * he : (d + 1) * he]
    d_emb, _, rnn_grads, _ = stack_backward(d_mem, d_final, cache["stack"])
    vocab = params["encoder.embedding.weight"].shape[0]
    grads["encoder.embedding.weight"] = embedding_backward(d_emb, cache["src"], vocab)
    grads.update((f"encoder.rnn.{k}", v) for k, v in rnn_grads.items())
    return grads


# ----------------------------------------------------------------------------- decoder step


def decoder_step(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    prev: np.ndarray,
    feed: np.ndarray,
    state: State,
    mem: np.ndarray,
    keys: Optional[np.ndarray],
    src_len: np.ndarray,
    mask: Optional[np.ndarray] = None,
) -> tuple[np.ndarray, np.ndarray, State, Optional[np.ndarray], dict[str, Any]]:
    """One step: prev (B,) ids, feed (B, H) = h~ of the previous step (zeros at step 0),
    state, memory (S, B, H) and its ``attention_keys``, src_len (B,), mask (B, H) dropout
    on h~ or None -> (logits (B, V), h~ (B, H) after dropout, new state, attention weights
    (S, B) or None, cache).

    Rust: src/seq2seq/model.rs (Seq2Seq::step), src/seq2seq/decoder.rs (step_forward).
    """
    cell, kind = config["cell"], config["attention"]
    emb = params["decoder.embedding.weight"][prev]  # (B, E)
    feeding = config["input_feeding"] and kind is not None
    x = np.concatenate([emb, feed], axis=-1) if feeding else emb
    new_state: State = []
    layer_caches = []
    for k, st in enumerate(state):
        w = LayerWeights(*(params[f"decoder.rnn.{n}"] for n in layer_names(k, False)))
        out, s_new, c = cell_forward(cell, x[None], st, w)
        new_state.append(s_new)
        layer_caches.append(c)
        x = out[0]
    h = x
    cache: dict[str, Any] = {"prev": prev, "layers": layer_caches, "h": h, "mask": mask}
    a = None
    if kind is not None:
        ctx, a, att_cache = attention_forward(
            kind, h, mem, keys, src_len, _prefixed(params, "attention.")
        )
        cat = np.concatenate([ctx, h], axis=-1)
        ht = np.tanh(cat @ params["attention.linear_out.weight"].T)
        cache.update(att=att_cache, cat=cat, ht=ht)
    else:
        ht = h
    out = ht if mask is None else ht * mask
    logits = out @ _generator(params, config).T + params["generator.bias"]
    cache["out"] = out
    return logits, out, new_state, a, cache


def decoder_step_backward(
    d_logits: np.ndarray,
    d_out: np.ndarray,
    d_state: State,
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    mem: np.ndarray,
    cache: dict[str, Any],
    grads: dict[str, np.ndarray],
) -> tuple[np.ndarray, State, np.ndarray, Optional[np.ndarray]]:
    """Backward of :func:`decoder_step`: d_logits (B, V), d_out (B, H) = the gradient of the
    returned h~ through the next step's input, d_state of the returned state. Adds the
    weight gradients into ``grads``. Returns (d_feed (B, H), d_state of the given state,
    d_mem (S, B, H), d_keys (S, B, A) or None).

    Rust: src/seq2seq/model.rs (the step loop of Seq2Seq::backward),
    src/seq2seq/decoder.rs (step_backward).
    """
    cell, kind = config["cell"], config["attention"]
    gen_key = "decoder.embedding.weight" if config["tie_target_embeddings"] else "generator.weight"
    gen = params[gen_key]
    grads[gen_key] += d_logits.T @ cache["out"]
    grads["generator.bias"] += d_logits.sum(axis=0)
    d_ht = d_logits @ gen + d_out
    if cache["mask"] is not None:
        d_ht = d_ht * cache["mask"]
    d_mem = np.zeros_like(mem)
    d_keys = None
    if kind is not None:
        ht = cache["ht"]
        d_pre = d_ht * (1.0 - ht * ht)
        grads["attention.linear_out.weight"] += d_pre.T @ cache["cat"]
        d_cat = d_pre @ params["attention.linear_out.weight"]
        hid = ht.shape[-1]
        d_ctx, d_h = d_cat[:, :hid], d_cat[:, hid:]
        d_q, d_mem, d_keys, att_grads = attention_backward(
            kind, d_ctx, mem, _prefixed(params, "attention."), cache["att"]
        )
        d_h = d_h + d_q
        for name, g in att_grads.items():
            grads[f"attention.{name}"] += g
    else:
        d_h = d_ht
    d_prev_state: State = [()] * len(d_state)
    dx = d_h
    for k in range(len(d_state) - 1, -1, -1):
        res = cell_backward(cell, dx[None], d_state[k], cache["layers"][k])
        for n, g in zip(layer_names(k, False), res.dw):
            grads[f"decoder.rnn.{n}"] += g
        d_prev_state[k] = res.d_state0
        dx = res.dx[0]
    e = config["embed_size"]
    np.add.at(grads["decoder.embedding.weight"], cache["prev"], dx[:, :e])
    d_feed = dx[:, e:] if dx.shape[-1] > e else np.zeros_like(d_h)
    return d_feed, d_prev_state, d_mem, d_keys


# ----------------------------------------------------------------------------- whole model


def seq2seq_forward(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    src: np.ndarray,
    src_len: np.ndarray,
    tgt: np.ndarray,
    tgt_len: np.ndarray,
    feed_gold: Optional[np.ndarray] = None,
    rng: Optional[np.random.Generator] = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Teacher-forced forward over all T target steps (``feed_gold`` (T, B) bool, None =
    always gold). Returns (logits (T, B, V), attention weights (T, S, B), 0 without
    attention, cache). Dropout only with ``rng``.

    Rust: src/seq2seq/model.rs (Seq2Seq::forward_loaded).
    """
    batch, t_len = tgt.shape
    hid = config["hidden_size"]
    tgt = np.where(np.arange(t_len)[None, :] < np.asarray(tgt_len)[:, None], tgt, 0)
    mem, state, enc_cache = encode(params, config, src, src_len, rng)
    att = _prefixed(params, "attention.")
    kind = config["attention"]
    keys = attention_keys(kind, mem, att) if kind is not None else None
    p = config["dropout"]
    masks = (
        dropout_mask(rng, (t_len, batch, hid), p, mem.dtype) if rng is not None and p > 0 else None
    )
    feed = np.zeros((batch, hid), dtype=mem.dtype)
    prev = np.full(batch, config["bos_id"], dtype=np.int64)
    logits_all = np.empty((t_len, batch, config["target_vocab"]), dtype=mem.dtype)
    weights = np.zeros((t_len, mem.shape[0], batch), dtype=mem.dtype)
    steps = []
    for t in range(t_len):
        if t > 0:
            gold = tgt[:, t - 1]
            if feed_gold is None:
                prev = gold
            else:
                prev = np.where(feed_gold[t], gold, logits_all[t - 1].argmax(axis=-1))
        mask = None if masks is None else masks[t]
        logits, feed, state, a, c = decoder_step(
            params, config, prev, feed, state, mem, keys, src_len, mask
        )
        logits_all[t] = logits
        if a is not None:
            weights[t] = a
        steps.append(c)
    cache = {"enc": enc_cache, "mem": mem, "keys": keys, "steps": steps, "state": state}
    return logits_all, weights, cache


def seq2seq_loss(
    logits: np.ndarray, tgt: np.ndarray, tgt_len: np.ndarray, label_smoothing: float = 0.0
) -> tuple[float, np.ndarray, int]:
    """Mean (label-smoothed) cross-entropy over the real target tokens of logits (T, B, V)
    against tgt (B, T). Returns (loss, dLoss/dlogits (T, B, V), number of tokens).


    Example:
        >>> loss, _, n = seq2seq_loss(np.zeros((2, 1, 4)), np.array([[1, 0]]), np.array([1]))
        >>> round(loss, 6) == round(float(np.log(4)), 6), n
        (True, 1)

    Rust: src/seq2seq/model.rs (smoothed_row, Seq2Seq::loss).
    """
    t_len, _, vocab = logits.shape
    valid = np.arange(t_len)[:, None] < np.asarray(tgt_len)[None, :]  # (T, B)
    count = int(valid.sum())
    gold = np.where(valid, np.asarray(tgt).T, 0)
    logp = log_softmax(logits)
    eps = label_smoothing
    nll = -np.take_along_axis(logp, gold[:, :, None], axis=-1)[..., 0]
    smooth = -logp.mean(axis=-1)
    per = (1.0 - eps) * nll + eps * smooth
    loss = float(np.where(valid, per, 0.0).sum(dtype=np.float64)) / count
    d = np.exp(logp) - eps / vocab
    np.put_along_axis(
        d, gold[:, :, None], np.take_along_axis(d, gold[:, :, None], -1) - (1.0 - eps), -1
    )
    d = np.where(valid[:, :, None], d, 0.0).astype(logits.dtype) / logits.dtype.type(count)
    return loss, d, count


def seq2seq_backward(
    d_logits: np.ndarray,
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    cache: dict[str, Any],
) -> dict[str, np.ndarray]:
    """Backward of :func:`seq2seq_forward` from dLoss/dlogits (T, B, V): every gradient.

    Rust: src/seq2seq/model.rs (Seq2Seq::backward).
    """
    grads = {k: np.zeros_like(v) for k, v in params.items() if not k.startswith("encoder.")}
    grads.pop("bridge.weight"), grads.pop("bridge.bias")
    mem, steps = cache["mem"], cache["steps"]
    d_mem = np.zeros_like(mem)
    d_keys = None if cache["keys"] is None else np.zeros_like(cache["keys"])
    d_state: State = [tuple(np.zeros_like(x) for x in st) for st in cache["state"]]
    d_out = np.zeros_like(mem[0])
    for t in range(len(steps) - 1, -1, -1):
        d_out, d_state, dm, dk = decoder_step_backward(
            d_logits[t], d_out, d_state, params, config, mem, steps[t], grads
        )
        d_mem += dm
        if dk is not None and d_keys is not None:
            d_keys += dk
    kind = config["attention"]
    if kind is not None:
        d_mem_k, key_grads = attention_keys_backward(
            kind, d_keys, mem, _prefixed(params, "attention.")
        )
        d_mem += d_mem_k
        for k, g in key_grads.items():
            grads[f"attention.{k}"] += g
    grads.update(encode_backward(d_mem, d_state, params, config, cache["enc"]))
    return {k: grads[k] for k in params}


def seq2seq_loss_and_grads(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    src: np.ndarray,
    src_len: np.ndarray,
    tgt: np.ndarray,
    tgt_len: np.ndarray,
    feed_gold: Optional[np.ndarray] = None,
    rng: Optional[np.random.Generator] = None,
) -> tuple[float, dict[str, np.ndarray], int]:
    """The teacher-forced loss of a batch, every gradient, and the number of target tokens.

    Rust: src/seq2seq/model.rs (Seq2Seq::loss_and_grads).
    """
    logits, _, cache = seq2seq_forward(params, config, src, src_len, tgt, tgt_len, feed_gold, rng)
    loss, d_logits, count = seq2seq_loss(logits, tgt, tgt_len, config["label_smoothing"])
    return loss, seq2seq_backward(d_logits, params, config, cache), count
