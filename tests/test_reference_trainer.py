"""The Trainer on the NumPy backend: stopping rules, evaluation, schedules, early stopping,
callbacks, history, state resets, divergence and Ctrl-C."""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rnnrs
from rnnrs.backends.numpy_rnnlm import NumpyEngine
from rnnrs.training.trainer import TrainableModel

PATTERN = np.tile(np.array([0, 1, 2, 3, 2, 1]), 120)  # 720 tokens, easy to learn


def small_model(cell: str = "gru", **kwargs: Any) -> rnnrs.RNNLM:
    return rnnrs.RNNLM(4, cell=cell, hidden_size=12, backend="numpy", **kwargs)


def trainer(model: rnnrs.RNNLM, **kwargs: Any) -> rnnrs.Trainer:
    kwargs.setdefault("bptt", 8)
    kwargs.setdefault("batch_size", 4)
    kwargs.setdefault("progress", False)
    return rnnrs.Trainer(model, kwargs.pop("optimizer", rnnrs.Adam(lr=0.02)), **kwargs)


def test_history_records_and_learning() -> None:
    model = small_model()
    t = trainer(model, eval_every=10)
    history = t.fit(PATTERN, valid_ids=PATTERN[:200], max_steps=40)
    assert [r["step"] for r in history] == [10, 20, 30, 40]
    keys = {"step", "epoch", "train_loss", "valid_loss", "valid_ppl", "lr", "tokens_per_s"}
    assert keys | {"elapsed"} == set(history[0])
    assert history.stop_reason == "max_steps" and not history.interrupted
    assert history[-1]["valid_loss"] < history[0]["valid_loss"] < math.log(4)
    assert history[-1]["valid_ppl"] == pytest.approx(math.exp(history[-1]["valid_loss"]))
    assert all(r["tokens_per_s"] > 0 for r in history)
    assert t.step == 40
    # 720 tokens / 4 rows = 180 per row -> 23 chunks of 8 per epoch
    assert history[-1]["epoch"] == pytest.approx(1 + 17 / 23, abs=1e-4)


def test_epochs_reset_the_state_at_each_epoch_start() -> None:
    calls: list[np.ndarray] = []

    class RecordingEngine(NumpyEngine):
        def train_steps(
            self, stream: Any, starts: Any, bptt: int, lrs: Any, reset: Any, *args: Any
        ) -> Any:
            calls.append(np.column_stack([starts, reset]))
            return super().train_steps(stream, starts, bptt, lrs, reset, *args)

    model = small_model()
    model.engine = RecordingEngine(model.config)
    t = trainer(model)
    history = t.fit(PATTERN, epochs=2)
    steps = np.concatenate(calls)
    assert len(steps) == 46 and t.step == 46
    assert steps[:, 1].nonzero()[0].tolist() == [0, 23]  # reset exactly at epoch starts
    np.testing.assert_array_equal(steps[:23, 0], np.arange(0, 179, 8))
    assert history.stop_reason == "epochs"
    assert [r["epoch"] for r in history] == [1.0, 2.0]  # evaluated at each epoch end


def test_max_time_stops_training() -> None:
    history = trainer(small_model()).fit(PATTERN, max_time=0.5)
    assert history.stop_reason == "max_time"
    assert 0.5 <= history[-1]["elapsed"] < 5.0


def test_at_least_one_stopping_rule_is_required() -> None:
    with pytest.raises(ValueError, match="max_steps"):
        trainer(small_model()).fit(PATTERN)


def test_schedule_sets_the_learning_rate_of_each_step() -> None:
    t = trainer(small_model(), schedule=rnnrs.StepLR(step_size=5, gamma=0.5), eval_every=5)
    history = t.fit(PATTERN, max_steps=15)
    assert [r["lr"] for r in history] == [0.02, 0.01, 0.005]


def test_cosine_schedule_gets_its_length_from_max_steps() -> None:
    schedule = rnnrs.CosineWithWarmup(warmup_steps=2)
    history = trainer(small_model(), schedule=schedule, eval_every=4).fit(PATTERN, max_steps=8)
    assert schedule.total_steps == 8
    assert history[-1]["lr"] == pytest.approx(0.02 * 0.5 * (1 + math.cos(math.pi * 5 / 6)))


