"""Gradient clipping by global norm and by value, in the kernels and in train_steps."""

from __future__ import annotations

import numpy as np

import rnnrs
from rnnrs.reference.clip import clip_grad_norm, clip_grad_value, global_norm


def test_norm_10_clipped_at_5_has_norm_5_and_the_same_direction() -> None:
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=7)]
    scale = 10.0 / global_norm(grads)
    grads = [g * scale for g in grads]
    before = [g.copy() for g in grads]
    norm = clip_grad_norm(grads, 5.0)
    assert abs(norm - 10.0) < 1e-12
    assert abs(global_norm(grads) - 5.0) < 1e-6
    for g, b in zip(grads, before):
        np.testing.assert_allclose(g, b * 0.5, rtol=1e-6)


def test_below_the_threshold_nothing_changes() -> None:
    grads = [np.array([0.3, -0.4]), np.array([[1.2]])]
    before = [g.copy() for g in grads]
    norm = clip_grad_norm(grads, 5.0)
    assert abs(norm - 1.3) < 1e-12
    for g, b in zip(grads, before):
        np.testing.assert_array_equal(g, b)


def test_clip_by_value_clamps_each_element() -> None:
    grads = [np.array([-3.0, 0.2, 7.0])]
    clip_grad_value(grads, 0.5)
    np.testing.assert_array_equal(grads[0], [-0.5, 0.2, 0.5])


def test_train_steps_reports_the_norm_before_clipping_and_clips_the_update() -> None:
    """With SGD lr=1 the update equals the clipped gradient: its norm is clip_norm."""
    model = rnnrs.RNNLM(6, cell="gru", hidden_size=5, backend="numpy")
    x = np.array([[1, 2, 3, 4, 5, 0, 1, 2]], dtype=np.uint32)
    _, grads, _ = model.loss_and_grads(x[:, :-1], x[:, 1:])
    full = global_norm(grads.values())
    model.configure_optimizer(rnnrs.SGD(lr=1.0).spec())
    before = model.parameters()
    clip = full / 4
    _, norms, _ = model.train_steps(
        x, np.array([0]), 7, np.array([1.0]), np.array([True]), None, clip, None
    )
    after = model.parameters()
    step = global_norm(before[n] - after[n] for n in before)
    assert abs(norms[0] - full) < 1e-4 * full
    assert abs(step - clip) < 1e-4 * clip
