"""Learning-rate schedules, counted in optimizer steps.

A schedule maps the 0-based step index (and the optimizer's base rate) to the rate of that
step: ``lr_at(step, base_lr)``. ReduceOnPlateau also watches validation losses through
``observe(loss)``, which the Trainer calls after each evaluation.
"""

from __future__ import annotations

import math
from typing import Any, Optional


class Schedule:
    """Base class: a constant rate; ``observe`` ignores validation losses."""

    def lr_at(self, step: int, base_lr: float) -> float:
        """The learning rate of step ``step`` (0-based)."""
        return base_lr

    def observe(self, valid_loss: float) -> None:
        """Called with each validation loss (only ReduceOnPlateau reacts)."""

    def state_dict(self) -> dict[str, Any]:
        """What changes during training (for exact resume)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


class ConstantLR(Schedule):
    """The optimizer's rate at every step.

    Example:
        >>> ConstantLR().lr_at(1000, 0.1)
        0.1
    """


class StepLR(Schedule):
    """lr = base * gamma ** (step // step_size), as torch StepLR stepped once per step.

    Example:
        >>> StepLR(step_size=10, gamma=0.5).lr_at(25, 1.0)
        0.25
    """

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size <= 0:
            raise ValueError(f"step_size: expected a positive int, got {step_size!r}")
        if not gamma > 0:
            raise ValueError(f"gamma: expected a float > 0, got {gamma!r}")
        self.step_size = step_size
        self.gamma = float(gamma)

    def lr_at(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (step // self.step_size)


class CosineWithWarmup(Schedule):
    """Linear warm-up from base/warmup_steps to base over ``warmup_steps`` steps, then a
    half cosine from base down to ``min_lr`` at ``total_steps`` (and ``min_lr`` after).
    ``total_steps=None`` lets the Trainer fill in its planned number of steps (or, in a run
    bounded only by time, its estimate of the steps the time allows).

    Example:
        >>> s = CosineWithWarmup(warmup_steps=10, total_steps=110)
        >>> s.lr_at(4, 1.0), s.lr_at(10, 1.0), s.lr_at(60, 1.0), s.lr_at(500, 1.0)
        (0.5, 1.0, 0.5, 0.0)
    """

    def __init__(
        self, warmup_steps: int, total_steps: Optional[int] = None, min_lr: float = 0.0
    ) -> None:
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"warmup_steps: expected an int >= 0, got {warmup_steps!r}")
        if total_steps is not None and (
            not isinstance(total_steps, int) or total_steps <= warmup_steps
        ):
            raise ValueError(
                f"total_steps: expected None or an int > warmup_steps={warmup_steps}, "
                f"got {total_steps!r}"
            )
        if not min_lr >= 0:
            raise ValueError(f"min_lr: expected a float >= 0, got {min_lr!r}")
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_lr = float(min_lr)

    def lr_at(self, step: int, base_lr: float) -> float:
        if step < self.warmup_steps:
            return base_lr * (step + 1) / self.warmup_steps
        if self.total_steps is None:
            raise ValueError(
                "total_steps: CosineWithWarmup needs total_steps (or a Trainer run with "
                "max_steps or epochs, which fills it in)"
            )
        span = self.total_steps - self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_lr + (base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


class ReduceOnPlateau(Schedule):
    """Multiply the rate by ``factor`` when the validation loss has not improved (by a
    relative ``threshold``) for more than ``patience`` evaluations; then wait ``cooldown``
    evaluations; never below ``min_lr`` — torch ReduceLROnPlateau (mode "min", "rel").

    Example:
        >>> s = ReduceOnPlateau(factor=0.5, patience=1)
        >>> for loss in (3.0, 3.0, 3.0):
        ...     s.observe(loss)
        >>> s.lr_at(0, 1.0)
        0.5
    """

    def __init__(
        self,
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        if not 0 < factor < 1:
            raise ValueError(f"factor: expected a float in (0, 1), got {factor!r}")
        for name, v in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name}: expected an int >= 0, got {v!r}")
        if not threshold >= 0 or not min_lr >= 0:
            raise ValueError("threshold, min_lr: expected floats >= 0")
        self.factor = float(factor)
        self.patience = patience
        self.threshold = float(threshold)
        self.cooldown = cooldown
        self.min_lr = float(min_lr)
        self.scale = 1.0
        self.best = math.inf
        self.num_bad = 0
        self.cooldown_counter = 0
        self._base: Optional[float] = None

    def lr_at(self, step: int, base_lr: float) -> float:
        self._base = base_lr
        return base_lr * self.scale

    def observe(self, valid_loss: float) -> None:
        if valid_loss < self.best * (1.0 - self.threshold):
            self.best = valid_loss
            self.num_bad = 0
        else:
            self.num_bad += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad = 0
        if self.num_bad > self.patience:
            base = 1.0 if self._base is None else self._base
            old = base * self.scale
            new = max(old * self.factor, self.min_lr)
            if old - new > 1e-8 and base > 0:
                self.scale = new / base
            self.cooldown_counter = self.cooldown
            self.num_bad = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "best": self.best,
            "num_bad": self.num_bad,
            "cooldown_counter": self.cooldown_counter,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale = float(state["scale"])
        self.best = float(state["best"])
        self.num_bad = int(state["num_bad"])
        self.cooldown_counter = int(state["cooldown_counter"])
