"""RNNLM's public API on the NumPy backend: config, parameters, state carrying, scoring,
the generation protocol, engine state round trips, and gradient flow."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rnnrs
from rnnrs.models.diagnostics import gradient_flow


def model(**kwargs: object) -> rnnrs.RNNLM:
    kwargs.setdefault("hidden_size", 8)
    return rnnrs.RNNLM(13, backend="numpy", **kwargs)  # type: ignore[arg-type]


def test_config_round_trips_and_names_are_pytorch_names() -> None:
    m = model(cell="rnn", num_layers=2, embed_size=5, dropout=0.2, seed=7)
    assert m.config["cell"] == "rnn_tanh" and m.config["embed_size"] == 5
    again = rnnrs.RNNLM(**m.config, backend="numpy")
    assert again.config == m.config
    for name, value in m.parameters().items():
        np.testing.assert_array_equal(value, again.parameters()[name])
    assert list(m.parameters()) == [
        "embedding.weight",
        *[
            f"rnn.{w}_l{k}"
            for k in (0, 1)
            for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        ],
        "output.weight",
        "output.bias",
    ]
    assert m.parameters()["rnn.weight_ih_l1"].shape == (8, 8)
    assert m.num_parameters == sum(v.size for v in m.parameters().values())
    assert m.backend == "numpy"


def test_initialisation_follows_the_contract() -> None:
    p = model(cell="lstm", hidden_size=16).parameters()
    bound = 1 / math.sqrt(16)
    assert np.abs(p["rnn.weight_hh_l0"]).max() <= bound
    assert np.abs(p["rnn.weight_hh_l0"]).max() > 0.9 * bound
    assert np.abs(p["embedding.weight"]).max() <= 0.1
    assert not p["output.bias"].any()
    assert all(v.dtype == np.float32 for v in p.values())
    other = model(cell="lstm", hidden_size=16, seed=1).parameters()
    assert not np.array_equal(p["embedding.weight"], other["embedding.weight"])


def test_tied_weights_share_the_embedding() -> None:
    m = model(tie_weights=True)
    assert "output.weight" not in m.parameters()
    untied = model()
    assert m.num_parameters == untied.num_parameters - 13 * 8


def test_set_parameters_changes_the_loss() -> None:
    m = model()
    x, y = [[1, 2, 3]], [[4, 4, 4]]
    before = m.loss(x, y)[0]
    params = m.parameters()
    params["output.bias"][4] = 5.0
    m.set_parameters(params)
    assert m.loss(x, y)[0] < before


def test_carried_state_equals_one_long_chunk() -> None:
    m = model(cell="lstm")
    ids = np.random.default_rng(0).integers(0, 13, size=(2, 21))
    whole, final = m.loss(ids[:, :-1], ids[:, 1:])
    first, state = m.loss(ids[:, :10], ids[:, 1:11])
    second, final2 = m.loss(ids[:, 10:20], ids[:, 11:21], state)
    assert (first + second) / 2 == pytest.approx(whole, rel=1e-5)
    np.testing.assert_allclose(final2[1], final[1], rtol=1e-5)


def test_dropout_only_in_training() -> None:
    m = model(num_layers=2, dropout=0.5)
    x, y = [[1, 2, 3, 4]], [[2, 3, 4, 5]]
    a, b = m.loss_and_grads(x, y, train=True)[0], m.loss_and_grads(x, y, train=True)[0]
    assert a != b  # fresh masks each call
    assert m.loss_and_grads(x, y)[0] == pytest.approx(m.loss(x, y)[0], rel=1e-6)


def test_perplexity_and_token_logprobs_agree() -> None:
    m = model(cell="gru")
    ids = np.random.default_rng(1).integers(0, 13, size=300)
    logp = m.token_logprobs(ids, bptt=64)
    assert logp.shape == (299,) and np.all(logp < 0)
    assert m.perplexity(ids, bptt=50) == pytest.approx(math.exp(-logp.mean()), rel=1e-5)
    logits, _ = m.logits(ids[None, :5])
    row = logits[0, 2].astype(np.float64)
    expected = row[ids[3]] - np.log(np.exp(row).sum())
    assert logp[2] == pytest.approx(expected, rel=1e-5)
    streams = ids[:298].reshape(2, 149)
    assert 1 < m.perplexity(streams) < 13 * 2


def test_generation_protocol_follows_logits() -> None:
    m = model(cell="lstm")
    start = m.gen_start([1, 2, 3])
    logits, state = m.logits([[1, 2, 3, 4]])
    lp = m.gen_logprobs(start)
    assert lp.shape == (13,) and lp.dtype == np.float64
    assert np.exp(lp).sum() == pytest.approx(1.0)
    nxt = m.gen_advance(start, 4)
    assert not np.array_equal(m.gen_logprobs(start), m.gen_logprobs(nxt))  # start unchanged
    row = logits[0, 3].astype(np.float64)
    np.testing.assert_allclose(m.gen_logprobs(nxt), row - np.log(np.exp(row).sum()), rtol=1e-5)
    np.testing.assert_allclose(nxt.state[0], state[0], rtol=1e-6)
    assert m.encode_prompt([1, 2]) == [1, 2]
    assert m.decode_ids([1, 2]) == "1 2"
    assert m.gen_end_ids() == frozenset()
    with pytest.raises(ValueError, match="prompt"):
        m.gen_start([])
    with pytest.raises(TypeError, match="tokenizer"):
        m.encode_prompt("hello")


def test_text_prompts_go_through_the_tokenizer() -> None:
    class Letters:
        eos_id = 12

        def encode(self, text: str) -> list[int]:
            return [ord(c) - ord("a") for c in text]

        def decode(self, ids: list[int]) -> str:
            return "".join(chr(i + ord("a")) for i in ids)

    m = model(tokenizer=Letters())
    assert m.encode_prompt("abc") == [0, 1, 2]
    assert m.decode_ids([2, 1, 0]) == "cba"
    assert m.gen_end_ids() == frozenset({12})
    with pytest.raises(ValueError, match="prompt"):
        m.encode_prompt("xyz")  # ids 23..25 are outside the vocabulary


def test_optimizer_and_rng_state_round_trip_resumes_exactly() -> None:
    stream = np.random.default_rng(2).integers(0, 13, size=(2, 60)).astype(np.uint32)

    def run(m: rnnrs.RNNLM, starts: list[int], state: object) -> tuple:
        n = len(starts)
        return m.train_steps(
            stream, np.array(starts), 8, np.full(n, 0.01), np.zeros(n, bool), state, 1.0, None
        )

    a = model(num_layers=2, dropout=0.3)
    a.configure_optimizer(rnnrs.Adam(lr=0.01).spec())
    _, _, state = run(a, [0, 8], None)
    saved = (a.parameters(), a.optimizer_state(), a.rng_state())
    losses_a, _, _ = run(a, [16, 24], state)

    b = model(num_layers=2, dropout=0.3, seed=5)
    b.configure_optimizer(rnnrs.Adam(lr=0.01).spec())
    b.set_parameters(saved[0])
    b.load_optimizer_state(saved[1])
    b.set_rng_state(saved[2])
    losses_b, _, _ = run(b, [16, 24], state)
    np.testing.assert_array_equal(losses_a, losses_b)
    for name, value in a.parameters().items():
        np.testing.assert_array_equal(value, b.parameters()[name])


def test_standalone_optimizer_state_dict_round_trip() -> None:
    rng = np.random.default_rng(0)
    grads = [{"w": rng.normal(size=3)} for _ in range(4)]
    p1, p2 = {"w": np.ones(3)}, {"w": np.ones(3)}
    o1 = rnnrs.SGD(lr=0.1, momentum=0.9)
    for g in grads[:2]:
        o1.step(p1, g)
    o2 = rnnrs.SGD(lr=0.1, momentum=0.9)
    o2.load_state_dict(o1.state_dict())
    p2["w"][:] = p1["w"]
    for g in grads[2:]:
        o1.step(p1, g)
        o2.step(p2, g)
    np.testing.assert_array_equal(p1["w"], p2["w"])
    assert int(o1.state_dict()["step"]) == 4


def test_reduce_on_plateau_follows_torch_semantics() -> None:
    s = rnnrs.ReduceOnPlateau(factor=0.5, patience=2, cooldown=1)
    lrs = []
    for loss in [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]:
        s.observe(loss)
        lrs.append(s.lr_at(0, 0.1))
    # 3 bad evaluations (> patience 2) halve the rate, then 1 cooldown evaluation
    assert lrs == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025])


def test_gradient_flow_vanishes_through_an_untrained_elman_rnn() -> None:
    x = np.random.default_rng(0).integers(0, 13, size=(4, 31))
    norms = gradient_flow(model(cell="rnn_tanh", hidden_size=32), x)
    assert norms.shape == (30,) and np.all(norms > 0)
    assert norms[0] < 1e-6 * norms[-1]
    assert np.all(np.diff(norms[-10:]) > 0)
