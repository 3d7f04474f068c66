"""``rnnrs tag train / eval / predict`` on small CoNLL-U and CoNLL files, and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnrs.cli import main
from rnnrs.text.tasks import read_conll, read_conllu, write_conll, write_conllu
from test_tagger import synthetic_ner, synthetic_pos


def conllu_files(tmp_path: Path) -> tuple[Path, Path]:
    train, dev = tmp_path / "train.conllu", tmp_path / "dev.conllu"
    for path, (n, seed) in ((train, (200, 0)), (dev, (40, 1))):
        sents, tags = synthetic_pos(n, seed)
        write_conllu(path, sents, tags)
    return train, dev


def conll_files(tmp_path: Path) -> tuple[Path, Path]:
    train, dev = tmp_path / "train.conll", tmp_path / "dev.conll"
    for path, (n, seed) in ((train, (300, 2)), (dev, (60, 3))):
        sents, tags = synthetic_ner(n, seed)
        write_conll(path, sents, tags)
    return train, dev


def test_train_eval_predict_conllu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train, dev = conllu_files(tmp_path)
    out = tmp_path / "pos"
    args = ["tag", "train", str(train), "--valid", str(dev), "--epochs", "6", "--embed", "16"]
    args += ["--hidden", "16", "--char-encoder", "cnn", "--char-hidden", "8", "--lr", "0.02"]
    assert main([*args, "--dropout", "0", "--out", str(out)]) == 0
    assert "validation accuracy" in capsys.readouterr().out
    assert (out / "history.json").exists()
    assert main(["tag", "eval", str(out), str(dev), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["accuracy"] > 0.95 and scores.get("f1") is None
    assert main(["tag", "eval", str(out), str(dev)]) == 0
    assert "accuracy" in capsys.readouterr().out
    pred = tmp_path / "pred.conllu"
    assert main(["tag", "predict", str(out), str(dev), "--out", str(pred)]) == 0
    gold, got = read_conllu(dev), read_conllu(pred)
    assert got.tokens == gold.tokens
    assert gold.tags is not None and got.tags is not None
    right = sum(a == b for g, p in zip(gold.tags, got.tags) for a, b in zip(g, p))
    assert right / sum(map(len, gold.tags)) > 0.95
    # only the tag column changes: lemma, head, deprel and the rest are as read
    for a, b in zip(dev.read_text().splitlines(), pred.read_text().splitlines()):
        fa, fb = a.split("\t"), b.split("\t")
        assert fa[:3] + fa[4:] == fb[:3] + fb[4:]
    assert main(["tag", "predict", str(out), str(dev)]) == 0
    assert capsys.readouterr().out == pred.read_text()


def test_train_eval_predict_conll_with_a_crf(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, dev = conll_files(tmp_path)
    out = tmp_path / "ner"
    args = ["tag", "train", str(train), "--valid", str(dev), "--epochs", "6", "--output", "crf"]
    args += ["--embed", "16", "--hidden", "16", "--char-hidden", "8", "--lr", "0.02"]
    assert main([*args, "--out", str(out)]) == 0
    assert "entity F1" in capsys.readouterr().out
    assert main(["tag", "eval", str(out), str(dev), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["accuracy"] > 0.9 and scores["f1"] > 0.7
    assert main(["tag", "eval", str(out), str(dev)]) == 0
    table = capsys.readouterr().out
    assert "LOC" in table and "PER" in table
    pred = tmp_path / "pred.conll"
    assert main(["tag", "predict", str(out), str(dev), "--out", str(pred)]) == 0
    # CoNLL: token gold pred, as conlleval reads it; the reader takes the last column
    both = read_conll(pred, column=1)
    assert both.tags == read_conll(dev).tags
    assert read_conll(pred).tokens == read_conll(dev).tokens


def test_without_valid_a_tenth_is_held_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, _ = conllu_files(tmp_path)
    out = tmp_path / "m"
    args = ["tag", "train", str(train), "--epochs", "1", "--embed", "8", "--hidden", "8"]
    assert main([*args, "--char-encoder", "none", "--out", str(out)]) == 0
    assert "held out 1/10" in capsys.readouterr().out


def test_bad_input_gives_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, dev = conll_files(tmp_path)
    out = tmp_path / "m"
    args = ["tag", "train", str(train), "--epochs", "1", "--embed", "8", "--hidden", "8"]
    assert main([*args, "--out", str(out)]) == 0
    capsys.readouterr()
    # a tag never seen in training
    unseen = tmp_path / "unseen.conll"
    unseen.write_text("Paris\tB-GPE\n")
    assert main(["tag", "eval", str(out), str(unseen)]) == 1
    assert "unknown tag 'B-GPE'" in capsys.readouterr().err
    # inconsistent column counts: file and line
    ragged = tmp_path / "ragged.conll"
    ragged.write_text("Paris\tB-LOC\nis\tO\tX\n")
    assert main(["tag", "eval", str(out), str(ragged)]) == 1
    err = capsys.readouterr().err
    assert "ragged.conll, line 2" in err and len(err.strip().splitlines()) == 1
    # a missing tag column in CoNLL
    untagged = tmp_path / "untagged.conll"
    untagged.write_text("Paris\nis\n")
    assert main(["tag", "eval", str(out), str(untagged)]) == 1
    assert "untagged.conll, line 1: expected a token and a tag" in capsys.readouterr().err
    # a missing tag column in CoNLL-U
    broken = tmp_path / "broken.conllu"
    broken.write_text("1\tParis\n\n")
    assert main(["tag", "eval", str(out), str(broken), "--format", "conllu"]) == 1
    assert "broken.conllu, line 1" in capsys.readouterr().err
    # an unknown format is a usage error
    with pytest.raises(SystemExit) as exc:
        main(["tag", "eval", str(out), str(dev), "--format", "json"])
    assert exc.value.code == 2
    # no sentences
    empty = tmp_path / "empty.conll"
    empty.write_text("\n\n")
    assert main(["tag", "eval", str(out), str(empty)]) != 0
    assert "empty.conll" in capsys.readouterr().err
    # a directory without a tagger
    assert main(["tag", "eval", str(tmp_path), str(dev)]) == 1
    capsys.readouterr()
