"""Class-factored softmax output layer: P(w|h) = P(c(w)|h) * P(w|c(w), h), exactly normalised.

Every word id belongs to one of K classes (``classes`` (V,) int, dense 0..K-1, every class
non-empty). The class distribution is a softmax over ``W_c h + b_c`` (K logits); the word
distribution inside a class is a softmax over the rows of ``W h + b`` that belong to the class.
The word weight ``W`` (V, H) and bias ``b`` (V,) stay in vocabulary order (the parameters
``output.weight``, ``output.bias``); ``W_c`` (K, H), ``b_c`` (K,) are ``output_class.weight``,
``output_class.bias``. Training touches only the target's class: O(H * (K + |class|)) per token.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .loss import cross_entropy, linear_forward, log_softmax


def class_members(classes: np.ndarray) -> list[np.ndarray]:
    """The word ids of each class, ascending: ``members[c]``.

    Rust: src/nn/class_decoder.rs (ClassMap::new).

    Example:
        >>> [m.tolist() for m in class_members(np.array([1, 0, 1, 0]))]
        [[1, 3], [0, 2]]
    """
    k = int(classes.max()) + 1
    order = np.argsort(classes, kind="stable")
    bounds = np.searchsorted(classes[order], np.arange(k + 1))
    return [order[bounds[c] : bounds[c + 1]] for c in range(k)]


def class_softmax_loss(
    h: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    class_weight: np.ndarray,
    class_bias: np.ndarray,
    classes: np.ndarray,
    targets: np.ndarray,
) -> tuple[float, dict[str, Any]]:
    """Mean -log P(target|h) (nats) over the N rows of h (N, H), and the cache of
    :func:`class_softmax_backward`.

    Rust: src/nn/class_decoder.rs (ClassDecoder::loss).

    Example:
        >>> z = np.zeros
        >>> loss, _ = class_softmax_loss(z((2, 3)), z((4, 3)), z(4), z((2, 3)), z(2),
        ...                              np.array([0, 0, 1, 1]), np.array([0, 3]))
        >>> round(loss, 6) == round(float(np.log(4)), 6)
        True
    """
    n = h.shape[0]
    targets = targets.astype(np.int64, copy=False)
    tclass = classes[targets]
    class_logits = linear_forward(h, class_weight, class_bias)  # (N, K)
    class_loss, d_class, _ = cross_entropy(class_logits, tclass)
    members = class_members(classes)
    total = class_loss * n
    word_rows = []
    for r in range(n):
        words = members[tclass[r]]
        z = h[r] @ weight[words].T + bias[words]
        logp = log_softmax(z[None, :])[0]
        pick = int(np.searchsorted(words, targets[r]))
        total -= float(logp[pick])
        dz = np.exp(logp)
        dz[pick] -= 1.0
        word_rows.append((words, dz / n))
    cache = {"h": h, "d_class": d_class, "word_rows": word_rows}
    return total / n, cache


def class_softmax_backward(
    cache: dict[str, Any], weight: np.ndarray, class_weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`class_softmax_loss`: (dh (N, H), dweight (V, H), dbias (V,),
    dclass_weight (K, H), dclass_bias (K,)).

    Rust: src/nn/class_decoder.rs (ClassDecoder::backward).
    """
    h, d_class = cache["h"], cache["d_class"]
    dh = d_class @ class_weight
    dw = np.zeros_like(weight)
    db = np.zeros(weight.shape[0], dtype=weight.dtype)
    for r, (words, dz) in enumerate(cache["word_rows"]):
        dh[r] += dz @ weight[words]
        dw[words] += np.outer(dz, h[r])
        db[words] += dz
    return dh, dw, db, d_class.T @ h, d_class.sum(axis=0)


def class_log_probs(
    h: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    class_weight: np.ndarray,
    class_bias: np.ndarray,
    classes: np.ndarray,
) -> np.ndarray:
    """log P(w|h) for every word: (N, V), each row's exponentials summing to 1: the class's
    log-probability plus the word's log softmax within its class.

    Rust: src/nn/class_decoder.rs (ClassDecoder::log_probs).
    """
    class_logp = log_softmax(linear_forward(h, class_weight, class_bias))  # (N, K)
    word_logits = linear_forward(h, weight, bias)  # (N, V)
    out = np.empty_like(word_logits)
    for c, words in enumerate(class_members(classes)):
        out[:, words] = log_softmax(word_logits[:, words]) + class_logp[:, c : c + 1]
    return out
