"""PyTorch state_dict names: configuration read back from shapes, tied weights, errors."""

from __future__ import annotations

import numpy as np
import pytest

from rnnrs.io.torch_interop import (
    as_numpy_state_dict,
    config_from_state_dict,
    parameters_from_state_dict,
    state_dict_from_parameters,
)


def fake_state_dict(
    gates: int, vocab: int = 9, embed: int = 3, hidden: int = 5, layers: int = 2
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(gates)
    sd = {"embedding.weight": rng.standard_normal((vocab, embed))}
    for k in range(layers):
        sd[f"rnn.weight_ih_l{k}"] = rng.standard_normal(
            (gates * hidden, embed if k == 0 else hidden)
        )
        sd[f"rnn.weight_hh_l{k}"] = rng.standard_normal((gates * hidden, hidden))
        sd[f"rnn.bias_ih_l{k}"] = rng.standard_normal(gates * hidden)
        sd[f"rnn.bias_hh_l{k}"] = rng.standard_normal(gates * hidden)
    sd["output.weight"] = rng.standard_normal((vocab, hidden))
    sd["output.bias"] = rng.standard_normal(vocab)
    return sd


@pytest.mark.parametrize(("gates", "cell"), [(4, "lstm"), (3, "gru"), (1, "rnn_tanh")])
def test_config_is_read_from_the_shapes(gates: int, cell: str) -> None:
    cfg = config_from_state_dict(fake_state_dict(gates))
    assert cfg == {
        "vocab_size": 9,
        "cell": cell,
        "hidden_size": 5,
        "num_layers": 2,
        "embed_size": 3,
        "tie_weights": False,
    }


def test_relu_rnn_must_be_named_and_a_wrong_cell_is_refused() -> None:
    assert config_from_state_dict(fake_state_dict(1), cell="rnn_relu")["cell"] == "rnn_relu"
    with pytest.raises(ValueError, match=r"cell: 'gru' does not match.*4 gate blocks \(lstm\)"):
        config_from_state_dict(fake_state_dict(4), cell="gru")


def test_tied_weights_round_trip() -> None:
    sd = fake_state_dict(4, embed=5)
    sd["output.weight"] = sd["embedding.weight"].copy()
    cfg = config_from_state_dict(sd)
    assert cfg["tie_weights"] is True
    params = parameters_from_state_dict(sd, cfg["tie_weights"])
    assert "output.weight" not in params
    back = state_dict_from_parameters(params, tie_weights=True)
    assert sorted(back) == sorted(sd)
    np.testing.assert_array_equal(back["output.weight"], back["embedding.weight"])
    del sd["output.weight"]
    assert config_from_state_dict(sd)["tie_weights"] is True


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda sd: sd.pop("output.bias"), "missing 'output.bias'"),
        (lambda sd: sd.update({"rnn.weight_ih_l0_reverse": np.zeros(1)}), "one-directional"),
        (lambda sd: sd.update({"rnn.weight_hr_l0": np.zeros(1)}), "proj_size"),
        (lambda sd: sd.update({"decoder.weight": np.zeros(1)}), "decoder.weight"),
        (lambda sd: sd.update({"rnn.weight_hh_l0": np.zeros((10, 5))}), "2 gate blocks"),
        (lambda sd: sd.update({"rnn.weight_hh_l0": np.zeros((12, 5))}), "gates \\* hidden"),
    ],
)
def test_bad_state_dicts_name_the_problem(edit, message: str) -> None:  # type: ignore[no-untyped-def]
    sd = fake_state_dict(4)
    edit(sd)
    with pytest.raises(ValueError, match=message):
        config_from_state_dict(sd)


def test_numpy_conversion_accepts_lists_and_torch_tensors() -> None:
    out = as_numpy_state_dict({"a": [[1, 2]], "b": np.arange(3, dtype=np.float64)})
    assert out["a"].dtype == np.float32 and out["a"].shape == (1, 2)
    with pytest.raises(TypeError, match="state_dict\\['s'\\]"):
        as_numpy_state_dict({"s": np.array(["x"])})
    with pytest.raises(TypeError, match="mapping"):
        as_numpy_state_dict([1, 2])  # type: ignore[arg-type]
    torch = pytest.importorskip("torch")
    t = torch.nn.Linear(3, 2)
    out = as_numpy_state_dict(t.state_dict())
    np.testing.assert_array_equal(out["weight"], t.weight.detach().numpy())
