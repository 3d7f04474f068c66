"""Corpora: read UTF-8 text (whole or streamed), the standard-library corpus, and
train/valid/test splits.

Example:
    >>> from rnnrs.text.corpus import split_corpus
    >>> split_corpus("abcdefghij", valid=0.2, test=0.1)
    ('abcdefg', 'hi', 'j')
"""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Optional, TypeVar

import numpy as np

from ..errors import FormatError
from ..io.jsonfile import PathLike

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


__all__ = [
    "iter_blocks",
    "iter_lines",
    "read_text",
    "split_corpus",
    "stdlib_corpus",
    "stdlib_files",
]
