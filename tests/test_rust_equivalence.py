"""RustEngine against the NumPy reference (NumpyEngine), both in float32: outputs, final
states, loss and every gradient for every cell, 1 and 2 layers, with and without a carried
state and tied weights; the parameters after 20 Adam steps; and RNNLM + Trainer running on
the Rust engine. Tolerance: rtol 1e-4, atol 1e-5 (summation order differs).

The vocabulary sizes cover both ways the Rust engine projects layer 0's input: per distinct
token (VOCABS[0]: a chunk's rows repeat its few ids) and row by row (VOCABS[1]: nearly every row
has an id of its own)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import rnnrs
from rnnrs.backends.numpy_rnnlm import NumpyEngine
from rnnrs.backends.selection import rust_available
from rnnrs.nn.config import normalize_config

pytestmark = pytest.mark.skipif(not rust_available(), reason="the Rust extension is not built")

RTOL, ATOL = 1e-4, 1e-5
V, B, T = 17, 4, 9
VOCABS = (5, 997)


def pair(
    cell: str, layers: int, tie: bool = False, vocab: int = V, **extra: Any
) -> tuple[Any, Any]:
    from rnnrs import _core

    cfg = normalize_config(
        {
            "vocab_size": vocab,
            "cell": cell,
            "hidden_size": 10,
            "embed_size": 10 if tie else 6,
            "num_layers": layers,
            "tie_weights": tie,
            "seed": 3,
            **extra,
        }
    )
    rng = np.random.default_rng(1)
    params = {
        k: (v + rng.uniform(-0.3, 0.3, v.shape)).astype(np.float32)
        for k, v in rnnrs.RNNLM(**cfg, backend="numpy").parameters().items()
    }
    rust, ref = _core.RustEngine(**cfg), NumpyEngine(cfg)
    assert rust.param_names() == ref.param_names()
    rust.set_parameters(params)
    ref.set_parameters(params)
    return rust, ref


def close(a: Any, b: Any, msg: str = "") -> None:
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=msg)


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("carried", [False, True])
@pytest.mark.parametrize("vocab", VOCABS)
def test_forward_and_gradients_match_the_reference(
    cell: str, layers: int, carried: bool, vocab: int
) -> None:
    rust, ref = pair(cell, layers, vocab=vocab)
    rng = np.random.default_rng(2)
    x = rng.integers(0, vocab, (B, T)).astype(np.uint32)
    y = rng.integers(0, vocab, (B, T)).astype(np.uint32)
    state = None
    if carried:
        n = 2 if cell == "lstm" else 1
        state = tuple(rng.uniform(-0.6, 0.6, (layers, B, 10)).astype(np.float32) for _ in range(n))
    loss_r, grads_r, final_r = rust.loss_and_grads(x, y, state, False)
    loss_n, grads_n, final_n = ref.loss_and_grads(x, y, state, False)
    assert loss_r == pytest.approx(loss_n, rel=1e-5)
    for name in ref.param_names():
        close(grads_r[name], grads_n[name], name)
    for a, b in zip(final_r, final_n):
        close(a, b)
    logits_r, _ = rust.logits(x, state)
    logits_n, _ = ref.logits(x, state)
    close(logits_r, logits_n)
    step_r, st_r = rust.step_logits(np.ascontiguousarray(x[:, 0]), state)
    step_n, st_n = ref.step_logits(x[:, 0], state)
    close(step_r, step_n)
    close(st_r[0], st_n[0])
    stream = rng.integers(0, vocab, (B, 30)).astype(np.uint32)
    total_r, count_r = rust.evaluate(stream, 7)
    total_n, count_n = ref.evaluate(stream, 7)
    assert count_r == count_n and total_r == pytest.approx(total_n, rel=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("vocab", VOCABS)
def test_tied_weights_match_the_reference(cell: str, vocab: int) -> None:
    rust, ref = pair(cell, 2, tie=True, vocab=vocab)
    rng = np.random.default_rng(4)
    x = rng.integers(0, vocab, (B, T)).astype(np.uint32)
    y = rng.integers(0, vocab, (B, T)).astype(np.uint32)
    loss_r, grads_r, _ = rust.loss_and_grads(x, y, None, False)
    loss_n, grads_n, _ = ref.loss_and_grads(x, y, None, False)
    assert loss_r == pytest.approx(loss_n, rel=1e-5)
    for name in ref.param_names():
        close(grads_r[name], grads_n[name], name)


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("vocab", VOCABS)
def test_twenty_steps_match_the_reference(cell: str, name: str, vocab: int) -> None:
    rust, ref = pair(cell, 2, vocab=vocab)
    spec: dict[str, Any] = {"name": name, "weight_decay": 0.01}
    if name == "sgd":
        spec.update(momentum=0.9, nesterov=False)
    for eng in (rust, ref):
        eng.configure_optimizer(**spec)
    rng = np.random.default_rng(5)
    stream = rng.integers(0, vocab, (B, 50)).astype(np.uint32)
    starts = np.array([(8 * k) % 48 for k in range(20)], dtype=np.int64)
    lrs = np.linspace(0.01, 0.002, 20)
    reset = starts == 0
    out_r = rust.train_steps(stream, starts, 8, lrs, reset, None, 2.0, None)
    out_n = ref.train_steps(stream, starts, 8, lrs, reset, None, 2.0, None)
    np.testing.assert_allclose(out_r[0], out_n[0], rtol=1e-4)
    np.testing.assert_allclose(out_r[1], out_n[1], rtol=1e-4)
    for a, b in zip(out_r[2], out_n[2]):
        close(a, b)
    params_n = ref.get_parameters()
    for pname, p in rust.get_parameters().items():
        close(p, params_n[pname], pname)
    st_r, st_n = rust.optimizer_state(), ref.optimizer_state()
    assert sorted(st_r) == sorted(st_n)
    assert int(st_r["step"]) == int(st_n["step"]) == 20


def test_rnnlm_and_trainer_run_on_the_rust_engine() -> None:
    rng = np.random.default_rng(0)
    # A sequence with structure: a repeated random phrase, so the loss can fall.
    phrase = rng.integers(0, 12, 23)
    ids = np.tile(phrase, 40).astype(np.uint32)
    losses = {}
    for backend in ("rust", "numpy"):
        m = rnnrs.RNNLM(12, cell="gru", hidden_size=24, embed_size=16, seed=1, backend=backend)
        assert m.backend == backend
        trainer = rnnrs.Trainer(m, rnnrs.Adam(lr=0.01), batch_size=4, bptt=10, progress=False)
        trainer.fit(ids, epochs=3)
        losses[backend] = m.perplexity(ids)
    assert losses["rust"] == pytest.approx(losses["numpy"], rel=1e-3)
    assert losses["rust"] < 12 * 0.5
