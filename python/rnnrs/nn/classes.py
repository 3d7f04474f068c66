"""Word classes for the class-factored softmax (``RNNLM(..., softmax="class")``): by
frequency binning as Mikolov's RNNLM toolkit does, or read from a ``word<TAB>class`` file
(Brown clusters, say). Either way the result is the class of every token id, dense 0..K-1.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, Union

import numpy as np


def frequency_classes(
    ids: Any, vocab_size: int, num_classes: Union[int, None] = None, *, method: str = "sqrt"
) -> list[int]:
    """The class of every token id from the unigram counts of training ids.

    As rnnlm-0.4b (``learnVocabFromTrainFile`` + class assignment): words sorted by count,
    most frequent first (ties by id), walk them accumulating each word's share and start
    the next class whenever the running share passes (k + 1) / K. ``method="sqrt"`` (the
    toolkit's default) shares by sqrt(p(w)) / sum sqrt(p), ``"plain"`` (its ``-old-classes``)
    by p(w). Frequent words get small classes, rare words large ones. Default K:
    round(sqrt(V)). Unseen ids count once (so they land in the last classes). Classes are
    renumbered densely (the walk may use fewer than K).

    Example:
        >>> frequency_classes([0, 0, 0, 0, 1, 1, 2, 3], 4, 2, method="plain")
        [0, 0, 1, 1]
    """
    if method not in ("sqrt", "plain"):
        raise ValueError(f"method: expected 'sqrt' or 'plain', got {method!r}")
    flat = np.asarray(ids).reshape(-1)
    if flat.size and (flat.min() < 0 or flat.max() >= vocab_size):
        raise ValueError(f"ids: expected ids in [0, {vocab_size})")
    k = round(math.sqrt(vocab_size)) if num_classes is None else int(num_classes)
    if not 1 <= k <= vocab_size:
        raise ValueError(f"num_classes: expected an int in [1, {vocab_size}], got {num_classes}")
    counts = np.bincount(flat.astype(np.int64), minlength=vocab_size).astype(np.float64)
    counts = np.maximum(counts, 1.0)
    order = np.lexsort((np.arange(vocab_size), -counts))
    share = counts / counts.sum()
    if method == "sqrt":
        share = np.sqrt(share)
    share = share[order] / share.sum()
    out = np.empty(vocab_size, dtype=np.int64)
    running, cls = 0.0, 0
    for word, s in zip(order, share):
        running = min(running + s, 1.0)
        out[word] = cls
        if running > (cls + 1) / k and cls < k - 1:
            cls += 1
    _, dense = np.unique(out, return_inverse=True)
    return [int(c) for c in dense]


def classes_from_mapping(mapping: Mapping[str, Any], vocab: Mapping[str, int]) -> list[int]:
    """The class of every token id from ``{word: class label}`` (labels of any hashable kind,
    renumbered densely in order of first appearance over the ids); ValueError naming a word
    of the vocabulary that has no class.

    Example:
        >>> classes_from_mapping({"a": "x", "b": "y", "c": "x"}, {"a": 0, "b": 1, "c": 2})
        [0, 1, 0]
    """
    return _dense(dict(mapping), vocab, "classes")


def read_classes_file(path: Union[str, os.PathLike], vocab: Mapping[str, int]) -> list[int]:
    """The class of every token id from a ``word<TAB>class`` file (UTF-8, one word a line,
    blank lines skipped). ValueError with the file and line for a malformed line or a word
    given twice, and naming a vocabulary word the file misses. Words not in the vocabulary
    are ignored; classes are renumbered densely.
    """
    labels: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                raise ValueError(f"{path}:{lineno}: expected 'word<TAB>class', got {line!r}")
            word, label = parts
            if word in labels:
                raise ValueError(f"{path}:{lineno}: word {word!r} is given a class twice")
            labels[word] = label
    return _dense(labels, vocab, str(path))


def _dense(labels: dict[str, Any], vocab: Mapping[str, int], where: str) -> list[int]:
    by_id = sorted(vocab.items(), key=lambda kv: kv[1])
    if [i for _, i in by_id] != list(range(len(by_id))):
        raise ValueError("vocab: expected ids 0..V-1")
    number: dict[Any, int] = {}
    out = []
    for word, _ in by_id:
        if word not in labels:
            raise ValueError(f"{where}: no class for the vocabulary word {word!r}")
        out.append(number.setdefault(labels[word], len(number)))
    return out
