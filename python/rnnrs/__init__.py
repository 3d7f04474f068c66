"""rnnrs: language models on the CPU — n-gram and recurrent (RNN, LSTM, GRU) — and recurrent
sequence classifiers, with a Rust core.

The Rust extension ``rnnrs._core`` is used when it is present; otherwise the NumPy
reference implementation serves. ``RNNRS_BACKEND=numpy|rust`` forces one.

Example:
    >>> import rnnrs
    >>> rnnrs.backend() in ("rust", "numpy")
    True
"""

from __future__ import annotations

from .backends.selection import backend, rust_available
from .backends.threads import get_num_threads, set_num_threads
from .errors import (
    ArpaError,
    BackendUnavailableError,
    CheckpointError,
    FormatError,
    NotFittedError,
    RnnrsError,
    TrainingDivergedError,
)
from .io.checkpoint import load_training_state
from .io.word_vectors import WordVectors
from .models.classifier import SequenceClassifier
from .models.interpolated import InterpolatedLM, interpolate
from .models.registry import load
from .models.rnnlm import RNNLM
from .models.seq2seq import Seq2Seq
from .models.tagger import SequenceTagger
from .ngram.counts import NGramCounts
from .ngram.lm import NGramLM
from .nn.classes import frequency_classes
from .nn.recurrent import GRU, LSTM, RNN
from .text.tokenizers import BPETokenizer, CharTokenizer, WordTokenizer, load_tokenizer
from .training.optimizers import SGD, Adam, AdamW
from .training.schedules import ConstantLR, CosineWithWarmup, ReduceOnPlateau, StepLR
from .training.trainer import History, Trainer

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
    "InterpolatedLM",
    "NGramCounts",
    "NGramLM",
    "NotFittedError",
    "ReduceOnPlateau",
    "RnnrsError",
    "Seq2Seq",
    "SequenceClassifier",
    "SequenceTagger",
    "StepLR",
    "Trainer",
    "TrainingDivergedError",
    "WordTokenizer",
    "WordVectors",
    "__version__",
    "backend",
    "frequency_classes",
    "get_num_threads",
    "interpolate",
    "load",
    "load_tokenizer",
    "load_training_state",
    "rust_available",
    "set_num_threads",
]
