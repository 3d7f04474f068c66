"""The Rust ClassifierEngine against the NumPy reference (reference/classifier.py), both in
float32: logits, loss and every gradient for every cell, one and two directions, 1 and 2
layers, every pooling, on ragged batches (length-1 rows, full rows, padding holding ids the
vocabulary does not have); padding invariance; dropout; 20 optimizer steps of train_steps
against the reference optimizer loop; saliency; thread-count independence; bad input.

Tolerance: rtol 1e-4, and atol 1e-5 times the largest magnitude of the reference tensor
(at least 1): the summation orders differ (GEMM tiles, fused loops)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pytest

import rnnrs
from rnnrs.backends.selection import rust_available
from rnnrs.reference.classifier import (
    classifier_forward,
    classifier_loss_and_grads,
    classifier_saliency,
)
from rnnrs.reference.clip import clip_grad_norm
from rnnrs.reference.optim import adam_step

pytestmark = pytest.mark.skipif(not rust_available(), reason="the Rust extension is not built")

RTOL, ATOL = 1e-4, 1e-5
V, C, E, H, A = 23, 3, 5, 4, 3
LENGTHS = np.array([6, 1, 3, 6, 2], dtype=np.int64)
T = 7  # one step more than the longest row: padding everywhere
CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")
POOLINGS = ("last", "mean", "max", "attention")


def close(a: Any, b: Any, msg: str = "") -> None:
    b = np.asarray(b)
    atol = ATOL * max(1.0, float(np.abs(b).max()) if b.size else 1.0)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=atol, err_msg=msg)


def config(cell: str, pooling: str, bidirectional: bool, layers: int, dropout: float = 0.0):
    return {
        "vocab_size": V,
        "num_classes": C,
        "cell": cell,
        "embed_size": E,
        "hidden_size": H,
        "num_layers": layers,
        "bidirectional": bidirectional,
        "pooling": pooling,
        "attention_size": A,
        "dropout": dropout,
        "seed": 11,
    }


def engine(cfg: dict[str, Any], seed: int = 0) -> tuple[Any, dict[str, np.ndarray]]:
    """A Rust engine with random float32 weights, and those weights."""
    from rnnrs import _core

    eng = _core.ClassifierEngine(**cfg)
    rng = np.random.default_rng(seed)
    params = {
        k: rng.uniform(-0.6, 0.6, v.shape).astype(np.float32)
        for k, v in eng.get_parameters().items()
    }
    eng.set_parameters(params)
    return eng, params


def ref_config(cfg: dict[str, Any]) -> dict[str, Any]:
    keys = ("cell", "num_layers", "bidirectional", "pooling", "dropout")
    return {k: cfg[k] for k in keys}


def batch(
    seed: int = 0, lengths: np.ndarray = LENGTHS, t: int = T
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ids for Rust with out-of-vocabulary padding, the same ids padded with 0 for the
    reference, lengths, labels)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, size=(len(lengths), t)).astype(np.uint32)
    padded = np.arange(t)[None, :] >= lengths[:, None]
    clean = np.where(padded, 0, ids).astype(np.uint32)
    ids = np.where(padded, V + 1000, ids).astype(np.uint32)
    labels = rng.integers(0, C, size=len(lengths)).astype(np.int64)
    return ids, clean, lengths.astype(np.int64), labels


CASES = [
    (cell, pooling, bidirectional, layers)
    for cell in CELLS
    for pooling in POOLINGS
    for bidirectional in (False, True)
    for layers in (1, 2)
]


@pytest.mark.parametrize("cell,pooling,bidirectional,layers", CASES)
def test_logits_loss_and_every_gradient_match_the_reference(
    cell: str, pooling: str, bidirectional: bool, layers: int
) -> None:
    cfg = config(cell, pooling, bidirectional, layers)
    eng, params = engine(cfg)
    ids, clean, lengths, labels = batch()
    ref_logits, _ = classifier_forward(params, ref_config(cfg), clean, lengths)
    close(eng.logits(ids, lengths), ref_logits, "logits")
    loss, grads = eng.loss_and_grads(ids, lengths, labels, False)
    ref_loss, ref_grads, _ = classifier_loss_and_grads(
        params, ref_config(cfg), clean, lengths, labels
    )
    close(loss, ref_loss, "loss")
    assert sorted(grads) == sorted(ref_grads) == sorted(params)
    for name, g in grads.items():
        assert g.dtype == np.float32 and g.shape == params[name].shape
        close(g, ref_grads[name], name)
    assert np.abs(grads["embedding.weight"]).max() > 0


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("cell", ("lstm", "gru"))
def test_saliency_matches_the_reference(cell: str, pooling: str) -> None:
    cfg = config(cell, pooling, True, 2)
    eng, params = engine(cfg, seed=3)
    ids, clean, lengths, _ = batch(seed=4)
    for target in (None, np.array([2, 0, 1, 1, 0], dtype=np.int64)):
        got = eng.saliency(ids, lengths, target)
        want = classifier_saliency(params, ref_config(cfg), clean, lengths, target)
        np.testing.assert_array_equal(got["target"], want.target)
        for name in ("logits", "grad", "saliency", "grad_x_input", "activations"):
            assert got[name].shape == getattr(want, name).shape, name
            close(got[name], getattr(want, name), name)
        padded = np.arange(T)[:, None] >= lengths[None, :]
        assert np.all(got["grad"][padded] == 0) and np.all(got["activations"][padded] == 0)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_a_row_scores_the_same_alone_and_in_any_batch(pooling: str) -> None:
    """Padding invariance, to fp32 rounding: the hoisted GEMMs tile their rows by batch
    size, so a row's sums may round differently (measured: a few ulp)."""
    cfg = config("lstm", pooling, True, 2)
    eng, _ = engine(cfg, seed=5)
    ids, _, lengths, _ = batch(seed=6)
    together = eng.logits(ids, lengths)
    sal = eng.saliency(ids, lengths)
    for b, n in enumerate(lengths):
        alone = eng.logits(ids[b : b + 1, :n].copy(), lengths[b : b + 1])
        np.testing.assert_allclose(alone[0], together[b], rtol=1e-5, atol=1e-6)
        one = eng.saliency(ids[b : b + 1, :n].copy(), lengths[b : b + 1])
        np.testing.assert_allclose(one["grad"][:, 0], sal["grad"][:n, b], rtol=1e-4, atol=1e-6)
        # A longer padding changes nothing either.
        wide = np.zeros((1, n + 3), dtype=np.uint32)
        wide[0, :n] = ids[b, :n]
        np.testing.assert_allclose(
            eng.logits(wide, lengths[b : b + 1])[0], together[b], rtol=1e-5, atol=1e-6
        )


