"""Small JSON files that rnnrs writes and reads back: atomic writes, checked kind and version.

Example:
    >>> import tempfile, os
    >>> from rnnrs.io.jsonfile import write_json_atomic, read_json_kind
    >>> path = os.path.join(tempfile.mkdtemp(), "t.json")
    >>> write_json_atomic(path, {"kind": "char", "version": 1, "tokens": ["a"]})
    >>> read_json_kind(path, what="tokenizer", versions=(1,))["tokens"]
    ['a']
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any, Union

from ..errors import FormatError
from .atomic import atomic_open

PathLike = Union[str, "os.PathLike[str]"]


def write_json_atomic(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as UTF-8 JSON to ``path`` through a temporary file and ``os.replace``,
    so readers never see a half-written file."""
    with atomic_open(path, "w") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def read_json_kind(
    path: PathLike,
    *,
    what: str,
    versions: Collection[int],
    kinds: Collection[str] | None = None,
) -> dict[str, Any]:
    """Read a JSON object with ``"kind"`` and ``"version"`` fields from ``path``.

    Raises FileNotFoundError for a missing path and :class:`rnnrs.FormatError` (naming the
    file) for invalid JSON, a missing field, a kind outside ``kinds`` or a version outside
    ``versions``.
    """
    p = Path(path)
    if not p.is_file():
        if p.exists():
            raise FormatError(f"{p}: expected a {what} JSON file, found a directory")
        raise FileNotFoundError(f"{what} file not found: {p}")
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{p}: not a valid {what} JSON file ({exc})") from None
    except RecursionError:
        raise FormatError(f"{p}: not a {what} file (JSON nested too deeply)") from None
    if not isinstance(obj, dict) or "kind" not in obj or "version" not in obj:
        raise FormatError(f'{p}: not a {what} file (no "kind" and "version" fields)')
    kind, version = obj["kind"], obj["version"]
    if kinds is not None and kind not in kinds:
        expected = " or ".join(repr(k) for k in kinds)
        raise FormatError(f"{p}: expected a {what} of kind {expected}, found kind {kind!r}")
    if version not in versions:
        known = ", ".join(str(v) for v in versions)
        raise FormatError(
            f"{p}: unsupported {what} version {version!r} (this rnnrs reads version {known})"
        )
    return obj
