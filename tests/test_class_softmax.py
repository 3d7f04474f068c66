"""The class-factored softmax: the reference's gradients by finite differences (float64), its
distribution exactly normalised, the Rust engine against the reference (loss, every gradient,
log-probabilities, 20 training steps), generation from the exact distribution, frequency
classes, classes files, checkpoints and the train command's flags."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import rnnrs
from finite_differences import numeric_grad, rel_error
from rnnrs.backends.numpy_rnnlm import NumpyEngine
from rnnrs.backends.selection import rust_available
from rnnrs.cli import main
from rnnrs.nn.classes import frequency_classes, read_classes_file
from rnnrs.nn.config import normalize_config
from rnnrs.reference.class_softmax import (
    class_log_probs,
    class_softmax_backward,
    class_softmax_loss,
)

CLASSES = [0, 1, 2, 0, 1, 2, 2, 0, 3]  # class 3 holds one word
V = len(CLASSES)


def test_reference_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    classes = np.array(CLASSES)
    h = rng.normal(size=(7, 5))
    w, b = rng.normal(size=(V, 5)), rng.normal(size=V)
    wc, bc = rng.normal(size=(4, 5)), rng.normal(size=4)
    targets = np.array([0, 8, 3, 5, 6, 1, 8])
    tensors = [h, w, b, wc, bc]

    def loss() -> float:
        return class_softmax_loss(h, w, b, wc, bc, classes, targets)[0]

    _, cache = class_softmax_loss(h, w, b, wc, bc, classes, targets)
    grads = class_softmax_backward(cache, w, wc)
    errors = [rel_error(g, numeric_grad(loss, t)) for g, t in zip(grads, tensors)]
    assert max(errors) < 1e-6, errors
    logp = class_log_probs(h, w, b, wc, bc, classes)
    np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1.0, rtol=1e-12)
    assert loss() == pytest.approx(-logp[np.arange(7), targets].mean(), rel=1e-12)


@pytest.mark.parametrize("tie", [False, True])
def test_language_model_gradients_match_finite_differences(tie: bool) -> None:
    cfg = normalize_config(
        {
            "vocab_size": V,
            "cell": "gru",
            "hidden_size": 5,
            "num_layers": 2,
            "tie_weights": tie,
            "softmax": "class",
            "classes": CLASSES,
        }
    )
    engine = NumpyEngine(cfg, dtype=np.float64)
    rng = np.random.default_rng(2)
    params = {
        k: v.astype(np.float64) + rng.normal(scale=0.3, size=v.shape)
        for k, v in rnnrs.RNNLM(**cfg, backend="numpy").parameters().items()
    }
    assert params["output_class.weight"].shape == (4, 5)
    x, y = rng.integers(0, V, size=(3, 4)), rng.integers(0, V, size=(3, 4))

    def loss() -> float:
        engine.set_parameters(params)
        return engine.loss(x, y, None)[0]

    loss()
    _, grads, _ = engine.loss_and_grads(x, y, None, train=False)
    errors = {n: rel_error(grads[n], numeric_grad(loss, v)) for n, v in params.items()}
    assert max(errors.values()) < 1e-6, errors


def model(backend: str | None = None, **kw: object) -> rnnrs.RNNLM:
    args: dict = {"hidden_size": 8, "num_layers": 2, "softmax": "class", "classes": CLASSES}
    args.update(kw)
    return rnnrs.RNNLM(V, backend=backend, **args)


def test_log_probs_are_a_distribution_and_perplexity_is_true() -> None:
    m = model(seed=4)
    ids = np.array([1, 4, 2, 0, 8, 3, 3, 6, 5, 7, 8, 2])
    logits, _ = m.logits(ids[None, :-1])
    probs = np.exp(logits.astype(np.float64))
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-5)
    picked = np.log(probs[0, np.arange(len(ids) - 1), ids[1:]])
    np.testing.assert_allclose(m.token_logprobs(ids), picked, atol=1e-5)
    assert m.perplexity(ids) == pytest.approx(math.exp(-picked.mean()), rel=1e-5)
    loss, _ = m.loss(ids[None, :-1], ids[None, 1:])
    assert loss == pytest.approx(-picked.mean(), rel=1e-5)
    state = m.gen_start([1, 4])
    assert np.exp(m.gen_logprobs(state)).sum() == pytest.approx(1.0, abs=1e-5)


rust_only = pytest.mark.skipif(not rust_available(), reason="the Rust extension is not built")


@rust_only
@pytest.mark.parametrize("tie,dropout", [(False, 0.0), (True, 0.0), (False, 0.4)])
def test_rust_matches_the_reference(tie: bool, dropout: float) -> None:
    kw = {"tie_weights": tie, "embed_size": 8 if tie else 6, "dropout": dropout, "seed": 3}
    rust, ref = model("rust", **kw), model("numpy", **kw)
    rng = np.random.default_rng(1)
    params = {
        k: (v + rng.uniform(-0.3, 0.3, v.shape)).astype(np.float32)
        for k, v in ref.parameters().items()
    }
    rust.set_parameters(params)
    ref.set_parameters(params)
    x, y = rng.integers(0, V, size=(4, 7)), rng.integers(0, V, size=(4, 7))
    (lr, gr, _), (ln, gn, _) = rust.loss_and_grads(x, y), ref.loss_and_grads(x, y)
    assert lr == pytest.approx(ln, rel=1e-5)
    assert sorted(gr) == sorted(gn)
    for name in gn:
        np.testing.assert_allclose(gr[name], gn[name], rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(rust.logits(x)[0], ref.logits(x)[0], rtol=1e-4, atol=1e-5)
    # 20 Adam steps (dropout draws differ between the engines, so only without dropout)
    if dropout == 0.0:
        stream = rng.integers(0, V, size=(4, 60)).astype(np.uint32)
        starts = np.arange(20) * 2
        out = []
        for m in (rust, ref):
            m.configure_optimizer(rnnrs.Adam(lr=1e-2).spec())
            losses, _, _ = m.train_steps(
                stream, starts, 5, np.full(20, 1e-2), np.zeros(20, bool), None, 5.0, None
            )
            out.append((losses, m.parameters()))
        np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-4)
        for name in out[1][1]:
            np.testing.assert_allclose(
                out[0][1][name], out[1][1][name], rtol=1e-3, atol=1e-4, err_msg=name
            )


@rust_only
def test_native_generation_samples_the_exact_distribution() -> None:
    rust, ref = model("rust", seed=5), model("numpy", seed=5)
    ref.set_parameters(rust.parameters())
    greedy = {"greedy": True, "stop_at_end": False}
    assert rust.generate([1, 2], 8, **greedy) == ref.generate([1, 2], 8, **greedy)
    # sampling: the native loop's draws follow P(w|h) (frequencies over many one-token runs)
    draws = [rust.generate([1, 2], 1, seed=s, stop_at_end=False)[0] for s in range(3000)]
    p = np.exp(ref.gen_logprobs(ref.gen_start([1, 2])))
    freq = np.bincount(draws, minlength=V) / len(draws)
    assert np.abs(freq - p).max() < 0.04


def test_frequency_classes_bin_as_rnnlm() -> None:
    ids = [0] * 8 + [1] * 4 + [2] * 2 + [3] * 1 + [4] * 1
    # plain: shares .5, .25, .125, .0625, .0625 against thresholds 1/3, 2/3
    assert frequency_classes(ids, 5, 3, method="plain") == [0, 1, 2, 2, 2]
    # sqrt shares: sqrt(8), 2, sqrt(2), 1, 1 over their sum 8.24
    assert frequency_classes(ids, 5, 3) == [0, 1, 1, 2, 2]
    big = frequency_classes(np.arange(100) % 100, 100)
    assert max(big) + 1 == 10 and sorted(set(big)) == list(range(10))
    with pytest.raises(ValueError, match="num_classes"):
        frequency_classes(ids, 5, 6)


def test_classes_files(tmp_path: Path) -> None:
    vocab = {"a": 0, "b": 1, "c": 2}
    good = tmp_path / "good.tsv"
    good.write_text("c\tX\nb\tY\n\na\tY\nzzz\tZ\n", encoding="utf-8")
    assert read_classes_file(good, vocab) == [0, 0, 1]
    bad = {
        "a\tX\nb\tX\n": "no class for the vocabulary word 'c'",
        "a\tX\nb\tX\nc\tY\nb\tY\n": "twice.tsv:4: word 'b' is given a class twice",
        "a\tX\nb X\nc\tY\n": "twice.tsv:2: expected 'word<TAB>class'",
    }
    for text, message in bad.items():
        (tmp_path / "twice.tsv").write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            read_classes_file(tmp_path / "twice.tsv", vocab)
    tok = rnnrs.WordTokenizer.fit(["a b c"])
    labels = {w: "one" if i % 2 else "two" for w, i in tok.vocab.items()}
    m = rnnrs.RNNLM(tok.vocab_size, hidden_size=4, softmax="class", classes=labels, tokenizer=tok)
    assert max(m.config["classes"]) == 1


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="softmax"):
        rnnrs.RNNLM(V, softmax="hierarchical")
    with pytest.raises(ValueError, match="frequency_classes"):
        rnnrs.RNNLM(V, softmax="class")
    with pytest.raises(ValueError, match="one per token id"):
        rnnrs.RNNLM(V, softmax="class", classes=[0, 1])
    with pytest.raises(ValueError, match="dense"):
        rnnrs.RNNLM(V, softmax="class", classes=[0, 2] * 4 + [0])
    with pytest.raises(ValueError, match="only meaningful"):
        rnnrs.RNNLM(V, classes=CLASSES)
    with pytest.raises(TypeError, match="tokenizer"):
        rnnrs.RNNLM(V, softmax="class", classes={"a": 1})


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    m = model(seed=7)
    ids = np.array([1, 4, 2, 0, 8, 3, 3, 6, 5, 7])
    m.save(tmp_path / "run")
    back = rnnrs.load(tmp_path / "run")
    assert back.config == m.config and back.config["classes"] == CLASSES
    assert back.perplexity(ids) == m.perplexity(ids)


def test_train_command_flags(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\nthe dog sat on the log\n" * 20, encoding="utf-8")
    tiny = ["--hidden", "8", "--bptt", "5", "--batch", "2", "--steps", "3", "--sample-tokens", "3"]
    base = ["train", str(corpus), "--level", "word", *tiny]
    assert main([*base, "--softmax", "class", "--classes", "3", "--out", str(tmp_path / "a")]) == 0
    assert "perplexity" in capsys.readouterr().out
    config = rnnrs.load(tmp_path / "a").config
    assert config["softmax"] == "class" and max(config["classes"]) + 1 == 3
    words = rnnrs.load(tmp_path / "a").tokenizer.vocab
    classes_file = tmp_path / "classes.tsv"
    classes_file.write_text("".join(f"{w}\t{i % 2}\n" for w, i in words.items()), "utf-8")
    out_b = ["--out", str(tmp_path / "b")]
    assert main([*base, "--softmax", "class", "--classes-file", str(classes_file), *out_b]) == 0
    assert max(rnnrs.load(tmp_path / "b").config["classes"]) == 1
    capsys.readouterr()
    assert main([*base, "--classes", "3", "--out", str(tmp_path / "c")]) == 2
    assert "--classes and --classes-file need --softmax class" in capsys.readouterr().err
    classes_file.write_text("the\t1\n", "utf-8")
    assert (
        main(
            [
                *base,
                "--softmax",
                "class",
                "--classes-file",
                str(classes_file),
                "--out",
                str(tmp_path / "d"),
            ]
        )
        == 1
    )
    assert "classes.tsv: no class for the vocabulary word" in capsys.readouterr().err
