"""Optimizers: SGD, Adam and AdamW, exactly as torch.optim.

Each is a configuration object: the Trainer hands ``spec()`` to the model, whose engine
runs the update natively. ``step(params, grads)`` applies the same update to a dict of
NumPy arrays (a manual training loop), keeping its state by parameter name;
``state_dict()`` uses the engines' key names (``step``, ``exp_avg.<name>``,
``exp_avg_sq.<name>``, ``momentum_buffer.<name>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..reference.optim import adam_step, sgd_step


def _check_nonneg(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name}: expected a float >= 0, got {type(value).__name__}")
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: expected a finite float >= 0, got {value}")
    return float(value)


class Optimizer:
    """Base class: the learning rate, the state by parameter name and the manual step."""

    _buffers: tuple[str, ...] = ()

    def __init__(self, lr: float, weight_decay: float) -> None:
        self.lr = _check_nonneg(lr, "lr")
        self.weight_decay = _check_nonneg(weight_decay, "weight_decay")
        self._step = 0
        self._state: dict[str, np.ndarray] = {}

    def spec(self) -> dict[str, Any]:
        """The engine's optimizer spec (docs/backends.md)."""
        raise NotImplementedError

    def _update(self, name: str, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """One update of every array in ``params`` (in place) from ``grads`` (same keys).

        Example:
            >>> import numpy as np, rnnrs
            >>> p = {"w": np.array([1.0, -2.0])}
            >>> rnnrs.SGD(lr=0.5).step(p, {"w": np.array([2.0, 2.0])})
            >>> p["w"].tolist()
            [0.0, -3.0]
        """
        if not params:
            raise ValueError("params: expected at least one parameter, got none")
        missing = [n for n in params if n not in grads]
        if missing:
            raise ValueError(f"grads: missing gradients for {missing}")
        for name, p in params.items():
            if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
                raise TypeError(f"params[{name!r}]: expected a float NumPy array")
            g = np.asarray(grads[name])
            if g.shape != p.shape:
                raise ValueError(f"grads[{name!r}]: expected shape {p.shape}, got {g.shape}")
        self._step += 1
        for name, p in params.items():
            self._update(name, p, np.asarray(grads[name], dtype=p.dtype), self.lr)

    def _buffer(self, kind: str, name: str, like: np.ndarray) -> np.ndarray:
        key = f"{kind}.{name}"
        if key not in self._state:
            self._state[key] = np.zeros_like(like)
        return self._state[key]

    def state_dict(self) -> dict[str, np.ndarray]:
        """The update state: ``step`` and the buffers by parameter name (copies)."""
        out = {"step": np.asarray(self._step, dtype=np.int64)}
        out.update({k: v.copy() for k, v in self._state.items()})
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore :meth:`state_dict` (or an engine's ``optimizer_state()``)."""
        if "step" not in state:
            raise ValueError("state: expected a 'step' entry")
        unknown = [k for k in state if k != "step" and k.split(".", 1)[0] not in self._buffers]
        if unknown:
            raise ValueError(f"state: unexpected entries {unknown} for {type(self).__name__}")
        self._step = int(np.asarray(state["step"]))
        self._state = {k: np.array(v) for k, v in state.items() if k != "step"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.spec().items() if k != "name")
        return f"{type(self).__name__}(lr={self.lr!r}, {args})"


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay,
    as torch.optim.SGD (dampening 0).

    Example:
        >>> import rnnrs
        >>> rnnrs.SGD(lr=1.0, momentum=0.9).spec()["momentum"]
        0.9
    """

    _buffers = ("momentum_buffer",)

    def __init__(
        self, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0
    ) -> None:
        super().__init__(lr, weight_decay)
        self.momentum = _check_nonneg(momentum, "momentum")
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: requires momentum > 0")

    def spec(self) -> dict[str, Any]:
        """``{"name": "sgd", "momentum", "nesterov", "weight_decay"}``."""
        return {
            "name": "sgd",
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
        }

    def _update(self, name: str, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        key = f"momentum_buffer.{name}"
        first = key not in self._state
        buf = self._buffer("momentum_buffer", name, param) if self.momentum else None
        sgd_step(
            param,
            grad,
            buf,
            lr=lr,
            momentum=self.momentum,
            nesterov=self.nesterov,
            weight_decay=self.weight_decay,
            first_step=first,
        )


class Adam(Optimizer):
    """Adam (bias-corrected; weight_decay is L2 added to the gradient), as torch.optim.Adam.

    Example:
        >>> import rnnrs
        >>> rnnrs.Adam(lr=1e-3).spec()
        {'name': 'adam', 'betas': (0.9, 0.999), 'eps': 1e-08, 'weight_decay': 0.0}
    """

    _buffers = ("exp_avg", "exp_avg_sq")
    _name = "adam"

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr, weight_decay)
        if len(tuple(betas)) != 2:
            raise ValueError(f"betas: expected two floats in [0, 1), got {betas!r}")
        b1, b2 = (_check_nonneg(b, "betas") for b in betas)
        if b1 >= 1 or b2 >= 1:
            raise ValueError(f"betas: expected two floats in [0, 1), got {betas!r}")
        self.betas = (b1, b2)
        self.eps = _check_nonneg(eps, "eps")

    def spec(self) -> dict[str, Any]:
        """``{"name": "adam" | "adamw", "betas", "eps", "weight_decay"}``."""
        return {
            "name": self._name,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }

    def _update(self, name: str, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        adam_step(
            param,
            grad,
            self._buffer("exp_avg", name, param),
            self._buffer("exp_avg_sq", name, param),
            step=self._step,
            lr=lr,
            betas=self.betas,
            eps=self.eps,
            weight_decay=self.weight_decay,
            decoupled=self._name == "adamw",
        )


class AdamW(Adam):
    """AdamW (decoupled weight decay: p *= 1 - lr*wd before the Adam step), as
    torch.optim.AdamW — including its default weight_decay of 0.01.

    Example:
        >>> import rnnrs
        >>> rnnrs.AdamW(lr=1e-3).spec()["weight_decay"]
        0.01
    """

    _name = "adamw"

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(lr, betas, eps, weight_decay)
