"""benches/bench_tag.py at tiny sizes: its speed and quality runs and its torch twin (the same
tagger on the same batches, the CRF written in PyTorch) keep working; torch parts skip
without it."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

import rnnrs
from bench_module import load_bench

pytestmark = pytest.mark.skipif(not rnnrs.rust_available(), reason="Rust core not built")


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = load_bench("bench_tag")
    tiny = {"embed_size": 8, "hidden_size": 8, "char_embed_size": 4, "char_hidden_size": 4}
    monkeypatch.setattr(module, "T1", {**module.T1, **tiny})
    sents, tags = module.synthetic_sentences(200)
    monkeypatch.setattr(module, "speed_data", lambda: (sents, tags, "synthetic"))
    return module


@pytest.mark.parametrize("output", ["softmax", "crf"])
def test_speed_probe_reports_tokens_per_second(bench: ModuleType, output: str) -> None:
    frameworks = ["rnnrs"] + (["torch"] if bench.have_torch() else [])
    for fw in frameworks:
        rec = bench.speed(fw, 1, output, 2)
        assert rec["data"] == "synthetic" and rec["train_tok_s"] > 0 and rec["tag_tok_s"] > 0


def test_the_torch_twin_starts_from_the_same_weights_and_tags_alike(bench: ModuleType) -> None:
    pytest.importorskip("torch")
    sents, tags, _ = bench.speed_data()
    tagger = bench.build(sents, sorted({t for row in tags for t in row}), "crf")
    batch = tagger.tag_batches((sents[:16], tags[:16]), 16).batch(list(range(16)))
    ours, theirs = bench.Runner("rnnrs", tagger), bench.Runner("torch", tagger)
    assert ours.tag(batch) == theirs.tag(batch)
    theirs.train([batch])  # one step moves the weights
    assert not np.allclose(
        theirs.module.emission.weight.detach().numpy(), tagger.parameters()["emission.weight"]
    )


def test_pretrained_vectors_seed_the_word_embedding_and_widen_the_vocabulary(
    bench: ModuleType,
) -> None:
    import rnnrs

    glove = rnnrs.WordVectors(["paris", "went"], np.array([[1.0, 2.0], [3.0, 4.0]]))
    sents = [["We", "went"]]
    tagger = bench.build(sents, ["B-LOC", "O"], "crf", glove, [["to", "Paris"]])
    vocab = tagger.tokenizer.vocab
    assert tagger.config["embed_size"] == 2 and "Paris" in vocab and "to" not in vocab
    emb = tagger.parameters()["embedding.weight"]
    np.testing.assert_array_equal(emb[vocab["Paris"]], [1.0, 2.0])
    np.testing.assert_array_equal(emb[vocab["went"]], [3.0, 4.0])


def test_frozen_pretrained_embeddings_stay_as_given_in_both_frameworks(bench: ModuleType) -> None:
    import rnnrs

    sents, tags, _ = bench.speed_data()
    words = sorted({w for s in sents[:16] for w in s})
    glove = rnnrs.WordVectors(words, np.random.default_rng(0).normal(size=(len(words), 3)))
    tag_set = sorted({t for row in tags for t in row})
    tagger = bench.build(sents[:16], tag_set, "softmax", glove, (), freeze=True)
    before = tagger.parameters()
    batch = tagger.tag_batches((sents[:16], tags[:16]), 16).batch(list(range(16)))
    bench.Runner("rnnrs", tagger).train([batch])
    after = tagger.parameters()
    np.testing.assert_array_equal(after["embedding.weight"], before["embedding.weight"])
    assert not np.array_equal(after["emission.weight"], before["emission.weight"])
    if bench.have_torch():
        theirs = bench.Runner("torch", bench.build(sents[:16], tag_set, "softmax", glove, (), True))
        theirs.train([batch])
        np.testing.assert_array_equal(
            theirs.module.embedding.weight.detach().numpy(), before["embedding.weight"]
        )


def test_the_annealed_learning_rate_falls_from_lr_to_a_twentieth(bench: ModuleType) -> None:
    import schedule

    rates = [schedule.annealed_lr(2e-3, t, 60.0) for t in (0.0, 30.0, 60.0, 90.0)]
    assert rates[0] == pytest.approx(2e-3) and rates[1] == pytest.approx(1.05e-3)
    assert rates[2] == rates[3] == pytest.approx(1e-4)
