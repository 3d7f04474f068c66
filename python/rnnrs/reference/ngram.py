"""Pure-Python reference of n-gram counting, every smoothing method, and backoff scoring.

This module is the executable specification of ``src/ngram`` (the Rust engine must match it
to 1e-9 on small corpora) and the engine of ``NGramLM`` on the NumPy backend. It favours
clarity over speed: plain dicts keyed by tuples of word ids.

Conventions (the same as KenLM's lmplz, see docs/ngram.md):

- Word ids 0, 1, 2 are ``<unk>``, ``<s>``, ``</s>``; other words follow in order of first
  appearance. A sentence ``w1 .. wk`` is counted as ``<s> w1 .. wk </s>``; ``<s>`` is only
  ever a context, never predicted. ``|V|`` (for the uniform distribution) counts every word
  but ``<s>``.
- A model is, for every order n, a dict from n-gram to ``[log10 prob, log10 backoff]``:
  the ARPA backoff form, which every method here can be written in exactly.

Example:
    >>> counts = count_ngrams([[3, 4], [3, 5]], 2)
    >>> counts[1][(3, 4)]
    1
    >>> model = estimate(counts, 6, Smoothing("modified_kneser_ney", discount_fallback=True))
    >>> round(10 ** logprob10(model, [1], 3), 6)
    0.6
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Optional

UNK, BOS, EOS = 0, 1, 2
SPECIAL_WORDS = ("<unk>", "<s>", "</s>")

METHODS = (
    "mle",
    "add_k",
    "witten_bell",
    "absolute",
    "kneser_ney",
    "modified_kneser_ney",
    "stupid_backoff",
)
# p(w|c) = alpha(c, w) + gamma(c) p(w|c'): written to ARPA with backoff(c) = gamma(c).
INTERPOLATED = frozenset({"witten_bell", "absolute", "kneser_ney", "modified_kneser_ney"})
# Methods estimated on Kneser-Ney's adjusted (continuation) counts below the highest order.
ADJUSTED = frozenset({"kneser_ney", "modified_kneser_ney"})
# KenLM's --discount_fallback values for modified Kneser-Ney, and the single-discount one.
FALLBACK_MKN = (0.5, 1.0, 1.5)
FALLBACK_SINGLE = 0.75
LOG10_ZERO = -math.inf

Discounts = tuple[float, float, float]
Counts = list[dict[tuple[int, ...], int]]  # Counts[n - 1]: the n-grams of order n
Model = list[dict[tuple[int, ...], list[float]]]  # Model[n - 1][g] = [log10 p, log10 bow]


class DiscountError(ValueError):
    """A discount cannot be estimated from the counts-of-counts (tiny or artificial data).

    Rust: the error of src/ngram/estimate.rs (mkn_discounts, single_discount).
    """


@dataclass(frozen=True)
class Smoothing:
    """A smoothing method and its knobs (see docs/ngram.md for the formulas).

    Rust: src/ngram/estimate.rs (Smoothing).

    Example:
        >>> Smoothing("add_k", k=0.5).method
        'add_k'
    """

    method: str = "modified_kneser_ney"
    k: float = 1.0  # add_k
    discount: Optional[float] = None  # absolute, kneser_ney: fixed D (None: estimated)
    alpha: float = 0.4  # stupid_backoff
    discount_fallback: bool = False  # use FALLBACK_* where an estimate is invalid
    min_counts: tuple[int, ...] = ()  # per order; n-grams of order >= 2 below it are pruned


def pad(sentence: Sequence[int]) -> list[int]:
    """``<s> sentence </s>`` as ids.

    Rust: src/ngram/counts.rs (NGramCounts::add_lines, add_ids).

    Example:
        >>> pad([5, 6])
        [1, 5, 6, 2]
    """
    return [BOS, *sentence, EOS]


def count_ngrams(sentences: Iterable[Sequence[int]], order: int) -> Counts:
    """Raw counts of every n-gram of order 1..``order`` in the padded sentences.

    Rust: src/ngram/counts.rs (NGramCounts::add_lines, add_ids).

    Example:
        >>> count_ngrams([[3]], 2)[1]
        {(1, 3): 1, (3, 2): 1}
    """
    counts: Counts = [defaultdict(int) for _ in range(order)]
    for sentence in sentences:
        ids = pad(sentence)
        for i in range(len(ids)):
            for n in range(1, min(order, len(ids) - i) + 1):
                counts[n - 1][tuple(ids[i : i + n])] += 1
    return [dict(table) for table in counts]


def merge_counts(a: Counts, b: Counts) -> Counts:
    """The counts of both (same order, same word ids).

    Rust: src/ngram/counts.rs (NGramCounts::merge).
    """
    out = [dict(table) for table in a]
    for table, other in zip(out, b):
        for gram, c in other.items():
            table[gram] = table.get(gram, 0) + c
    return out


def adjusted_counts(counts: Counts) -> Counts:
    """Kneser-Ney's adjusted counts, as lmplz computes them.

    The highest order keeps its raw counts. Below it, an n-gram starting with ``<s>`` keeps
    its raw count (it has no left context); any other counts its distinct left extensions
    ``v g`` seen at order n+1. The unigram ``<s>`` gets 0 (it is never predicted).

    Rust: src/ngram/estimate.rs (EstimationCounts).

    Example:
        >>> adjusted_counts(count_ngrams([[3], [3]], 2))[0][(3,)]
        1
    """
    order = len(counts)
    out: Counts = [dict() for _ in range(order)]
    out[order - 1] = dict(counts[order - 1])
    for n in range(order - 1, 0, -1):
        left: dict[tuple[int, ...], int] = defaultdict(int)
        for gram in counts[n]:
            left[gram[1:]] += 1
        for gram, c in counts[n - 1].items():
            out[n - 1][gram] = c if gram[0] == BOS else left.get(gram, 0)
    out[0][(BOS,)] = 0
    return out


def counts_of_counts(table: dict[tuple[int, ...], int], upto: int = 4) -> list[int]:
    """``[t_0, t_1, .., t_upto]``: how many n-grams have count exactly k (``t_0`` is 0);
    the unigram ``<s>`` is left out.

    Rust: src/ngram/estimate.rs (counts_of_counts).

    Example:
        >>> counts_of_counts({(3,): 1, (4,): 2, (5,): 2})
        [0, 1, 2, 0, 0]
    """
    t = [0] * (upto + 1)
    for gram, c in table.items():
        if gram != (BOS,) and 0 < c <= upto:
            t[c] += 1
    return t


def mkn_discounts(t: Sequence[int], order: int, fallback: bool) -> tuple[float, float, float]:
    """Modified Kneser-Ney's three discounts of one order from its counts-of-counts
    (Chen & Goodman eq. 26, as lmplz): ``D(k) = k - (k+1) Y t_{k+1} / t_k``,
    ``Y = t_1 / (t_1 + 2 t_2)``, for k = 1, 2, 3+.

    Rust: src/ngram/estimate.rs (mkn_discounts).

    Example:
        >>> [round(d, 4) for d in mkn_discounts([0, 10, 4, 2, 1], 1, False)]
        [0.5556, 1.1667, 1.8889]
    """
    problem = None
    if any(t[k] == 0 for k in (1, 2, 3)):
        missing = next(k for k in (1, 2, 3) if t[k] == 0)
        problem = f"no {order}-grams with adjusted count {missing}"
    else:
        y = t[1] / (t[1] + 2.0 * t[2])
        d = tuple(k - (k + 1) * y * t[k + 1] / t[k] for k in (1, 2, 3))
        bad = [k for k in (1, 2, 3) if not 0.0 <= d[k - 1] <= k]
        if not bad:
            return d[0], d[1], d[2]
        problem = f"{order}-gram discount D({bad[0]}) = {d[bad[0] - 1]:.4g} out of [0, {bad[0]}]"
    if fallback:
        return FALLBACK_MKN
    raise DiscountError(
        f"cannot estimate modified Kneser-Ney discounts: {problem} (counts-of-counts "
        f"{list(t[1:])}); is the corpus tiny or artificial? Pass discount_fallback=True to "
        f"use {FALLBACK_MKN}, or choose another smoothing"
    )


def single_discount(t: Sequence[int], order: int, fallback: bool) -> float:
    """The one discount of an order: ``Y = t_1 / (t_1 + 2 t_2)`` (Ney et al.).

    Rust: src/ngram/estimate.rs (single_discount).

    Example:
        >>> single_discount([0, 10, 5, 0, 0], 2, False)
        0.5
    """
    if t[1] > 0:
        return t[1] / (t[1] + 2.0 * t[2])
    if fallback:
        return FALLBACK_SINGLE
    raise DiscountError(
        f"cannot estimate the discount of order {order}: no {order}-grams seen once; "
        f"pass discount= or discount_fallback=True (uses {FALLBACK_SINGLE})"
    )


def _log10(x: float) -> float:
    return math.log10(x) if x > 0.0 else LOG10_ZERO


def _alpha(
    smoothing: Smoothing, d: tuple[float, float, float], v: int, a: int, total: float, n_items: int
) -> float:
    """The discounted share alpha(c, w) of an n-gram with count ``a`` in a context whose
    extensions sum to ``total`` (``n_items`` of them)."""
    method = smoothing.method
    if method in ("modified_kneser_ney", "kneser_ney", "absolute"):
        return (a - d[min(a, 3) - 1]) / total
    if method == "witten_bell":
        return a / (total + n_items)
    if method == "add_k":
        return (a + smoothing.k) / (total + smoothing.k * v)
    return a / total  # mle, stupid_backoff


def discount_mass(d: Discounts, counts: Sequence[int]) -> float:
    """``D1 n1 + D2 n2 + D3 n3+`` over a context's counts (``n_k``: how many are k, 3 and
    more for the last), as KenLM sums the discounts: from integer class sizes, so the result
    does not depend on the order of the words (counts merged from shards in any order give
    the same model).

    Rust: src/ngram/estimate.rs (Sums::discount_mass).

    Example:
        >>> discount_mass((0.5, 1.0, 1.5), [1, 1, 2, 7])
        3.5
    """
    n = [0, 0, 0]
    for a in counts:
        n[min(a, 3) - 1] += 1
    return d[0] * n[0] + d[1] * n[1] + d[2] * n[2]


def pruned_mass(
    smoothing: Smoothing,
    d: Discounts,
    v: int,
    pruned: Sequence[int],
    total: float,
    n_items: int,
) -> float:
    """``Σ alpha`` over the counts ``pruned`` of a context, in closed form from integer sums
    (the same whatever the order of the words).

    Rust: src/ngram/estimate.rs (pruned_mass)."""
    x = float(sum(pruned))
    method = smoothing.method
    if method in ("modified_kneser_ney", "kneser_ney", "absolute"):
        return (x - discount_mass(d, pruned)) / total
    if method == "witten_bell":
        return x / (total + n_items)
    if method == "add_k":
        return (x + smoothing.k * len(pruned)) / (total + smoothing.k * v)
    return x / total  # mle, stupid_backoff


def estimate(counts: Counts, vocab_size: int, smoothing: Smoothing) -> Model:
    """Estimate a backoff model from raw ``counts`` over a vocabulary of ``vocab_size`` ids
    (``<unk>``, ``<s>``, ``</s>`` included).

    For each order n and context c with extensions W(c) (counts a, N = sum a):

    - interpolated methods: p(w|c) = alpha(c,w) + gamma(c) p(w|c'), with p_0 = 1/|V|;
      backoff(c) = gamma(c); pruned n-grams give their alpha to gamma(c).
    - add_k / mle (backoff form): p(w|c) = alpha(c,w) for w in W(c); backoff(c) =
      (1 - sum alpha) / (1 - sum_{w in W(c)} p(w|c')).
    - stupid_backoff: p = a / N; the penalty alpha per backoff step is applied at scoring.

    Rust: src/ngram/estimate.rs (estimate).

    Example:
        >>> m = estimate(count_ngrams([[3, 3]], 1), 4, Smoothing("mle"))
        >>> round(10 ** m[0][(3,)][0], 4)
        0.6667
    """
    method = smoothing.method
    order = len(counts)
    v = vocab_size - 1  # |V| excludes <s>
    est = adjusted_counts(counts) if method in ADJUSTED else counts
    model: Model = [dict() for _ in range(order)]
    lower: dict[tuple[int, ...], float] = {}  # linear p of the order below
    for n in range(1, order + 1):
        table = est[n - 1]
        threshold = smoothing.min_counts[n - 1] if n >= 2 and smoothing.min_counts else 0
        t = counts_of_counts(table)
        d = (0.0, 0.0, 0.0)  # the discounts of counts 1, 2, 3+
        if method == "modified_kneser_ney":
            d = mkn_discounts(t, n, smoothing.discount_fallback)
        elif method in ("kneser_ney", "absolute"):
            d1 = smoothing.discount
            if d1 is None:
                d1 = single_discount(t, n, smoothing.discount_fallback)
            d = (d1, d1, d1)
        groups: dict[tuple[int, ...], list[tuple[int, int]]] = defaultdict(list)
        for gram, a in table.items():
            if a > 0 and gram != (BOS,):
                groups[gram[:-1]].append((gram[-1], a))
        current: dict[tuple[int, ...], float] = {}
        for ctx, items in groups.items():
            items.sort()  # by word id, as the Rust engine keeps them
            total = float(sum(a for _, a in items))
            kept = [(w, a) for w, a in items if counts[n - 1][(*ctx, w)] >= threshold]
            kept_set = {w for w, _ in kept}
            pruned = [a for w, a in items if w not in kept_set]
            lost = pruned_mass(smoothing, d, v, pruned, total, len(items)) if pruned else 0.0

            def alpha(
                a: int, total: float = total, n_items: int = len(items), d: Discounts = d
            ) -> float:
                return _alpha(smoothing, d, v, a, total, n_items)

            if method in INTERPOLATED:
                if method == "witten_bell":
                    gamma = len(items) / (total + len(items))
                else:
                    gamma = discount_mass(d, [a for _, a in items]) / total
                gamma += lost
                for w, a in kept:
                    p_low = 1.0 / v if n == 1 else lower[(*ctx[1:], w)]
                    current[(*ctx, w)] = alpha(a) + gamma * p_low
                if n == 1:
                    for w in range(vocab_size):
                        if w != BOS and (w,) not in current:
                            current[(w,)] = gamma / v
                elif ctx in model[n - 2]:
                    model[n - 2][ctx][1] = _log10(gamma)
            elif method == "stupid_backoff" or n == 1:
                for w, a in kept:
                    current[(*ctx, w)] = alpha(a)
                if n == 1:
                    unseen = smoothing.k / (total + smoothing.k * v) if method == "add_k" else 0.0
                    for w in range(vocab_size):
                        if w != BOS and (w,) not in current:
                            current[(w,)] = unseen
            else:  # add_k, mle above the unigrams: Katz-style backoff form
                # 1 - sum(alpha) over the kept words, as the mass of the unseen words plus
                # the pruned ones (closed forms): exactly 0 when nothing is left. The lower
                # probabilities are summed smallest first, whatever the word ids.
                unseen = smoothing.k * (v - len(items)) / (total + smoothing.k * v)
                left = (unseen if method == "add_k" else 0.0) + lost
                den = 1.0 - sum(sorted(lower[(*ctx[1:], w)] for w, _ in kept))
                for w, a in kept:
                    current[(*ctx, w)] = alpha(a)
                if left <= 0.0:
                    bow = 0.0
                elif den <= 0.0:
                    bow = 1.0
                else:
                    bow = left / den
                if ctx in model[n - 2]:
                    model[n - 2][ctx][1] = _log10(bow)
        for gram, p in current.items():
            model[n - 1][gram] = [_log10(p), 0.0]
        if n == 1:
            model[0][(BOS,)] = [0.0, 0.0]
        lower = current
    return model


def logprob10(
    model: Model, context: Sequence[int], word: int, stupid_alpha: Optional[float] = None
) -> float:
    """log10 p(word | context) under ARPA backoff semantics; ``stupid_alpha`` adds log10
    alpha per backoff step instead (stupid backoff scores).

    The longest n-gram ``(suffix of context, word)`` in the model gives its probability;
    each longer context backed off from adds its backoff weight (0 when absent).

    Rust: src/ngram/model.rs (Model::step, Model::logprob).

    Example:
        >>> m = [{(3,): [-0.5, -0.1], (4,): [-0.3, 0.0]}, {(3, 4): [-0.2, 0.0]}]
        >>> logprob10(m, [3], 4), logprob10(m, [4], 3)
        (-0.2, -0.5)
    """
    order = len(model)
    ctx = tuple(context[max(0, len(context) - (order - 1)) :]) if order > 1 else ()
    for m in range(len(ctx) + 1, 0, -1):
        gram = (*ctx[len(ctx) - m + 1 :], word)
        entry = model[m - 1].get(gram)
        if entry is None:
            continue
        total = entry[0]
        for j in range(m, len(ctx) + 1):
            if stupid_alpha is not None:
                total += math.log10(stupid_alpha)
            else:
                back = model[j - 1].get(ctx[len(ctx) - j :])
                if back is not None:
                    total += back[1]
        return total
    return LOG10_ZERO  # the word is not even a unigram


def ngram_length(model: Model, context: Sequence[int], word: int) -> int:
    """The length of the longest n-gram ``(suffix of context, word)`` in the model: the one
    :func:`logprob10` takes the probability of (KenLM ``query``'s middle figure).

    Rust: src/ngram/model.rs (Model::ngram_lengths).

    Example:
        >>> m = [{(3,): [-0.5, -0.1], (4,): [-0.3, 0.0]}, {(3, 4): [-0.2, 0.0]}]
        >>> ngram_length(m, [3], 4), ngram_length(m, [4], 3)
        (2, 1)
    """
    order = len(model)
    ctx = tuple(context[max(0, len(context) - (order - 1)) :]) if order > 1 else ()
    for m in range(len(ctx) + 1, 0, -1):
        if (*ctx[len(ctx) - m + 1 :], word) in model[m - 1]:
            return m
    return 0


def score_sentence(
    model: Model, sentence: Sequence[int], stupid_alpha: Optional[float] = None
) -> list[float]:
    """log10 p of each word of the sentence and of ``</s>``, given ``<s>`` before it.

    Rust: src/ngram/model.rs (Model::score_stream).

    Example:
        >>> m = [{(1,): [0.0, 0.0], (2,): [-0.3, 0.0], (3,): [-0.3, 0.0]}]
        >>> score_sentence(m, [3])
        [-0.3, -0.3]
    """
    ids = pad(sentence)
    return [logprob10(model, ids[:i], ids[i], stupid_alpha) for i in range(1, len(ids))]