def test_cosine_schedule_of_a_time_bounded_run_anneals_as_the_time_runs_out() -> None:
    schedule = rnnrs.CosineWithWarmup(warmup_steps=0, min_lr=0.001)
    t = trainer(small_model(), schedule=schedule, eval_every=10)
    history = t.fit(PATTERN, max_time=1.5)
    assert history.stop_reason == "max_time"
    lrs = [r["lr"] for r in history]
    assert lrs[0] > 0.015 and lrs[-1] < 0.006  # from about 0.02 down towards min_lr
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    # The estimate's end lies near the steps the time allowed.
    assert schedule.total_steps is not None and 0.7 * t.step < schedule.total_steps < 1.5 * t.step
    # A later fit bounded by steps plans by steps again.
    t.fit(PATTERN, max_steps=4)
    assert schedule.total_steps == t.step


def test_early_stopping_restores_the_best_parameters() -> None:
    model = small_model()
    seen: list[tuple[float, dict[str, np.ndarray]]] = []

    def keep(record: dict[str, Any]) -> None:
        seen.append((record["valid_loss"], model.parameters()))

    # A high learning rate makes validation loss bounce, so patience runs out.
    t = trainer(
        model,
        optimizer=rnnrs.SGD(lr=3.0),
        eval_every=2,
        early_stopping_patience=2,
        callbacks=[keep],
        clip_norm=None,
    )
    history = t.fit(PATTERN, valid_ids=PATTERN[:100], max_steps=200)
    assert history.stop_reason == "early_stopping"
    losses = [r["valid_loss"] for r in history]
    best = int(np.argmin(losses))
    assert best == len(losses) - 3  # two worse evaluations followed the best one
    for name, value in model.parameters().items():
        np.testing.assert_array_equal(value, seen[best][1][name])


def test_a_callback_returning_true_stops_training() -> None:
    records: list[dict[str, Any]] = []

    def stop_at_six(record: dict[str, Any]) -> bool:
        records.append(record)
        return record["step"] >= 6

    history = trainer(small_model(), eval_every=3, callbacks=[stop_at_six]).fit(
        PATTERN, max_steps=100
    )
    assert [r["step"] for r in records] == [3, 6]
    assert history.stop_reason == "callback"


def test_save_history_writes_json(tmp_path: Path) -> None:
    t = trainer(small_model(), eval_every=5)
    t.fit(PATTERN, valid_ids=PATTERN[:100], max_steps=10)
    path = tmp_path / "history.json"
    t.save_history(path)
    saved = json.loads(path.read_text())
    assert saved["stop_reason"] == "max_steps" and saved["interrupted"] is False
    assert [r["step"] for r in saved["records"]] == [5, 10]
    assert saved["records"][1]["valid_loss"] == t.history[1]["valid_loss"]
    assert os.listdir(tmp_path) == ["history.json"]


def test_divergence_raises_naming_the_step() -> None:
    model = small_model(cell="rnn_relu")
    t = trainer(model, optimizer=rnnrs.SGD(lr=1e25), clip_norm=None)
    with pytest.raises(rnnrs.TrainingDivergedError, match=r"step \d+") as info:
        t.fit(PATTERN, max_steps=50)
    assert info.value.step is not None and 1 <= info.value.step <= 50


def test_ctrl_c_stops_at_a_step_boundary_and_returns_the_history() -> None:
    def press_ctrl_c(record: dict[str, Any]) -> None:
        if record["step"] == 4:
            os.kill(os.getpid(), signal.SIGINT)

    t = trainer(small_model(), eval_every=4, callbacks=[press_ctrl_c])
    history = t.fit(PATTERN, max_steps=1000)
    assert history.interrupted and history.stop_reason == "interrupted"
    assert history[-1]["step"] == t.step < 1000
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_progress_bar_shows_loss_and_speed(capsys: pytest.CaptureFixture[str]) -> None:
    trainer(small_model(), progress=True).fit(PATTERN, valid_ids=PATTERN[:100], max_steps=5)
    err = capsys.readouterr().err
    assert "loss=" in err and "ppl=" in err and "tok_s=" in err and "valid loss" in err


