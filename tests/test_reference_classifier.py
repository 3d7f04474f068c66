"""The reference sequence classifier (embedding -> masked stack -> pooling -> dropout ->
linear -> cross-entropy) and its saliency: finite-difference gradient checks in float64,
padding invariance, and an equivalent PyTorch module (skipped without torch)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from finite_differences import numeric_grad, rel_error
from rnnrs.reference.cells import GATES
from rnnrs.reference.classifier import (
    classifier_forward,
    classifier_loss_and_grads,
    classifier_saliency,
)
from rnnrs.reference.loss import cross_entropy
from rnnrs.reference.pooling import POOLINGS
from rnnrs.reference.stack import layer_names

TOL = 1e-6
VOCAB, EMBED, CLASSES, ATTENTION = 7, 3, 3, 3


def make_classifier(
    cell: str,
    pooling: str,
    bidirectional: bool = True,
    num_layers: int = 2,
    hidden: int = 2,
    dropout: float = 0.0,
    vocab: int = VOCAB,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Random float64 parameters by PyTorch name, and the config."""
    dirs = 2 if bidirectional else 1
    g = GATES[cell] * hidden
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (vocab, EMBED)}
    for k in range(num_layers):
        fan_in = EMBED if k == 0 else dirs * hidden
        for d in range(dirs):
            w_ih, w_hh, b_ih, b_hh = layer_names(k, d == 1)
            shapes[f"rnn.{w_ih}"], shapes[f"rnn.{w_hh}"] = (g, fan_in), (g, hidden)
            shapes[f"rnn.{b_ih}"], shapes[f"rnn.{b_hh}"] = (g,), (g,)
    if pooling == "attention":
        shapes.update({"pool.weight": (ATTENTION, dirs * hidden), "pool.bias": (ATTENTION,)})
        shapes["pool.v"] = (ATTENTION,)
    shapes.update({"classifier.weight": (CLASSES, dirs * hidden), "classifier.bias": (CLASSES,)})
    rng = np.random.default_rng(seed)
    params = {name: rng.normal(scale=0.6, size=shape) for name, shape in shapes.items()}
    for name in ("pool.weight", "pool.v"):  # sharper attention: gradients that show
        if name in params:
            params[name] *= 4.0
    config = {
        "cell": cell,
        "num_layers": num_layers,
        "bidirectional": bidirectional,
        "pooling": pooling,
        "dropout": dropout,
    }
    return params, config


def batch(lengths: list[int], t_len: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ids (B, T) with random ids in the padding too, lengths (B,), labels (B,)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, VOCAB, size=(len(lengths), t_len))
    return ids, np.array(lengths), rng.integers(0, CLASSES, size=len(lengths))


def check_gradients(params: dict[str, np.ndarray], config: dict[str, Any], seed: int) -> None:
    ids, lengths, labels = batch([4, 1, 3], 4, seed)
    drops = config["dropout"] or config.get("embedding_dropout")
    fresh_rng = (lambda: np.random.default_rng(5)) if drops else (lambda: None)

    def loss() -> float:  # the same dropout masks at every call
        logits, _ = classifier_forward(params, config, ids, lengths, fresh_rng())
        return cross_entropy(logits, labels)[0]

    _, grads, _ = classifier_loss_and_grads(params, config, ids, lengths, labels, fresh_rng())
    # eps 1e-5: this loss's gradients are small (1e-3 .. 1e-4), and at 1e-6 the rounding of
    # the loss would weigh on the difference quotient.
    errors = {n: rel_error(grads[n], numeric_grad(loss, v, eps=1e-5)) for n, v in params.items()}
    print(config, "max relative error", max(errors.values()))
    assert set(grads) == set(params)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("pooling", POOLINGS)
def test_classifier_gradients_match_finite_differences(pooling: str) -> None:
    check_gradients(*make_classifier("lstm", pooling), seed=1)


@pytest.mark.parametrize(
    ("cell", "pooling", "bidirectional", "num_layers", "dropout"),
    [("gru", "last", False, 1, 0.0), ("rnn_tanh", "attention", True, 2, 0.3)],
)
def test_other_classifiers_gradients_match_finite_differences(
    cell: str, pooling: str, bidirectional: bool, num_layers: int, dropout: float
) -> None:
    params, config = make_classifier(
        cell, pooling, bidirectional, num_layers, dropout=dropout, seed=2
    )
    check_gradients(params, config, seed=3)


