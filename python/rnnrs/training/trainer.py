"""Training: :class:`Trainer`, and :class:`TrainableModel`, the interface it trains through.

The Trainer runs truncated BPTT over a batchified token stream: it hands the model groups
of steps (``model.train_steps``, which its engine runs: no Python per time step), carries
the recurrent state through an epoch and resets it at each epoch start, evaluates,
schedules the learning rate, stops early, reports progress and keeps a history. It talks to
the model only through :class:`TrainableModel`, as generation talks to models through
``rnnrs.generation.GenerativeModel``: any model kind implementing it trains here.
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
from typing import Any, Callable, Optional, Protocol, Union, runtime_checkable

import numpy as np

from ..backends.arrays import as_token_array
from ..errors import TrainingDivergedError
from ..io.jsonfile import write_json_atomic
from ..text.batching import batchify
from .optimizers import Optimizer
from .schedules import ConstantLR, CosineWithWarmup, Schedule

__all__ = ["History", "TrainableModel", "Trainer"]

Callback = Callable[[dict[str, Any]], Optional[bool]]
_GROUP_SECONDS = 0.5  # aim for this much work per engine call: responsive bar and Ctrl-C


@runtime_checkable
class TrainableModel(Protocol):
    """What the :class:`Trainer` needs from a model (``rnnrs.RNNLM`` implements it, its
    engine doing the work; docs/backends.md gives each method's contract).

    ``stream`` is a batchified (B, N) uint32 token array, ``starts`` the first column of
    each step's chunk, ``state`` the recurrent state carried between chunks (None: zeros).
    """

    @property
    def vocab_size(self) -> int: ...

    def parameters(self) -> dict[str, np.ndarray]: ...

    def set_parameters(self, params: dict[str, np.ndarray]) -> None: ...

    def configure_optimizer(self, spec: dict[str, Any]) -> None:
        """Use the optimizer of ``spec`` (``Optimizer.spec()``) from now on, moments at 0."""

    def train_steps(
        self,
        stream: np.ndarray,
        starts: np.ndarray,
        bptt: int,
        lrs: np.ndarray,
        reset: np.ndarray,
        state: Any,
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        """Train one step per entry of ``starts``: (losses, gradient norms, final state)."""

    def evaluate_loss(self, stream: np.ndarray, bptt: int) -> tuple[float, int]:
        """(summed loss in nats, number of targets) over ``stream``, no dropout."""

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


def _training_stream(ids: Any, batch_size: int, vocab_size: int, name: str) -> np.ndarray:
    """``ids`` as a batchified (B, N) uint32 stream checked against the vocabulary: a 1-D
    sequence goes through :func:`rnnrs.text.batching.batchify`; a 2-D array is taken as
    batchified."""
    arr = np.asarray(ids)
    if arr.ndim == 2:
        return as_token_array(arr, name, vocab_size)
    seq = as_token_array(arr, name, vocab_size, ndim=1)
    if len(seq) // batch_size < 2:
        raise ValueError(
            f"{name}: {len(seq)} tokens are too few for batch_size={batch_size} "
            "(need at least 2 per row)"
        )
    return batchify(seq, batch_size)


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
    """Trains a model (an :class:`~rnnrs.RNNLM`, or any :class:`TrainableModel`) with
    truncated BPTT.

    Args:
        model: the model (any backend).
        optimizer: ``rnnrs.SGD``, ``rnnrs.Adam`` or ``rnnrs.AdamW``; configured on the
            model now (its moments start at zero).
        clip_norm: clip gradients to this global L2 norm (None: off).
        clip_value: then clamp each gradient element to +-clip_value (None: off).
        bptt: time steps per chunk; batch_size: parallel streams.
        schedule: a learning-rate schedule (default: constant).
        eval_every: evaluate every this many steps (default: at each epoch end); training
            always ends with an evaluation.
        early_stopping_patience: stop after this many evaluations without a better
            validation loss; the best parameters are restored at the end of fit.
        callbacks: called with each history record; one returning True stops training.
        progress: show a tqdm progress bar (tokens/s, loss, perplexity).

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
    ) -> None:
        if not isinstance(model, TrainableModel):
            raise TypeError(
                "model: expected a trainable model (rnnrs.RNNLM, or one implementing "
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
        self.callbacks = tuple(callbacks)
        self.progress = bool(progress)
        self.step = 0  # optimizer steps taken so far, over all fit() calls
        self.history = History()
        # Where the last fit stopped in its epoch: (chunk index, carried state). A fit after
        # load_state_dict continues from the restored position; other fits start an epoch.
        self._position: tuple[int, Any] = (0, None)
        self._resume = False
        model.configure_optimizer(optimizer.spec())

    # ------------------------------------------------------------------ helpers

    def _lr(self, step: int) -> float:
        return float(self.schedule.lr_at(step, self.optimizer.lr))

    def _evaluate(self, valid: Optional[np.ndarray]) -> Optional[float]:
        if valid is None:
            return None
        total, count = self.model.evaluate_loss(valid, self.bptt)
        return float(total / count)

    def save_history(self, path: Union[str, os.PathLike[str]]) -> None:
        """Write the history of the last fit as JSON (atomically: temp file + rename).

        The file holds ``{"records": [...], "stop_reason": ..., "interrupted": ...}``.
        """
        write_json_atomic(path, self.history.to_json())

    # ------------------------------------------------------------------ resume

    def state_dict(self) -> dict[str, Any]:
        """What a later fit needs to continue exactly as an uninterrupted run: the step, the
        position in the epoch and the carried recurrent state, the optimizer moments and
        spec, the dropout RNG and the schedule's state (``rnnrs.io.checkpoint`` saves it).

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

        ``train_ids`` / ``valid_ids``: 1-D id sequences (cut into ``batch_size`` streams)
        or already batchified (B, N) arrays. Returns the :class:`History`: one record per
        evaluation with step, epoch, train_loss, valid_loss, valid_ppl, lr, tokens_per_s
        and elapsed (seconds). Raises TrainingDivergedError naming the step on a
        non-finite loss or gradient.
        """
        max_steps = _optional_positive_int(max_steps, "max_steps")
        max_time = _optional_positive_float(max_time, "max_time")
        epochs = _optional_positive_int(epochs, "epochs")
        if max_steps is None and max_time is None and epochs is None:
            raise ValueError("fit: give at least one of max_steps, max_time or epochs")
        vocab = self.model.vocab_size
        train = _training_stream(train_ids, self.batch_size, vocab, "train_ids")
        valid = (
            None
            if valid_ids is None
            else _training_stream(valid_ids, self.batch_size, vocab, "valid_ids")
        )
        starts = np.arange(0, train.shape[1] - 1, self.bptt, dtype=np.int64)
        per_epoch = len(starts)
        planned = [n for n in (max_steps, None if epochs is None else epochs * per_epoch) if n]
        if isinstance(self.schedule, CosineWithWarmup) and self.schedule.total_steps is None:
            if not planned:
                raise ValueError(
                    "schedule: CosineWithWarmup without total_steps needs max_steps or epochs"
                )
            self.schedule.total_steps = self.step + min(planned)
        run = _Run(self, train, valid, starts, max_steps, max_time, epochs, planned)
        self.history = run.history
        with _sigint_flag() as interrupted:
            run.loop(interrupted)
        return self.history


class _Run:
    """The state of one :meth:`Trainer.fit` call."""

    def __init__(
        self,
        trainer: Trainer,
        train: np.ndarray,
        valid: Optional[np.ndarray],
        starts: np.ndarray,
        max_steps: Optional[int],
        max_time: Optional[float],
        epochs: Optional[int],
        planned: list[int],
    ) -> None:
        self.t = trainer
        self.train, self.valid, self.starts = train, valid, starts
        self.max_steps, self.max_time, self.epochs = max_steps, max_time, epochs
        self.first_step = trainer.step
        self.history = History()
        # index into starts within the current epoch, and the carried state
        position: tuple[int, Any] = trainer._position if trainer._resume else (0, None)
        self.pos, self.state = position
        trainer._resume = False
        if self.pos >= len(starts):
            raise ValueError(
                f"train_ids: the trainer stopped at chunk {self.pos} of an epoch, but this "
                f"data has {len(starts)} chunks (resume with the same data, bptt, batch_size)"
            )
        self.epoch = 0  # completed epochs in this run
        self.begin = time.perf_counter()
        self.train_seconds = 0.0
        self.window_losses: list[float] = []
        self.window_tokens = 0
        self.window_seconds = 0.0
        self.best_loss = math.inf
        self.best_params: Optional[dict[str, np.ndarray]] = None
        self.bad_evals = 0
        self.last_lr = trainer._lr(trainer.step)
        self.bar = self._make_bar(min(planned) if planned else None)

    def _make_bar(self, total: Optional[int]) -> Any:
        if not self.t.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=total, unit="step", dynamic_ncols=True, leave=True)

    # -------------------------------------------------------------- the loop

    def _group_size(self, per_step: Optional[float]) -> int:
        t = self.t
        n = len(self.starts) - self.pos  # to the end of the epoch
        if self.max_steps is not None:
            n = min(n, self.first_step + self.max_steps - t.step)
        if t.eval_every is not None:
            n = min(n, t.eval_every - t.step % t.eval_every)
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
                seconds = self._train_group(g)
                per_step = seconds / g
                if self.pos == len(self.starts):
                    self.pos, self.epoch, self.state = 0, self.epoch + 1, None
                    if t.eval_every is None:
                        reason = self._record()
                elif t.eval_every is not None and t.step % t.eval_every == 0:
                    reason = self._record()
                reason = reason or self._limit_reached()
                if reason is None and interrupted[0]:
                    reason = "interrupted"
            if not self.history or self.history[-1]["step"] != t.step:
                self._record()
        finally:
            if self.bar is not None:
                self.bar.close()
        t._position = (self.pos, self.state)
        self.history.stop_reason = reason
        self.history.interrupted = reason == "interrupted"
        if self.best_params is not None:
            t.model.set_parameters(self.best_params)

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
        reset = np.zeros(g, dtype=bool)
        reset[0] = self.pos == 0
        starts = self.starts[self.pos : self.pos + g]
        tick = time.perf_counter()
        try:
            losses, _, self.state = t.model.train_steps(
                self.train, starts, t.bptt, lrs, reset, self.state, t.clip_norm, t.clip_value
            )
        except TrainingDivergedError as exc:
            k = exc.step if exc.step is not None else 0
            raise TrainingDivergedError(
                f"training diverged at step {t.step + k + 1} (epoch {self.epoch + 1}): {exc}",
                step=t.step + k + 1,
            ) from exc
        seconds = time.perf_counter() - tick
        t.step += g
        self.pos += g
        tokens = int(sum(min(t.bptt, self.train.shape[1] - 1 - int(s)) for s in starts))
        tokens *= self.train.shape[0]
        self.window_losses.extend(float(v) for v in losses)
        self.window_tokens += tokens
        self.window_seconds += seconds
        self.last_lr = float(lrs[-1])
        if self.bar is not None:
            loss = float(np.mean(losses))
            self.bar.update(g)
            self.bar.set_postfix(
                loss=f"{loss:.3f}",
                ppl=f"{math.exp(min(loss, 50)):.1f}",
                tok_s=f"{tokens / max(seconds, 1e-9):.0f}",
            )
        return seconds

    def _record(self) -> Optional[str]:
        """Evaluate, append a history record, run callbacks and early stopping."""
        t = self.t
        valid_loss = t._evaluate(self.valid)
        record = {
            "step": t.step,
            "epoch": round(self.epoch + self.pos / len(self.starts), 4),
            "train_loss": float(np.mean(self.window_losses)) if self.window_losses else None,
            "valid_loss": valid_loss,
            "valid_ppl": None if valid_loss is None else math.exp(min(valid_loss, 700.0)),
            "lr": self.last_lr,
            "tokens_per_s": self.window_tokens / max(self.window_seconds, 1e-9),
            "elapsed": time.perf_counter() - self.begin,
        }
        self.window_losses, self.window_tokens, self.window_seconds = [], 0, 0.0
        self.history.append(record)
        if self.bar is not None and valid_loss is not None:
            self.bar.write(
                f"step {t.step}: train loss {record['train_loss']:.4f}, "
                f"valid loss {valid_loss:.4f} (ppl {record['valid_ppl']:.2f})",
                file=sys.stderr,
            )
        reason = None
        if valid_loss is not None:
            t.schedule.observe(valid_loss)
            reason = self._early_stopping(valid_loss)
        for cb in t.callbacks:
            if cb(dict(record)) is True:
                reason = reason or "callback"
        return reason

    def _early_stopping(self, valid_loss: float) -> Optional[str]:
        patience = self.t.early_stopping_patience
        if patience is None:
            return None
        if valid_loss < self.best_loss:
            self.best_loss = valid_loss
            self.best_params = self.t.model.parameters()
            self.bad_evals = 0
            return None
        self.bad_evals += 1
        return "early_stopping" if self.bad_evals >= patience else None
