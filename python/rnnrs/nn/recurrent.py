"""Recurrent layers for encoders, mirroring torch.nn.RNN / LSTM / GRU (batch_first=True).

``forward`` keeps what ``backward`` needs, as in a manual NumPy training loop; each forward
allows one backward (as torch without ``retain_graph``). Parameters use PyTorch's names and
layouts, so ``layer.parameters()`` loads into the matching torch module with
``load_state_dict``.

Backends: a float32 layer computes in the Rust core (``rnnrs._core.RecurrentStack``) when
the Rust backend is active (see :func:`rnnrs.backend`, or pass ``backend=``), otherwise in
the NumPy reference (``rnnrs.reference.stack``). A float64 layer always runs on NumPy. Both
give the same numbers to fp32 rounding; only the dropout masks differ (each backend draws
them from its own generator seeded by ``seed``).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..backends.arrays import as_float_array, check_param_dict, check_state
from ..backends.engines import rust_recurrent_stack
from ..backends.selection import resolve_backend
from ..reference.cells import State, state_size
from ..reference.stack import stack_backward, stack_forward, stack_shapes
from .config import check_dropout, check_positive_int
from .init import init_parameters


def _layer_backend(requested: Optional[str], dtype: np.dtype) -> str:
    """The backend a layer runs on: the Rust core computes in float32 only."""
    name = resolve_backend(requested)
    if name == "rust" and dtype != np.float32:
        if requested is not None:
            raise ValueError(
                f"backend: the Rust layers compute in float32, got dtype {dtype}; "
                "use dtype=float32 or backend='numpy'"
            )
        return "numpy"
    return name


class _Recurrent:
    """Shared implementation of :class:`RNN`, :class:`LSTM` and :class:`GRU`.

    Arguments as torch's (``batch_first=True``), plus ``seed`` (initial weights and dropout
    masks), ``dtype`` (float32 or float64) and ``backend`` ("rust", "numpy" or None for the
    process default; float64 layers always run on NumPy). ``layer.backend`` tells which runs.
    """

    _cell = "lstm"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        seed: int = 0,
        dtype: Any = np.float32,
        backend: Optional[str] = None,
    ) -> None:
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.bidirectional = bool(bidirectional)
        self.dropout = check_dropout(dropout)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype: expected float32 or float64, got {self.dtype}")
        self.backend = _layer_backend(backend, self.dtype)
        self.training = True
        self._rng = np.random.default_rng(seed)
        self._cache: Optional[dict[str, Any]] = None
        # (batch, time) of the forward the next backward goes through.
        self._pending: Optional[tuple[int, int]] = None
        self._shapes = stack_shapes(
            self._cell, self.input_size, self.hidden_size, self.num_layers, self.bidirectional
        )
        # The generator goes on to draw the NumPy backend's dropout masks.
        params = init_parameters(
            self._shapes, self._rng, hidden_size=self.hidden_size, dtype=self.dtype
        )
        # The weights live in the NumPy dict or in the Rust stack, never in both.
        self._params: dict[str, np.ndarray] = {}
        self._rust: Any = None
        if self.backend == "numpy":
            self._params = params
        else:
            # Initialised above, so both backends start from the same weights; the Rust
            # stack draws its dropout masks from its own generator.
            self._rust = rust_recurrent_stack(
                self._cell,
                self.input_size,
                self.hidden_size,
                num_layers=self.num_layers,
                bidirectional=self.bidirectional,
                dropout=self.dropout,
                seed=int(seed),
            )
            self._rust.set_parameters(params)

    @property
    def cell(self) -> str:
        """The cell name: "rnn_tanh", "rnn_relu", "lstm" or "gru"."""
        return self._cell

    def train(self, mode: bool = True) -> _Recurrent:
        """Training mode (dropout active, as torch); returns self."""
        self.training = bool(mode)
        return self

    def eval(self) -> _Recurrent:
        """Evaluation mode (no dropout); returns self."""
        return self.train(False)

    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of the weights by PyTorch name (weight_ih_l0, ..., *_reverse)."""
        if self._rust is not None:
            return dict(self._rust.get_parameters())
        return {n: v.copy() for n, v in self._params.items()}

    def set_parameters(self, params: dict[str, np.ndarray]) -> None:
        """Replace every weight; ValueError naming a missing or misshapen tensor."""
        check_param_dict(params, self._shapes)
        if self._rust is not None:
            self._rust.set_parameters({n: params[n] for n in self._shapes})
        else:
            self._params = {n: np.array(params[n], dtype=self.dtype) for n in self._shapes}

    def _state_shape(self, batch: int) -> tuple[int, int, int]:
        dirs = 2 if self.bidirectional else 1
        return (self.num_layers * dirs, batch, self.hidden_size)

    def forward(self, x: Any, state: Optional[State] = None) -> tuple[np.ndarray, State]:
        """x (B, T, input_size) floats -> (outputs (B, T, D*H), final state tuple of
        (L*D, B, H): ``(h,)`` or ``(h, c)``). D = 2 when bidirectional.
        """
        xa = as_float_array(x, "x", 3, self.dtype)
        if xa.shape[2] != self.input_size:
            raise ValueError(f"x: expected {self.input_size} features, got shape {xa.shape}")
        if xa.shape[0] == 0 or xa.shape[1] == 0:
            raise ValueError(f"x: expected a non-empty batch and time axis, got {xa.shape}")
        shape = self._state_shape(xa.shape[0])
        n = state_size(self._cell)
        s0 = check_state(state, "state", n, shape, self.dtype)
        self._pending = None
        if self._rust is not None:
            out, final = self._rust.forward(xa, s0, self.training)
            self._pending = (xa.shape[0], xa.shape[1])
            return out, final
        if s0 is None:
            s0 = tuple(np.zeros(shape, dtype=self.dtype) for _ in range(n))
        rng = self._rng if self.training and self.dropout > 0 else None
        out, final, cache = stack_forward(
            self._cell,
            np.ascontiguousarray(xa.transpose(1, 0, 2)),
            s0,
            self._params,
            self.num_layers,
            self.bidirectional,
            self.dropout,
            rng,
        )
        self._cache = cache
        self._pending = (xa.shape[0], xa.shape[1])
        return np.ascontiguousarray(out.transpose(1, 0, 2)), final

    __call__ = forward

    def backward(
        self, d_outputs: Any, d_final_state: Optional[State] = None
    ) -> tuple[np.ndarray, State, dict[str, np.ndarray]]:
        """Gradients through the last :meth:`forward`: d_outputs (B, T, D*H) and optional
        dLoss/d(final state) -> (d_x (B, T, input_size), d_state0, grads by name).
        Each forward allows one backward.
        """
        if self._pending is None:
            raise ValueError("backward: call forward(x) first (each forward allows one backward)")
        batch, t_len = self._pending
        dirs = 2 if self.bidirectional else 1
        d_out = as_float_array(d_outputs, "d_outputs", 3, self.dtype)
        want = (batch, t_len, dirs * self.hidden_size)
        if d_out.shape != want:
            raise ValueError(f"d_outputs: expected shape {want}, got {d_out.shape}")
        d_final = check_state(
            d_final_state,
            "d_final_state",
            state_size(self._cell),
            self._state_shape(batch),
            self.dtype,
        )
        self._pending = None
        if self._rust is not None:
            dx, d_s0, grads = self._rust.backward(d_out, d_final)
            return dx, d_s0, dict(grads)
        assert self._cache is not None  # set by every NumPy forward
        dx, d_s0, grads, _ = stack_backward(
            np.ascontiguousarray(d_out.transpose(1, 0, 2)), d_final, self._cache
        )
        return np.ascontiguousarray(dx.transpose(1, 0, 2)), d_s0, grads