def test_training_mode_without_dropout_matches_the_reference() -> None:
    cfg = config("gru", "attention", True, 2, dropout=0.0)
    eng, params = engine(cfg, seed=7)
    ids, clean, lengths, labels = batch(seed=8)
    loss, grads = eng.loss_and_grads(ids, lengths, labels, True)
    ref_loss, ref_grads, _ = classifier_loss_and_grads(
        params, ref_config(cfg), clean, lengths, labels, rng=np.random.default_rng(0)
    )
    close(loss, ref_loss)
    for name, g in grads.items():
        close(g, ref_grads[name], name)


def test_dropout_on_the_pooled_vector_is_inverted_dropout() -> None:
    """One layer (so only the pooled vector is dropped), mean pooling, one row: the
    classifier weight's gradient column j is d_logits * pooled[j] * mask[j], with d_logits
    the bias gradient and pooled from the activations, so each mask value can be read
    back: every one is 0 or 1/(1-p), about p of them are 0, and they change between calls."""
    p = 0.3
    cfg = config("lstm", "mean", True, 1, dropout=p)
    eng, _ = engine(cfg, seed=9)
    ids, _, lengths, labels = batch(seed=10, lengths=np.array([5]), t=5)
    pooled = eng.saliency(ids, lengths)["activations"][:, 0].mean(axis=0)
    masks = []
    for _ in range(200):
        _, g = eng.loss_and_grads(ids, lengths, labels, True)
        c = int(np.argmax(np.abs(g["classifier.bias"])))
        masks.append(g["classifier.weight"][c] / (g["classifier.bias"][c] * pooled))
    m = np.array(masks)
    kept = np.isclose(m, 1.0 / (1.0 - p), rtol=1e-3)
    assert np.all(kept | (m == 0.0))
    assert abs((m == 0.0).mean() - p) < 0.04  # 1600 draws: 3.5 sigma
    assert len({tuple(row) for row in (m == 0.0)}) > 50  # of 2^8 patterns
    # The same seed draws the same masks.
    again, _ = engine(cfg, seed=9)
    first, _ = engine(cfg, seed=9)
    np.testing.assert_array_equal(
        again.loss_and_grads(ids, lengths, labels, True)[1]["classifier.weight"],
        first.loss_and_grads(ids, lengths, labels, True)[1]["classifier.weight"],
    )