def test_embedding_dropout_gradients_match_finite_differences() -> None:
    params, config = make_classifier("lstm", "max", dropout=0.2, seed=15)
    check_gradients(params, {**config, "embedding_dropout": 0.4}, seed=16)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_classifier_padding_never_changes_a_result(pooling: str) -> None:
    params, config = make_classifier("lstm", pooling, hidden=4, seed=4)
    ids, lengths, labels = batch([5, 1, 3, 7, 2], 8, seed=5)
    loss, grads, logits = classifier_loss_and_grads(params, config, ids, lengths, labels)
    mean = {name: np.zeros_like(g) for name, g in grads.items()}
    losses = []
    for b, n in enumerate(lengths):
        a_loss, a_grads, a_logits = classifier_loss_and_grads(
            params, config, ids[b : b + 1, :n], lengths[b : b + 1], labels[b : b + 1]
        )
        np.testing.assert_allclose(logits[b], a_logits[0], rtol=1e-12, atol=1e-13)
        losses.append(a_loss)
        for name, g in a_grads.items():
            mean[name] += g / len(lengths)
    assert loss == pytest.approx(np.mean(losses), rel=1e-12)
    for name, g in grads.items():
        np.testing.assert_allclose(g, mean[name], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_float32_runs_in_float32_and_follows_float64(pooling: str) -> None:
    params, config = make_classifier("lstm", pooling, hidden=4, dropout=0.2, seed=14)
    ids, lengths, labels = batch([5, 1, 3, 7], 7, seed=15)
    results = []
    for dtype in (np.float64, np.float32):
        typed = {name: v.astype(dtype) for name, v in params.items()}
        rng = np.random.default_rng(16)
        results.append(classifier_loss_and_grads(typed, config, ids, lengths, labels, rng))
    (loss64, grads64, logits64), (loss32, grads32, logits32) = results
    assert logits32.dtype == np.float32 and all(g.dtype == np.float32 for g in grads32.values())
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    np.testing.assert_allclose(logits32, logits64, rtol=1e-4, atol=1e-5)
    for name, g in grads64.items():
        np.testing.assert_allclose(grads32[name], g, rtol=1e-3, atol=1e-5, err_msg=name)


def test_training_dropout_draws_the_stacks_masks_then_the_pooled_vectors() -> None:
    params, config = make_classifier("gru", "mean", dropout=0.5, seed=6)
    ids, lengths, _ = batch([3, 2], 3, seed=7)
    _, cache = classifier_forward(params, config, ids, lengths, np.random.default_rng(8))
    rng = np.random.default_rng(8)
    stack_mask = (rng.random((3, 2, 4)) >= 0.5) * 2.0
    head_mask = (rng.random((2, 4)) >= 0.5) * 2.0
    assert np.array_equal(cache["stack"]["masks"][1], stack_mask)
    assert np.array_equal(cache["mask"], head_mask)
    _, eval_cache = classifier_forward(params, config, ids, lengths)
    assert eval_cache["mask"] is None and eval_cache["stack"]["masks"] == [None, None]
    # With embedding dropout, the embedded tokens' mask is drawn first.
    config["embedding_dropout"] = 0.25
    _, cache = classifier_forward(params, config, ids, lengths, np.random.default_rng(8))
    rng = np.random.default_rng(8)
    emb_mask = (rng.random((3, 2, EMBED)) >= 0.25) * (1.0 / 0.75)
    stack_mask = (rng.random((3, 2, 4)) >= 0.5) * 2.0
    assert np.array_equal(cache["emb_mask"], emb_mask)
    assert np.array_equal(cache["stack"]["masks"][1], stack_mask)


def test_saliency_is_the_gradient_of_the_target_logit() -> None:
    params, config = make_classifier("lstm", "attention", vocab=12, seed=9)
    ids = np.arange(12).reshape(3, 4)  # every token its own row of the table
    lengths = np.array([4, 2, 3])
    sal = classifier_saliency(params, config, ids, lengths)
    assert np.array_equal(sal.target, np.argmax(sal.logits, axis=1))

    def score() -> float:
        logits, _ = classifier_forward(params, config, ids, lengths)
        return float(logits[np.arange(3), sal.target].sum())

    table = params["embedding.weight"]
    d_table = numeric_grad(score, table)  # row ids[b, t] = the gradient at token t of row b
    assert rel_error(sal.grad.transpose(1, 0, 2), d_table[ids]) < TOL
    emb = table[ids].transpose(1, 0, 2)
    assert np.allclose(sal.saliency, np.linalg.norm(sal.grad, axis=-1))
    assert np.allclose(sal.grad_x_input, (sal.grad * emb).sum(axis=-1))
    pad = np.arange(4)[:, None] >= lengths[None, :]
    assert not sal.saliency[pad].any() and not sal.grad_x_input[pad].any()
    assert not sal.activations[pad].any() and sal.activations[~pad].all()

    other = (sal.target + 1) % CLASSES
    given = classifier_saliency(params, config, ids, lengths, other)
    assert np.array_equal(given.target, other) and not np.allclose(given.grad, sal.grad)
    with pytest.raises(ValueError, match=r"target must lie in 0\.\.2"):
        classifier_saliency(params, config, ids, lengths, np.array([0, 3, 1]))


# ----------------------------------------------------------------------------- PyTorch


def torch_classifier(params: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
    """embedding -> packed nn.LSTM/GRU/RNN -> pooling -> nn.Linear, with our weights."""
    torch = pytest.importorskip("torch")
    nn, pack = torch.nn, torch.nn.utils.rnn
    cell, pooling, bidirectional = config["cell"], config["pooling"], config["bidirectional"]
    hidden = params["rnn.weight_hh_l0"].shape[1]
    dirs = 2 if bidirectional else 1

    class Classifier(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, EMBED)
            kind = {"lstm": nn.LSTM, "gru": nn.GRU}.get(cell, nn.RNN)
            self.rnn = kind(EMBED, hidden, config["num_layers"], bidirectional=bidirectional)
            if pooling == "attention":
                self.pool = nn.Module()
                self.pool.weight = nn.Parameter(torch.empty(ATTENTION, dirs * hidden))
                self.pool.bias = nn.Parameter(torch.empty(ATTENTION))
                self.pool.v = nn.Parameter(torch.empty(ATTENTION))
            self.classifier = nn.Linear(dirs * hidden, CLASSES)

        def forward(self, ids: Any, lengths: Any) -> tuple[Any, Any, Any]:
            emb = self.embedding(ids.T)  # (T, B, E)
            emb.retain_grad()
            packed = pack.pack_padded_sequence(emb, lengths, enforce_sorted=False)
            out_packed, final = self.rnn(packed)
            out, _ = pack.pad_packed_sequence(out_packed, total_length=ids.shape[1])
            h_n = final[0] if cell == "lstm" else final
            valid = torch.arange(ids.shape[1])[:, None] < lengths[None, :]
            if pooling == "last":
                pooled = torch.cat([h_n[-2], h_n[-1]], dim=1) if dirs == 2 else h_n[-1]
            elif pooling == "mean":
                pooled = out.sum(dim=0) / lengths[:, None].to(out.dtype)
            elif pooling == "max":
                pooled = out.masked_fill(~valid[:, :, None], float("-inf")).max(dim=0).values
            else:
                u = torch.tanh(out @ self.pool.weight.T + self.pool.bias)
                scores = (u @ self.pool.v).masked_fill(~valid, float("-inf"))
                pooled = (torch.softmax(scores, dim=0)[:, :, None] * out).sum(dim=0)
            return self.classifier(pooled), emb, out

    model = Classifier().double()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
    return model


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize(("cell", "bidirectional"), [("lstm", True), ("gru", False)])
def test_classifier_matches_torch(cell: str, bidirectional: bool, pooling: str) -> None:
    torch = pytest.importorskip("torch")
    params, config = make_classifier(cell, pooling, bidirectional, hidden=4, seed=10)
    model = torch_classifier(params, config)
    ids, lengths, labels = batch([5, 1, 3, 6, 2, 6], 6, seed=11)
    loss, grads, logits = classifier_loss_and_grads(params, config, ids, lengths, labels)

    t_logits, _, _ = model(torch.from_numpy(ids), torch.from_numpy(lengths))
    t_loss = torch.nn.functional.cross_entropy(t_logits, torch.from_numpy(labels))
    t_loss.backward()

    diffs = {"loss": abs(loss - t_loss.item())}
    diffs["logits"] = np.abs(logits - t_logits.detach().numpy()).max()
    t_params = dict(model.named_parameters())
    assert set(grads) == set(t_params)
    for name, p in t_params.items():
        diffs[name] = np.abs(grads[name] - p.grad.numpy()).max()
    print(cell, pooling, "max abs difference to torch", max(diffs.values()))
    assert max(diffs.values()) < 1e-10, diffs


@pytest.mark.parametrize("pooling", ["last", "attention"])
def test_saliency_matches_torch(pooling: str) -> None:
    torch = pytest.importorskip("torch")
    params, config = make_classifier("lstm", pooling, hidden=4, seed=12)
    model = torch_classifier(params, config)
    ids, lengths, _ = batch([4, 6, 1, 3], 6, seed=13)
    sal = classifier_saliency(params, config, ids, lengths)

    t_logits, emb, out = model(torch.from_numpy(ids), torch.from_numpy(lengths))
    target = t_logits.argmax(dim=1)
    t_logits[torch.arange(4), target].sum().backward()
    grad = emb.grad.numpy()

    assert np.array_equal(sal.target, target.numpy())
    diffs = {
        "grad": np.abs(sal.grad - grad).max(),
        "saliency": np.abs(sal.saliency - np.linalg.norm(grad, axis=-1)).max(),
        "grad_x_input": np.abs(sal.grad_x_input - (grad * emb.detach().numpy()).sum(-1)).max(),
        "activations": np.abs(sal.activations - out.detach().numpy()).max(),
    }
    print(pooling, "saliency max abs difference to torch", max(diffs.values()))
    assert max(diffs.values()) < 1e-10, diffs
