"""Building the engine of a backend (docs/backends.md: one engine class per backend)."""

from __future__ import annotations

from typing import Any, Optional

from ._backend import core, resolve_backend
from .errors import BackendUnavailableError


def choose_backend(requested: Optional[str]) -> str:
    """The backend a model uses: ``resolve_backend``'s answer, except that an unrequested
    "rust" (the default or RNNRS_BACKEND) falls back to "numpy" while the compiled core has
    no RustEngine yet; an explicit backend="rust" then raises BackendUnavailableError."""
    name = resolve_backend(requested)
    # The Rust neural engine is built separately from the extension's other parts.
    if name == "rust" and not hasattr(core(), "RustEngine"):
        if requested is not None:
            raise BackendUnavailableError(
                "backend='rust': this build of rnnrs._core has no RustEngine (the Rust "
                "neural engine is not built); use backend='numpy'"
            )
        return "numpy"
    return name


def make_engine(config: dict[str, Any], backend: str) -> Any:
    """A new engine of ``backend`` for a normalized RNNLM ``config``."""
    if backend == "rust":
        return core().RustEngine(config)
    from .reference.engine import NumpyEngine

    return NumpyEngine(config)
