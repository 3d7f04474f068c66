"""Bad input gets a clear exception naming the argument, on the NumPy backend."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import rnnrs


def lm(**kwargs: Any) -> rnnrs.RNNLM:
    kwargs.setdefault("hidden_size", 4)
    kwargs.setdefault("backend", "numpy")
    return rnnrs.RNNLM(kwargs.pop("vocab_size", 10), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"vocab_size": 0}, ValueError, "vocab_size"),
        ({"vocab_size": -3}, ValueError, "vocab_size"),
        ({"vocab_size": 2.5}, TypeError, "vocab_size"),
        ({"hidden_size": -1}, ValueError, "hidden_size"),
        ({"num_layers": 0}, ValueError, "num_layers"),
        ({"embed_size": 0}, ValueError, "embed_size"),
        ({"cell": "transformer"}, ValueError, "cell"),
        ({"cell": 3}, TypeError, "cell"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"dropout": -0.1}, ValueError, "dropout"),
        ({"tie_weights": True, "embed_size": 3}, ValueError, "tie_weights"),
        ({"seed": -1}, ValueError, "seed"),
        ({"backend": "cuda"}, ValueError, "backend"),
        ({"tokenizer": object()}, TypeError, "tokenizer"),
    ],
)
def test_bad_model_arguments(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        lm(**kwargs)


def test_explicit_rust_backend_without_a_rust_engine_is_unavailable() -> None:
    from rnnrs.backends.selection import rust_available

    if rust_available() and hasattr(rnnrs.backends.selection.core(), "RustEngine"):
        pytest.skip("the Rust engine is built")
    with pytest.raises(rnnrs.BackendUnavailableError, match="numpy"):
        rnnrs.RNNLM(10, backend="rust")


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (np.array([[1.0, 2.0]]), TypeError, "integer"),
        (np.array([1, 2]), ValueError, "2-D"),
        (np.array([[1, 10]]), ValueError, "vocab_size"),
        (np.array([[-1, 2]]), ValueError, "outside"),
        (np.zeros((1, 0), dtype=int), ValueError, "at least one"),
        (np.array([[True, False]]), TypeError, "integer"),
    ],
)
def test_bad_token_arrays(x: np.ndarray, error: type, match: str) -> None:
    with pytest.raises(error, match=f"x: .*{match}"):
        lm().loss(x, np.ones_like(x, dtype=int))


def test_mismatched_targets_and_states() -> None:
    m = lm(cell="lstm")
    with pytest.raises(ValueError, match="y: expected the shape"):
        m.loss([[1, 2, 3]], [[1, 2]])
    h = np.zeros((1, 1, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="state: expected 2 arrays"):
        m.loss([[1, 2]], [[2, 3]], (h,))
    with pytest.raises(ValueError, match=r"state\[1\]: expected shape"):
        m.loss([[1, 2]], [[2, 3]], (h, np.zeros((1, 2, 4))))
    with pytest.raises(TypeError, match="state"):
        m.loss([[1, 2]], [[2, 3]], h)  # type: ignore[arg-type]


def test_bad_parameter_dicts() -> None:
    m = lm()
    params = m.parameters()
    params["rnn.weight_hh_l0"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"rnn.weight_hh_l0.*\(16, 4\).*\(3, 3\)"):
        m.set_parameters(params)
    params = m.parameters()
    del params["output.bias"]
    with pytest.raises(ValueError, match=r"output\.bias"):
        m.set_parameters(params)
    params = m.parameters()
    params["output.bias"] = np.full(10, np.nan)
    with pytest.raises(ValueError, match="NaN"):
        m.set_parameters(params)


def test_optimizer_errors() -> None:
    with pytest.raises(ValueError, match="params: expected at least one parameter"):
        rnnrs.Adam(lr=0.1).step({}, {})
    with pytest.raises(ValueError, match="grads"):
        rnnrs.SGD(lr=0.1).step({"w": np.ones(2)}, {})
    with pytest.raises(ValueError, match="lr"):
        rnnrs.SGD(lr=-1.0)
    with pytest.raises(ValueError, match="nesterov"):
        rnnrs.SGD(lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        rnnrs.Adam(betas=(0.9, 1.0))
    engine = lm().engine
    with pytest.raises(ValueError, match="configure_optimizer"):
        engine.train_steps(np.ones((1, 5), np.uint32), [0], 2, [0.1], [True], None, 1.0, None)
    with pytest.raises(ValueError, match="name"):
        engine.configure_optimizer(name="lbfgs")


def test_layer_errors() -> None:
    with pytest.raises(ValueError, match="nonlinearity"):
        rnnrs.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="input_size"):
        rnnrs.LSTM(0, 4)
    gru = rnnrs.GRU(3, 4)
    with pytest.raises(ValueError, match="x: expected 3 features"):
        gru.forward(np.zeros((2, 5, 4)))
    with pytest.raises(TypeError, match="x: expected a float array"):
        gru.forward(np.zeros((2, 5, 3), dtype=int))
    with pytest.raises(ValueError, match="forward"):
        rnnrs.GRU(3, 4).backward(np.zeros((2, 5, 4)))
    gru.forward(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="d_outputs: expected shape"):
        gru.backward(np.zeros((2, 4, 4)))


def test_bad_schedules() -> None:
    with pytest.raises(ValueError, match="step_size"):
        rnnrs.StepLR(step_size=0)
    with pytest.raises(ValueError, match="total_steps"):
        rnnrs.CosineWithWarmup(warmup_steps=10, total_steps=5)
    with pytest.raises(ValueError, match="factor"):
        rnnrs.ReduceOnPlateau(factor=1.5)
