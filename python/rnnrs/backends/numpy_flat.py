"""What the NumPy engines share: parameters in one flat buffer with named views (likewise
their gradients and the optimizer's moments, so clipping and the optimizer step are single
vectorised operations), the optimizer, one training step's clip-and-update, and the dropout
generator's state. :class:`~rnnrs.backends.numpy_rnnlm.NumpyEngine` and
:class:`~rnnrs.backends.numpy_classifier.NumpyClassifierEngine` build on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np

from ..errors import TrainingDivergedError
from ..reference.clip import NORM_EPS, global_norm
from ..reference.optim import adam_step, sgd_step
from .arrays import check_param_dict

_RNG_WORDS = 6  # PCG64 state as uint64 words: state hi/lo, inc hi/lo, has_uint32, uinteger
_MASK64 = (1 << 64) - 1


def check_optimizer_spec(spec: Any) -> dict[str, Any]:
    """Validate an optimizer spec (see docs/backends.md) and return it complete."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise TypeError("spec: expected a dict with a 'name' key")
    name = spec["name"]
    wd = float(spec.get("weight_decay", 0.0))
    if wd < 0:
        raise ValueError(f"spec['weight_decay']: expected >= 0, got {wd}")
    if name == "sgd":
        momentum = float(spec.get("momentum", 0.0))
        nesterov = bool(spec.get("nesterov", False))
        if momentum < 0:
            raise ValueError(f"spec['momentum']: expected >= 0, got {momentum}")
        if nesterov and momentum == 0:
            raise ValueError("spec['nesterov']: requires momentum > 0")
        return {"name": name, "momentum": momentum, "nesterov": nesterov, "weight_decay": wd}
    if name in ("adam", "adamw"):
        b1, b2 = (float(b) for b in spec.get("betas", (0.9, 0.999)))
        eps = float(spec.get("eps", 1e-8))
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"spec['betas']: expected two floats in [0, 1), got {(b1, b2)}")
        if eps < 0:
            raise ValueError(f"spec['eps']: expected >= 0, got {eps}")
        return {"name": name, "betas": (b1, b2), "eps": eps, "weight_decay": wd}
    raise ValueError(f"spec['name']: expected 'sgd', 'adam' or 'adamw', got {name!r}")