class GivenDraws:
    """Stands in for the reference's generator: ``random`` returns the given arrays in
    turn (so the reference drops what the Rust engine dropped)."""

    def __init__(self, *draws: np.ndarray) -> None:
        self.draws = list(draws)

    def random(self, shape: tuple[int, ...]) -> np.ndarray:
        draw = self.draws.pop(0)
        assert draw.shape == shape
        return draw


@pytest.mark.parametrize("cell", ("lstm", "gru"))
def test_embedding_dropout_matches_the_reference_with_the_engines_mask(cell: str) -> None:
    """Every real token has its own id, so the embedding gradient's row of a token is the
    gradient reaching its embedded vector times the dropout mask: zero exactly where the
    engine dropped a feature. The reference, given that mask, must agree on the loss and
    every gradient."""
    p = 0.4
    cfg = {**config(cell, "mean", True, 1), "embedding_dropout": p}
    eng, params = engine(cfg, seed=11)
    lengths = np.array([4, 2, 3], dtype=np.int64)
    t = 4
    padded = np.arange(t)[None, :] >= lengths[:, None]
    ids = np.zeros((3, t), dtype=np.uint32)
    ids[~padded] = np.random.default_rng(12).permutation(V)[: int(lengths.sum())]
    labels = np.array([0, 2, 1], dtype=np.int64)
    loss, grads = eng.loss_and_grads(ids, lengths, labels, True)
    rows = grads["embedding.weight"][ids.T]  # (T, B, E): each token's row
    kept = rows != 0  # a dropped feature gets no gradient; padding gets none either
    real = ~padded.T
    dropped_share = 1.0 - kept[real].mean()
    assert 0.0 < dropped_share < 1.0
    draws = np.where(kept, 1.0, 0.0)  # >= p: kept; < p: dropped
    ref_cfg = {**ref_config(cfg), "embedding_dropout": p}
    ref_loss, ref_grads, _ = classifier_loss_and_grads(
        params, ref_cfg, ids, lengths, labels, rng=GivenDraws(draws)
    )
    close(loss, ref_loss, "loss")
    for name, g in grads.items():
        close(g, ref_grads[name], name)
    # Evaluation never drops; the same seed draws the same masks.
    close(eng.logits(ids, lengths), classifier_forward(params, ref_config(cfg), ids, lengths)[0])
    again, _ = engine(cfg, seed=11)
    np.testing.assert_array_equal(
        again.loss_and_grads(ids, lengths, labels, True)[1]["embedding.weight"],
        grads["embedding.weight"],
    )


def test_embedding_dropout_drops_about_p_of_the_features() -> None:
    p = 0.3
    cfg = {**config("lstm", "mean", False, 1), "embedding_dropout": p}
    eng, _ = engine(cfg, seed=13)
    lengths = np.array([V], dtype=np.int64)
    ids = np.arange(V, dtype=np.uint32)[None, :]  # every id once
    labels = np.array([1], dtype=np.int64)
    zeros = [
        (eng.loss_and_grads(ids, lengths, labels, True)[1]["embedding.weight"] == 0).mean()
        for _ in range(40)
    ]
    assert abs(float(np.mean(zeros)) - p) < 0.04  # 40 x 23 x 5 draws
    _, no_drop = eng.loss_and_grads(ids, lengths, labels, False)
    assert (no_drop["embedding.weight"] != 0).all()
    with pytest.raises(ValueError, match="embedding_dropout"):
        engine({**cfg, "embedding_dropout": 1.0})


