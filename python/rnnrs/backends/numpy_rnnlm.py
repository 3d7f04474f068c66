"""NumpyEngine: the engine contract of docs/backends.md on the NumPy reference kernels.

Parameters, optimizer and dropout generator live in :class:`~rnnrs.backends.numpy_flat.FlatEngine`.
The engine computes in float32 like the Rust core; ``dtype=np.float64`` (a reference-only
constructor keyword) gives a float64 engine for gradient checks.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..reference.cells import State, state_size
from ..reference.lengths import check_lengths
from ..reference.lm import (
    class_output_loss,
    is_class_softmax,
    lm_forward,
    lm_hidden,
    lm_loss_and_grads,
    parameter_shapes,
    targets_time_major,
)
from ..reference.loss import cross_entropy, log_softmax
from .arrays import as_token_array, check_state
from .numpy_flat import FlatEngine, optional_positive, positive_int


class NumpyEngine(FlatEngine):
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
        super().__init__(parameter_shapes(self.config), self.config["seed"], dtype)

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
        s0 = self._state(state, len(xa))
        if is_class_softmax(self.config):
            h2, final, _ = lm_hidden(self._params, self.config, xa, s0)
            loss, _ = class_output_loss(self._params, self.config, h2, targets_time_major(ya))
            return loss, final
        logits, final, _ = lm_forward(self._params, self.config, xa, s0)
        loss, _, _ = cross_entropy(logits, targets_time_major(ya))
        return loss, final

    def logits(self, x: Any, state: Any) -> tuple[np.ndarray, State]:
        """(logits float32 (B, T, V), final state), no dropout; with the class softmax the
        logits are the exact log-probabilities."""
        xa = as_token_array(x, "x", self.config["vocab_size"])
        b, t = xa.shape
        logits, final, _ = lm_forward(self._params, self.config, xa, self._state(state, b))
        out = logits.reshape(t, b, -1).transpose(1, 0, 2)
        return np.ascontiguousarray(out, dtype=np.float32), final

    def token_nll(
        self, x: Any, y: Any, state: Any, lengths: Any = None
    ) -> tuple[np.ndarray, State]:
        """(negative log-likelihood float64 (B, T) of every target, final state), no
        dropout: the spec of the Rust engine's ``token_nll`` (src/lm/model.rs). With
        ``lengths`` (B) in 1..=T, the targets of row b at steps >= lengths[b] are padding:
        0, not scored."""
        xa, ya = self._xy(x, y)
        steps = None if lengths is None else check_lengths(lengths, xa.shape[1], xa.shape[0])
        logits, final = self.logits(xa, state)
        logp = log_softmax(logits.astype(np.float64))
        nll = -np.take_along_axis(logp, ya[..., None].astype(np.int64), axis=2)[..., 0]
        if steps is not None:
            nll[np.arange(xa.shape[1])[None, :] >= steps[:, None]] = 0.0
        return nll, final

    def step_logits(self, tokens: Any, state: Any) -> tuple[np.ndarray, State]:
        """One time step: tokens (B,) -> (logits float32 (B, V), new state)."""
        ids = as_token_array(tokens, "tokens", self.config["vocab_size"], ndim=1)
        logits, final = self.logits(ids[:, None], state)
        return logits[:, 0, :], final

    def evaluate(self, stream: Any, bptt: int) -> tuple[float, int]:
        """(summed NLL in float64, number of targets) over a batchified (B, N) stream, in
        chunks of ``bptt`` with the state carried from chunk to chunk, no dropout."""
        data = self._stream(stream, "stream")
        bptt = positive_int(bptt, "bptt")
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
        self._require_optimizer()
        data = self._stream(stream, "stream")
        bptt = positive_int(bptt, "bptt")
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
        clip_norm = optional_positive(clip_norm, "clip_norm")
        clip_value = optional_positive(clip_value, "clip_value")
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
                loss, grads, nxt = lm_loss_and_grads(
                    self._params, self.config, x, y, cur, self._rng
                )
                norm = self._update(k, loss, grads, float(lrs_a[k]), clip_norm, clip_value)
                losses[k], norms[k] = loss, norm
                cur = nxt
        return losses, norms, cur
