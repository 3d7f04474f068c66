"""The reference encoder-decoder with attention: float64 finite-difference checks of every
gradient (ragged source and target lengths, each attention, with and without input feeding,
tied embeddings, label smoothing, fed-back predictions), padding invariance, decoding, and an
equivalent PyTorch model built from nn.LSTM/GRU + Linear (skipped without torch)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pytest

from finite_differences import numeric_grad, rel_error
from rnnrs.reference.attention import (
    attention_backward,
    attention_forward,
    attention_keys,
    attention_keys_backward,
    attention_shapes,
    masked_softmax,
)
from rnnrs.reference.seq2seq import (
    seq2seq_forward,
    seq2seq_loss,
    seq2seq_loss_and_grads,
    seq2seq_shapes,
)
from rnnrs.reference.seq2seq_decode import beam_search, greedy_decode

TOL = 1e-5
SRC_LEN = np.array([4, 2, 3])
TGT_LEN = np.array([2, 4, 3])


def make_model(
    cell: str = "lstm",
    attention: Optional[str] = "additive",
    input_feeding: bool = True,
    bidirectional: bool = True,
    tie: bool = False,
    label_smoothing: float = 0.0,
    encoder_layers: int = 2,
    decoder_layers: int = 2,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    config = {
        "source_vocab": 6,
        "target_vocab": 5,
        "cell": cell,
        "embed_size": 4,
        "hidden_size": 4,
        "encoder_layers": encoder_layers,
        "decoder_layers": decoder_layers,
        "bidirectional": bidirectional,
        "attention": attention,
        "attention_size": 3,
        "input_feeding": input_feeding,
        "tie_target_embeddings": tie,
        "label_smoothing": label_smoothing,
        "dropout": 0.0,
        "bos_id": 1,
        "eos_id": 2,
    }
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(scale=0.5, size=s) for k, s in seq2seq_shapes(config).items()}
    return params, config


def make_batch(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 6, size=(3, 5)), rng.integers(0, 5, size=(3, 5))


def check_grads(
    params: dict[str, np.ndarray], config: dict[str, Any], feed_gold: Any = None
) -> None:
    src, tgt = make_batch()

    def loss() -> float:
        return seq2seq_loss_and_grads(params, config, src, SRC_LEN, tgt, TGT_LEN, feed_gold)[0]

    _, grads, count = seq2seq_loss_and_grads(params, config, src, SRC_LEN, tgt, TGT_LEN, feed_gold)
    assert count == TGT_LEN.sum()
    assert set(grads) == set(params)
    for name, value in params.items():
        num = numeric_grad(loss, value)
        assert rel_error(grads[name], num) < TOL, name
    assert np.abs(grads["encoder.embedding.weight"]).max() > 0


@pytest.mark.parametrize("attention", ["additive", "dot", "general", None])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_every_gradient_matches_finite_differences(cell: str, attention: Optional[str]) -> None:
    # one encoder layer here (the stack's own tests cover depth); two in the test below
    check_grads(*make_model(cell, attention, encoder_layers=1))


@pytest.mark.parametrize("attention", ["additive", "general"])
def test_gradients_without_input_feeding_unidirectional_one_layer(attention: str) -> None:
    params, config = make_model(
        "gru",
        attention,
        input_feeding=False,
        bidirectional=False,
        encoder_layers=1,
        decoder_layers=1,
    )
    check_grads(params, config)


def test_gradients_with_tied_embeddings_label_smoothing_and_fed_back_predictions() -> None:
    params, config = make_model("lstm", "dot", tie=True, label_smoothing=0.1)
    feed_gold = np.random.default_rng(3).random((5, 3)) < 0.5
    check_grads(params, config, feed_gold)


def test_attention_kernels_gradients_alone() -> None:
    rng = np.random.default_rng(0)
    mem, q = rng.normal(size=(4, 3, 5)), rng.normal(size=(3, 5))
    lengths = np.array([4, 1, 2])
    for kind in ("additive", "dot", "general"):
        params = {k: rng.normal(size=s) for k, s in attention_shapes(kind, 5, 2).items()}
        proj = rng.normal(size=(3, 5))

        def f(kind: str = kind, params: dict = params, proj: np.ndarray = proj) -> float:
            keys = attention_keys(kind, mem, params)
            ctx, _, _ = attention_forward(kind, q, mem, keys, lengths, params)
            return float((ctx * proj).sum())

        keys = attention_keys(kind, mem, params)
        _, a, cache = attention_forward(kind, q, mem, keys, lengths, params)
        assert np.allclose(a.sum(axis=0), 1.0) and a[1:, 1].max() == 0.0 and a[2:, 2].max() == 0.0
        d_q, d_mem, d_keys, grads = attention_backward(kind, proj, mem, params, cache)
        d_mem_k, key_grads = attention_keys_backward(kind, d_keys, mem, params)
        grads.update(key_grads)
        assert rel_error(d_q, numeric_grad(f, q)) < TOL, kind
        assert rel_error(d_mem + d_mem_k, numeric_grad(f, mem)) < TOL, kind
        for name, value in params.items():
            assert rel_error(grads[name], numeric_grad(f, value)) < TOL, (kind, name)


def test_masked_softmax_ignores_padding_scores() -> None:
    valid = np.array([[True], [True], [False]])
    a = masked_softmax(np.array([[1.0], [2.0], [1e9]]), valid)
    assert a[2, 0] == 0.0 and abs(a[:2, 0].sum() - 1.0) < 1e-12 and a[1, 0] > a[0, 0]


def test_a_row_scores_the_same_alone_and_padded() -> None:
    params, config = make_model("gru", "general")
    src, tgt = make_batch()
    logits, weights, _ = seq2seq_forward(params, config, src, SRC_LEN, tgt, TGT_LEN)
    for b in range(3):
        s, t = SRC_LEN[b], TGT_LEN[b]
        alone, w_alone, _ = seq2seq_forward(
            params,
            config,
            src[b : b + 1, :s],
            SRC_LEN[b : b + 1],
            tgt[b : b + 1, :t],
            TGT_LEN[b : b + 1],
        )
        assert np.allclose(alone[:, 0], logits[:t, b], atol=1e-12)
        assert np.allclose(w_alone[:, :, 0], weights[:t, :s, b], atol=1e-12)


def test_label_smoothing_loss_matches_its_definition() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 2, 6))
    tgt, lens = np.array([[1, 2, 3], [4, 5, 0]]), np.array([3, 2])
    loss, _, n = seq2seq_loss(logits, tgt, lens, 0.2)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    terms = [
        0.8 * -logp[t, b, tgt[b, t]] + 0.2 * -logp[t, b].mean()
        for b in range(2)
        for t in range(lens[b])
    ]
    assert n == 5 and abs(loss - np.mean(terms)) < 1e-12


def test_greedy_equals_beam_of_width_one_and_beam_scores_at_least_greedy() -> None:
    params, config = make_model("lstm", "additive", seed=4)
    src, _ = make_batch(5)
    limits = np.array([6, 6, 6])
    greedy, weights = greedy_decode(params, config, src, SRC_LEN, limits)
    assert beam_search(params, config, src, SRC_LEN, limits, width=1, length_penalty=0.0) == greedy
    for b, w in enumerate(weights):
        assert w.shape[1] == SRC_LEN[b] and np.allclose(w.sum(axis=1), 1.0)

    def score(b: int, ids: list[int]) -> float:
        tgt = np.array([[*ids, config["eos_id"]]]) if len(ids) < limits[b] else np.array([ids])
        logits, _, _ = seq2seq_forward(
            params, config, src[b : b + 1], SRC_LEN[b : b + 1], tgt, np.array([tgt.shape[1]])
        )
        logp = logits[:, 0] - np.log(np.exp(logits[:, 0]).sum(-1, keepdims=True))
        return float(logp[np.arange(tgt.shape[1]), tgt[0]].sum())

    beams = beam_search(params, config, src, SRC_LEN, limits, width=4, length_penalty=0.0)
    for b in range(3):
        assert score(b, beams[b]) >= score(b, greedy[b]) - 1e-12
    # each row decodes the same alone
    for b in range(3):
        alone = beam_search(params, config, src[b : b + 1], SRC_LEN[b : b + 1], limits[:1], 4, 0.0)
        assert alone == [beams[b]]


# ----------------------------------------------------------------------------- PyTorch


def torch_loss_and_grads(
    params: dict[str, np.ndarray], config: dict[str, Any], src: np.ndarray, tgt: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """The same model from nn.Embedding, nn.LSTM/GRU (packed encoder, one-step decoder
    layers), nn.Linear and torch's cross_entropy."""
    torch = pytest.importorskip("torch")
    from torch import nn
    from torch.nn.utils import rnn as pack

    rnn_cls = nn.LSTM if config["cell"] == "lstm" else nn.GRU
    h, e, kind = config["hidden_size"], config["embed_size"], config["attention"]
    dirs = 2 if config["bidirectional"] else 1
    enc_emb = nn.Embedding(config["source_vocab"], e).double()
    encoder = rnn_cls(e, h // dirs, config["encoder_layers"], bidirectional=dirs == 2).double()
    bridge = nn.Linear(h, config["decoder_layers"] * h).double()
    dec_emb = nn.Embedding(config["target_vocab"], e).double()
    feed_size = h if config["input_feeding"] and kind is not None else 0
    decoder = rnn_cls(e + feed_size, h, config["decoder_layers"]).double()
    generator = nn.Linear(h, config["target_vocab"]).double()
    modules = {
        "encoder.embedding": enc_emb,
        "encoder.rnn": encoder,
        "bridge": bridge,
        "decoder.embedding": dec_emb,
        "decoder.rnn": decoder,
        "generator": generator,
    }
    tensors = {}
    for prefix, module in modules.items():
        for name, p in module.named_parameters():
            key = f"{prefix}.{name}"
            p.data = torch.tensor(params[key])
            tensors[key] = p
    att = {
        k: torch.tensor(v, requires_grad=True)
        for k, v in params.items()
        if k.startswith("attention.")
    }
    tensors.update(att)

    src_t = torch.tensor(src)
    tgt_t = torch.tensor(np.where(np.arange(tgt.shape[1])[None] < TGT_LEN[:, None], tgt, 0))
    packed = pack.pack_padded_sequence(
        enc_emb(src_t.T), torch.tensor(SRC_LEN), enforce_sorted=False
    )
    out, final = encoder(packed)
    mem, _ = pack.pad_packed_sequence(out, total_length=src.shape[1])
    h_n = final[0] if config["cell"] == "lstm" else final
    s = torch.cat([h_n[-2], h_n[-1]], 1) if dirs == 2 else h_n[-1]
    h0 = torch.tanh(bridge(s)).reshape(len(SRC_LEN), config["decoder_layers"], h).transpose(0, 1)
    state = (h0.contiguous(), torch.zeros_like(h0)) if config["cell"] == "lstm" else h0.contiguous()
    valid = torch.arange(src.shape[1])[:, None] < torch.tensor(SRC_LEN)[None, :]
    feed = torch.zeros(len(SRC_LEN), h, dtype=torch.float64)
    prev = torch.full((len(SRC_LEN),), config["bos_id"])
    logits = []
    for t in range(tgt.shape[1]):
        x = dec_emb(prev)
        if feed_size:
            x = torch.cat([x, feed], 1)
        top, state = decoder(x[None], state)
        q = top[0]
        if kind is None:
            ht = q
        else:
            if kind == "additive":
                u = torch.tanh(
                    mem @ att["attention.linear_context.weight"].T
                    + q @ att["attention.linear_query.weight"].T
                    + att["attention.linear_query.bias"]
                )
                scores = u @ att["attention.v"]
            else:
                qq = q if kind == "dot" else q @ att["attention.linear_in.weight"].T
                scores = (mem * qq[None]).sum(-1)
            a = torch.softmax(scores.masked_fill(~valid, float("-inf")), 0)
            ctx = (a[:, :, None] * mem).sum(0)
            ht = torch.tanh(torch.cat([ctx, q], 1) @ att["attention.linear_out.weight"].T)
        feed = ht
        logits.append(generator(ht))
        prev = tgt_t[:, t]
    all_logits = torch.stack(logits)  # (T, B, V)
    gold = tgt_t.T.clone()
    gold[torch.arange(tgt.shape[1])[:, None] >= torch.tensor(TGT_LEN)[None, :]] = -100
    loss = nn.functional.cross_entropy(
        all_logits.reshape(-1, config["target_vocab"]),
        gold.reshape(-1),
        ignore_index=-100,
        label_smoothing=config["label_smoothing"],
    )
    loss.backward()
    return float(loss.detach()), {k: v.grad.numpy() for k, v in tensors.items()}


@pytest.mark.parametrize("attention", ["additive", "dot", "general", None])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_reference_matches_pytorch(cell: str, attention: Optional[str]) -> None:
    params, config = make_model(cell, attention, label_smoothing=0.1)
    src, tgt = make_batch()
    want_loss, want = torch_loss_and_grads(params, config, src, tgt)
    loss, grads, _ = seq2seq_loss_and_grads(params, config, src, SRC_LEN, tgt, TGT_LEN)
    assert abs(loss - want_loss) < 1e-10
    assert set(want) == set(grads)
    for name, g in want.items():
        assert np.allclose(grads[name], g, atol=1e-10), name
