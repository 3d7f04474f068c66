"""Corpora and batches: read UTF-8 text (whole or streamed), the standard-library corpus,
train/valid/test splits, and batching for truncated BPTT.

Batching follows PyTorch's word_language_model: :func:`batchify` cuts one id sequence into
``B`` equal streams (dropping the remainder) laid out as rows of a ``(B, N)`` array — the
transpose of PyTorch's ``(N, B)`` — and :func:`bptt_batches` walks them in chunks of ``T``
steps, ``y`` being ``x`` shifted by one.

Example:
    >>> import numpy as np
    >>> from rnnrs.data import batchify, bptt_batches
    >>> stream = batchify(np.arange(10), batch_size=2)
    >>> stream.tolist()
    [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    >>> [(x.tolist(), y.tolist()) for x, y in bptt_batches(stream, bptt=3)]
    [([[0, 1, 2], [5, 6, 7]], [[1, 2, 3], [6, 7, 8]]), ([[3], [8]], [[4], [9]])]
"""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Optional, TypeVar, Union

import numpy as np

from ._jsonfile import PathLike
from .errors import FormatError

BLOCK_SIZE = 1 << 20
_ERRORS = ("strict", "replace")

T = TypeVar("T", str, np.ndarray, Sequence[int])


def _check_errors(errors: str) -> None:
    if errors not in _ERRORS:
        raise ValueError(f"errors: expected 'strict' or 'replace', got {errors!r}")


def _decode(data: bytes, path: Path, offset: int, line: int, errors: str) -> str:
    """Decode ``data`` (which starts at byte ``offset``, on line ``line`` of ``path``)."""
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as exc:
        bad_line = line + data.count(b"\n", 0, exc.start)
        raise FormatError(
            f"{path}: invalid UTF-8 at line {bad_line}, byte offset {offset + exc.start} "
            f"(byte 0x{data[exc.start]:02x}: {exc.reason}); "
            "pass errors='replace' to read it with U+FFFD in place of bad bytes"
        ) from None


def _utf8_boundary(buf: bytes) -> int:
    """The last place among the final 4 bytes of ``buf`` where a UTF-8 character starts, so
    cutting there splits no character (``len(buf)`` when none starts there: invalid data)."""
    for cut in range(len(buf) - 1, max(len(buf) - 5, -1), -1):
        if buf[cut] & 0xC0 != 0x80:
            return cut
    return len(buf)


def iter_blocks(
    path: PathLike, *, block_size: int = BLOCK_SIZE, errors: str = "strict"
) -> Iterator[str]:
    """Stream a UTF-8 file as text blocks of about ``block_size`` bytes, with bounded memory.

    Blocks end at a line end where the block holds one (a longer line is cut at a character
    boundary); joined they give the whole file. Invalid UTF-8 raises :class:`rnnrs.FormatError`
    naming the file, line and byte offset, unless ``errors="replace"``.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "t.txt"
        >>> _ = path.write_text("one\\ntwo\\nthree\\n")
        >>> list(iter_blocks(path, block_size=8))
        ['one\\ntwo\\n', 'three\\n']
    """
    _check_errors(errors)
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 4:
        raise ValueError(f"block_size: expected an int >= 4, got {block_size!r}")
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"expected a text file, got a directory: {p}")
    with open(p, "rb") as f:
        carry, offset, line = b"", 0, 1
        while True:
            data = f.read(block_size)
            buf = carry + data
            if not buf:
                return
            if not data:
                cut = len(buf)
            else:
                cut = buf.rfind(b"\n") + 1
                if cut == 0:
                    cut = _utf8_boundary(buf)
            chunk, carry = buf[:cut], buf[cut:]
            if chunk:
                yield _decode(chunk, p, offset, line, errors)
            offset += len(chunk)
            line += chunk.count(b"\n")


def iter_lines(path: PathLike, *, errors: str = "strict") -> Iterator[str]:
    """Stream a UTF-8 file line by line (each line keeps its ``"\\n"``), bounded memory.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "t.txt"
        >>> _ = path.write_text("a b\\nc\\n")
        >>> list(iter_lines(path))
        ['a b\\n', 'c\\n']
    """
    for block in iter_blocks(path, errors=errors):
        yield from block.splitlines(keepends=True)


def read_text(path: PathLike, *, errors: str = "strict") -> str:
    """The whole content of a UTF-8 text file (newlines kept as they are, CRLF included).

    Invalid UTF-8 raises :class:`rnnrs.FormatError` naming the file, line and byte offset;
    ``errors="replace"`` reads it with U+FFFD in place of the bad bytes.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "t.txt"
        >>> _ = path.write_bytes(b"caf\\xc3\\xa9\\r\\n")
        >>> read_text(path)
        'café\\r\\n'
    """
    return "".join(iter_blocks(path, errors=errors))


