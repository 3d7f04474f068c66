"""The Rust n-gram engine equals the pure-Python reference (the spec) to 1e-9, and every
proper smoothing method is a distribution over the vocabulary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnrs
from rnnrs import NGramLM

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "the cat ate the fish",
    "a dog ate a bone on the mat",
    "the fish sat",
    "on the mat the cat sat",
    "a bone a fish a mat",
]

PROPER = ["mle", "add_k", "witten_bell", "absolute", "kneser_ney", "modified_kneser_ney"]
CONFIGS = [
    *[(m, {}) for m in PROPER],
    ("add_k", {"k": 0.25}),
    ("absolute", {"discount": 0.6}),
    ("kneser_ney", {"discount": 0.9}),
    ("stupid_backoff", {"alpha": 0.3}),
    ("modified_kneser_ney", {"min_counts": [0, 1, 2, 2]}),
    ("witten_bell", {"min_counts": [1, 2, 2, 3]}),
    ("add_k", {"min_counts": [0, 2, 2, 2]}),
]

needs_rust = pytest.mark.skipif(not rnnrs.rust_available(), reason="the Rust extension is absent")


@needs_rust
@pytest.mark.parametrize(("method", "options"), CONFIGS, ids=lambda x: str(x))
def test_rust_equals_reference(method: str, options: dict, tmp_path: Path) -> None:
    models = {
        b: NGramLM(4, method, discount_fallback=True, backend=b, **options).fit(CORPUS)
        for b in ("rust", "numpy")
    }
    assert models["rust"].vocab == models["numpy"].vocab
    assert models["rust"].num_ngrams == models["numpy"].num_ngrams
    # The binary form holds the exact doubles (ARPA text rounds to 12 decimals).
    for b, lm in models.items():
        lm.save(tmp_path / f"{b}.bin")
    rust = NGramLM.load(tmp_path / "rust.bin", backend="numpy")._engine().model
    ref = NGramLM.load(tmp_path / "numpy.bin", backend="numpy")._engine().model
    assert [set(t) for t in rust] == [set(t) for t in ref]
    for rust_table, ref_table in zip(rust, ref):
        for gram, (p, b) in ref_table.items():
            assert rust_table[gram][0] == pytest.approx(p, abs=1e-9), gram
            assert rust_table[gram][1] == pytest.approx(b, abs=1e-9), gram
    test = [*CORPUS[:3], "the unknown cat sat on a log", "dog dog dog"]
    ids = models["rust"].encode(test)
    a = models["rust"].score_ids(ids, per_token=True)
    b = models["numpy"].score_ids(ids, per_token=True)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


@st.composite
def corpora(draw: st.DrawFn) -> list[str]:
    words = "abcdef"
    n = draw(st.integers(3, 12))
    return [
        " ".join(draw(st.lists(st.sampled_from(words), min_size=1, max_size=7))) for _ in range(n)
    ]


@settings(max_examples=25, deadline=None)
@given(
    corpus=corpora(),
    method=st.sampled_from(PROPER),
    order=st.integers(1, 4),
    context=st.lists(st.sampled_from("abcdefz"), max_size=4),
    bos=st.booleans(),
    prune=st.booleans(),
)
def test_distributions_sum_to_one(
    corpus: list[str], method: str, order: int, context: list[str], bos: bool, prune: bool
) -> None:
    min_counts = [0] + [2] * (order - 1) if prune else None
    lm = NGramLM(order, method, discount_fallback=True, min_counts=min_counts).fit(corpus)
    ids = [lm.word_id(w) for w in context]
    logp = lm.gen_logprobs(tuple(ids)) if bos else None
    dist = np.asarray(lm._engine().distribution(ids, bos))
    total = float(np.sum(10.0**dist))
    assert total == pytest.approx(1.0, abs=1e-9)
    if logp is not None:
        np.testing.assert_allclose(np.exp(logp), 10.0**dist, rtol=1e-12)
    assert dist[1] == -np.inf  # <s> is never predicted
