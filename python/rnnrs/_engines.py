"""Building the engine of a backend (docs/backends.md: one engine class per backend)."""

from __future__ import annotations

from typing import Any, Optional

from ._backend import core, resolve_backend


def choose_backend(requested: Optional[str]) -> str:
    """The backend a model uses: the argument, else ``RNNRS_BACKEND``, else "rust" when the
    compiled core imports, else "numpy" (see ``rnnrs._backend.resolve_backend``)."""
    return resolve_backend(requested)


def make_engine(config: dict[str, Any], backend: str) -> Any:
    """A new engine of ``backend`` for a normalized RNNLM ``config``."""
    if backend == "rust":
        return core().RustEngine(**config)
    from .reference.engine import NumpyEngine

    return NumpyEngine(config)
