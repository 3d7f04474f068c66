"""n-gram counting on a Dask cluster (``pip install 'rnnrs[dask]'``), public as
``rnnrs.distributed``.

Each worker counts its share of the text with rnnrs's engine (the Rust core, or the NumPy
backend when that is the one asked for), the shards travel between processes as bytes of
the counts format (docs/ngram.md), and are merged in a tree, neighbours with neighbours,
so the merged counts are exactly those of one process counting everything in order: the
model estimated from them writes the same ARPA bytes.

Example (a real cluster: start ``dask scheduler`` and ``dask worker tcp://HOST:8786`` on
the machines, every one with rnnrs installed and the files at the same paths)::

    from dask.distributed import Client
    from rnnrs import distributed

    client = Client("tcp://HOST:8786")
    lm = distributed.fit(["part-000.txt", "part-001.txt"], order=5, client=client)
    lm.to_arpa("model.arpa")
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional, Union

from ..backends.selection import resolve_backend
from .counts import NGramCounts
from .inputs import PathLike
from .lm import NGramLM

__all__ = ["count", "fit"]

Data = Union[Sequence[PathLike], Any]  # paths, or a dask.bag.Bag of sentences


def _dask() -> Any:
    """The ``dask.distributed`` module, or an ImportError saying how to get it."""
    try:
        import dask.bag
        import dask.distributed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "rnnrs.distributed needs Dask: pip install 'rnnrs[dask]' "
            f"(or 'dask[distributed]'): {exc}"
        ) from None
    return dask.distributed


def count_file(
    path: str, order: int, backend: str, memory: Union[int, str, None], temp_dir: Optional[str]
) -> bytes:
    """Count one text file (a task on a worker); returns the counts as bytes."""
    return NGramCounts.count_files(
        [path], order, memory=memory, temp_dir=temp_dir, backend=backend
    ).to_bytes()


def count_lines(lines: Any, order: int, backend: str) -> bytes:
    """Count an iterable of sentences (a partition of a bag); returns the counts as bytes."""
    return NGramCounts(order, backend=backend).add(list(lines)).to_bytes()


def merge_bytes(parts: Sequence[bytes], backend: str) -> bytes:
    """Merge counts given as bytes, in the order given (corpus order); returns bytes.

    Example:
        >>> a = NGramCounts(2, backend="numpy").add(["x y"]).to_bytes()
        >>> b = NGramCounts(2, backend="numpy").add(["y z"]).to_bytes()
        >>> NGramCounts.from_bytes(merge_bytes([a, b], "numpy"), backend="numpy").vocab
        ['<unk>', '<s>', '</s>', 'x', 'y', 'z']
    """
    if len(parts) == 1:
        return parts[0]
    merged = NGramCounts.from_bytes(parts[0], backend=backend)
    for part in parts[1:]:
        merged.merge(NGramCounts.from_bytes(part, backend=backend))
    return merged.to_bytes()


def _merge_task(*parts: bytes, backend: str) -> bytes:
    return merge_bytes(parts, backend)


def _merge_list(parts: Any, backend: str) -> bytes:
    return merge_bytes(list(parts), backend)


def count(
    data: Data,
    order: int,
    *,
    client: Any = None,
    split_every: int = 8,
    workers: Optional[Sequence[str]] = None,
    memory: Union[int, str, None] = None,
    temp_dir: Optional[PathLike] = None,
    backend: Optional[str] = None,
) -> NGramCounts:
    """Count ``data`` on a Dask cluster and return the merged :class:`NGramCounts`.

    ``data``: text file paths (one task per file; the workers must see the same paths) or
    a ``dask.bag.Bag`` of sentences (strings or token lists; one task per partition).
    ``client``: a ``dask.distributed.Client`` (default: the current one). The shards are
    merged ``split_every`` at a time, neighbours together, so the result equals counting
    everything in order in one process. ``workers`` restricts the counting tasks to those
    worker addresses; ``memory`` / ``temp_dir`` bound each file's counting on its worker
    (see :meth:`NGramCounts.count_files`). ``backend`` is the engine the workers and the
    result use (default: this process's).

    Example:
        >>> counts = count(["a.txt", "b.txt"], 5, client=client)  # doctest: +SKIP
    """
    dd = _dask()
    import dask.bag

    if split_every < 2:
        raise ValueError(f"split_every: must be >= 2, got {split_every}")
    b = resolve_backend(backend)
    client = client if client is not None else dd.get_client()
    if isinstance(data, dask.bag.Bag):
        if memory is not None or temp_dir is not None:
            raise ValueError("memory, temp_dir: bound the counting of files, not of a bag")
        item = data.reduction(
            functools.partial(count_lines, order=order, backend=b),
            functools.partial(_merge_list, backend=b),
            split_every=split_every,
        )
        return NGramCounts.from_bytes(client.compute(item).result(), backend=b)
    if isinstance(data, (str, os.PathLike)):
        raise TypeError("data: expected a list of paths or a dask bag, got a single path")
    paths = [str(Path(p)) for p in data]
    if not paths:
        raise ValueError("data: no files to count")
    tmp = None if temp_dir is None else str(temp_dir)
    futures = client.map(
        count_file,
        paths,
        order=order,
        backend=b,
        memory=memory,
        temp_dir=tmp,
        workers=list(workers) if workers is not None else None,
        pure=False,
    )
    while len(futures) > 1:
        futures = [
            client.submit(_merge_task, *futures[i : i + split_every], backend=b, pure=False)
            for i in range(0, len(futures), split_every)
        ]
    return NGramCounts.from_bytes(futures[0].result(), backend=b)


def fit(
    data: Data,
    order: int,
    smoothing: str = "modified_kneser_ney",
    *,
    client: Any = None,
    split_every: int = 8,
    workers: Optional[Sequence[str]] = None,
    memory: Union[int, str, None] = None,
    temp_dir: Optional[PathLike] = None,
    backend: Optional[str] = None,
    **options: Any,
) -> NGramLM:
    """Count on the cluster (:func:`count`), then estimate here: a fitted :class:`NGramLM`
    (``options``: the smoothing knobs of :class:`NGramLM`). The same model as
    ``NGramLM(order, smoothing, **options).fit`` on all the text in one process.

    Example:
        >>> lm = fit(["a.txt", "b.txt"], 5, client=client)  # doctest: +SKIP
    """
    counts = count(
        data,
        order,
        client=client,
        split_every=split_every,
        workers=workers,
        memory=memory,
        temp_dir=temp_dir,
        backend=backend,
    )
    return NGramLM.from_counts(counts, smoothing, **options)
