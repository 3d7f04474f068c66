"""Optimizer update rules, exactly as torch.optim's single-tensor implementations.

Each function updates ``param`` (and its state buffers) in place, elementwise, so it works
on one tensor or on a flat buffer holding all parameters.
"""

from __future__ import annotations

from typing import Optional

import numpy as np


def sgd_step(
    param: np.ndarray,
    grad: np.ndarray,
    momentum_buffer: Optional[np.ndarray],
    *,
    lr: float,
    momentum: float,
    nesterov: bool,
    weight_decay: float,
    first_step: bool,
) -> None:
    """torch.optim.SGD (dampening 0): d = g + wd*p; buf = d on the first step, else
    buf = momentum*buf + d; d = d + momentum*buf (nesterov) or buf; p -= lr*d.

    ``momentum_buffer`` is required when momentum != 0 and updated in place.

    Rust: src/train/optim.rs (Optimizer::step).
    """
    d = grad + weight_decay * param if weight_decay != 0.0 else grad
    if momentum != 0.0:
        if momentum_buffer is None:
            raise ValueError("momentum_buffer: required when momentum != 0")
        if first_step:
            momentum_buffer[...] = d
        else:
            momentum_buffer *= momentum
            momentum_buffer += d
        d = d + momentum * momentum_buffer if nesterov else momentum_buffer
    param -= lr * d


def adam_step(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    *,
    step: int,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    decoupled: bool,
) -> None:
    """torch.optim.Adam (decoupled=False: weight decay as L2 added to the gradient) or
    torch.optim.AdamW (decoupled=True: p *= 1 - lr*wd first). ``step`` counts from 1.

    m += (1-b1)(g - m); v = b2 v + (1-b2) g^2;
    p -= lr/(1-b1^step) * m / (sqrt(v)/sqrt(1-b2^step) + eps).

    Rust: src/train/optim.rs (Optimizer::step).
    """
    beta1, beta2 = betas
    if weight_decay != 0.0:
        if decoupled:
            param *= 1.0 - lr * weight_decay
        else:
            grad = grad + weight_decay * param
    exp_avg += (1.0 - beta1) * (grad - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1.0 - beta2) * grad * grad
    step_size = lr / (1.0 - beta1**step)
    bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
    denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt
    denom += eps
    param -= step_size * (exp_avg / denom)
