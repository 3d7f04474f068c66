"""The arguments of the n-gram API: sentences (strings or token lists) as whitespace-separated
lines, file paths and token-id arrays, checked with errors naming the argument."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]
Sentences = Iterable[Union[str, Sequence[str]]]


def sentence_lines(sentences: Sentences, name: str) -> list[str]:
    """Sentences as whitespace-separated lines (token lists joined with spaces)."""
    if isinstance(sentences, (str, bytes)):
        raise TypeError(f"{name}: expected an iterable of sentences, got a single string")
    lines = []
    for i, s in enumerate(sentences):
        if isinstance(s, str):
            lines.append(s)
        elif isinstance(s, Sequence) and all(isinstance(t, str) for t in s):
            if any(not t or any(c.isspace() for c in t) for t in s):
                raise ValueError(f"{name}: sentence {i} has an empty token or one with spaces")
            lines.append(" ".join(s))
        else:
            raise TypeError(
                f"{name}: sentence {i} should be a string or a list of string tokens, "
                f"got {type(s).__name__}"
            )
    return lines


def file_path(path: PathLike, name: str, must_exist: bool = True) -> Path:
    """``path`` as a Path (TypeError for another type; FileNotFoundError when it must exist
    and is not a file)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a path, got {type(path).__name__}")
    p = Path(path)
    if must_exist and not p.is_file():
        raise FileNotFoundError(f"{name}: no such file: {p}")
    return p


def id_array(ids: Any, name: str) -> np.ndarray:
    """``ids`` as a C-contiguous 1-D uint32 array (the n-gram engines' id type)."""
    a = np.asarray(ids)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of token ids, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name}: expected integer token ids, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() > np.iinfo(np.uint32).max):
        raise ValueError(f"{name}: token ids must be in [0, 2**32), got {a.min()}..{a.max()}")
    return np.ascontiguousarray(a, dtype=np.uint32)
