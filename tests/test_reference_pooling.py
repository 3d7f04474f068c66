"""The reference poolings over each row's real tokens: finite-difference gradient checks
in float64, padding invariance, ``last`` against the stack's final states, ``max`` ties,
and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from finite_differences import numeric_grad, rel_error
from rnnrs.reference.lengths import valid_steps
from rnnrs.reference.pooling import POOLINGS, pool_backward, pool_forward
from rnnrs.reference.stack import stack_forward

TOL = 1e-6


def attention_params(features: int, size: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "weight": rng.normal(scale=0.7, size=(size, features)),
        "bias": rng.normal(scale=0.3, size=(size,)),
        "v": rng.normal(size=(size,)),
    }


def padded_output(lengths: np.ndarray, t_len: int, features: int, seed: int) -> np.ndarray:
    """A (T, B, F) output with large values at the padded steps (a leak of them shows)."""
    rng = np.random.default_rng(seed)
    out = rng.normal(size=(t_len, len(lengths), features))
    pad = ~valid_steps(lengths, t_len)
    out[pad] = rng.normal(scale=100.0, size=(int(pad.sum()), features))
    return out


@pytest.mark.parametrize("dirs", [1, 2])
@pytest.mark.parametrize("kind", POOLINGS)
def test_pooling_gradients_match_finite_differences(kind: str, dirs: int) -> None:
    lengths = np.array([5, 1, 3, 2])
    out = padded_output(lengths, 6, 4, seed=1)
    params = attention_params(4, 3, seed=2) if kind == "attention" else {}
    w = np.random.default_rng(3).normal(size=(4, 4))

    def loss() -> float:
        return float(np.sum(w * pool_forward(kind, out, lengths, dirs, params)[0]))

    _, cache = pool_forward(kind, out, lengths, dirs, params)
    d_out, grads = pool_backward(w, cache)
    errors = {"out": rel_error(d_out, numeric_grad(loss, out))}
    for name, value in params.items():
        errors[name] = rel_error(grads[name], numeric_grad(loss, value))
    assert set(grads) == set(params)
    assert max(errors.values()) < TOL, errors
    assert not d_out[~valid_steps(lengths, 6)].any()


@pytest.mark.parametrize("kind", POOLINGS)
def test_pooling_a_row_alone_gives_the_same_result(kind: str) -> None:
    lengths = np.array([4, 1, 6, 3])
    out = padded_output(lengths, 7, 6, seed=4)
    params = attention_params(6, 5, seed=5) if kind == "attention" else {}
    w = np.random.default_rng(6).normal(size=(4, 6))
    pooled, cache = pool_forward(kind, out, lengths, 2, params)
    d_out, grads = pool_backward(w, cache)
    summed = {name: np.zeros_like(g) for name, g in grads.items()}
    for b, n in enumerate(lengths):
        a_pooled, a_cache = pool_forward(kind, out[:n, b : b + 1], lengths[b : b + 1], 2, params)
        a_d_out, a_grads = pool_backward(w[b : b + 1], a_cache)
        np.testing.assert_allclose(pooled[b], a_pooled[0], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(d_out[:n, b], a_d_out[:, 0], rtol=1e-12, atol=1e-13)
        for name, g in a_grads.items():
            summed[name] += g
    for name, g in grads.items():
        np.testing.assert_allclose(g, summed[name], rtol=1e-12, atol=1e-13)


def test_last_pooling_is_the_top_layers_final_states() -> None:
    rng = np.random.default_rng(7)
    hid, lengths = 3, np.array([5, 2, 1])
    params = {}
    for k, fan_in in ((0, 2), (1, 2 * hid)):
        for sfx in ("", "_reverse"):
            params[f"weight_ih_l{k}{sfx}"] = rng.normal(size=(4 * hid, fan_in))
            params[f"weight_hh_l{k}{sfx}"] = rng.normal(size=(4 * hid, hid))
            params[f"bias_ih_l{k}{sfx}"] = rng.normal(size=(4 * hid,))
            params[f"bias_hh_l{k}{sfx}"] = rng.normal(size=(4 * hid,))
    zeros = np.zeros((4, 3, hid))
    x = rng.normal(size=(6, 3, 2))
    out, (h_n, _), _ = stack_forward("lstm", x, (zeros, zeros), params, 2, True, lengths=lengths)
    pooled, _ = pool_forward("last", out, lengths, 2)
    assert np.array_equal(pooled, np.concatenate([h_n[-2], h_n[-1]], axis=1))


def test_max_pooling_ties_go_to_the_first_step() -> None:
    out = np.array([[[1.0, 2.0]], [[3.0, 2.0]], [[3.0, 0.5]], [[9.0, 9.0]]])  # (T=4, B=1, F=2)
    pooled, cache = pool_forward("max", out, np.array([3]))
    assert pooled.tolist() == [[3.0, 2.0]]  # step 3 is padding: its 9s are not read
    d_out, _ = pool_backward(np.array([[10.0, 20.0]]), cache)
    assert d_out[:, 0].tolist() == [[0.0, 20.0], [10.0, 0.0], [0.0, 0.0], [0.0, 0.0]]


def test_attention_weights_are_a_softmax_over_the_real_steps() -> None:
    lengths = np.array([3, 1])
    out = padded_output(lengths, 4, 2, seed=8)
    _, cache = pool_forward("attention", out, lengths, 1, attention_params(2, 2, seed=9))
    a = cache["weights"]
    assert np.allclose(a.sum(axis=0), 1.0)
    assert not a[~valid_steps(lengths, 4)].any() and a[0, 1] == 1.0
    assert (a[:3, 0] > 0).all()


def test_bad_pooling_arguments_are_refused() -> None:
    out, lengths = np.zeros((2, 1, 2)), np.array([2])
    with pytest.raises(ValueError, match="pooling must be one of last, mean, max, attention"):
        pool_forward("sum", out, lengths)
    with pytest.raises(ValueError, match="attention pooling needs params"):
        pool_forward("attention", out, lengths)
