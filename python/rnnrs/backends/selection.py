"""Backend selection: the Rust core when ``rnnrs._core`` imports, else NumPy.

``RNNRS_BACKEND=numpy|rust`` forces one for the whole process; a model's ``backend=``
argument chooses per model. :func:`backend` reports the process default.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Optional

from ..errors import BackendUnavailableError

BACKENDS = ("rust", "numpy")

_core: Optional[ModuleType]
_core_import_error: Optional[ImportError]
try:
    from .. import _core

    _core_import_error = None
except ImportError as exc:  # the extension was not built: the NumPy backend serves
    _core = None
    _core_import_error = exc

_BUILD_HINT = (
    "the Rust extension rnnrs._core is not available ({reason}); build it with "
    "`pip install .` (or `maturin develop --release`) from a source checkout, "
    "or use backend='numpy'"
)


def rust_available() -> bool:
    """True when the compiled Rust core can be imported.

    Example:
        >>> import rnnrs
        >>> isinstance(rnnrs.rust_available(), bool)
        True
    """
    return _core is not None


def core() -> ModuleType:
    """The compiled module ``rnnrs._core``; raises BackendUnavailableError when absent."""
    if _core is None:
        raise BackendUnavailableError(_BUILD_HINT.format(reason=_core_import_error))
    return _core


def resolve_backend(requested: Optional[str] = None) -> str:
    """Return the backend to use: ``requested`` if given, else ``RNNRS_BACKEND``, else the
    best available ("rust" when the extension imports, "numpy" otherwise).

    Raises ValueError for an unknown name and BackendUnavailableError for "rust" when the
    extension is absent.

    Example:
        >>> from rnnrs.backends.selection import resolve_backend
        >>> resolve_backend("numpy")
        'numpy'
    """
    name = requested
    source = "backend"
    if name is None:
        env = os.environ.get("RNNRS_BACKEND", "").strip().lower()
        if env:
            name, source = env, "RNNRS_BACKEND"
    if name is None:
        return "rust" if _core is not None else "numpy"
    if not isinstance(name, str) or name.lower() not in BACKENDS:
        raise ValueError(f"{source}: expected one of {', '.join(BACKENDS)}, got {name!r}")
    name = name.lower()
    if name == "rust":
        core()
    return name


def backend() -> str:
    """The process-wide default backend: "rust" or "numpy".

    Example:
        >>> import rnnrs
        >>> rnnrs.backend() in ("rust", "numpy")
        True
    """
    return resolve_backend(None)
