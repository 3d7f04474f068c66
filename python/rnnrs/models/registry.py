"""The registry of model kinds: what ``rnnrs.load`` dispatches on.

A checkpoint's ``model.json`` names the kind of model it holds (``"kind": "RNNLM"``). Each
model class declares its ``kind`` and registers with :func:`register_model`; it saves
through :func:`rnnrs.io.checkpoint.save_model` and is rebuilt by its classmethod
``from_checkpoint(checkpoint, tokenizer, *, backend)``. :func:`load` reads and verifies the
checkpoint, rebuilds the tokenizer saved with it and hands both to the class registered for
the kind; a kind nothing registered is a :class:`rnnrs.CheckpointError`.

Example:
    >>> import rnnrs
    >>> "RNNLM" in model_kinds()
    True
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Optional, Protocol, TypeVar, Union

import numpy as np

from ..errors import CheckpointError, FormatError
from ..io.checkpoint import MODEL_JSON, Checkpoint, read_checkpoint
from ..text.tokenizers import load_tokenizer


class ModelKind(Protocol):
    """What a registered model class provides: its ``kind``, what ``save_model`` writes
    (``config``, ``parameters()``, ``tokenizer``) and the way back from a checkpoint."""

    kind: ClassVar[str]
    tokenizer: Any

    @property
    def config(self) -> dict[str, Any]: ...

    def parameters(self) -> dict[str, np.ndarray]: ...

    @classmethod
    def from_checkpoint(
        cls, checkpoint: Checkpoint, tokenizer: Any, *, backend: Optional[str] = None
    ) -> Any: ...


M = TypeVar("M", bound=ModelKind)

_KINDS: dict[str, type[ModelKind]] = {}


def register_model(cls: type[M]) -> type[M]:
    """Class decorator: :func:`load` rebuilds checkpoints of kind ``cls.kind`` with
    ``cls.from_checkpoint``. A kind belongs to one class (ValueError for a second)."""
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not callable(getattr(cls, "from_checkpoint", None)):
        raise TypeError(
            f"cls: a model kind needs a 'kind' string and a 'from_checkpoint' classmethod, "
            f"{cls.__name__} lacks one"
        )
    registered = _KINDS.setdefault(kind, cls)
    if registered is not cls:
        raise ValueError(f"kind: {kind!r} is already the kind of {registered.__qualname__}")
    return cls


def model_kinds() -> tuple[str, ...]:
    """The kinds of model this rnnrs loads, sorted."""
    return tuple(sorted(_KINDS))


def _tokenizer(document: Mapping[str, Any], where: Path) -> Any:
    """Rebuild a tokenizer from the JSON its ``save`` wrote (via ``rnnrs.load_tokenizer``)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        try:
            return load_tokenizer(path)
        except FormatError as exc:
            message = str(exc).replace(str(path), "tokenizer")
            raise CheckpointError(f"{where / MODEL_JSON}: {message}") from None


def load(directory: Union[str, os.PathLike], *, backend: Optional[str] = None) -> Any:
    """Load the model saved in a checkpoint directory (its tokenizer attached).

    ``backend`` chooses the engine ("rust", "numpy"; default: the process default): a
    checkpoint is the same on both. Raises FileNotFoundError for a missing directory and
    :class:`rnnrs.CheckpointError` for a half-written, damaged, newer or inconsistent one,
    or one of a kind this rnnrs does not know.

    Example:
        >>> import rnnrs
        >>> model = rnnrs.load("run1")  # doctest: +SKIP
        >>> model.generate("To be", 100)  # doctest: +SKIP
    """
    ckpt = read_checkpoint(directory)
    cls = _KINDS.get(ckpt.kind)
    if cls is None:
        known = ", ".join(repr(k) for k in model_kinds())
        raise CheckpointError(
            f"{ckpt.path}: holds a model of kind {ckpt.kind!r}, which this rnnrs does not "
            f"know (it loads {known})"
        )
    tokenizer = None if ckpt.tokenizer is None else _tokenizer(ckpt.tokenizer, ckpt.path)
    return cls.from_checkpoint(ckpt, tokenizer, backend=backend)
