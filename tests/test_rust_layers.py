"""The Rust encoder layers (rnnrs.RNN / LSTM / GRU with backend="rust") against the NumPy
reference (the same classes with backend="numpy"), both in float32: outputs, final states,
d_x, d_state0 and every named gradient for every cell, 1 and 2 layers, one and two
directions, with a non-zero carried state and a non-zero final-state gradient; threads 1
vs 2; 20 Adam steps; dropout's backward; bad input. Tolerance: rtol 1e-4, atol 1e-5 (the
summation order differs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import rnnrs
from rnnrs.backends.selection import rust_available
from rnnrs.reference.cells import CELLS

pytestmark = pytest.mark.skipif(not rust_available(), reason="the Rust extension is not built")

RTOL, ATOL = 1e-4, 1e-5
IN, H = 5, 6


def make(cell: str, backend: str, **kw: Any) -> Any:
    cls = {"lstm": rnnrs.LSTM, "gru": rnnrs.GRU}.get(cell, rnnrs.RNN)
    if cell.startswith("rnn"):
        kw["nonlinearity"] = cell[4:]
    return cls(IN, H, backend=backend, seed=3, **kw)


def pair(cell: str, **kw: Any) -> tuple[Any, Any]:
    """A Rust and a NumPy layer with the same (perturbed, so not only tiny) weights."""
    rust, ref = make(cell, "rust", **kw), make(cell, "numpy", **kw)
    assert (rust.backend, ref.backend) == ("rust", "numpy")
    rng = np.random.default_rng(1)
    params = {
        k: (v + rng.uniform(-0.2, 0.2, v.shape)).astype(np.float32)
        for k, v in ref.parameters().items()
    }
    for layer in (rust, ref):
        layer.set_parameters(params)
    return rust, ref


def run(layer: Any, x: np.ndarray, state: Any, d_out: np.ndarray, d_final: Any) -> dict:
    """Everything a forward + backward gives, by quantity name."""
    out, final = layer.forward(x, state)
    d_x, d_state0, grads = layer.backward(d_out, d_final)
    got = {"outputs": out, "d_x": d_x}
    got.update({f"final[{k}]": s for k, s in enumerate(final)})
    got.update({f"d_state0[{k}]": s for k, s in enumerate(d_state0)})
    got.update(grads)
    return got


def inputs(layer: Any, batch: int, t_len: int, seed: int = 2) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    dirs = 2 if layer.bidirectional else 1
    n = 2 if layer.cell == "lstm" else 1
    shape = (layer.num_layers * dirs, batch, H)
    x = rng.normal(size=(batch, t_len, IN)).astype(np.float32)
    state = tuple(rng.uniform(-0.6, 0.6, shape).astype(np.float32) for _ in range(n))
    d_out = rng.normal(size=(batch, t_len, dirs * H)).astype(np.float32)
    d_final = tuple(rng.normal(size=shape).astype(np.float32) for _ in range(n))
    return x, state, d_out, d_final


def assert_all_close(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in b:
        assert a[name].dtype == np.float32, name
        np.testing.assert_allclose(a[name], b[name], rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("carried", [False, True])
def test_forward_and_backward_match_the_reference(
    cell: str, layers: int, bidirectional: bool, carried: bool
) -> None:
    rust, ref = pair(cell, num_layers=layers, bidirectional=bidirectional)
    x, state, d_out, d_final = inputs(ref, 3, 7)
    if not carried:
        state, d_final = None, None
    got = run(rust, x, state, d_out, d_final)
    want = run(ref, x, state, d_out, d_final)
    assert_all_close(got, want)
    expected = {
        f"{w}_l{k}{s}"
        for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        for k in range(layers)
        for s in ([""] + ["_reverse"] * bidirectional)
    }
    assert expected <= set(got)


@pytest.mark.parametrize("cell", CELLS)
def test_a_single_step_matches_the_reference(cell: str) -> None:
    rust, ref = pair(cell, num_layers=2, bidirectional=True)
    x, state, d_out, d_final = inputs(ref, 2, 1)
    assert_all_close(run(rust, x, state, d_out, d_final), run(ref, x, state, d_out, d_final))


@pytest.fixture
def restore_threads() -> Iterator[None]:
    before = rnnrs.get_num_threads()
    yield
    rnnrs.set_num_threads(before)


@pytest.mark.parametrize("cell", CELLS)
def test_one_and_two_threads_agree(cell: str, restore_threads: None) -> None:
    # 12 rows: two shards of 6 with 2 threads, so the split is really exercised; an even
    # number of steps here, an odd one above (GRU alternates its two gradient carries).
    rust, ref = pair(cell, num_layers=2, bidirectional=True)
    x, state, d_out, d_final = inputs(ref, 12, 8)
    results = []
    for n in (1, 2):
        rnnrs.set_num_threads(n)
        results.append(run(rust, x, state, d_out, d_final))
    assert_all_close(results[1], results[0])
    assert_all_close(results[1], run(ref, x, state, d_out, d_final))


def adam_regression(layer: Any, steps: int) -> tuple[dict, list[float]]:
    """Fit the layer's outputs to a fixed target with rnnrs.Adam; the weights and losses."""
    rng = np.random.default_rng(7)
    x, state, _, _ = inputs(layer, 4, 6)
    dirs = 2 if layer.bidirectional else 1
    target = rng.uniform(-0.5, 0.5, size=(4, 6, dirs * H)).astype(np.float32)
    params = layer.parameters()
    opt = rnnrs.Adam(lr=0.01)
    losses = []
    for _ in range(steps):
        layer.set_parameters(params)
        out, final = layer.forward(x, state)
        diff = out - target
        losses.append(float(0.5 * np.mean(diff * diff)))
        # the final state is pulled towards zero as well, so d_final_state is non-zero
        _, _, grads = layer.backward(diff / diff.size, tuple(0.1 * s for s in final))
        opt.step(params, grads)
    return params, losses


