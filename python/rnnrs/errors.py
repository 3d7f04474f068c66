"""Exception classes of rnnrs.

Both backends raise these same classes: the Rust core maps each of its error variants onto
one of them (the table is in src/python/errors.rs), and the NumPy backend raises them
directly. Bad arguments raise the builtin ``ValueError`` / ``TypeError``; missing paths raise
``FileNotFoundError``. Each class also derives from the builtin that code written without
rnnrs in mind would catch: ``FormatError`` is a ``ValueError``, ``TrainingDivergedError`` a
``FloatingPointError``, ``NotFittedError`` a ``RuntimeError``.

Example:
    >>> import rnnrs
    >>> issubclass(rnnrs.ArpaError, rnnrs.RnnrsError)
    True
"""

from __future__ import annotations

from typing import Optional


class RnnrsError(Exception):
    """Base class of every rnnrs-specific error."""


class BackendUnavailableError(RnnrsError, ImportError):
    """The requested backend cannot be used (e.g. "rust" without the compiled extension)."""


class FormatError(RnnrsError, ValueError):
    """A file's content is malformed or of the wrong kind or version."""


class ArpaError(FormatError):
    """A malformed ARPA language-model file; the message names the line."""


class CheckpointError(FormatError):
    """A missing, half-written or incompatible checkpoint."""


class NotFittedError(RnnrsError, RuntimeError):
    """A call that needs a fitted model was made on one that is not fitted or loaded yet."""


class TrainingDivergedError(RnnrsError, FloatingPointError):
    """Training produced a non-finite loss or gradient.

    ``step`` is the index of the failing step (within the engine call that raised it, or
    the global training step once the Trainer re-raises it), or None when unknown.
    """

    def __init__(self, message: str, step: Optional[int] = None) -> None:
        super().__init__(message)
        self.step = step


__all__ = [
    "ArpaError",
    "BackendUnavailableError",
    "CheckpointError",
    "FormatError",
    "NotFittedError",
    "RnnrsError",
    "TrainingDivergedError",
]
