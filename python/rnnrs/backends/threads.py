"""Thread count of the Rust core: ``set_num_threads``, ``get_num_threads``.

The default is ``RNNRS_NUM_THREADS`` when set, else the number of physical cores. The NumPy
backend ignores the setting (NumPy's own BLAS threads are configured by its environment).
"""

from __future__ import annotations

import os
from typing import Optional

from .selection import core, rust_available

_requested: Optional[int] = None

# The most threads rnnrs will run (src/runtime/threads.rs, MAX_THREADS): far more than any
# machine's cores, few enough that building the pool cannot exhaust the process.
MAX_THREADS = 1024


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (1 to 1024) in every later call into the Rust core.

    Example:
        >>> import rnnrs
        >>> rnnrs.set_num_threads(1)
        >>> rnnrs.get_num_threads()
        1
    """
    global _requested
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n: expected a positive int, got {type(n).__name__}")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"n: expected a number of threads in 1..={MAX_THREADS}, got {n}")
    if rust_available():
        core().set_num_threads(n)
    _requested = n


def get_num_threads() -> int:
    """The number of threads the Rust core uses (``set_num_threads``, else
    ``RNNRS_NUM_THREADS``, else the number of physical cores).

    Example:
        >>> import rnnrs
        >>> rnnrs.get_num_threads() >= 1
        True
    """
    if rust_available():
        return int(core().get_num_threads())
    if _requested is not None:
        return _requested
    env = os.environ.get("RNNRS_NUM_THREADS", "").strip()
    if env:
        if not env.isdigit() or not 1 <= int(env) <= MAX_THREADS:
            raise ValueError(
                f"RNNRS_NUM_THREADS: expected an integer in 1..={MAX_THREADS}, got {env!r}"
            )
        return int(env)
    return os.cpu_count() or 1
