"""NumpyEngine: the engine contract of docs/backends.md on the NumPy reference kernels.

All parameters live in one flat buffer with named views (likewise their gradients and the
optimizer's moments), so clipping and the optimizer step are single vectorised operations.
The engine computes in float32 like the Rust core; ``dtype=np.float64`` (a reference-only
constructor keyword) gives a float64 engine for gradient checks.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..errors import TrainingDivergedError
from ..reference.cells import State, state_size
from ..reference.clip import NORM_EPS, global_norm
from ..reference.lm import (
    lm_backward,
    lm_forward,
    lm_loss_and_grads,
    parameter_shapes,
    targets_time_major,
)
from ..reference.loss import cross_entropy
from ..reference.optim import adam_step, sgd_step
from .arrays import as_token_array, check_param_dict, check_state

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


class NumpyEngine:
    """The NumPy backend of RNNLM (see docs/backends.md for every method's contract).

    ``config`` is taken as given: :func:`rnnrs.nn.config.normalize_config` checked it.

    Example:
        >>> import numpy as np, rnnrs
        >>> from rnnrs.nn.config import normalize_config
        >>> cfg = normalize_config({"vocab_size": 5, "hidden_size": 4})
        >>> eng = NumpyEngine(cfg)
        >>> eng.set_parameters(rnnrs.RNNLM(**cfg, backend="numpy").parameters())
        >>> x = np.array([[1, 2, 3]], dtype=np.uint32)
        >>> loss, _ = eng.loss(x, x, None)
        >>> 1.0 < loss < 2.0  # close to ln(5) at initialisation
        True
    """

    def __init__(self, config: dict[str, Any], *, dtype: Any = np.float32) -> None:
        self.config = dict(config)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype: expected float32 or float64, got {self.dtype}")
        self._shapes = parameter_shapes(self.config)
        sizes = [int(np.prod(s)) for s in self._shapes.values()]
        self._flat = np.zeros(sum(sizes), dtype=self.dtype)
        self._grad_flat = np.zeros_like(self._flat)
        self._params = self._views(self._flat)
        self._grads = self._views(self._grad_flat)
        self._rng = np.random.Generator(np.random.PCG64(self.config["seed"]))
        self._opt: Optional[dict[str, Any]] = None
        self._opt_step = 0
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

    # ------------------------------------------------------------------ forward / loss

    def _state(self, state: Any, batch: int) -> State:
        shape = (self.config["num_layers"], batch, self.config["hidden_size"])
        n = state_size(self.config["cell"])
        checked = check_state(state, "state", n, shape, self.dtype)
        if checked is None:
            return tuple(np.zeros(shape, dtype=self.dtype) for _ in range(n))
        return checked

    def _xy(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        vocab = self.config["vocab_size"]
        xa = as_token_array(x, "x", vocab)
        ya = as_token_array(y, "y", vocab)
        if xa.shape != ya.shape:
            raise ValueError(f"y: expected the shape of x {xa.shape}, got {ya.shape}")
        return xa, ya

    def loss_and_grads(
        self, x: Any, y: Any, state: Any, train: bool
    ) -> tuple[float, dict[str, np.ndarray], State]:
        """(mean loss, grads keyed like param_names(), final state); dropout when train."""
        xa, ya = self._xy(x, y)
        s0 = self._state(state, xa.shape[0])
        rng = self._rng if train else None
        loss, grads, final = lm_loss_and_grads(self._params, self.config, xa, ya, s0, rng)
        return loss, grads, final

    def loss(self, x: Any, y: Any, state: Any) -> tuple[float, State]:
        """(mean loss, final state), no dropout, no gradients."""
        xa, ya = self._xy(x, y)
        logits, final, _ = lm_forward(self._params, self.config, xa, self._state(state, len(xa)))
        loss, _, _ = cross_entropy(logits, targets_time_major(ya))
        return loss, final

    def logits(self, x: Any, state: Any) -> tuple[np.ndarray, State]:
        """(logits float32 (B, T, V), final state), no dropout."""
        xa = as_token_array(x, "x", self.config["vocab_size"])
        b, t = xa.shape
        logits, final, _ = lm_forward(self._params, self.config, xa, self._state(state, b))
        out = logits.reshape(t, b, -1).transpose(1, 0, 2)
        return np.ascontiguousarray(out, dtype=np.float32), final

    def step_logits(self, tokens: Any, state: Any) -> tuple[np.ndarray, State]:
        """One time step: tokens (B,) -> (logits float32 (B, V), new state)."""
        ids = as_token_array(tokens, "tokens", self.config["vocab_size"], ndim=1)
        logits, final = self.logits(ids[:, None], state)
        return logits[:, 0, :], final

    def evaluate(self, stream: Any, bptt: int) -> tuple[float, int]:
        """(summed NLL in float64, number of targets) over a batchified (B, N) stream, in
        chunks of ``bptt`` with the state carried from chunk to chunk, no dropout."""
        data = self._stream(stream, "stream")
        bptt = _positive_int(bptt, "bptt")
        total, count = 0.0, 0
        state: Optional[State] = None
        for s in range(0, data.shape[1] - 1, bptt):
            t = min(bptt, data.shape[1] - 1 - s)
            loss, state = self.loss(data[:, s : s + t], data[:, s + 1 : s + 1 + t], state)
            total += loss * data.shape[0] * t
            count += data.shape[0] * t
        return total, count

    def _stream(self, stream: Any, name: str) -> np.ndarray:
        data = as_token_array(stream, name, self.config["vocab_size"])
        if data.shape[1] < 2:
            raise ValueError(f"{name}: expected at least 2 tokens per row, got shape {data.shape}")
        return data

    # ------------------------------------------------------------------ training

    def configure_optimizer(self, **spec: Any) -> None:
        """Set the optimizer from its spec as keywords (see docs/backends.md) and reset its
        state."""
        self._opt = check_optimizer_spec(spec)
        self._opt_step = 0
        if self._opt["name"] == "sgd":
            names = ["momentum_buffer"] if self._opt["momentum"] != 0 else []
        else:
            names = ["exp_avg", "exp_avg_sq"]
        self._opt_bufs = {n: np.zeros_like(self._flat) for n in names}

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

    def train_steps(
        self,
        stream: Any,
        starts: Any,
        bptt: int,
        lrs: Any,
        reset: Any,
        state: Any,
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> tuple[np.ndarray, np.ndarray, State]:
        """Train S steps on chunks of a batchified stream (see docs/backends.md).

        Returns (losses float64 (S,), pre-clip gradient norms float64 (S,), final state).
        """
        if self._opt is None:
            raise ValueError("optimizer: call configure_optimizer(spec) before train_steps")
        data = self._stream(stream, "stream")
        bptt = _positive_int(bptt, "bptt")
        starts_a = np.asarray(starts)
        n_steps = starts_a.shape[0] if starts_a.ndim == 1 else -1
        if n_steps < 0 or not np.issubdtype(starts_a.dtype, np.integer):
            raise TypeError(f"starts: expected a 1-D integer array, got {starts_a.dtype}")
        if n_steps and (starts_a.min() < 0 or starts_a.max() > data.shape[1] - 2):
            raise ValueError(f"starts: expected values in [0, {data.shape[1] - 2}]")
        lrs_a = np.asarray(lrs, dtype=np.float64)
        reset_a = np.asarray(reset, dtype=bool)
        if lrs_a.shape != (n_steps,) or reset_a.shape != (n_steps,):
            raise ValueError(
                f"lrs, reset: expected shape ({n_steps},) like starts, got "
                f"{lrs_a.shape} and {reset_a.shape}"
            )
        if not np.all(np.isfinite(lrs_a)) or np.any(lrs_a < 0):
            raise ValueError("lrs: expected finite learning rates >= 0")
        clip_norm = _optional_positive(clip_norm, "clip_norm")
        clip_value = _optional_positive(clip_value, "clip_value")
        batch = data.shape[0]
        cur = self._state(state, batch)
        losses = np.zeros(n_steps)
        norms = np.zeros(n_steps)
        # Overflow is not an error here: it shows up as a non-finite loss or norm below.
        with np.errstate(all="ignore"):
            for k in range(n_steps):
                s = int(starts_a[k])
                t = min(bptt, data.shape[1] - 1 - s)
                if reset_a[k]:
                    cur = self._state(None, batch)
                x, y = data[:, s : s + t], data[:, s + 1 : s + 1 + t]
                logits, nxt, cache = lm_forward(self._params, self.config, x, cur, self._rng)
                loss, d_logits, _ = cross_entropy(logits, targets_time_major(y))
                grads, _ = lm_backward(d_logits, self._params, self.config, cache)
                for n, g in self._grads.items():
                    g[...] = grads[n]
                norm = global_norm([self._grad_flat])
                if not (np.isfinite(loss) and np.isfinite(norm)):
                    raise TrainingDivergedError(
                        f"training diverged at step {k} of this call: loss {loss}, "
                        f"gradient norm {norm} (lr {lrs_a[k]})",
                        step=k,
                    )
                if clip_norm is not None:
                    coef = clip_norm / (norm + NORM_EPS)
                    if coef < 1.0:
                        self._grad_flat *= np.asarray(coef, dtype=self.dtype)
                if clip_value is not None:
                    np.clip(self._grad_flat, -clip_value, clip_value, out=self._grad_flat)
                self._optimizer_step(float(lrs_a[k]))
                losses[k], norms[k] = loss, norm
                cur = nxt
        return losses, norms, cur

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


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def _optional_positive(value: Any, name: str) -> Optional[float]:
    if value is None:
        return None
    v = float(value)
    if not v > 0:
        raise ValueError(f"{name}: expected None or a float > 0, got {value!r}")
    return v