@pytest.mark.parametrize("cell", CELLS)
def test_twenty_adam_steps_match_the_reference(cell: str) -> None:
    rust, ref = pair(cell, num_layers=2, bidirectional=True)
    params_r, losses_r = adam_regression(rust, 20)
    params_n, losses_n = adam_regression(ref, 20)
    np.testing.assert_allclose(losses_r, losses_n, rtol=RTOL)
    assert losses_r[-1] < losses_r[0]
    for name, p in params_n.items():
        np.testing.assert_allclose(params_r[name], p, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_dropout_masks_flow_through_backward(cell: str) -> None:
    """Training-mode dropout: the gradient agrees with a finite difference taken with the
    same masks (layers built from the same seed draw the same masks)."""
    kw = {"num_layers": 3, "bidirectional": True, "dropout": 0.5}
    layer = make(cell, "rust", **kw)
    x, state, w, _ = inputs(layer, 3, 5)
    params = layer.parameters()
    out, _ = layer.forward(x, state)
    assert np.any(out != layer.eval().forward(x, state)[0])  # masks change the outputs
    layer.train()
    direction = {k: np.random.default_rng(9).normal(size=v.shape) for k, v in params.items()}
    norm = np.sqrt(sum(float(np.sum(d * d)) for d in direction.values()))
    direction = {k: d / norm for k, d in direction.items()}  # a unit step over all weights

    def loss(eps: float) -> float:
        fresh = make(cell, "rust", **kw)  # same seed: the first forward draws the same masks
        fresh.set_parameters({k: v + eps * direction[k] for k, v in params.items()})
        return float(np.sum(w.astype(np.float64) * fresh.forward(x, state)[0]))

    fresh = make(cell, "rust", **kw)
    fresh.forward(x, state)
    _, _, grads = fresh.backward(w)
    analytic = sum(float(np.sum(grads[k] * direction[k])) for k in params)
    eps = 1e-2
    numeric = (loss(eps) - loss(-eps)) / (2 * eps)
    assert numeric == pytest.approx(analytic, rel=2e-2)


def test_bad_input_raises_clear_errors() -> None:
    from rnnrs import _core

    stack = _core.RecurrentStack("lstm", 3, 4, num_layers=2, bidirectional=True)
    x = np.zeros((2, 5, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="call forward"):
        stack.backward(np.zeros((2, 5, 8), np.float32), None)
    with pytest.raises(TypeError, match="x: expected a numpy array of float32, got dtype float64"):
        stack.forward(x.astype(np.float64), None, False)
    with pytest.raises(TypeError, match="x: expected a numpy array"):
        stack.forward([[[0.0] * 3]], None, False)
    with pytest.raises(ValueError, match="C-contiguous"):
        stack.forward(np.zeros((5, 2, 3), np.float32).transpose(1, 0, 2), None, False)
    with pytest.raises(ValueError, match=r"x: expected shape \(batch >= 1, time >= 1, 3\)"):
        stack.forward(np.zeros((2, 5, 4), np.float32), None, False)
    with pytest.raises(ValueError, match="x: expected shape"):
        stack.forward(np.zeros((0, 5, 3), np.float32), None, False)
    with pytest.raises(ValueError, match="x: expected a 3-D array"):
        stack.forward(np.zeros((5, 3), np.float32), None, False)
    h = np.zeros((4, 2, 4), np.float32)
    with pytest.raises(ValueError, match="state: expected None or a tuple of 2"):
        stack.forward(x, (h,), False)
    with pytest.raises(TypeError, match="state: expected"):
        stack.forward(x, h, False)
    with pytest.raises(ValueError, match=r"state\[1\]: expected shape \(4, 2, 4\)"):
        stack.forward(x, (h, np.zeros((2, 2, 4), np.float32)), False)
    out, _ = stack.forward(x, (h, h), False)
    with pytest.raises(ValueError, match=r"d_outputs: expected shape \(2, 5, 8\)"):
        stack.backward(np.zeros((5, 2, 8), np.float32), None)
    with pytest.raises(TypeError, match="d_final_state"):
        stack.backward(out, (h, h.astype(np.float64)))
    stack.backward(out, (h, h))
    with pytest.raises(ValueError, match="call forward"):
        stack.backward(out, None)  # the forward's caches are used up
    with pytest.raises(ValueError, match="cell"):
        _core.RecurrentStack("sru", 3, 4)
    with pytest.raises(ValueError, match="hidden_size"):
        _core.RecurrentStack("gru", 3, 0)
    with pytest.raises(ValueError, match="dropout"):
        _core.RecurrentStack("gru", 3, 4, dropout=1.0)
    with pytest.raises(ValueError, match="missing tensors"):
        stack.set_parameters({"weight_ih_l0": np.zeros((16, 3))})
    with pytest.raises(ValueError, match="float32"):
        rnnrs.GRU(3, 4, dtype="float64", backend="rust")


@pytest.mark.parametrize("backend", ["rust", "numpy"])
def test_the_layer_api_behaves_alike_on_both_backends(backend: str) -> None:
    gru = rnnrs.GRU(3, 4, backend=backend)
    with pytest.raises(ValueError, match="forward"):
        gru.backward(np.zeros((2, 5, 4)))
    out, _ = gru.forward(np.zeros((2, 5, 3)))  # float64 input: converted to the layer's dtype
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match="d_outputs: expected shape"):
        gru.backward(np.zeros((2, 4, 4)))
    gru.backward(np.ones((2, 5, 4)))
    with pytest.raises(ValueError, match="forward"):
        gru.backward(np.ones((2, 5, 4)))  # one backward per forward
    strided = np.zeros((5, 2, 3), np.float32).transpose(1, 0, 2)  # copied, not rejected
    assert gru.forward(strided)[0].shape == (2, 5, 4)
    assert rnnrs.GRU(3, 4, dtype="float64").backend == "numpy"