class FlatEngine:
    """Parameters of ``shapes`` (canonical order) in one flat ``dtype`` buffer, their
    gradients likewise, an optimizer over both, and a PCG64 dropout generator from ``seed``."""

    def __init__(self, shapes: Mapping[str, tuple[int, ...]], seed: int, dtype: Any) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype: expected float32 or float64, got {self.dtype}")
        self._shapes = dict(shapes)
        sizes = [int(np.prod(s)) for s in self._shapes.values()]
        self._flat = np.zeros(sum(sizes), dtype=self.dtype)
        self._grad_flat = np.zeros_like(self._flat)
        self._params = self._views(self._flat)
        self._grads = self._views(self._grad_flat)
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._opt: Optional[dict[str, Any]] = None
        self._opt_step = 0
        self._frozen: tuple[str, ...] = ()
        self._opt_bufs: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ parameters

    def _views(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        views, offset = {}, 0
        for name, shape in self._shapes.items():
            n = int(np.prod(shape))
            views[name] = flat[offset : offset + n].reshape(shape)
            offset += n
        return views

    def param_names(self) -> list[str]:
        """Parameter names in canonical order."""
        return list(self._shapes)

    def get_parameters(self) -> dict[str, np.ndarray]:
        """Copies of the parameters (engine dtype, PyTorch layouts)."""
        return {n: v.copy() for n, v in self._params.items()}

    def set_parameters(self, params: dict[str, np.ndarray]) -> None:
        """Copy every tensor in; ValueError naming the tensor on a missing name or shape."""
        check_param_dict(params, self._shapes)
        for n, v in self._params.items():
            v[...] = np.asarray(params[n], dtype=self.dtype)

    # ------------------------------------------------------------------ training

    def configure_optimizer(self, *, frozen: Sequence[str] = (), **spec: Any) -> None:
        """Set the optimizer from its spec as keywords (see docs/backends.md) and reset its
        state. The tensors named in ``frozen`` are not trained: their gradients count for
        nothing and their values stay (src/train/optim.rs, ``Optimizer::freeze``)."""
        unknown = [n for n in frozen if n not in self._params]
        if unknown:
            raise ValueError(f"frozen: no parameter named {unknown[0]!r}")
        self._frozen = tuple(frozen)
        self._opt = check_optimizer_spec(spec)
        self._opt_step = 0
        if self._opt["name"] == "sgd":
            names = ["momentum_buffer"] if self._opt["momentum"] != 0 else []
        else:
            names = ["exp_avg", "exp_avg_sq"]
        self._opt_bufs = {n: np.zeros_like(self._flat) for n in names}

    def _require_optimizer(self) -> None:
        if self._opt is None:
            raise ValueError("optimizer: call configure_optimizer(spec) before train_steps")

    def _optimizer_step(self, lr: float) -> None:
        opt = self._opt
        if opt is None:
            raise ValueError("optimizer: call configure_optimizer(spec) before train_steps")
        self._opt_step += 1
        if opt["name"] == "sgd":
            sgd_step(
                self._flat,
                self._grad_flat,
                self._opt_bufs.get("momentum_buffer"),
                lr=lr,
                momentum=opt["momentum"],
                nesterov=opt["nesterov"],
                weight_decay=opt["weight_decay"],
                first_step=self._opt_step == 1,
            )
        else:
            adam_step(
                self._flat,
                self._grad_flat,
                self._opt_bufs["exp_avg"],
                self._opt_bufs["exp_avg_sq"],
                step=self._opt_step,
                lr=lr,
                betas=opt["betas"],
                eps=opt["eps"],
                weight_decay=opt["weight_decay"],
                decoupled=opt["name"] == "adamw",
            )

    def _update(
        self,
        k: int,
        loss: float,
        grads: Mapping[str, np.ndarray],
        lr: float,
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> float:
        """Step ``k`` of a train_steps call after its backward: gather ``grads`` into the
        flat buffer, stop on a non-finite loss or norm (TrainingDivergedError, parameters
        untouched), clip by norm then by value, and take the optimizer step with ``lr``.
        Returns the gradient norm before clipping."""
        for n, g in self._grads.items():
            g[...] = 0.0 if n in self._frozen else grads[n]
        norm = global_norm([self._grad_flat])
        if not (np.isfinite(loss) and np.isfinite(norm)):
            raise TrainingDivergedError(
                f"training diverged at step {k} of this call: loss {loss}, "
                f"gradient norm {norm} (lr {lr})",
                step=k,
            )
        if clip_norm is not None:
            coef = clip_norm / (norm + NORM_EPS)
            if coef < 1.0:
                self._grad_flat *= np.asarray(coef, dtype=self.dtype)
        if clip_value is not None:
            np.clip(self._grad_flat, -clip_value, clip_value, out=self._grad_flat)
        kept = {n: self._params[n].copy() for n in self._frozen}
        self._optimizer_step(lr)
        for n, value in kept.items():
            self._params[n][...] = value
        return norm

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """``step`` (int64 scalar) and the torch.optim buffers by parameter name."""
        state = {"step": np.asarray(self._opt_step, dtype=np.int64)}
        for buf_name, flat in self._opt_bufs.items():
            for name, view in self._views(flat).items():
                state[f"{buf_name}.{name}"] = view.copy()
        return state

    def load_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`optimizer_state` (configure the same optimizer first)."""
        if self._opt is None:
            raise ValueError("optimizer: call configure_optimizer(spec) before loading its state")
        expected: dict[str, tuple[int, ...]] = {"step": ()}
        for buf_name in self._opt_bufs:
            for name, shape in self._shapes.items():
                expected[f"{buf_name}.{name}"] = shape
        check_param_dict(state, expected, "state")
        step = np.asarray(state["step"])
        if not np.issubdtype(step.dtype, np.integer) or int(step) < 0:
            raise ValueError(f"state['step']: expected a non-negative integer, got {step}")
        self._opt_step = int(step)
        for buf_name, flat in self._opt_bufs.items():
            for name, view in self._views(flat).items():
                view[...] = np.asarray(state[f"{buf_name}.{name}"], dtype=self.dtype)

    # ------------------------------------------------------------------ RNG

    def rng_state(self) -> np.ndarray:
        """The dropout RNG state (PCG64) as 6 uint64 words."""
        st = self._rng.bit_generator.state
        s, inc = st["state"]["state"], st["state"]["inc"]
        words = [s >> 64, s & _MASK64, inc >> 64, inc & _MASK64, st["has_uint32"], st["uinteger"]]
        return np.array(words, dtype=np.uint64)

    def set_rng_state(self, a: Any) -> None:
        """Restore a state from :meth:`rng_state`."""
        arr = np.asarray(a)
        if arr.shape != (_RNG_WORDS,) or arr.dtype != np.uint64:
            raise ValueError(f"a: expected a uint64 array of shape ({_RNG_WORDS},)")
        w = [int(v) for v in arr]
        self._rng.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": (w[0] << 64) | w[1], "inc": (w[2] << 64) | w[3]},
            "has_uint32": w[4],
            "uinteger": w[5],
        }


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int > 0, else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def optional_positive(value: Any, name: str) -> Optional[float]:
    """None, or ``value`` as a float > 0 (ValueError naming ``name`` otherwise)."""
    if value is None:
        return None
    v = float(value)
    if not v > 0:
        raise ValueError(f"{name}: expected None or a float > 0, got {value!r}")
    return v