def stdlib_files() -> list[Path]:
    """The ``*.py`` files of the running Python's standard library (without site-packages),
    sorted by path: a real corpus that every machine with Python has.

    Example:
        >>> files = stdlib_files()
        >>> any(f.name == "os.py" for f in files)
        True
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "__pycache__"}
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        files.extend(Path(dirpath) / name for name in filenames if name.endswith(".py"))
    return sorted(files, key=lambda f: f.relative_to(root).as_posix())


def stdlib_corpus(*, max_files: Optional[int] = None) -> str:
    """The text of :func:`stdlib_files` concatenated in order (the first ``max_files`` when
    given). The few bytes that are not UTF-8 (in test data files) read as U+FFFD.

    Example:
        >>> text = stdlib_corpus(max_files=2)
        >>> len(text) > 0
        True
    """
    files = stdlib_files()
    if max_files is not None:
        files = files[:max_files]
    return "".join(read_text(f, errors="replace") for f in files)


def split_corpus(data: T, *, valid: float = 0.05, test: float = 0.05) -> tuple[T, T, T]:
    """Split ``data`` (text, a list or an array) into contiguous train, valid and test parts.

    The train part is the first ``int(n * (1 - valid - test))`` items, the test part starts at
    ``int(n * (1 - test))``: ``valid=0.1, test=0`` gives the usual "first 90% train".

    Example:
        >>> split_corpus("abcdefghij", valid=0.2, test=0.1)
        ('abcdefg', 'hi', 'j')
    """
    for name, frac in (("valid", valid), ("test", test)):
        if not isinstance(frac, (int, float)) or isinstance(frac, bool) or not 0 <= frac < 1:
            raise ValueError(f"{name}: expected a fraction in [0, 1), got {frac!r}")
    if valid + test >= 1:
        raise ValueError(f"valid + test: must leave data to train on, got {valid} + {test}")
    n = len(data)
    a, b = int(n * (1 - valid - test)), int(n * (1 - test))
    return data[:a], data[a:b], data[b:]


def _as_ids(ids: Union[Sequence[int], np.ndarray], name: str = "ids") -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of token ids, got shape {arr.shape}")
    if arr.size and (arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name}: expected integer token ids, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > np.iinfo(np.uint32).max):
        raise ValueError(f"{name}: token ids must be in [0, 2**32), got {arr.min()}..{arr.max()}")
    return arr.astype(np.uint32, copy=False)


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def batchify(ids: Union[Sequence[int], np.ndarray], batch_size: int) -> np.ndarray:
    """Cut ``ids`` into ``batch_size`` parallel streams: a C-contiguous ``(B, N)`` uint32 array
    whose row ``b`` is ``ids[b*N:(b+1)*N]`` with ``N = len(ids) // B`` (the remainder is
    dropped), as PyTorch's word_language_model does (it stores the transpose, ``(N, B)``).

    Example:
        >>> batchify([1, 2, 3, 4, 5, 6, 7], batch_size=3).tolist()
        [[1, 2], [3, 4], [5, 6]]
    """
    arr = _as_ids(ids)
    b = _check_count(batch_size, "batch_size")
    n = arr.size // b
    if n < 1:
        raise ValueError(f"batch_size: {b} streams need at least {b} ids, got {arr.size}")
    return np.ascontiguousarray(arr[: b * n].reshape(b, n))


def bptt_batches(stream: np.ndarray, bptt: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chunks ``(x, y)`` of a batchified ``(B, N)`` stream for truncated BPTT: for
    ``s = 0, bptt, 2*bptt, ...`` below ``N - 1``, ``T = min(bptt, N - 1 - s)``,
    ``x = stream[:, s:s+T]`` and ``y = stream[:, s+1:s+1+T]`` (views, no copies).

    Example:
        >>> import numpy as np
        >>> [x.shape for x, _ in bptt_batches(np.zeros((4, 10), np.uint32), bptt=4)]
        [(4, 4), (4, 4), (4, 1)]
    """
    stream = np.asarray(stream)
    if stream.ndim != 2:
        raise ValueError(f"stream: expected a (batch, N) array from batchify, got {stream.shape}")
    t = _check_count(bptt, "bptt")
    n = stream.shape[1]
    for s in range(0, n - 1, t):
        length = min(t, n - 1 - s)
        yield stream[:, s : s + length], stream[:, s + 1 : s + 1 + length]


def random_chunks(
    ids: Union[Sequence[int], np.ndarray],
    seq_len: int,
    batch_size: int,
    *,
    seed: int = 0,
    num_batches: Optional[int] = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches ``(x, y)`` of ``batch_size`` chunks taken at random offsets of ``ids`` (the
    nanoGPT way): ``x[i] = ids[s_i : s_i+seq_len]``, ``y[i] = ids[s_i+1 : s_i+1+seq_len]``.
    Offsets come from ``numpy.random.default_rng(seed)``, so a seed gives the same batches;
    ``num_batches=None`` never stops.

    Example:
        >>> x, y = next(random_chunks(list(range(100)), seq_len=5, batch_size=2, seed=1))
        >>> x.shape, bool((y == x + 1).all())
        ((2, 5), True)
    """
    arr = _as_ids(ids)
    t = _check_count(seq_len, "seq_len")
    b = _check_count(batch_size, "batch_size")
    if num_batches is not None:
        num_batches = _check_count(num_batches, "num_batches")
    if arr.size < t + 1:
        raise ValueError(f"seq_len: chunks of {t} need at least {t + 1} ids, got {arr.size}")
    rng = np.random.default_rng(seed)
    steps = np.arange(t)
    k = 0
    while num_batches is None or k < num_batches:
        starts = rng.integers(0, arr.size - t, size=b)
        idx = starts[:, None] + steps
        yield arr[idx], arr[idx + 1]
        k += 1


__all__ = [
    "batchify",
    "bptt_batches",
    "iter_blocks",
    "iter_lines",
    "random_chunks",
    "read_text",
    "split_corpus",
    "stdlib_corpus",
    "stdlib_files",
]
