"""The reference learns: an LSTM language model on Shakespeare, a GRU on running parity."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import rnnrs
from rnnrs.reference.loss import cross_entropy, linear_backward, linear_forward


def test_lstm_beats_the_unigram_entropy_on_tinyshakespeare(shared_data: Path) -> None:
    path = shared_data / "tinyshakespeare.txt"
    if not path.exists():
        pytest.skip(f"{path} not found")
    text = path.read_text(encoding="utf-8")
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], dtype=np.uint32)
    cut = int(len(ids) * 0.9)
    train, valid = ids[:cut], ids[cut : cut + 20_000]
    counts = np.array(list(Counter(train.tolist()).values()), dtype=np.float64)
    p = counts / counts.sum()
    unigram_entropy = float(-(p * np.log(p)).sum())  # nats per character, about 3.3

    model = rnnrs.RNNLM(len(chars), cell="lstm", hidden_size=64, embed_size=32, backend="numpy")
    trainer = rnnrs.Trainer(model, rnnrs.Adam(lr=1e-2), bptt=32, batch_size=16, progress=False)
    history = trainer.fit(train, valid, max_steps=150)
    valid_loss = history[-1]["valid_loss"]
    print(f"unigram entropy {unigram_entropy:.3f} nats, LSTM valid loss {valid_loss:.3f}")
    assert valid_loss < unigram_entropy - 0.3


def parity_batch(rng: np.random.Generator, batch: int, length: int) -> tuple[np.ndarray, ...]:
    bits = rng.integers(0, 2, size=(batch, length))
    return bits[..., None] * 2.0 - 1.0, np.cumsum(bits, axis=1) % 2  # inputs +-1, parity


def train_parity_gru(steps: int, hidden: int, seed: int = 0) -> tuple[rnnrs.GRU, dict]:
    """A GRU + linear readout trained by a manual NumPy loop with rnnrs.Adam."""
    rng = np.random.default_rng(seed)
    gru = rnnrs.GRU(1, hidden, seed=seed)
    head = {
        "weight": rng.uniform(-0.3, 0.3, size=(2, hidden)).astype(np.float32),
        "bias": np.zeros(2, dtype=np.float32),
    }
    params = {**gru.parameters(), **{f"head.{k}": v for k, v in head.items()}}
    opt = rnnrs.Adam(lr=0.01)
    for _ in range(steps):
        gru.set_parameters({k: v for k, v in params.items() if not k.startswith("head.")})
        x, y = parity_batch(rng, 32, 20)
        out, _ = gru.forward(x)
        h = out.reshape(-1, hidden)
        logits = linear_forward(h, params["head.weight"], params["head.bias"])
        _, d_logits, _ = cross_entropy(logits, y.reshape(-1))
        dh, dw, db = linear_backward(d_logits, h, params["head.weight"])
        _, _, grads = gru.backward(dh.reshape(out.shape))
        opt.step(params, {**grads, "head.weight": dw, "head.bias": db})
    gru.set_parameters({k: v for k, v in params.items() if not k.startswith("head.")})
    return gru, {k[5:]: v for k, v in params.items() if k.startswith("head.")}


def parity_accuracy(gru: rnnrs.GRU, head: dict, length: int) -> float:
    x, y = parity_batch(np.random.default_rng(123), 500, length)  # held-out streams
    out, _ = gru.forward(x)
    logits = linear_forward(out.reshape(-1, out.shape[-1]), head["weight"], head["bias"])
    return float((logits.argmax(axis=1) == y.reshape(-1)).mean())


def test_gru_learns_running_parity() -> None:
    gru, head = train_parity_gru(steps=300, hidden=16)
    acc20, acc40 = parity_accuracy(gru, head, 20), parity_accuracy(gru, head, 40)
    print(f"running parity: accuracy {acc20:.4f} on length 20, {acc40:.4f} on length 40")
    assert acc20 > 0.99
