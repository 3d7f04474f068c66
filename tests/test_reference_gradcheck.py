"""Finite-difference gradient checks of the reference kernels in float64.

Every cell, 2 layers, bidirectional, a non-zero carried initial state, dropout off: every
parameter, the input vectors and the initial state; and the whole language model
(embedding, tied and untied output) through the engine.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import rnnrs
from rnnrs.backends.numpy_rnnlm import NumpyEngine
from rnnrs.nn.config import normalize_config
from rnnrs.reference.cells import CELLS

TOL = 1e-6


def numeric_grad(f: Callable[[], float], arr: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of f with respect to every element of arr (perturbed in place)."""
    grad = np.zeros_like(arr)
    flat, gflat = arr.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a|, |b|) over the tensor, floored to avoid 0/0."""
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-8))


@pytest.mark.parametrize("cell", CELLS)
def test_layers_gradients_match_finite_differences(cell: str) -> None:
    rng = np.random.default_rng(1)
    kwargs = {"nonlinearity": cell[4:]} if cell.startswith("rnn") else {}
    cls = {"lstm": rnnrs.LSTM, "gru": rnnrs.GRU}.get(cell, rnnrs.RNN)
    layer = cls(3, 4, num_layers=2, bidirectional=True, dtype="float64", seed=3, **kwargs)
    x = rng.normal(size=(2, 5, 3))
    n_state = 2 if cell == "lstm" else 1
    state = tuple(rng.normal(scale=0.5, size=(4, 2, 4)) for _ in range(n_state))
    w_out = rng.normal(size=(2, 5, 8))  # loss = sum(w_out * outputs) + sum(v * final state)
    w_state = tuple(rng.normal(size=(4, 2, 4)) for _ in range(n_state))
    params = layer.parameters()

    def loss() -> float:
        layer.set_parameters(params)
        out, final = layer.forward(x, state)
        return float(np.sum(w_out * out) + sum(np.sum(w * s) for w, s in zip(w_state, final)))

    loss()
    d_x, d_state0, grads = layer.backward(w_out, w_state)
    errors = {"x": rel_error(d_x, numeric_grad(loss, x))}
    for k, s in enumerate(state):
        errors[f"state[{k}]"] = rel_error(d_state0[k], numeric_grad(loss, s))
    for name, value in params.items():
        errors[name] = rel_error(grads[name], numeric_grad(loss, value))
    print(cell, "max relative error", max(errors.values()))
    assert set(grads) == set(params)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("tie", [False, True])
def test_language_model_gradients_match_finite_differences(cell: str, tie: bool) -> None:
    cfg = normalize_config(
        {"vocab_size": 7, "cell": cell, "hidden_size": 5, "num_layers": 2, "tie_weights": tie}
    )
    engine = NumpyEngine(cfg, dtype=np.float64)
    initial = rnnrs.RNNLM(**cfg, backend="numpy").parameters()
    params = {k: v.astype(np.float64) for k, v in initial.items()}
    rng = np.random.default_rng(2)
    for v in params.values():  # larger weights than the init, so gradients are not tiny
        v += rng.normal(scale=0.3, size=v.shape)
    x = rng.integers(0, 7, size=(3, 4))
    y = rng.integers(0, 7, size=(3, 4))
    n_state = 2 if cell == "lstm" else 1
    state = tuple(rng.normal(scale=0.5, size=(2, 3, 5)) for _ in range(n_state))

    def loss() -> float:
        engine.set_parameters(params)
        return engine.loss(x, y, state)[0]

    loss()
    _, grads, _ = engine.loss_and_grads(x, y, state, train=False)
    errors = {n: rel_error(grads[n], numeric_grad(loss, v)) for n, v in params.items()}
    print(cell, "tied" if tie else "untied", "max relative error", max(errors.values()))
    assert max(errors.values()) < TOL, errors