class RNN(_Recurrent):
    """Elman RNN layers, as torch.nn.RNN(batch_first=True): h_t = act(W_ih x_t + b_ih +
    W_hh h_{t-1} + b_hh), act = ``nonlinearity`` ("tanh" or "relu").

    Example:
        >>> import numpy as np, rnnrs
        >>> rnn = rnnrs.RNN(3, 5, nonlinearity="relu")
        >>> out, (h,) = rnn.forward(np.ones((2, 4, 3)))
        >>> out.shape, h.shape
        ((2, 4, 5), (1, 2, 5))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        nonlinearity: str = "tanh",
        seed: int = 0,
        dtype: Any = np.float32,
        backend: Optional[str] = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self._cell = f"rnn_{nonlinearity}"
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size, hidden_size, num_layers, bidirectional, dropout, seed, dtype, backend
        )


class LSTM(_Recurrent):
    """LSTM layers, as torch.nn.LSTM(batch_first=True); gate order i, f, g, o.

    Example:
        >>> import numpy as np, rnnrs
        >>> lstm = rnnrs.LSTM(3, 4, num_layers=2, bidirectional=True)
        >>> out, (h, c) = lstm.forward(np.zeros((1, 6, 3)))
        >>> out.shape, c.shape
        ((1, 6, 8), (4, 1, 4))
    """

    _cell = "lstm"


class GRU(_Recurrent):
    """GRU layers, as torch.nn.GRU(batch_first=True); gate order r, z, n.

    Example:
        >>> import numpy as np, rnnrs
        >>> gru = rnnrs.GRU(2, 3)
        >>> out, (h,) = gru.forward(np.zeros((5, 7, 2)))
        >>> d_x, d_h0, grads = gru.backward(np.ones_like(out))
        >>> d_x.shape, grads["weight_hh_l0"].shape
        ((5, 7, 2), (9, 3))
        >>> rnnrs.GRU(2, 3, backend="numpy").backend, rnnrs.GRU(2, 3, dtype="float64").backend
        ('numpy', 'numpy')
    """

    _cell = "gru"