def test_save_every_calls_save_at_those_steps_and_changes_nothing_else() -> None:
    calls: list[tuple[int, int]] = []

    def save(t: rnnrs.Trainer) -> None:
        calls.append((t.step, t.state_dict()["position"]))

    model = small_model(dropout=0.2)
    t = trainer(model, eval_every=5, save_every=3, save=save)
    t.fit(PATTERN, valid_ids=PATTERN[:100], max_steps=10)
    chunks = len(range(0, len(PATTERN) // 4 - 1, 8))
    assert calls == [(s, s % chunks) for s in (3, 6, 9)]
    plain = small_model(dropout=0.2)
    trainer(plain, eval_every=5).fit(PATTERN, valid_ids=PATTERN[:100], max_steps=10)
    for name, value in plain.parameters().items():
        np.testing.assert_array_equal(model.parameters()[name], value, err_msg=name)
    with pytest.raises(ValueError, match="give both"):
        trainer(small_model(), save_every=3)


def test_a_run_bounded_by_time_has_a_bar_with_a_total(capsys: pytest.CaptureFixture[str]) -> None:
    trainer(small_model(), progress=True).fit(PATTERN, max_time=1.5)
    err = capsys.readouterr().err.replace("\r", "\n")
    final = [line for line in err.splitlines() if "/1.5 [" in line]
    assert final, err  # "1.5/1.5 [00:01<00:00, ...]": seconds done of the total, and an ETA
    assert final[-1].lstrip().startswith("100%") and "<00:00" in final[-1]


class Delegating:
    """A model kind that is not an RNNLM: the training interface over a private one."""

    def __init__(self, inner: rnnrs.RNNLM) -> None:
        self._inner = inner

    def parameters(self) -> dict[str, np.ndarray]:
        return self._inner.parameters()

    def set_parameters(self, params: dict[str, np.ndarray]) -> None:
        self._inner.set_parameters(params)

    def configure_optimizer(self, spec: dict[str, Any]) -> None:
        self._inner.configure_optimizer(spec)

    def training_data(self, data: Any, **kwargs: Any) -> Any:
        return self._inner.training_data(data, **kwargs)

    def train_on(self, *args: Any) -> Any:
        return self._inner.train_on(*args)

    def evaluate_on(self, data: Any) -> Any:
        return self._inner.evaluate_on(data)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        return self._inner.optimizer_state()

    def load_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        self._inner.load_optimizer_state(state)

    def rng_state(self) -> np.ndarray:
        return self._inner.rng_state()

    def set_rng_state(self, state: np.ndarray) -> None:
        self._inner.set_rng_state(state)


def test_any_model_with_the_training_interface_trains() -> None:
    # the process default backend: the seam is the same on both
    direct = rnnrs.RNNLM(4, cell="gru", hidden_size=12, dropout=0.3)
    wrapped = Delegating(rnnrs.RNNLM(4, cell="gru", hidden_size=12, dropout=0.3))
    assert isinstance(wrapped, TrainableModel) and not isinstance(wrapped, rnnrs.RNNLM)
    records = []
    for model in (direct, wrapped):
        t = trainer(model, eval_every=10)  # type: ignore[arg-type]
        history = t.fit(PATTERN, valid_ids=PATTERN[:200], max_steps=20)
        records.append([(r["train_loss"], r["valid_loss"]) for r in history])
        state = t.state_dict()
        assert state["step"] == 20 and state["optimizer"]["step"] == 20
    assert records[0] == records[1]
    for name, value in direct.parameters().items():
        np.testing.assert_array_equal(wrapped.parameters()[name], value, err_msg=name)


def test_trainer_rejects_bad_arguments() -> None:
    model = small_model()
    with pytest.raises(TypeError, match="model: expected a trainable model"):
        rnnrs.Trainer(object(), rnnrs.Adam())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="optimizer"):
        rnnrs.Trainer(model, "adam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bptt"):
        rnnrs.Trainer(model, rnnrs.Adam(), bptt=0)
    with pytest.raises(ValueError, match="clip_norm"):
        rnnrs.Trainer(model, rnnrs.Adam(), clip_norm=-1.0)
    with pytest.raises(ValueError, match="train_ids"):
        trainer(model).fit(PATTERN[:5], max_steps=1)
    with pytest.raises(ValueError, match="train_ids"):
        trainer(model).fit(PATTERN + 4, max_steps=1)
