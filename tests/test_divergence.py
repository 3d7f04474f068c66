"""After TrainingDivergedError the model is exactly as after the last good step (so what is
saved then is that step's model), and the error counts steps one way (the global step)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rnnrs
from rnnrs.training.trainer import DIVERGED_LOSS


def ids() -> np.ndarray:
    return np.tile(np.arange(7), 60)


def model_and_trainer(lr: float, clip: float, eval_every: int = 3) -> tuple[Any, Any]:
    model = rnnrs.RNNLM(7, hidden_size=8, seed=2, dropout=0.1)
    trainer = rnnrs.Trainer(
        model,
        rnnrs.SGD(lr),
        clip_norm=clip,
        bptt=5,
        batch_size=2,
        eval_every=eval_every,
        progress=False,
    )
    return model, trainer


def run_until_divergence(lr: float, clip: float) -> tuple[Any, Any, rnnrs.TrainingDivergedError]:
    model, trainer = model_and_trainer(lr, clip)
    with pytest.raises(rnnrs.TrainingDivergedError) as info:
        trainer.fit(ids(), max_steps=200)
    return model, trainer, info.value


# Runaway learning rates: weights grow huge (the loss passes the bound) or overflow (the
# engine refuses a non-finite loss); which comes first differs between the backends.
@pytest.mark.parametrize(("lr", "clip"), [(1e30, 1e30), (1e36, 1e36), (3e38, 3e38)])
def test_divergence_leaves_the_last_good_step(lr: float, clip: float) -> None:
    model, trainer, exc = run_until_divergence(lr, clip)
    good = trainer.step
    assert exc.step == good + 1
    message = str(exc)
    assert message.startswith(f"training diverged at step {good + 1} (epoch 1): ")
    assert f"state of step {good}" in message and "of this call" not in message
    # the same run stopped before the failing step: identical model and optimizer state
    ref_model, ref_trainer = model_and_trainer(lr, clip)
    if good:
        ref_trainer.fit(ids(), max_steps=good)
    for name, value in ref_model.parameters().items():
        np.testing.assert_array_equal(model.parameters()[name], value, err_msg=name)
        assert np.all(np.isfinite(value))
    for name, value in ref_model.optimizer_state().items():
        np.testing.assert_array_equal(model.optimizer_state()[name], value, err_msg=name)
    np.testing.assert_array_equal(model.rng_state(), ref_model.rng_state())
    assert trainer.state_dict()["position"] == ref_trainer.state_dict()["position"]


def test_a_huge_but_finite_loss_is_divergence() -> None:
    model, trainer = model_and_trainer(0.1, 5.0)
    params = model.parameters()
    bias = np.full_like(params["output.bias"], -5000.0)
    bias[0] = 0.0  # every other token is e^-5000 unlikely: a finite loss of about 5000
    model.set_parameters({**params, "output.bias": bias})
    before = model.parameters()
    with pytest.raises(rnnrs.TrainingDivergedError) as info:
        trainer.fit(ids(), max_steps=5)
    assert info.value.step == 1 and trainer.step == 0
    assert f"(bound {DIVERGED_LOSS:g})" in str(info.value)
    for name, value in before.items():
        np.testing.assert_array_equal(model.parameters()[name], value, err_msg=name)


def test_after_divergence_the_model_saves_and_resumes_from_the_last_good_step(
    tmp_path: Path,
) -> None:
    model, trainer, exc = run_until_divergence(1e30, 1e30)
    model.save(tmp_path / "ck", trainer=trainer)
    back = rnnrs.load(tmp_path / "ck")
    for name, value in model.parameters().items():
        np.testing.assert_array_equal(back.parameters()[name], value, err_msg=name)
    state = rnnrs.load_training_state(tmp_path / "ck")["trainer"]
    assert state["step"] == exc.step - 1
