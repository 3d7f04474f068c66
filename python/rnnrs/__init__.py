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
from .checkpoint import load, load_training_state
from .errors import (
    ArpaError,
    BackendUnavailableError,
    CheckpointError,
    FormatError,
    NotFittedError,
    RnnrsError,
    TrainingDivergedError,
)
from .layers import GRU, LSTM, RNN
from .models import RNNLM
from .ngram import NGramCounts, NGramLM
from .optim import SGD, Adam, AdamW
from .schedules import ConstantLR, CosineWithWarmup, ReduceOnPlateau, StepLR
from .threads import get_num_threads, set_num_threads
from .tokenize import BPETokenizer, CharTokenizer, WordTokenizer, load_tokenizer
from .train import History, Trainer

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "RNNLM",
    "SGD",
    "Adam",
    "AdamW",
    "ArpaError",
    "BPETokenizer",
    "BackendUnavailableError",
    "CharTokenizer",
    "CheckpointError",
    "ConstantLR",
    "CosineWithWarmup",
    "FormatError",
    "History",
    "NGramCounts",
    "NGramLM",
    "NotFittedError",
    "ReduceOnPlateau",
    "RnnrsError",
    "StepLR",
    "Trainer",
    "TrainingDivergedError",
    "WordTokenizer",
    "__version__",
    "backend",
    "get_num_threads",
    "load",
    "load_tokenizer",
    "load_training_state",
    "rust_available",
    "set_num_threads",
]