def ragged_batches(n: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        b = int(rng.integers(1, 6))
        lengths = rng.integers(1, 8, size=b).astype(np.int64)
        ids, _, lengths, labels = batch(int(rng.integers(0, 1 << 30)), lengths, int(lengths.max()))
        out.append((ids, lengths, labels))
    return out


def reference_training(
    params: dict[str, np.ndarray],
    cfg: dict[str, Any],
    batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    lrs: np.ndarray,
    clip: Optional[float],
) -> tuple[list[float], list[float], dict[str, np.ndarray]]:
    p = {k: v.copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    losses, norms = [], []
    for step, (ids, lengths, labels) in enumerate(batches, start=1):
        clean = np.where(np.arange(ids.shape[1])[None, :] >= lengths[:, None], 0, ids)
        loss, grads, _ = classifier_loss_and_grads(p, ref_config(cfg), clean, lengths, labels)
        names = list(p)
        gl = [grads[k] for k in names]
        norms.append(clip_grad_norm(gl, clip) if clip else float("nan"))
        losses.append(loss)
        for k, g in zip(names, gl):
            adam_step(
                p[k],
                g,
                m[k],
                v2[k],
                step=step,
                lr=float(lrs[step - 1]),
                betas=(0.9, 0.999),
                eps=1e-8,
                weight_decay=0.0,
                decoupled=False,
            )
    return losses, norms, p


@pytest.mark.parametrize(
    "cell,pooling", [("lstm", "mean"), ("gru", "attention"), ("rnn_tanh", "max"), ("lstm", "last")]
)
def test_twenty_train_steps_match_the_reference_optimizer_loop(cell: str, pooling: str) -> None:
    cfg = config(cell, pooling, True, 2)
    eng, params = engine(cfg, seed=12)
    eng.configure_optimizer(name="adam")
    batches = ragged_batches(20, seed=13)
    lrs = np.full(20, 1e-2)
    losses, norms = eng.train_steps(batches, lrs, 1.0, None)
    ref_losses, ref_norms, ref_params = reference_training(params, cfg, batches, lrs, 1.0)
    close(losses, ref_losses, "losses")
    close(norms, ref_norms, "grad norms")
    assert losses[-1] < losses[0] or not np.allclose(losses, losses[0])
    got = eng.get_parameters()
    for name, v in ref_params.items():
        np.testing.assert_allclose(got[name], v, rtol=1e-3, atol=1e-4, err_msg=name)
    state = eng.optimizer_state()
    assert int(state["step"]) == 20


def test_training_is_independent_of_the_thread_count() -> None:
    cfg = config("lstm", "mean", True, 2, dropout=0.2)
    # A batch of 40 rows, so that two threads split the batch into shards.
    big_lengths = (np.arange(40) % 7 + 1).astype(np.int64)
    big_ids, _, _, big_labels = batch(15, big_lengths, 7)
    batches = [*ragged_batches(4, seed=14), (big_ids, big_lengths, big_labels)]
    before = rnnrs.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            rnnrs.set_num_threads(threads)
            eng, _ = engine(cfg, seed=16)
            eng.configure_optimizer(name="adam")
            losses, _ = eng.train_steps(batches, np.full(len(batches), 1e-2), 5.0, None)
            results.append((losses, eng.get_parameters()))
    finally:
        rnnrs.set_num_threads(before)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for name in results[0][1]:
        np.testing.assert_array_equal(results[0][1][name], results[1][1][name], err_msg=name)


def test_non_finite_loss_stops_before_the_step() -> None:
    cfg = config("gru", "mean", False, 1)
    eng, params = engine(cfg)
    eng.set_parameters({**params, "classifier.bias": np.array([np.inf, 0, 0], np.float32)})
    eng.configure_optimizer(name="sgd")
    with pytest.raises(rnnrs.TrainingDivergedError) as info:
        eng.train_steps(ragged_batches(2), np.full(2, 0.1), None, None)
    assert info.value.step == 0
    np.testing.assert_array_equal(
        eng.get_parameters()["rnn.weight_hh_l0"], params["rnn.weight_hh_l0"]
    )


def test_bad_input_is_a_value_error_naming_the_argument() -> None:
    eng, _ = engine(config("lstm", "last", True, 1))
    ids, _, lengths, labels = batch()
    bad_ids = ids.copy()
    bad_ids[0, 0] = V
    with pytest.raises(ValueError, match="ids"):
        eng.logits(bad_ids, lengths)
    for bad in (np.array([0, 1, 1, 1, 1]), np.array([T + 1, 1, 1, 1, 1])):
        with pytest.raises(ValueError, match="lengths"):
            eng.logits(ids, bad.astype(np.int64))
    with pytest.raises(ValueError, match="lengths"):
        eng.logits(ids, lengths[:3])
    with pytest.raises(ValueError, match="labels"):
        eng.loss_and_grads(ids, lengths, np.array([0, 1, 2, 3, 0]), False)
    with pytest.raises(ValueError, match="target"):
        eng.saliency(ids, lengths, np.array([0, 1, 2, 3, 0]))
    with pytest.raises(ValueError, match="optimizer"):
        eng.train_steps([(ids, lengths, labels)], np.array([0.1]), None, None)
    with pytest.raises(ValueError, match="pooling"):
        from rnnrs import _core

        _core.ClassifierEngine(**{**config("lstm", "last", True, 1), "pooling": "sum"})
    with pytest.raises(TypeError, match="ids"):
        eng.logits(ids.astype(np.int64), lengths)
