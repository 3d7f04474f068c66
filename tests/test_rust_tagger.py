"""The Rust TaggerEngine against the NumPy reference engine: emission scores, the loss and
every gradient on ragged batches (both character encoders, softmax and CRF), decoding,
optimizer steps, 1 vs 2 threads, and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any, Optional

import numpy as np
import pytest

import rnnrs
from rnnrs.backends.numpy_tagger import NumpyTaggerEngine
from rnnrs.reference.crf import allowed_transitions

core = pytest.importorskip("rnnrs._core")

CASES = [
    (None, "softmax", "lstm"),
    ("lstm", "softmax", "gru"),
    ("cnn", "crf", "lstm"),
    ("lstm", "crf", "lstm"),
]


def config(char_encoder: Optional[str], output: str, cell: str, **kw: Any) -> dict[str, Any]:
    cfg = {
        "vocab_size": 11,
        "num_tags": 5,
        "cell": cell,
        "embed_size": 6,
        "hidden_size": 7,
        "num_layers": 2,
        "bidirectional": True,
        "char_encoder": char_encoder,
        "char_vocab_size": 9,
        "char_embed_size": 4,
        "char_hidden_size": 3,
        "output": output,
        "dropout": 0.0,
        "seed": 3,
    }
    cfg.update(kw)
    return cfg


def pair(cfg: dict[str, Any], seed: int = 0) -> tuple[Any, NumpyTaggerEngine]:
    rust = core.TaggerEngine(**cfg)
    ref = NumpyTaggerEngine(**cfg)
    rng = np.random.default_rng(seed)
    params = {
        n: (rng.normal(size=v.shape) * 0.4).astype(np.float32)
        for n, v in ref.get_parameters().items()
    }
    rust.set_parameters(params)
    ref.set_parameters(params)
    return rust, ref


def batch(seed: int = 1, b: int = 4, t: int = 6, w: int = 5) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, t + 1, size=b)
    lengths[0] = t
    return (
        rng.integers(0, 11, size=(b, t)).astype(np.uint32),
        lengths.astype(np.int64),
        rng.integers(0, 5, size=(b, t)).astype(np.int64),
        rng.integers(0, 9, size=(b, t, w)).astype(np.uint32),
        rng.integers(1, w + 1, size=(b, t)).astype(np.int64),
    )


def chars_of(cfg: dict[str, Any], data: tuple[np.ndarray, ...]) -> tuple[Any, Any]:
    return (data[3], data[4]) if cfg["char_encoder"] else (None, None)


@pytest.mark.parametrize(
    "char_encoder,output,cell,rows",
    # 48 rows hold more words than one run of the character LSTM takes (several chunks)
    [*((c, o, cell, 4) for c, o, cell in CASES), ("lstm", "softmax", "lstm", 48)],
)
def test_forward_loss_and_every_gradient_match_the_reference(
    char_encoder: Optional[str], output: str, cell: str, rows: int
) -> None:
    cfg = config(char_encoder, output, cell)
    rust, ref = pair(cfg)
    data = batch(b=rows, t=8, w=9)
    ids, lengths, tags = data[:3]
    chars, cl = chars_of(cfg, data)
    valid = np.arange(ids.shape[1])[:, None] < lengths[None]
    np.testing.assert_allclose(
        rust.emissions(ids, lengths, chars, cl)[valid],
        ref.emissions(ids, lengths, chars, cl)[valid],
        rtol=1e-4,
        atol=1e-5,
    )
    loss_r, grads_r = rust.loss_and_grads(ids, lengths, tags, chars, cl, train=False)
    loss_n, grads_n = ref.loss_and_grads(ids, lengths, tags, chars, cl, train=False)
    assert loss_r == pytest.approx(loss_n, rel=1e-5)
    assert list(grads_r) == list(grads_n) == rust.param_names()
    for name in grads_n:
        scale = max(float(np.abs(grads_n[name]).max()), 1e-3)
        np.testing.assert_allclose(
            grads_r[name], grads_n[name], rtol=1e-3, atol=2e-5 * scale, err_msg=name
        )
    total_r, n_r = rust.evaluate([(*data[:3], chars, cl)])
    total_n, n_n = ref.evaluate([(*data[:3], chars, cl)])
    assert n_r == n_n == int(lengths.sum())
    assert total_r == pytest.approx(total_n, rel=1e-5)


@pytest.mark.parametrize("char_encoder,output,cell", CASES)
def test_decoding_matches_the_reference(
    char_encoder: Optional[str], output: str, cell: str
) -> None:
    cfg = config(char_encoder, output, cell)
    rust, ref = pair(cfg, seed=5)
    data = batch(seed=6, b=8)
    ids, lengths = data[:2]
    chars, cl = chars_of(cfg, data)
    np.testing.assert_array_equal(
        rust.decode(ids, lengths, chars, cl), ref.decode(ids, lengths, chars, cl)
    )
    cons = allowed_transitions(["O", "B-A", "I-A", "B-B", "I-B"])
    assert cons is not None
    got = rust.decode(ids, lengths, chars, cl, constraints=tuple(cons))
    np.testing.assert_array_equal(got, ref.decode(ids, lengths, chars, cl, constraints=tuple(cons)))
    assert np.all(got[~(np.arange(ids.shape[1])[None] < lengths[:, None])] == -1)


@pytest.mark.parametrize("char_encoder,output", [("lstm", "softmax"), ("cnn", "crf")])
def test_optimizer_steps_match_the_reference(char_encoder: str, output: str) -> None:
    cfg = config(char_encoder, output, "lstm")
    rust, ref = pair(cfg, seed=7)
    for eng in (rust, ref):
        eng.configure_optimizer(name="adam", betas=(0.9, 0.999), eps=1e-8)
    batches = [batch(seed=s) for s in (10, 11, 12)]
    lrs = np.array([0.01, 0.01, 0.005])
    losses_r, norms_r = rust.train_steps(batches, lrs, 1.0, None)
    losses_n, norms_n = ref.train_steps(batches, lrs, 1.0, None)
    np.testing.assert_allclose(losses_r, losses_n, rtol=1e-4)
    np.testing.assert_allclose(norms_r, norms_n, rtol=1e-3)
    pr, pn = rust.get_parameters(), ref.get_parameters()
    for name in pn:
        np.testing.assert_allclose(pr[name], pn[name], rtol=1e-3, atol=1e-5, err_msg=name)


def test_training_is_bit_identical_on_one_and_two_threads() -> None:
    cfg = config("lstm", "crf", "lstm", dropout=0.3)
    results = []
    before = rnnrs.get_num_threads()
    for threads in (1, 2):
        rnnrs.set_num_threads(threads)
        rust, _ = pair(cfg, seed=8)
        rust.configure_optimizer(name="adam", betas=(0.9, 0.999), eps=1e-8)
        losses, _ = rust.train_steps(
            [batch(seed=s, b=9) for s in range(3)], np.full(3, 0.01), 5.0, None
        )
        results.append((losses, rust.get_parameters()))
    rnnrs.set_num_threads(before)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for name in results[0][1]:
        np.testing.assert_array_equal(results[0][1][name], results[1][1][name])


@pytest.mark.parametrize("make", ["rust", "numpy"])
def test_bad_input_is_a_clear_error(make: str) -> None:
    cfg = config("lstm", "crf", "lstm")
    eng = core.TaggerEngine(**cfg) if make == "rust" else NumpyTaggerEngine(**cfg)
    ids, lengths, tags, chars, cl = batch()
    with pytest.raises(ValueError, match="lengths"):
        eng.decode(ids, np.zeros_like(lengths), chars, cl)
    bad_tags = tags.copy()
    bad_tags[0, 0] = 5
    with pytest.raises(ValueError, match="tags"):
        eng.loss_and_grads(ids, lengths, bad_tags, chars, cl, train=False)
    bad_cl = cl.copy()
    bad_cl[0, 0] = 0
    with pytest.raises(ValueError, match="char_lengths"):
        eng.decode(ids, lengths, chars, bad_cl)
    with pytest.raises(ValueError, match="chars"):
        eng.decode(ids, lengths)
    bad_ids = ids.copy()
    bad_ids[0, 0] = 11
    with pytest.raises(ValueError, match="ids"):
        eng.decode(bad_ids, lengths, chars, cl)


def test_ctrl_c_stops_training_at_a_step_boundary() -> None:
    code = """
        import os, signal, threading
        import numpy as np
        import rnnrs
        from rnnrs._core import TaggerEngine
        cfg = dict(vocab_size=50, num_tags=5, cell="lstm", embed_size=32, hidden_size=64,
                   num_layers=1, bidirectional=True, char_encoder="lstm", char_vocab_size=20,
                   char_embed_size=8, char_hidden_size=8, output="crf", dropout=0.0, seed=0)
        eng = TaggerEngine(**cfg)
        eng.set_parameters({k: np.full(v.shape, 0.01, np.float32)
                            for k, v in eng.get_parameters().items()})
        eng.configure_optimizer(name="adam")
        rng = np.random.default_rng(0)
        b = (rng.integers(0, 50, (16, 20)).astype(np.uint32), np.full(16, 20),
             rng.integers(0, 5, (16, 20)), rng.integers(0, 20, (16, 20, 6)).astype(np.uint32),
             np.full((16, 20), 6))
        n = 20000  # minutes of steps: the signal comes while they run
        batches = [b] * n
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            eng.train_steps(batches, np.full(n, 1e-3), 5.0, None)
            print("finished")
        except KeyboardInterrupt:
            step = int(eng.optimizer_state()["step"])
            loss, _ = eng.loss_and_grads(*b, train=False)
            print("interrupted", 0 < step < n, np.isfinite(loss))
    """
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RNNRS_NUM_THREADS": "2"},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["interrupted", "True", "True"]


def test_a_non_finite_loss_stops_before_touching_the_parameters() -> None:
    rust, _ = pair(config(None, "softmax", "lstm"))
    rust.configure_optimizer(name="sgd")
    params = rust.get_parameters()
    params["emission.bias"][:] = np.float32(3e38)
    params["emission.bias"][0] = np.float32(-3e38)
    rust.set_parameters(params)
    with pytest.raises(rnnrs.TrainingDivergedError):
        rust.train_steps([(*batch()[:3], None, None)], np.array([0.1]), None, None)
    after = rust.get_parameters()
    for name in params:
        np.testing.assert_array_equal(after[name], params[name], err_msg=name)
