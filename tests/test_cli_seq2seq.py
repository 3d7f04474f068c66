"""`rnnrs seq2seq train / eval / translate / attention` end to end on the built-in dates task
and on TSV files, and their one-line errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import rnnrs
from png_image import png_size
from rnnrs.cli import main
from rnnrs.text.dates import dates_task
from rnnrs.text.tasks import write_pairs

TINY = ["--embed", "16", "--hidden", "48", "--batch", "32", "--lr", "8e-3", "--no-progress"]


def run_cli(args: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def dates_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "dates"
    code = main(["seq2seq", "train", "--dates", "1500", *TINY, "--epochs", "10", "--out", str(out)])
    assert code == 0
    return out


def test_train_on_the_built_in_task_then_eval_translate_attention(
    dates_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert isinstance(rnnrs.load(dates_model), rnnrs.Seq2Seq)
    history = json.loads((dates_model / "history.json").read_text())["records"]
    assert history[-1]["exact_match"] > 0.3

    src, tgt = dates_task(60, seed=7)
    test = tmp_path / "test.tsv"
    write_pairs(test, src, tgt)
    code, text, _ = run_cli(["seq2seq", "eval", dates_model, test, "--json"], capsys)
    scores = json.loads(text)
    assert code == 0 and scores["exact_match"] > 0.4 and scores["token_error_rate"] < 0.15
    assert scores["bleu"] > 50
    code, text, _ = run_cli(["seq2seq", "eval", dates_model, test, "--beam", "3"], capsys)
    assert code == 0 and "exact match" in text and "BLEU" in text

    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(src[:5]) + "\n"))
    code, text, _ = run_cli(["seq2seq", "translate", dates_model, "-", "--beam", "2"], capsys)
    lines = text.splitlines()
    assert code == 0 and len(lines) == 5
    assert sum(a == b for a, b in zip(lines, tgt[:5])) >= 2

    png = tmp_path / "att.png"
    code, text, _ = run_cli(["seq2seq", "attention", dates_model, src[0], "--out", png], capsys)
    assert code == 0 and "</s>" in text and f"heat map written to {png}" in text
    width, height = png_size(png)
    assert width > 100 and height > 100


def test_train_on_a_tsv_file_at_word_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, tgt = dates_task(200, seed=3)
    train = tmp_path / "train.tsv"
    write_pairs(train, src, [" ".join(t.split("-")) for t in tgt])
    out = tmp_path / "m"
    code, text, _ = run_cli(
        [
            "seq2seq",
            "train",
            train,
            "--target-level",
            "word",
            "--attention",
            "dot",
            "--cell",
            "lstm",
            *TINY,
            "--epochs",
            "1",
            "--out",
            out,
        ],
        capsys,
    )
    assert code == 0 and "held out the last 20 pairs" in text and "(word)" in text
    assert rnnrs.load(out).translate(src[:1])[0].count(" ") <= 20


def test_one_line_errors(
    dates_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\nno tab\n", encoding="utf-8")
    code, _, err = run_cli(["seq2seq", "train", bad, "--out", tmp_path / "x"], capsys)
    assert code == 1 and "bad.tsv" in err and "line 2" in err and "no tab" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["seq2seq", "eval", str(dates_model), str(bad), "--beam", "0"])
    assert (
        exit_info.value.code == 2
        and "--beam: expected a positive integer" in capsys.readouterr().err
    )
    tok = rnnrs.CharTokenizer.fit("ab")
    rnnrs.RNNLM(tok.vocab_size, hidden_size=8, tokenizer=tok).save(tmp_path / "lm")
    code, _, err = run_cli(["seq2seq", "translate", tmp_path / "lm", bad], capsys)
    assert code != 0 and "not a seq2seq model" in err


def test_a_cosine_schedule_over_a_time_budget(tmp_path: Path) -> None:
    out = tmp_path / "cos"
    args = ["seq2seq", "train", "--dates", "300", *TINY, "--time", "3s", "--schedule", "cosine"]
    args += ["--patience", "1000"]  # the whole time: no early stop
    assert main([*args, "--lr", "0.004", "--out", str(out)]) == 0
    lrs = [r["lr"] for r in json.loads((out / "history.json").read_text())["records"]]
    assert lrs[0] > 0.003 and lrs[-1] < 0.7 * lrs[0] and lrs == sorted(lrs, reverse=True)
