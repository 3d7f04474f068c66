"""Training: :class:`Trainer`, and :class:`TrainableModel`, the interface it trains through.

The model owns how its data becomes optimizer steps: ``model.training_data`` prepares the
data once per fit (a language model cuts a token stream into BPTT chunks, a classifier
makes length-bucketed padded batches), and ``model.train_on`` runs a group of an epoch's
steps in its engine (no Python per time step). The Trainer owns the rest: epochs, time and
step limits, the learning-rate schedule, evaluation every N steps or each epoch, early
stopping on a chosen metric with the best weights restored, the progress bar, the history,
Ctrl-C and resuming. It talks to the model only through :class:`TrainableModel`, as
generation talks to models through ``rnnrs.generation.GenerativeModel``: any model kind
implementing it trains here.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Callable, NamedTuple, NoReturn, Optional, Protocol, Union, runtime_checkable

import numpy as np

from ..errors import TrainingDivergedError
from ..io.jsonfile import write_json_atomic
from .optimizers import Optimizer
from .schedules import ConstantLR, CosineWithWarmup, Schedule

__all__ = ["History", "TrainableModel", "TrainedSteps", "Trainer", "TrainingData"]

Callback = Callable[[dict[str, Any]], Optional[bool]]
_GROUP_SECONDS = 0.5  # aim for this much work per engine call: responsive bar and Ctrl-C
# A step whose training loss exceeds this many nats per token diverged, even if finite: a
# model predicting uniformly over a billion tokens scores 21; only runaway weights get here
# (and then perplexities overflow). A gradient norm beyond float32's range diverged too.
DIVERGED_LOSS = 1000.0
DIVERGED_NORM = float(np.finfo(np.float32).max)


class TrainingData(Protocol):
    """A model's data prepared for one fit (:meth:`TrainableModel.training_data`)."""

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps in one pass over the data."""

    @property
    def unit(self) -> str:
        """What the throughput counts, plural: "tokens" (history key ``tokens_per_s``)."""

    def progress(self, loss: float, per_second: float) -> dict[str, str]:
        """Fields for the progress bar beside the loss, from the loss and the throughput
        (``unit`` per second): an LM shows its perplexity and tokens/s."""


class TrainedSteps(NamedTuple):
    """What :meth:`TrainableModel.train_on` returns."""

    losses: np.ndarray  # (S,) float64, one per step
    grad_norms: np.ndarray  # (S,) float64, before clipping
    carry: Any  # what the next group of the same epoch continues from (an LM's state)
    units: int  # tokens (or texts, ...) trained on, for the throughput


@runtime_checkable
class TrainableModel(Protocol):
    """What the :class:`Trainer` needs from a model (``rnnrs.RNNLM`` and
    ``rnnrs.SequenceClassifier`` implement it, their engines doing the work;
    docs/backends.md gives each method's contract)."""

    def training_data(self, data: Any, *, batch_size: int, bptt: int, name: str) -> TrainingData:
        """``data`` (training or validation) checked and prepared; errors name ``name``."""

    def train_on(
        self,
        data: Any,
        epoch: int,
        positions: np.ndarray,
        lrs: np.ndarray,
        carry: Any,
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> TrainedSteps:
        """One optimizer step per entry of ``positions`` (consecutive step indices of
        epoch ``epoch``; epochs are counted over the trainer's life, and the order of an
        epoch's steps may depend on it) on ``data`` (what :meth:`training_data` returned),
        with learning rates ``lrs``; ``carry`` is None at an epoch's first step."""

    def evaluate_on(self, data: Any) -> dict[str, Optional[float]]:
        """Validation scores of ``data`` (from :meth:`training_data`), no dropout:
        ``valid_loss`` (nats) and the model's metrics (``valid_ppl``; ``accuracy``,
        ``macro_f1``). None: the same keys, all None."""

    def parameters(self) -> dict[str, np.ndarray]: ...

    def set_parameters(self, params: dict[str, np.ndarray]) -> None: ...

    def configure_optimizer(self, spec: dict[str, Any]) -> None:
        """Use the optimizer of ``spec`` (``Optimizer.spec()``) from now on, moments at 0."""

    def optimizer_state(self) -> dict[str, np.ndarray]: ...

    def load_optimizer_state(self, state: dict[str, np.ndarray]) -> None: ...

    def rng_state(self) -> np.ndarray: ...

    def set_rng_state(self, state: np.ndarray) -> None: ...


class History(list[dict[str, Any]]):
    """The records of a :meth:`Trainer.fit` run (a list of dicts), plus how it ended:
    ``stop_reason`` ("max_steps", "max_time", "epochs", "early_stopping", "callback" or
    "interrupted") and ``interrupted`` (True after Ctrl-C)."""

    def __init__(self) -> None:
        super().__init__()
        self.stop_reason: Optional[str] = None
        self.interrupted = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: records, stop_reason, interrupted."""
        return {
            "records": list(self),
            "stop_reason": self.stop_reason,
            "interrupted": self.interrupted,
        }


@contextmanager
def _sigint_flag() -> Iterator[list[bool]]:
    """While active, a first Ctrl-C only sets ``flag[0]`` (training stops at the next step
    boundary); a second one raises KeyboardInterrupt as usual."""
    flag = [False]
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        if flag[0]:
            raise KeyboardInterrupt
        flag[0] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def _nonneg_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: expected a non-negative int, got {value!r}")
    return int(value)


def _optional_positive_int(value: Any, name: str) -> Optional[int]:
    return None if value is None else _positive_int(value, name)


def _optional_positive_float(value: Any, name: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name}: expected None or a number > 0, got {value!r}")
    return float(value)


class Trainer:
    """Trains a model (an :class:`~rnnrs.RNNLM`, a :class:`~rnnrs.SequenceClassifier`, or
    any :class:`TrainableModel`).

    Args:
        model: the model (any backend).
        optimizer: ``rnnrs.SGD``, ``rnnrs.Adam`` or ``rnnrs.AdamW``; configured on the
            model now (its moments start at zero).
        clip_norm: clip gradients to this global L2 norm (None: off).
        clip_value: then clamp each gradient element to +-clip_value (None: off).
        bptt: time steps per chunk (language models); batch_size: parallel streams of a
            language model, texts per batch of a classifier.
        schedule: a learning-rate schedule (default: constant). A ``CosineWithWarmup``
            without ``total_steps`` takes its length from ``max_steps`` or ``epochs``, or,
            in a run bounded only by ``max_time``, from the time: its end is re-estimated
            before each group of steps from the run's pace so far, so the rate reaches
            ``min_lr`` as the time runs out.
        eval_every: evaluate every this many steps (default: at each epoch end); training
            always ends with an evaluation.
        early_stopping_patience: stop after this many evaluations without a better
            ``monitor``; the best parameters are restored at the end of fit.
        monitor: the validation score early stopping watches: "valid_loss" (default) or a
            metric of the model's evaluation ("accuracy", "macro_f1" for a classifier).
        mode: "min" or "max", whether a lower or a higher ``monitor`` is better (default:
            "min" for a loss, "max" otherwise).
        callbacks: called with each history record; one returning True stops training.
        save_every, save: call ``save(trainer)`` every ``save_every`` steps (at that step
            boundary, ``trainer.state_dict()`` ready for a checkpoint); both or neither.
        progress: show a tqdm progress bar (loss, speed, and an LM's perplexity).

    Example:
        >>> import numpy as np, rnnrs
        >>> ids = np.tile(np.arange(5), 200)
        >>> model = rnnrs.RNNLM(5, hidden_size=16, backend="numpy")
        >>> trainer = rnnrs.Trainer(model, rnnrs.Adam(lr=0.01), bptt=10, batch_size=4,
        ...                         progress=False)
        >>> history = trainer.fit(ids, valid_ids=ids[:200], max_steps=60)
        >>> history[-1]["step"], history[-1]["valid_loss"] < 0.5
        (60, True)
    """

    def __init__(
        self,
        model: TrainableModel,
        optimizer: Optimizer,
        clip_norm: Optional[float] = 5.0,
        clip_value: Optional[float] = None,
        bptt: int = 35,
        batch_size: int = 20,
        schedule: Optional[Schedule] = None,
        eval_every: Optional[int] = None,
        early_stopping_patience: Optional[int] = None,
        callbacks: Sequence[Callback] = (),
        progress: bool = True,
        monitor: str = "valid_loss",
        mode: Optional[str] = None,
        save_every: Optional[int] = None,
        save: Optional[Callable[[Trainer], None]] = None,
    ) -> None:
        if not isinstance(model, TrainableModel):
            raise TypeError(
                "model: expected a trainable model (rnnrs.RNNLM, rnnrs.SequenceClassifier, "
                "or one implementing "
                f"rnnrs.training.trainer.TrainableModel), got {type(model).__name__}"
            )
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"optimizer: expected rnnrs.SGD, Adam or AdamW, got {type(optimizer).__name__}"
            )
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TypeError(f"schedule: expected an rnnrs schedule, got {type(schedule).__name__}")
        if not all(callable(cb) for cb in callbacks):
            raise TypeError("callbacks: expected a sequence of callables")
        self.model = model
        self.optimizer = optimizer
        self.clip_norm = _optional_positive_float(clip_norm, "clip_norm")
        self.clip_value = _optional_positive_float(clip_value, "clip_value")
        self.bptt = _positive_int(bptt, "bptt")
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.schedule = schedule if schedule is not None else ConstantLR()
        self.eval_every = _optional_positive_int(eval_every, "eval_every")
        self.early_stopping_patience = _optional_positive_int(
            early_stopping_patience, "early_stopping_patience"
        )
        if not isinstance(monitor, str):
            raise TypeError(f"monitor: expected a score name, got {type(monitor).__name__}")
        if mode is None:
            mode = "min" if monitor.endswith("loss") else "max"
        if mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")
        self.monitor, self.mode = monitor, mode
        self.callbacks = tuple(callbacks)
        self.save_every = _optional_positive_int(save_every, "save_every")
        if (self.save_every is None) != (save is None) or not (save is None or callable(save)):
            raise ValueError("save_every, save: give both (steps and a callable) or neither")
        self.save = save
        self.progress = bool(progress)
        self.step = 0  # optimizer steps taken so far, over all fit() calls
        self.epochs_done = 0  # complete passes over the training data, over all fit() calls
        self.history = History()
        # Where the last fit stopped in its epoch: (chunk index, carried state). A fit after
        # load_state_dict continues from the restored position; other fits start an epoch.
        self._position: tuple[int, Any] = (0, None)
        self._resume = False
        # Whether the cosine schedule's length is the trainer's estimate from a time budget.
        self._cosine_by_time = False
        model.configure_optimizer(optimizer.spec())

    # ------------------------------------------------------------------ helpers

    def _lr(self, step: int) -> float:
        return float(self.schedule.lr_at(step, self.optimizer.lr))

    def save_history(self, path: Union[str, os.PathLike[str]]) -> None:
        """Write the history of the last fit as JSON (atomically: temp file + rename).

        The file holds ``{"records": [...], "stop_reason": ..., "interrupted": ...}``.
        """
        write_json_atomic(path, self.history.to_json())

    # ------------------------------------------------------------------ resume

    def state_dict(self) -> dict[str, Any]:
        """What a later fit needs to continue exactly as an uninterrupted run: the step, the
        epochs done, the position in the epoch and the carried recurrent state, the optimizer
        moments and spec, the dropout RNG and the schedule's state (``rnnrs.io.checkpoint``
        saves it).

        Example:
            >>> import numpy as np, rnnrs
            >>> m = rnnrs.RNNLM(5, hidden_size=4, backend="numpy")
            >>> t = rnnrs.Trainer(m, rnnrs.Adam(lr=0.01), bptt=4, batch_size=2, progress=False)
            >>> _ = t.fit(np.tile(np.arange(5), 20), max_steps=3)
            >>> t.state_dict()["step"], t.state_dict()["position"]
            (3, 3)
        """
        position, carried = self._position
        return {
            "step": self.step,
            "epoch": self.epochs_done,
            "position": position,
            "carried_state": None if carried is None else [np.array(a) for a in carried],
            "optimizer_spec": self.optimizer.spec(),
            "lr": self.optimizer.lr,
            "optimizer": self.model.optimizer_state(),
            "rng": self.model.rng_state(),
            "schedule": self.schedule.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` into this trainer (same model shape, optimizer kind
        and data); the next :meth:`fit` continues where the saved run stopped."""
        spec, saved = self.optimizer.spec(), state.get("optimizer_spec")
        if json.dumps(saved, sort_keys=True) != json.dumps(spec, sort_keys=True):
            raise ValueError(f"state: saved with optimizer {saved}, this trainer has {spec}")
        position = _nonneg_int(state.get("position"), "state['position']")
        carried = state.get("carried_state")
        self.model.load_optimizer_state(state["optimizer"])
        self.model.set_rng_state(np.asarray(state["rng"], dtype=np.uint64))
        self.schedule.load_state_dict(state["schedule"])
        self.step = _nonneg_int(state.get("step"), "state['step']")
        self.epochs_done = _nonneg_int(state.get("epoch", 0), "state['epoch']")
        self._resume = True
        self._position = (
            position,
            None if carried is None else tuple(np.asarray(a, np.float32) for a in carried),
        )

    # ------------------------------------------------------------------ fit

    def fit(
        self,
        train_ids: Any,
        valid_ids: Any = None,
        max_steps: Optional[int] = None,
        max_time: Optional[float] = None,
        epochs: Optional[int] = None,
    ) -> History:
        """Train until the first of ``max_steps`` (steps in this call), ``max_time``
        (seconds) or ``epochs`` is reached (at least one is required), early stopping,
        a callback asking to stop, or Ctrl-C (the run stops at a step boundary and the
        history comes back with ``interrupted=True``).

        ``train_ids`` / ``valid_ids``: the model's data (``model.training_data``): for a
        language model 1-D id sequences (cut into ``batch_size`` streams) or already
        batchified (B, N) arrays; for a classifier ``(texts, labels)`` or a
        ``ClassificationData``. Returns the :class:`History`: one record per evaluation with
        step, epoch, train_loss, the model's validation scores (valid_loss and valid_ppl;
        valid_loss, accuracy and macro_f1), lr, the throughput (tokens_per_s, texts_per_s)
        and elapsed (seconds). Raises TrainingDivergedError naming the (global) step on a
        non-finite loss or gradient norm, a loss above ``DIVERGED_LOSS`` nats or a norm
        beyond float32's range; the model, its optimizer state and this trainer are then
        left exactly as after the last good step.
        """
        max_steps = _optional_positive_int(max_steps, "max_steps")
        max_time = _optional_positive_float(max_time, "max_time")
        epochs = _optional_positive_int(epochs, "epochs")
        if max_steps is None and max_time is None and epochs is None:
            raise ValueError("fit: give at least one of max_steps, max_time or epochs")
        prepare = self.model.training_data
        train = prepare(train_ids, batch_size=self.batch_size, bptt=self.bptt, name="train_ids")
        valid = (
            None
            if valid_ids is None
            else prepare(valid_ids, batch_size=self.batch_size, bptt=self.bptt, name="valid_ids")
        )
        per_epoch = train.steps_per_epoch
        planned = [n for n in (max_steps, None if epochs is None else epochs * per_epoch) if n]
        cosine = self.schedule if isinstance(self.schedule, CosineWithWarmup) else None
        by_time = False
        if cosine is not None and (cosine.total_steps is None or self._cosine_by_time):
            if planned:
                cosine.total_steps = self.step + min(planned)
            else:  # bounded by max_time only; no pace measured yet: the first step runs at
                # the full rate
                cosine.total_steps = self.step + cosine.warmup_steps + _FAR_STEPS
                by_time = True
            self._cosine_by_time = by_time
        run = _Run(self, train, valid, max_steps, max_time, epochs, planned, by_time)
        self.history = run.history
        with _sigint_flag() as interrupted:
            run.loop(interrupted)
        return self.history


# The cosine's provisional length before a time-bounded run has measured its pace.
_FAR_STEPS = 10**12


def _first_runaway(losses: np.ndarray, norms: np.ndarray) -> Optional[int]:
    """The first step whose finite loss or gradient norm is past the divergence bounds."""
    runaway = np.flatnonzero((losses > DIVERGED_LOSS) | (norms > DIVERGED_NORM))
    return int(runaway[0]) if runaway.size else None


def _runaway_detail(losses: np.ndarray, norms: np.ndarray, k: int) -> str:
    return f"loss {losses[k]:g} (bound {DIVERGED_LOSS:g}), gradient norm {norms[k]:g}"


class _Run:
    """The state of one :meth:`Trainer.fit` call."""

    def __init__(
        self,
        trainer: Trainer,
        train: TrainingData,
        valid: Optional[TrainingData],
        max_steps: Optional[int],
        max_time: Optional[float],
        epochs: Optional[int],
        planned: list[int],
        cosine_by_time: bool = False,
    ) -> None:
        self.t = trainer
        self.cosine_by_time = cosine_by_time
        self.train, self.valid = train, valid
        self.per_epoch = train.steps_per_epoch
        self.max_steps, self.max_time, self.epochs = max_steps, max_time, epochs
        self.first_step = trainer.step
        self.history = History()
        # the step index within the current epoch, and what the model carries between groups
        position: tuple[int, Any] = trainer._position if trainer._resume else (0, None)
        self.pos, self.carry = position
        trainer._resume = False
        if self.pos >= self.per_epoch:
            raise ValueError(
                f"train_ids: the trainer stopped at step {self.pos} of an epoch, but this "
                f"data has {self.per_epoch} steps per epoch (resume with the same data, bptt, "
                "batch_size)"
            )
        self.epoch = 0  # completed epochs in this run
        self.begin = time.perf_counter()
        self.train_seconds = 0.0
        self.window_losses: list[float] = []
        self.window_units = 0
        self.window_seconds = 0.0
        self.best_score = math.inf if trainer.mode == "min" else -math.inf
        self.best_params: Optional[dict[str, np.ndarray]] = None
        self.bad_evals = 0
        self.last_lr = trainer._lr(trainer.step)
        # A run bounded by steps counts steps; one bounded only by time counts seconds, so
        # either way the bar has a total and an ETA.
        self.bar_seconds = not planned and max_time is not None
        self.bar = self._make_bar(min(planned) if planned else max_time)

    def _make_bar(self, total: Optional[float]) -> Any:
        if not self.t.progress:
            return None
        from tqdm import tqdm

        unit = "s" if self.bar_seconds else "step"
        return tqdm(total=total, unit=unit, dynamic_ncols=True, leave=True)

    # -------------------------------------------------------------- the loop

    def _group_size(self, per_step: Optional[float]) -> int:
        t = self.t
        n = self.per_epoch - self.pos  # to the end of the epoch
        if self.max_steps is not None:
            n = min(n, self.first_step + self.max_steps - t.step)
        for every in (t.eval_every, t.save_every):
            if every is not None:
                n = min(n, every - t.step % every)
        budget = _GROUP_SECONDS
        if self.max_time is not None:
            budget = min(budget, self.max_time - (time.perf_counter() - self.begin))
        by_time = 1 if per_step is None else max(1, int(budget / max(per_step, 1e-9)))
        return max(1, min(n, by_time))

    def loop(self, interrupted: list[bool]) -> None:
        t = self.t
        per_step: Optional[float] = None
        reason: Optional[str] = None
        try:
            while reason is None:
                g = self._group_size(per_step)
                if self.cosine_by_time:
                    self._plan_cosine_by_time(g)
                seconds = self._train_group(g)
                per_step = seconds / g
                if self.pos == self.per_epoch:
                    self.pos, self.epoch, self.carry = 0, self.epoch + 1, None
                    t.epochs_done += 1
                    if t.eval_every is None:
                        reason = self._record()
                elif t.eval_every is not None and t.step % t.eval_every == 0:
                    reason = self._record()
                if t.save is not None and t.save_every and t.step % t.save_every == 0:
                    t._position = (self.pos, self.carry)
                    t.save(t)
                reason = reason or self._limit_reached()
                if reason is None and interrupted[0]:
                    reason = "interrupted"
            if not self.history or self.history[-1]["step"] != t.step:
                self._record()
        finally:
            if self.bar is not None:
                if self.bar_seconds:
                    self._bar_to_now()
                self.bar.close()
        t._position = (self.pos, self.carry)
        self.history.stop_reason = reason
        self.history.interrupted = reason == "interrupted"
        if self.best_params is not None:
            t.model.set_parameters(self.best_params)

    def _plan_cosine_by_time(self, g: int) -> None:
        """Set the cosine's end to the step at which the time budget runs out at this run's
        pace so far (wall time per step, evaluations included), at least the next ``g``
        steps away, and never so far that the rate would rise again."""
        t = self.t
        if not isinstance(t.schedule, CosineWithWarmup) or self.max_time is None:
            return
        done = t.step - self.first_step
        elapsed = time.perf_counter() - self.begin
        if done == 0 or elapsed <= 0:
            return
        left = (self.max_time - elapsed) * done / elapsed
        end = t.step + max(g, round(left))
        # Never back along the cosine (the pace may rise after slow first steps): the next
        # step's progress is at least the last one's.
        w, total = t.schedule.warmup_steps, t.schedule.total_steps
        last = t.step - 1
        if total is not None and total > w and last > w:
            reached = (last - w) / (total - w)
            end = min(end, w + int((t.step - w) / reached))
        t.schedule.total_steps = max(end, w + 1)

    def _bar_to_now(self) -> None:
        """A bar in seconds shows the time spent (tenths, at most the total)."""
        self.bar.n = round(min(time.perf_counter() - self.begin, self.bar.total), 1)
        self.bar.refresh()

    def _limit_reached(self) -> Optional[str]:
        if self.max_steps is not None and self.t.step - self.first_step >= self.max_steps:
            return "max_steps"
        if self.epochs is not None and self.epoch >= self.epochs:
            return "epochs"
        if self.max_time is not None and time.perf_counter() - self.begin >= self.max_time:
            return "max_time"
        return None

    def _train_group(self, g: int) -> float:
        t = self.t
        steps = np.arange(t.step, t.step + g)
        lrs = np.array([t._lr(int(s)) for s in steps])
        positions = np.arange(self.pos, self.pos + g, dtype=np.int64)
        before = self._snapshot()
        tick = time.perf_counter()
        try:
            done = t.model.train_on(
                self.train, t.epochs_done, positions, lrs, self.carry, t.clip_norm, t.clip_value
            )
        except TrainingDivergedError as exc:
            failed = exc.step if exc.step is not None else 0
            self._diverged(before, failed, lrs, positions, detail=str(exc), cause=exc)
        k = _first_runaway(done.losses, done.grad_norms)
        if k is not None:
            detail = _runaway_detail(done.losses, done.grad_norms, k)
            self._diverged(before, k, lrs, positions, detail=detail)
        seconds = time.perf_counter() - tick
        self.carry = done.carry
        t.step += g
        self.pos += g
        self.window_losses.extend(float(v) for v in done.losses)
        self.window_units += done.units
        self.window_seconds += seconds
        self.last_lr = float(lrs[-1])
        if self.bar is not None:
            loss = float(np.mean(done.losses))
            if self.bar_seconds:
                self._bar_to_now()
            else:
                self.bar.update(g)
            rate = done.units / max(seconds, 1e-9)
            self.bar.set_postfix(loss=f"{loss:.3f}", **self.train.progress(loss, rate))
        return seconds

    def _snapshot(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, Any]:
        m = self.t.model
        return m.parameters(), m.optimizer_state(), m.rng_state(), self.carry

    def _diverged(
        self,
        before: tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, Any],
        failed: int,
        lrs: np.ndarray,
        positions: np.ndarray,
        detail: str,
        cause: Optional[BaseException] = None,
    ) -> NoReturn:
        """Leave the model as it was after the last good step (parameters, optimizer
        moments, dropout RNG, carried state: the group is rerun up to the failing step from
        the state before it), count the good steps, and raise TrainingDivergedError."""
        t = self.t
        params, moments, rng, carry = before
        t.model.set_parameters(params)
        t.model.load_optimizer_state(moments)
        t.model.set_rng_state(rng)
        if failed > 0:
            done = t.model.train_on(
                self.train,
                t.epochs_done,
                positions[:failed],
                lrs[:failed],
                carry,
                t.clip_norm,
                t.clip_value,
            )
            carry = done.carry
            # the engine only refuses non-finite values
            k = _first_runaway(done.losses, done.grad_norms)
            if k is not None:
                detail = _runaway_detail(done.losses, done.grad_norms, k)
                self._diverged(before, k, lrs, positions, detail)
        t.step += failed
        self.pos += failed
        self.carry = carry
        t._position = (self.pos, self.carry)
        # the engine's own text names its step within the call: keep only what it measured
        detail = detail.split(": ", 1)[-1] if detail.startswith("training diverged") else detail
        if "(lr " not in detail:
            detail += f" (lr {lrs[failed]:g})"
        raise TrainingDivergedError(
            f"training diverged at step {t.step + 1} (epoch {self.epoch + 1}): {detail}; "
            "the model keeps the parameters and optimizer state of "
            f"step {t.step}",
            step=t.step + 1,
        ) from cause

    def _record(self) -> Optional[str]:
        """Evaluate, append a history record, run callbacks and early stopping."""
        t = self.t
        scores = t.model.evaluate_on(self.valid)
        record = {
            "step": t.step,
            "epoch": round(self.epoch + self.pos / self.per_epoch, 4),
            "train_loss": float(np.mean(self.window_losses)) if self.window_losses else None,
            **scores,
            "lr": self.last_lr,
            f"{self.train.unit}_per_s": self.window_units / max(self.window_seconds, 1e-9),
            "elapsed": time.perf_counter() - self.begin,
        }
        self.window_losses, self.window_units, self.window_seconds = [], 0, 0.0
        self.history.append(record)
        valid_loss = scores.get("valid_loss")
        if self.bar is not None and valid_loss is not None:
            shown = ", ".join(
                f"{k} {v:.4f}" for k, v in scores.items() if k != "valid_loss" and v is not None
            )
            self.bar.write(
                f"step {t.step}: train loss {record['train_loss']:.4f}, "
                f"valid loss {valid_loss:.4f}" + (f" ({shown})" if shown else ""),
                file=sys.stderr,
            )
        reason = None
        if valid_loss is not None:
            t.schedule.observe(valid_loss)
            reason = self._early_stopping(scores)
        t._position = (self.pos, self.carry)  # a callback may save the trainer's state
        for cb in t.callbacks:
            if cb(dict(record)) is True:
                reason = reason or "callback"
        return reason

    def _early_stopping(self, scores: dict[str, Optional[float]]) -> Optional[str]:
        t = self.t
        if t.early_stopping_patience is None:
            return None
        if t.monitor not in scores:
            raise ValueError(
                f"monitor: {t.monitor!r} is not a validation score of this model "
                f"(it reports {sorted(scores)})"
            )
        score = scores[t.monitor]
        if score is None:
            return None
        better = score < self.best_score if t.mode == "min" else score > self.best_score
        if better:
            self.best_score = score
            self.best_params = t.model.parameters()
            self.bad_evals = 0
            return None
        self.bad_evals += 1
        return "early_stopping" if self.bad_evals >= t.early_stopping_patience else None
