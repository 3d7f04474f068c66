"""rnnrs.SequenceClassifier through its public API on the process default backend: learning a
synthetic task, padding invariance, predictions, evaluation, explanations, checkpoints, the
torch equivalent, the Trainer's early stopping, and bad input."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rnnrs
from rnnrs.io.checkpoint import checkpoint_folder
from rnnrs.io.torch_interop import torch_classifier
from rnnrs.reference.pooling import POOLINGS
from synthetic_sentiment import sentiment_data

TRAIN = sentiment_data(400, seed=0)
TEST = sentiment_data(200, seed=1)
TOKENIZER = rnnrs.WordTokenizer.fit(TRAIN[0])


def small(**kwargs: Any) -> rnnrs.SequenceClassifier:
    kwargs.setdefault("labels", ["neg", "pos"])
    kwargs.setdefault("embed_size", 16)
    kwargs.setdefault("hidden_size", 16)
    return rnnrs.SequenceClassifier(TOKENIZER, **kwargs)


def test_learns_the_synthetic_task_well_above_the_majority_baseline() -> None:
    majority = max(TEST[1].count("pos"), TEST[1].count("neg")) / len(TEST[1])
    clf = small(pooling="mean")
    begin = time.perf_counter()
    history = clf.fit(*TRAIN, valid=TEST, epochs=4, batch_size=16)
    seconds = time.perf_counter() - begin
    result = clf.evaluate(*TEST)
    assert majority < 0.6
    assert result.accuracy > 0.9 and result.macro_f1 > 0.9
    assert history[-1]["accuracy"] == pytest.approx(result.accuracy)
    assert history[-1]["valid_loss"] < history[0]["valid_loss"]
    assert seconds < 30


def test_a_regularised_classifier_learns_the_synthetic_task_too() -> None:
    clf = small(pooling="max", dropout=0.3, embedding_dropout=0.3, unk_replace=0.5)
    clf.fit(*TRAIN, epochs=6, batch_size=16)
    assert clf.evaluate(*TEST).accuracy > 0.85


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_relu"])
def test_a_text_scores_the_same_alone_or_in_any_batch(pooling: str, cell: str) -> None:
    clf = small(pooling=pooling, cell=cell, num_layers=2, seed=3)
    texts = TEST[0][:9]
    together = clf.predict_proba(texts)
    alone = np.concatenate([clf.predict_proba([t]) for t in texts])
    shuffled = clf.predict_proba(texts[::-1])[::-1]
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(together, shuffled, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(together.sum(axis=1), 1.0, rtol=1e-5)


def test_predictions_evaluation_and_explanations() -> None:
    clf = small(pooling="attention")
    clf.fit(*TRAIN, epochs=4, batch_size=16)
    predicted = clf.predict(TEST[0])
    assert set(predicted) <= {"neg", "pos"} and len(predicted) == len(TEST[0])
    result = clf.evaluate(*TEST)
    assert result.accuracy == pytest.approx(np.mean([p == g for p, g in zip(predicted, TEST[1])]))
    assert result.confusion_matrix.sum() == len(TEST[0]) and result.labels == ["neg", "pos"]
    assert "macro avg" in result.table()
    text = "w1 w2 awful w3 w4"
    exp = clf.explain(text)
    assert exp.tokens == text.split() and exp.label == "neg"
    # gradient x input credits the cue word most (the plain gradient's norm need not)
    assert int(np.argmax(exp.grad_x_input)) == 2
    assert int(np.argmax(clf.explain("great w5 w6 w7").grad_x_input)) == 0
    assert exp.saliency.shape == (5,) and np.all(exp.saliency > 0)
    assert exp.activations.shape == (5, 32) and exp.grad_x_input.shape == (5,)
    assert sum(exp.probabilities.values()) == pytest.approx(1.0)
    assert "awful" in exp.table()
    assert clf.explain(text, label="pos").label == "pos"


def test_integer_labels_and_num_classes() -> None:
    clf = small(labels=None, num_classes=2)
    ints = [1 if y == "pos" else 0 for y in TRAIN[1]]
    clf.fit(TRAIN[0], ints, epochs=1, batch_size=32)
    assert set(clf.predict(TEST[0][:20])) <= {0, 1}


def test_save_load_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    clf = small(
        pooling="max",
        cell="gru",
        num_layers=2,
        dropout=0.2,
        embedding_dropout=0.1,
        unk_replace=0.5,
        max_length=40,
    )
    clf.fit(*TRAIN, epochs=1, batch_size=32)
    clf.save(tmp_path / "clf")
    back = rnnrs.load(tmp_path / "clf")
    assert isinstance(back, rnnrs.SequenceClassifier)
    assert back.config == clf.config and back.labels == ["neg", "pos"]
    np.testing.assert_array_equal(back.predict_proba(TEST[0]), clf.predict_proba(TEST[0]))
    other = rnnrs.load(tmp_path / "clf", backend="numpy")
    np.testing.assert_allclose(other.predict_proba(TEST[0]), clf.predict_proba(TEST[0]), atol=1e-5)


def test_a_checkpoint_of_another_kind_is_a_clear_error(tmp_path: Path) -> None:
    rnnrs.RNNLM(5, hidden_size=4).save(tmp_path / "lm")
    loaded = rnnrs.load(tmp_path / "lm")
    assert not isinstance(loaded, rnnrs.SequenceClassifier)
    clf = small()
    clf.save(tmp_path / "clf")
    meta = checkpoint_folder(tmp_path / "clf") / "model.json"
    meta.write_text(meta.read_text().replace("sequence_classifier", "tagger"))
    with pytest.raises(rnnrs.CheckpointError, match="kind 'tagger'"):
        rnnrs.load(tmp_path / "clf")


@pytest.mark.parametrize("pooling", POOLINGS)
def test_torch_module_with_the_state_dict_gives_the_same_logits(pooling: str) -> None:
    torch = pytest.importorskip("torch")
    clf = small(pooling=pooling, num_layers=2, seed=5)
    module = torch_classifier(clf.config, TOKENIZER.vocab_size)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in clf.to_torch_state_dict().items()})
    module.eval()
    assert "rnn.weight_ih_l1_reverse" in clf.to_torch_state_dict()
    texts = TEST[0][:7]
    seqs = [TOKENIZER.encode(t) for t in texts]
    lengths = np.array([len(s) for s in seqs])
    ids = np.zeros((len(seqs), lengths.max()), dtype=np.int64)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = seq
    with torch.no_grad():
        logits = module(torch.from_numpy(ids), torch.from_numpy(lengths)).numpy()
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(texts), probs, atol=1e-5)


def test_early_stopping_on_accuracy_restores_the_best_weights() -> None:
    clf = small(pooling="mean", seed=1)
    snapshots: list[tuple[float, dict[str, np.ndarray]]] = []

    def keep(record: dict[str, Any]) -> None:
        snapshots.append((record["accuracy"], clf.parameters()))

    # a learning rate so high that accuracy rises, then falls apart
    history = clf.fit(
        *TRAIN,
        valid=TEST,
        max_steps=400,
        batch_size=16,
        optimizer=rnnrs.SGD(lr=8.0),
        clip_norm=None,
        eval_every=5,
        early_stopping_patience=3,
        monitor="accuracy",
        callbacks=[keep],
    )
    assert history.stop_reason == "early_stopping"
    accuracies = [a for a, _ in snapshots]
    best = int(np.argmax(accuracies))
    assert best < len(accuracies) - 1 and accuracies[-1] < accuracies[best]
    for name, value in clf.parameters().items():
        np.testing.assert_array_equal(value, snapshots[best][1][name], err_msg=name)
    assert clf.evaluate(*TEST).accuracy == pytest.approx(accuracies[best])


def test_trainer_rejects_a_metric_the_model_does_not_report() -> None:
    clf = small()
    trainer = rnnrs.Trainer(
        clf, rnnrs.Adam(), early_stopping_patience=1, monitor="bleu", progress=False
    )
    with pytest.raises(ValueError, match="monitor: 'bleu'"):
        trainer.fit(TRAIN, valid_ids=TEST, max_steps=2)


def test_bad_input_is_a_clear_error() -> None:
    clf = small(max_length=5)
    with pytest.raises(ValueError, match=r"texts\[1\]: the text has no tokens"):
        clf.predict(["good", "   "])
    with pytest.raises(ValueError, match=r"texts\[0\]: 6 tokens, longer than max_length=5"):
        clf.predict(["a b c d e f"])
    assert len(clf.predict(["a b c d e f"], truncate=True)) == 1
    with pytest.raises(ValueError, match=r"labels\[1\]: unknown label 'meh'"):
        clf.evaluate(["good", "bad"], ["pos", "meh"])
    with pytest.raises(ValueError, match="at least two classes"):
        small(labels=["pos"])
    with pytest.raises(TypeError, match="one type"):
        small(labels=["pos", 1])
    with pytest.raises(ValueError, match="num_classes, labels"):
        small(labels=None)
    with pytest.raises(ValueError, match="pooling"):
        small(pooling="sum")
    with pytest.raises(ValueError, match=r"texts: labels\[0\]: unknown label 'x'"):
        small().fit(["good"], ["x"], epochs=1)
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        small().fit(["good", "bad"], ["pos"], epochs=1)
    with pytest.raises(TypeError, match="one string"):
        clf.predict("good")


def test_a_resumed_run_trains_exactly_as_an_uninterrupted_one(tmp_path: Path) -> None:
    def run() -> tuple[rnnrs.SequenceClassifier, rnnrs.Trainer]:
        clf = small(dropout=0.3, seed=2)
        return clf, rnnrs.Trainer(clf, rnnrs.Adam(lr=3e-3), batch_size=32, progress=False)

    whole, trainer = run()
    trainer.fit(TRAIN, max_steps=20)  # 13 batches per epoch: ends in the second epoch
    first, trainer = run()
    trainer.fit(TRAIN, max_steps=16)
    first.save(tmp_path / "ckpt", trainer=trainer)
    resumed = rnnrs.load(tmp_path / "ckpt")
    again = rnnrs.Trainer(resumed, rnnrs.Adam(lr=3e-3), batch_size=32, progress=False)
    again.load_state_dict(rnnrs.load_training_state(tmp_path / "ckpt")["trainer"])
    again.fit(TRAIN, max_steps=4)
    assert again.step == 20 and again.epochs_done == 1
    for name, value in whole.parameters().items():
        np.testing.assert_array_equal(resumed.parameters()[name], value, err_msg=name)


def test_rare_words_become_unk_in_training_batches_only(tmp_path: Path) -> None:
    texts, labels = ["good fun rare1", "bad dull rare2", "good fun", "bad dull"], [1, 0, 1, 0]
    tok = rnnrs.WordTokenizer.fit(texts)
    clf = rnnrs.SequenceClassifier(tok, num_classes=2, embed_size=4, hidden_size=4, unk_replace=1.0)
    data = clf.text_batches((texts, labels), 4)
    assert [r.tolist() for r in data.rare] == [[0, 0, 1], [0, 0, 1], [0, 0], [0, 0]]
    ((ids, lengths, _),) = data.epoch_batches(0, [0])
    rows = {tuple(r[:n].tolist()) for r, n in zip(ids, lengths)}
    good, fun, bad, dull = (tok.token_to_id(w) for w in ("good", "fun", "bad", "dull"))
    unk = tok.unk_id
    assert rows == {(good, fun, unk), (bad, dull, unk), (good, fun), (bad, dull)}
    (again,) = data.epoch_batches(0, [0])
    np.testing.assert_array_equal(again[0], ids)  # drawn from the seed: the same every time
    batches, _ = data.sorted_batches()  # evaluation sees the words
    assert unk not in np.concatenate([b[0][i, :n] for b in batches for i, n in enumerate(b[1])])
    many = [f"good fun w{i}" for i in range(200)]  # 200 words seen once
    half = rnnrs.SequenceClassifier(
        rnnrs.WordTokenizer.fit(many), num_classes=2, embed_size=4, hidden_size=4, unk_replace=0.5
    )
    ((ids, lengths, _),) = half.text_batches((many, [1] * 200), 200).epoch_batches(0, [0])
    assert (lengths == 3).all() and 70 < int((ids[:, 2] == unk).sum()) < 130  # p = 0.5 each
    assert not (ids[:, :2] == unk).any()
    clf.save(tmp_path / "clf")
    assert rnnrs.load(tmp_path / "clf").unk_replace == 1.0
    with pytest.raises(ValueError, match="unk_replace"):
        small(unk_replace=1.5)
    with pytest.raises(TypeError, match="unk_replace"):
        small(unk_replace="0.5")
    bpe = rnnrs.BPETokenizer.train(texts, vocab_size=260)
    with pytest.raises(ValueError, match="unk_replace: BPETokenizer has no <unk>"):
        rnnrs.SequenceClassifier(bpe, num_classes=2, unk_replace=0.5)


@pytest.mark.slow
def test_sst2_dev_accuracy_within_two_minutes(shared_data: Path) -> None:
    from rnnrs.text.tasks import read_classification

    folder = shared_data / "sst2"
    if not folder.is_dir():
        pytest.skip(f"SST-2 not found at {folder}")
    train = read_classification(folder / "train.tsv")
    dev = read_classification(folder / "dev.tsv")
    tok = rnnrs.WordTokenizer.fit(train.texts, lowercase=True, min_freq=2)
    clf = rnnrs.SequenceClassifier(
        tok, labels=train.label_set(), embed_size=64, hidden_size=64, pooling="mean", dropout=0.3
    )
    history = clf.fit(
        train.texts,
        train.labels,
        valid=(dev.texts, dev.labels),
        max_time=120,
        eval_every=100,
        early_stopping_patience=5,
        monitor="accuracy",
    )
    majority = max(dev.labels.count(y) for y in dev.label_set()) / len(dev)
    accuracy = clf.evaluate(dev.texts, dev.labels).accuracy
    assert majority < 0.52 and accuracy > 0.7
    assert accuracy == pytest.approx(max(r["accuracy"] for r in history))  # the best restored
