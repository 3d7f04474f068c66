"""The arguments of the n-gram API: sentences (strings or token lists) as whitespace-separated
lines, file paths, token-id arrays, memory sizes and temporary folders, checked with errors
naming the argument."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]
Sentences = Iterable[Union[str, Sequence[str]]]
# What the n-gram models read text from: a string is text, a Path a file, anything else
# an iterable of sentences (see text_lines).
Text = Union[str, "os.PathLike[str]", Sentences]


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


def text_lines(text: Text, name: str) -> list[str]:
    """The sentences of ``text`` as lines: a ``str`` is text (one sentence per line: a
    single sentence, or many separated by newlines), a path object (``pathlib.Path``) a
    UTF-8 file with one sentence per line, anything else an iterable of sentences (strings,
    or lists of tokens). A string that is one word naming an existing file is refused: it
    would be read as text, which is rarely what was meant.

    Example:
        >>> text_lines("the cat sat\\nthe end", "text")
        ['the cat sat', 'the end']
        >>> text_lines([["the", "cat"], "a dog"], "text")
        ['the cat', 'a dog']
    """
    if isinstance(text, str):
        if text.strip() and len(text.split()) == 1 and Path(text.strip()).is_file():
            raise TypeError(
                f"{name}: a string is read as text, and {text!r} names a file: pass "
                f"pathlib.Path({text.strip()!r}) to read the file"
            )
        return text.split("\n")
    if isinstance(text, os.PathLike):
        return file_path(text, name).read_text(encoding="utf-8").split("\n")
    return sentence_lines(text, name)


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


_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([bkmgtp%]?)", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def physical_memory() -> int:
    """Bytes of physical memory of this machine."""
    return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))


def parse_memory(size: Union[int, str], name: str = "memory") -> int:
    """Bytes in a memory size as lmplz's ``-S`` takes it: a number with a suffix ``K``,
    ``M``, ``G``, ``T`` (powers of 1024; ``b`` or none: bytes) or ``%`` of the physical
    memory; an int is bytes.

    Example:
        >>> parse_memory("1G"), parse_memory("500M"), parse_memory("1.5k"), parse_memory(4096)
        (1073741824, 524288000, 1536, 4096)
        >>> parse_memory("50%") == physical_memory() // 2
        True
    """
    if isinstance(size, bool) or not isinstance(size, (int, str)):
        raise TypeError(f"{name}: expected a size such as '1G' or a number of bytes, got {size!r}")
    if isinstance(size, int):
        value = size
    else:
        match = _SIZE.fullmatch(size.strip())
        if match is None:
            raise ValueError(f"{name}: expected a size such as 1G, 500M or 80%, got {size!r}")
        number, unit = float(match.group(1)), match.group(2).lower()
        if unit == "%":
            if not 0 < number <= 100:
                raise ValueError(f"{name}: a percentage must be in (0, 100], got {size!r}")
            value = int(physical_memory() * number / 100)
        else:
            value = int(number * _UNITS[unit])
    if value <= 0:
        raise ValueError(f"{name}: must be > 0, got {size!r}")
    return value


def temp_folder(temp_dir: Optional[PathLike]) -> Path:
    """The folder for temporary files (default: the system's), checked to be a writable
    directory."""
    p = Path(tempfile.gettempdir()) if temp_dir is None else file_path(temp_dir, "temp_dir", False)
    if not p.is_dir():
        raise NotADirectoryError(f"temp_dir: not a directory: {p}")
    if not os.access(p, os.W_OK | os.X_OK):
        raise PermissionError(f"temp_dir: not writable: {p}")
    return p


def sentence_texts(sentences: Text, name: str = "sentences") -> list[str]:
    """Sentences as lines, for scoring each one: ``sentences`` read as :func:`text_lines`
    reads text (a ``str`` is text, a path object a file, else an iterable of sentences),
    empty lines kept (sentences of no word), no line after a final newline."""
    lines = text_lines(sentences, name)
    if isinstance(sentences, (str, os.PathLike)) and len(lines) > 1 and lines[-1] == "":
        return lines[:-1]
    return lines
