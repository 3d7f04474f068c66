"""The learning rate the time-bounded quality benchmarks give every framework alike: a cosine
over the training-time budget, so that the last minutes' weights are not left noisy by a
constant rate.

    lr = annealed_lr(2e-3, elapsed=30.0, seconds=60.0)  # halfway: 1.05e-3
"""

from __future__ import annotations

import math


def annealed_lr(lr: float, elapsed: float, seconds: float) -> float:
    """The learning rate after ``elapsed`` of a ``seconds`` budget: a cosine from ``lr`` down
    to ``lr / 20`` (``lr / 20`` from the end of the budget on)."""
    done = min(1.0, max(0.0, elapsed / seconds))
    floor = lr / 20
    return floor + (lr - floor) * 0.5 * (1.0 + math.cos(math.pi * done))
