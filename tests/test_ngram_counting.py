"""The Rust engine's sort-based counting (radix sorts per order, linear merges of sorted
tables) equals a straightforward count of every n-gram, on random corpora, across several
add calls and merges of counts made with other vocabularies."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnrs
from rnnrs import NGramCounts

needs_rust = pytest.mark.skipif(not rnnrs.rust_available(), reason="the Rust extension is absent")


def plain_counts(lines: list[str], order: int) -> Counter[tuple[str, ...]]:
    """Every n-gram of orders 1..order of `<s> w.. </s>`, never `<s>` inside."""
    out: Counter[tuple[str, ...]] = Counter()
    for line in lines:
        words = line.split()
        if not words:
            continue
        padded = ["<s>", *words, "</s>"]
        for i in range(len(padded)):
            for n in range(1, order + 1):
                if i + n <= len(padded):
                    out[tuple(padded[i : i + n])] += 1
    return out


sentences = st.lists(
    st.lists(st.sampled_from("abcdefghij"), min_size=0, max_size=9).map(" ".join),
    min_size=1,
    max_size=25,
)


@needs_rust
@settings(max_examples=60, deadline=None)
@given(parts=st.lists(sentences, min_size=1, max_size=4), order=st.integers(1, 6))
def test_sorted_counting_equals_plain_counting(parts: list[list[str]], order: int) -> None:
    # The first part is added to one table in two calls; every other part is counted
    # separately (its own vocabulary, words in another first-seen order) and merged in.
    first = parts[0]
    counts = NGramCounts(order, backend="rust").add(first[: len(first) // 2])
    counts.add(first[len(first) // 2 :])
    for part in parts[1:]:
        counts.merge(NGramCounts(order, backend="rust").add(list(reversed(part))))
    expected = plain_counts([line for part in parts for line in part], order)
    for gram, c in expected.items():
        assert counts[list(gram)] == c, gram
    by_order = Counter(len(g) for g in expected)
    words_seen = {g[0] for g in expected if len(g) == 1}
    assert counts.num_ngrams == [len(words_seen)] + [by_order[n] for n in range(2, order + 1)]
    for n in range(1, order + 1):
        t = Counter(c for g, c in expected.items() if len(g) == n and g != ("<s>",))
        assert counts.counts_of_counts(n) == [t[k] for k in (1, 2, 3, 4)]
    assert counts["a b c z"] == 0 and counts["</s> <s>"] == 0
