"""The Rust encoder-decoder engine against the NumPy reference: logits, attention weights,
loss and every gradient with ragged source and target lengths (each attention, with and
without input feeding, tied embeddings, label smoothing, fed-back predictions), greedy and
beam outputs equal to the NumPy engine's, training bit-identical on 1 and 2 threads, and
Ctrl-C between training steps."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any, Optional

import numpy as np
import pytest

import rnnrs
from rnnrs.backends.engines import seq2seq_engine
from rnnrs.backends.selection import rust_available
from rnnrs.reference.seq2seq import seq2seq_forward, seq2seq_loss_and_grads, seq2seq_shapes

pytestmark = pytest.mark.skipif(not rust_available(), reason="the Rust extension is not built")

SRC_LEN = np.array([5, 2, 4, 1])
TGT_LEN = np.array([3, 6, 1, 4])


def make(
    cell: str = "gru",
    attention: Optional[str] = "additive",
    input_feeding: bool = True,
    bidirectional: bool = True,
    tie: bool = False,
    label_smoothing: float = 0.0,
    teacher_forcing: float = 1.0,
    seed: int = 0,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    config = {
        "source_vocab": 9,
        "target_vocab": 8,
        "cell": cell,
        "embed_size": 6,
        "hidden_size": 6,
        "encoder_layers": 2,
        "decoder_layers": 2,
        "bidirectional": bidirectional,
        "attention": attention,
        "attention_size": 5,
        "input_feeding": input_feeding,
        "tie_target_embeddings": tie,
        "label_smoothing": label_smoothing,
        "teacher_forcing": teacher_forcing,
        "dropout": 0.0,
        "bos_id": 6,
        "eos_id": 7,
        "seed": 0,
    }
    rng = np.random.default_rng(seed)
    params = {
        k: rng.normal(scale=0.5, size=s).astype(np.float32)
        for k, s in seq2seq_shapes(config).items()
    }
    return config, params


def batch(seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    src = rng.integers(0, 9, size=(4, 5)).astype(np.uint32)
    tgt = rng.integers(0, 6, size=(4, 6)).astype(np.uint32)
    return src, SRC_LEN, tgt, TGT_LEN


def rust(config: dict[str, Any], params: dict[str, np.ndarray]) -> Any:
    engine = seq2seq_engine(config, "rust")
    engine.set_parameters(params)
    return engine


def f64(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.astype(np.float64) for k, v in params.items()}


CASES = [
    ("gru", "additive", True, False),
    ("lstm", "additive", True, False),
    ("gru", "dot", True, False),
    ("lstm", "general", True, False),
    ("lstm", "general", False, False),
    ("gru", None, True, False),
    ("lstm", "dot", True, True),
]


@pytest.mark.parametrize(("cell", "attention", "feeding", "tie"), CASES)
def test_forward_loss_and_every_gradient_match_the_reference(
    cell: str, attention: Optional[str], feeding: bool, tie: bool
) -> None:
    config, params = make(cell, attention, feeding, tie=tie, label_smoothing=0.1)
    engine = rust(config, params)
    data = batch()
    logits, weights = engine.forward(data)
    want_logits, want_weights, _ = seq2seq_forward(f64(params), config, *data)
    assert np.allclose(logits, want_logits, atol=2e-5)
    assert np.allclose(weights, want_weights, atol=2e-5)
    loss, grads = engine.loss_and_grads(data, False)
    want_loss, want_grads, _ = seq2seq_loss_and_grads(f64(params), config, *data)
    assert abs(loss - want_loss) < 1e-5
    assert set(grads) == set(want_grads) == set(params)
    for name, want in want_grads.items():
        scale = max(float(np.abs(want).max()), 1e-3)
        assert np.abs(grads[name] - want).max() / scale < 2e-4, name


def test_fed_back_predictions_match_the_reference() -> None:
    # teacher_forcing 0: every input after bos is the model's own argmax, deterministically
    config, params = make("lstm", "additive", teacher_forcing=0.0, seed=3)
    engine = rust(config, params)
    data = batch(2)
    loss, grads = engine.loss_and_grads(data, True)
    gold = np.zeros((6, 4), dtype=bool)
    want_loss, want_grads, _ = seq2seq_loss_and_grads(f64(params), config, *data, gold)
    assert abs(loss - want_loss) < 1e-5
    for name, want in want_grads.items():
        scale = max(float(np.abs(want).max()), 1e-3)
        assert np.abs(grads[name] - want).max() / scale < 2e-4, name


@pytest.mark.parametrize("attention", ["additive", "general", None])
def test_greedy_and_beam_outputs_equal_the_numpy_engine(attention: Optional[str]) -> None:
    config, params = make("gru", attention, seed=5)
    params = {k: v * 3 for k, v in params.items()}  # clear margins between tokens
    fast, slow = rust(config, params), seq2seq_engine(config, "numpy")
    slow.set_parameters(params)
    src, src_len, _, _ = batch(4)
    limits = np.array([7, 3, 9, 5])
    assert fast.greedy(src, src_len, limits) == slow.greedy(src, src_len, limits)
    for width, penalty in ((1, 0.0), (3, 1.0), (4, 0.5)):
        got = fast.beam(src, src_len, limits, width, penalty)
        assert got == slow.beam(src, src_len, limits, width, penalty), (width, penalty)
        assert all(len(row) <= limit for row, limit in zip(got, limits))


def test_sampling_is_seeded_and_cold_sampling_is_greedy() -> None:
    config, params = make("lstm", "dot", seed=6)
    engine = rust(config, params)
    src, src_len, _, _ = batch(5)
    limits = np.array([6, 6, 6, 6])
    a = engine.sample(src, src_len, limits, 1.0, None, None, 7)
    assert a == engine.sample(src, src_len, limits, 1.0, None, None, 7)
    assert engine.sample(src, src_len, limits, 1e-6, None, None, 7) == engine.greedy(
        src, src_len, limits
    )


def test_training_is_bit_identical_on_one_and_two_threads() -> None:
    config, params = make("gru", "additive", teacher_forcing=0.5)
    config["dropout"] = 0.2
    before = rnnrs.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            rnnrs.set_num_threads(threads)
            engine = rust(config, params)
            engine.configure_optimizer(name="adam")
            losses, _, tokens = engine.train_steps(
                [batch(k) for k in range(4)], [0.01] * 4, 1.0, None
            )
            results.append((losses, engine.get_parameters()))
            assert tokens == 4 * TGT_LEN.sum()
    finally:
        rnnrs.set_num_threads(before)
    (l1, p1), (l2, p2) = results
    assert np.array_equal(l1, l2)
    assert all(np.array_equal(p1[k], p2[k]) for k in p1)


def test_bad_input_is_a_value_error() -> None:
    config, params = make()
    engine = rust(config, params)
    src, src_len, tgt, tgt_len = batch()
    with pytest.raises(ValueError, match="source lengths"):
        engine.forward((src, np.array([6, 1, 1, 1]), tgt, tgt_len))
    with pytest.raises(
        ValueError, match=r"source: token id \d+ is out of range for a vocabulary of 9"
    ):
        engine.forward((src + 9, src_len, tgt, tgt_len))
    with pytest.raises(ValueError, match="beam width must be >= 1"):
        engine.beam(src, src_len, np.array([3, 3, 3, 3]), 0, 1.0)
    with pytest.raises(ValueError, match="max_lengths"):
        engine.greedy(src, src_len, np.array([3, 0, 3, 3]))


def test_ctrl_c_stops_training_between_steps() -> None:
    code = """
        import os, signal, threading, time
        import numpy as np
        import rnnrs
        from rnnrs.text.dates import dates_task
        src, tgt = dates_task(64, seed=0)
        model = rnnrs.Seq2Seq(rnnrs.CharTokenizer.fit("".join(src)),
                              rnnrs.CharTokenizer.fit("".join(tgt)), backend="rust")
        model.configure_optimizer(rnnrs.Adam().spec())
        batch = model.pair_batches((src, tgt), 64).epoch_batches(0, [0])[0]
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        tick = time.perf_counter()
        try:
            model.engine.train_steps([batch] * 100_000, [1e-3] * 100_000, 5.0, None)
            print("finished")
        except KeyboardInterrupt:
            finite = all(np.isfinite(v).all() for v in model.parameters().values())
            print("interrupted", time.perf_counter() - tick < 30, finite)
    """
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["interrupted", "True", "True"]
