"""rnnrs: language models on the CPU — n-gram and recurrent (RNN, LSTM, GRU) — with a Rust core.

The Rust extension ``rnnrs._core`` is used when it is present; otherwise the NumPy
reference implementation serves. ``RNNRS_BACKEND=numpy|rust`` forces one.

Example:
    >>> import rnnrs
    >>> rnnrs.backend() in ("rust", "numpy")
    True
"""

from __future__ import annotations

from ._backend import backend, rust_available
from .errors import (
    ArpaError,
    BackendUnavailableError,
    CheckpointError,
    FormatError,
    RnnrsError,
    TrainingDivergedError,
)
from .threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "ArpaError",
    "BackendUnavailableError",
    "CheckpointError",
    "FormatError",
    "RnnrsError",
    "TrainingDivergedError",
    "__version__",
    "backend",
    "get_num_threads",
    "rust_available",
    "set_num_threads",
]
