"""`rnnrs classify train / eval / predict / explain` end to end on a small generated dataset,
and their one-line errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import rnnrs
from rnnrs.cli import main
from rnnrs.commands.classify import stratified_split
from rnnrs.io.checkpoint import holds_checkpoint
from rnnrs.text.tasks import ClassificationData
from synthetic_sentiment import sentiment_data

TINY = ["--embed", "16", "--hidden", "16", "--pooling", "mean", "--batch", "16", "--no-progress"]


def write_tsv(path: Path, n: int, seed: int) -> Path:
    texts, labels = sentiment_data(n, seed)
    path.write_text("".join(f"{y}\t{t}\n" for t, y in zip(texts, labels)), encoding="utf-8")
    return path


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_eval_predict_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = write_tsv(tmp_path / "train.tsv", 400, seed=0)
    test = write_tsv(tmp_path / "test.tsv", 100, seed=1)
    out = tmp_path / "clf"
    code, text, _ = run_cli(
        ["classify", "train", train, *TINY, "--epochs", "4", "--out", out], capsys
    )
    assert code == 0
    assert "held out a stratified 1/10 of" in text and "(40 texts)" in text
    assert "validation accuracy" in text and holds_checkpoint(out)
    assert isinstance(rnnrs.load(out), rnnrs.SequenceClassifier)
    assert len(json.loads((out / "history.json").read_text())["records"]) == 4

    code, text, _ = run_cli(["classify", "eval", out, test, "--json"], capsys)
    scores = json.loads(text)
    assert code == 0 and scores["accuracy"] > 0.9 and scores["macro_f1"] > 0.9
    assert scores["confusion_matrix"] and set(scores["per_class"]) == {"neg", "pos"}
    code, text, _ = run_cli(["classify", "eval", out, test], capsys)
    assert "macro avg" in text and "gold \\ predicted" in text and "accuracy" in text

    lines = tmp_path / "new.txt"
    lines.write_text("w1 great w2\nw3 w4 awful\n", encoding="utf-8")
    code, text, _ = run_cli(["classify", "predict", out, lines], capsys)
    assert code == 0 and text.split() == ["pos", "neg"]

    code, text, err = run_cli(
        ["classify", "explain", out, "w1 lovely w2", "--out", tmp_path / "heat.png"], capsys
    )
    assert code == 0 and "label 'pos'" in text and "lovely" in text
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in err and not (tmp_path / "heat.png").exists()
    else:
        assert (tmp_path / "heat.png").read_bytes()[:4] == b"\x89PNG"


def test_predict_reads_stdin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    train = write_tsv(tmp_path / "train.tsv", 200, seed=2)
    valid = write_tsv(tmp_path / "valid.tsv", 40, seed=3)
    out = tmp_path / "clf"
    code, text, _ = run_cli(
        [
            "classify",
            "train",
            train,
            "--valid",
            valid,
            *TINY,
            "--epochs",
            "1",
            "--unidirectional",
            "--cell",
            "gru",
            "--out",
            out,
        ],
        capsys,
    )
    assert code == 0 and "held out" not in text
    assert rnnrs.load(out).config["bidirectional"] is False
    monkeypatch.setattr("sys.stdin", io.StringIO("w1 fine\nw2 dull w3\n"))
    code, text, _ = run_cli(["classify", "predict", out, "-"], capsys)
    assert code == 0 and len(text.split()) == 2


def test_errors_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.tsv"
    broken.write_text("pos\tgood film\nno tab on this line\n", encoding="utf-8")
    code, _, err = run_cli(["classify", "train", broken, "--out", tmp_path / "x"], capsys)
    assert code == 1 and f"{broken}, line 2" in err and len(err.strip().splitlines()) == 1

    one = tmp_path / "one.tsv"
    one.write_text("pos\tgood film\npos\tfine film\n", encoding="utf-8")
    code, _, err = run_cli(["classify", "train", one, "--out", tmp_path / "x"], capsys)
    assert code == 2 and "need two or more" in err

    rnnrs.RNNLM(5, hidden_size=4).save(tmp_path / "lm")
    code, _, err = run_cli(["classify", "eval", tmp_path / "lm", broken], capsys)
    assert code == 2 and "not a sequence classifier" in err

    train = write_tsv(tmp_path / "train.tsv", 100, seed=4)
    run_cli(["classify", "train", train, *TINY, "--epochs", "1", "--out", tmp_path / "c"], capsys)
    unknown = tmp_path / "unknown.tsv"
    unknown.write_text("pos\tgood\nmeh\tso so\n", encoding="utf-8")
    code, _, err = run_cli(["classify", "eval", tmp_path / "c", unknown], capsys)
    assert code == 1 and "unknown label 'meh'" in err
    blank = tmp_path / "blank.txt"
    blank.write_text("good\n\n", encoding="utf-8")
    code, _, err = run_cli(["classify", "predict", tmp_path / "c", blank], capsys)
    assert code == 2 and f"{blank}, line 2: empty line" in err


def test_stratified_split_keeps_every_label() -> None:
    data = ClassificationData([f"t{i}" for i in range(50)], ["a"] * 40 + ["b"] * 10)
    kept, held = stratified_split(data, 10, seed=0)
    assert sorted(held.labels) == ["a"] * 4 + ["b"]
    assert len(kept) == 45 and not set(kept.texts) & set(held.texts)
