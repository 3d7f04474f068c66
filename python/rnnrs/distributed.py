"""``rnnrs.distributed``: n-gram counting on a Dask cluster (``pip install 'rnnrs[dask]'``).
The public name of :mod:`rnnrs.ngram.distributed`, where it is documented.

Example:
    >>> from rnnrs import distributed
    >>> sorted(distributed.__all__)
    ['count', 'fit']
"""

from __future__ import annotations

from .ngram.distributed import count, fit

__all__ = ["count", "fit"]
