"""Weight initialisation: one function, rnnrs.nn.init.init_parameters, for models and layers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rnnrs
from rnnrs.nn.init import init_parameters
from rnnrs.reference.lm import parameter_shapes
from rnnrs.reference.stack import stack_shapes


def test_the_rule_follows_the_tensor_name() -> None:
    shapes = {
        "embedding.weight": (40, 8),
        "rnn.weight_ih_l0": (32, 8),
        "rnn.bias_hh_l1_reverse": (32,),
        "weight_hh_l0": (32, 8),
        "output.weight": (40, 8),
        "output.bias": (40,),
    }
    p = init_parameters(shapes, np.random.default_rng(0), hidden_size=8)
    assert list(p) == list(shapes) and all(v.dtype == np.float32 for v in p.values())
    bound = 1 / math.sqrt(8)
    for name in ("rnn.weight_ih_l0", "rnn.bias_hh_l1_reverse", "weight_hh_l0"):
        assert 0.9 * bound < np.abs(p[name]).max() <= bound, name
    for name in ("embedding.weight", "output.weight"):
        assert 0.09 < np.abs(p[name]).max() <= 0.1, name
    assert not p["output.bias"].any()


def test_the_draws_come_from_the_generator_in_order() -> None:
    shapes = {"a.weight": (3, 2), "weight_ih_l0": (4, 2)}
    first = init_parameters(shapes, np.random.default_rng(5), hidden_size=2, dtype=np.float64)
    rng = np.random.default_rng(5)
    np.testing.assert_array_equal(first["a.weight"], rng.uniform(-0.1, 0.1, (3, 2)))
    bound = 1 / math.sqrt(2)
    np.testing.assert_array_equal(first["weight_ih_l0"], rng.uniform(-bound, bound, (4, 2)))


def test_a_language_model_starts_from_it() -> None:
    model = rnnrs.RNNLM(7, cell="gru", hidden_size=5, num_layers=2, embed_size=3, seed=4)
    shapes = parameter_shapes(model.config)
    expected = init_parameters(shapes, np.random.default_rng(4), hidden_size=5)
    got = model.parameters()
    assert list(got) == list(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_encoder_layers_start_from_it(dtype: type) -> None:
    layer = rnnrs.LSTM(3, 4, num_layers=2, bidirectional=True, seed=2, dtype=dtype)
    shapes = stack_shapes("lstm", 3, 4, 2, True)
    expected = init_parameters(shapes, np.random.default_rng(2), hidden_size=4, dtype=dtype)
    got = layer.parameters()
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)
        assert got[name].dtype == dtype
