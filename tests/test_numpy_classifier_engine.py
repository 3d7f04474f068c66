"""NumpyClassifierEngine against the reference classifier it runs on: logits, gradients,
saliency, a training step by hand (clip + Adam), dropout masks drawn from the engine's seeded
generator in the reference's order, and its argument errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rnnrs.backends.numpy_classifier import NumpyClassifierEngine
from rnnrs.errors import TrainingDivergedError
from rnnrs.reference.classifier import (
    classifier_forward,
    classifier_loss_and_grads,
    classifier_saliency,
    classifier_shapes,
)
from rnnrs.reference.clip import clip_grad_norm
from rnnrs.reference.optim import adam_step
from rnnrs.reference.pooling import POOLINGS

VOCAB, CLASSES = 9, 3


def config(pooling: str = "attention", cell: str = "lstm", dropout: float = 0.0) -> dict[str, Any]:
    return {
        "vocab_size": VOCAB,
        "num_classes": CLASSES,
        "cell": cell,
        "embed_size": 4,
        "hidden_size": 5,
        "num_layers": 2,
        "bidirectional": True,
        "pooling": pooling,
        "attention_size": 3,
        "dropout": dropout,
        "seed": 11,
    }


def engine_and_params(cfg: dict[str, Any]) -> tuple[NumpyClassifierEngine, dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    params = {
        n: rng.normal(scale=0.5, size=s).astype(np.float32)
        for n, s in classifier_shapes(cfg).items()
    }
    eng = NumpyClassifierEngine(**cfg)
    eng.set_parameters(params)
    return eng, params


def ragged_batch() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    ids = rng.integers(0, VOCAB, size=(4, 6)).astype(np.uint32)
    return ids, np.array([6, 1, 3, 5]), np.array([0, 2, 1, 2])


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_engine_is_the_reference_exactly(pooling: str, cell: str) -> None:
    cfg = config(pooling, cell)
    eng, params = engine_and_params(cfg)
    ids, lengths, labels = ragged_batch()
    ref_logits, _ = classifier_forward(params, cfg, ids, lengths)
    np.testing.assert_array_equal(eng.logits(ids, lengths), ref_logits)
    loss, grads = eng.loss_and_grads(ids, lengths, labels, False)
    ref_loss, ref_grads, _ = classifier_loss_and_grads(params, cfg, ids, lengths, labels)
    assert loss == ref_loss
    assert list(grads) == eng.param_names() == list(classifier_shapes(cfg))
    for name in grads:
        np.testing.assert_array_equal(grads[name], ref_grads[name], err_msg=name)
    sal = eng.saliency(ids, lengths)
    ref = classifier_saliency(params, cfg, ids, lengths)
    for key in ("logits", "grad", "saliency", "grad_x_input", "activations"):
        np.testing.assert_array_equal(sal[key], getattr(ref, key), err_msg=key)
    np.testing.assert_array_equal(sal["target"], ref.target)
    total, n, logits = eng.evaluate(
        [(ids[:2], lengths[:2], labels[:2]), (ids[2:], lengths[2:], labels[2:])]
    )
    assert n == 4 and logits.shape == (4, CLASSES)
    np.testing.assert_allclose(total / n, ref_loss, rtol=1e-6)


def test_train_steps_is_dropout_forward_backward_clip_and_adam() -> None:
    cfg = config("max", "gru", dropout=0.3)
    eng, params = engine_and_params(cfg)
    eng.configure_optimizer(name="adam", betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    ids, lengths, labels = ragged_batch()
    losses, norms = eng.train_steps([(ids, lengths, labels)] * 2, np.array([0.01, 0.02]), 0.5, None)

    rng = np.random.Generator(np.random.PCG64(cfg["seed"]))
    p = {n: v.copy() for n, v in params.items()}
    m = {n: np.zeros_like(v) for n, v in p.items()}
    v2 = {n: np.zeros_like(v) for n, v in p.items()}
    for step, lr in enumerate([0.01, 0.02], start=1):
        loss, grads, _ = classifier_loss_and_grads(p, cfg, ids, lengths, labels, rng)
        assert losses[step - 1] == pytest.approx(loss, rel=1e-6)
        g = [grads[n] for n in p]
        norm = clip_grad_norm(g, 0.5)
        assert norms[step - 1] == pytest.approx(norm, rel=1e-5)
        for n, gn in zip(p, g):
            adam_step(
                p[n],
                gn,
                m[n],
                v2[n],
                step=step,
                lr=lr,
                betas=(0.9, 0.999),
                eps=1e-8,
                weight_decay=0.0,
                decoupled=False,
            )
    for n, value in eng.get_parameters().items():
        np.testing.assert_allclose(value, p[n], rtol=1e-4, atol=1e-6, err_msg=n)


def test_same_seed_same_training_and_rng_state_round_trip() -> None:
    cfg = config("mean", dropout=0.5)
    ids, lengths, labels = ragged_batch()
    runs = []
    for _ in range(2):
        eng, _ = engine_and_params(cfg)
        eng.configure_optimizer(name="sgd", momentum=0.9)
        runs.append(eng.train_steps([(ids, lengths, labels)] * 3, np.full(3, 0.1), None, None)[0])
    np.testing.assert_array_equal(runs[0], runs[1])
    eng, _ = engine_and_params(cfg)
    state = eng.rng_state()
    first = eng.loss_and_grads(ids, lengths, labels, True)[0]
    eng.set_rng_state(state)
    assert eng.loss_and_grads(ids, lengths, labels, True)[0] == first


def test_errors_name_the_argument() -> None:
    eng, _ = engine_and_params(config("last"))
    ids, lengths, labels = ragged_batch()
    with pytest.raises(ValueError, match="ids"):
        eng.logits(np.full((1, 2), VOCAB, np.uint32), np.array([2]))
    with pytest.raises(ValueError, match="lengths"):
        eng.logits(ids, np.array([7, 1, 1, 1]))
    with pytest.raises(ValueError, match="lengths"):
        eng.logits(ids, np.array([0, 1, 1, 1]))
    with pytest.raises(ValueError, match="labels"):
        eng.loss_and_grads(ids, lengths, np.array([0, 1, 2, CLASSES]), False)
    with pytest.raises(ValueError, match="optimizer"):
        eng.train_steps([(ids, lengths, labels)], np.array([0.1]), None, None)
    eng.configure_optimizer(name="sgd")
    broken = eng.get_parameters()
    broken["classifier.bias"][0] = np.inf
    eng.set_parameters(broken)
    with pytest.raises(TrainingDivergedError) as info:
        eng.train_steps([(ids, lengths, labels)], np.array([0.1]), None, None)
    assert info.value.step == 0
    for name, value in eng.get_parameters().items():  # nothing was touched
        np.testing.assert_array_equal(value, broken[name], err_msg=name)
