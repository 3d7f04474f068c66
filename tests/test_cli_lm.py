"""`rnnrs train / generate / eval` on tiny models: outputs, files, resume, Ctrl-C, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rnnrs
from rnnrs.cli import main
from rnnrs.commands._common import parse_duration
from rnnrs.io.checkpoint import checkpoint_folder

TEXT = (
    "Captain:\nSpeak plainly, the ship is ready and the tide is high.\n\n"
    "Crew:\nWe hear you, captain.\n\nCaptain:\nShall we sail at dawn for the northern isles?\n"
) * 12
TINY = ["--hidden", "16", "--layers", "1", "--bptt", "8", "--batch", "4", "--eval-every", "10"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_parse_duration() -> None:
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration("1.5m") == 90.0
    assert parse_duration("20") == 20.0
    for bad in ("", "5x", "m", "0s", "-3m"):
        with pytest.raises(Exception, match="expected a duration"):
            parse_duration(bad)


def test_train_generate_eval(tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture) -> None:
    out_dir = tmp_path / "run"
    code, out, _ = run_cli(
        [
            "train",
            str(corpus),
            *TINY,
            "--steps",
            "20",
            "--out",
            str(out_dir),
            "--sample-tokens",
            "30",
        ],
        capsys,
    )
    assert code == 0
    assert "validation perplexity" in out and "after 20 steps" in out
    assert f"best model saved: {out_dir} (latest, for --resume: {out_dir / 'latest'})" in out
    assert "sample (temperature 0.8):" in out
    assert (out_dir / "model.safetensors").is_file()
    assert (checkpoint_folder(out_dir) / "model.json").is_file()
    if rnnrs.training.plotting.matplotlib_available():
        assert (out_dir / "loss.png").is_file()
    else:
        assert "pip install matplotlib" in out
    model = rnnrs.load(out_dir)
    assert model.config["hidden_size"] == 16
    state = rnnrs.load_training_state(out_dir / "latest")
    assert state["trainer"]["step"] == 20
    assert [r["step"] for r in state["records"]] == [10, 20]

    code, out, _ = run_cli(
        ["generate", str(out_dir), "--prompt", "First", "--tokens", "25", "--seed", "3"], capsys
    )
    assert code == 0 and out.startswith("First")
    again = run_cli(
        ["generate", str(out_dir), "--prompt", "First", "--tokens", "25", "--seed", "3"], capsys
    )[1]
    assert again == out
    # Characters the tokenizer never saw encode to <unk> (CharTokenizer's documented rule).
    code, out, _ = run_cli(
        ["generate", str(out_dir), "--prompt", "Zebra#", "--tokens", "5"], capsys
    )
    assert code == 0 and out.startswith("Zebra#")
    code, beam, _ = run_cli(
        ["generate", str(out_dir), "--prompt", "All", "--beam", "3", "--tokens", "5"], capsys
    )
    assert code == 0 and beam.startswith("All")

    code, out, _ = run_cli(["eval", str(out_dir), str(corpus), "--json"], capsys)
    assert code == 0
    row = json.loads(out.splitlines()[0])
    assert row["tokens"] == len(TEXT) and row["oov"] == 0
    assert 1.0 < row["perplexity"] < model.vocab_size
    assert abs(row["perplexity"] - model.perplexity(model.tokenizer.encode(TEXT))) < 1e-6


def test_eval_reports_oov(tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture) -> None:
    out_dir = tmp_path / "run"
    assert main(["train", str(corpus), *TINY, "--steps", "2", "--out", str(out_dir)]) == 0
    other = tmp_path / "other.txt"
    other.write_text("Speak! ZZZZ", encoding="utf-8")  # '!' and 'Z' are not in TEXT
    capsys.readouterr()
    code, out, _ = run_cli(["eval", str(out_dir), str(other)], capsys)
    assert code == 0
    assert "OOV rate" in out and "45.45%" in out  # 5 of 11 characters


def test_resume_continues_the_run(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert (
        main(
            ["train", str(corpus), *TINY, "--steps", "30", "--out", str(a), "--sample-tokens", "0"]
        )
        == 0
    )
    assert (
        main(
            ["train", str(corpus), *TINY, "--steps", "20", "--out", str(b), "--sample-tokens", "0"]
        )
        == 0
    )
    code, out, _ = run_cli(
        ["train", "--resume", str(b), "--steps", "10", "--sample-tokens", "0"], capsys
    )
    assert code == 0 and "after 30 steps" in out
    full = rnnrs.load(a / "latest").parameters()
    resumed = rnnrs.load(b / "latest").parameters()
    for name in full:
        assert (full[name] == resumed[name]).all(), name
    records = rnnrs.load_training_state(b / "latest")["records"]
    assert [r["step"] for r in records] == [10, 20, 30]


def test_usage_and_failure_errors(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture
) -> None:
    out_dir = tmp_path / "run"
    assert main(["train", str(corpus), *TINY, "--steps", "2", "--out", str(out_dir)]) == 0
    capsys.readouterr()
    cases = [
        (
            ["train", str(corpus), "--steps", "2", "--out", str(out_dir)],
            2,
            "already holds a checkpoint",
        ),
        (["train", "--resume", str(out_dir), "--hidden", "8"], 2, "drop --hidden"),
        (["train", str(tmp_path / "missing.txt")], 1, "missing.txt: no such file"),
        (["train", str(corpus), "--valid-fraction", "1.5"], 2, "--valid-fraction"),
        (["generate", str(out_dir), "--temperature", "0"], 2, "--temperature: must be a finite"),
        (["generate", str(out_dir), "--top-p", "1.5"], 2, "--top-p: must be in (0, 1]"),
        (["generate", str(out_dir), "--seed", "-1"], 2, "--seed: must be None or a non-neg"),
        (["generate", str(out_dir), "--beam", "2", "--top-k", "3"], 2, "--beam"),
        (["generate", str(tmp_path / "nowhere")], 1, "no such checkpoint directory"),
        (["eval", str(out_dir), str(tmp_path / "nope.txt")], 1, "nope.txt"),
    ]
    for args, expected_code, message in cases:
        code, _, err = run_cli(args, capsys)
        assert code == expected_code, (args, err)
        assert message in err, (args, err)
        assert err.count("\n") == 1 and "Traceback" not in err
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    code, _, err = run_cli(["train", str(empty), "--out", str(tmp_path / "e")], capsys)
    assert code == 1 and "the corpus is empty" in err
    (out_dir / "model.safetensors").write_bytes(b"\0" * 10)
    code, _, err = run_cli(["generate", str(out_dir)], capsys)
    assert code == 1 and "half-written" in err


def test_word_level(tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture) -> None:
    out_dir = tmp_path / "words"
    args = ["train", str(corpus), "--level", "word", *TINY, "--steps", "5", "--out", str(out_dir)]
    code, out, _ = run_cli([*args, "--sample-tokens", "10"], capsys)
    assert code == 0 and "word level" in out
    model = rnnrs.load(out_dir)
    assert model.tokenizer.kind == "word"
    code, out, _ = run_cli(["eval", str(out_dir), str(corpus), "--json"], capsys)
    row = json.loads(out)
    assert row["tokens"] == len(TEXT.split()) + TEXT.count("\n")  # one </s> per line


def test_main_job_defaults_read_the_stdlib_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # `rnnrs train --time 1m` with the step budget of a test: the defaults of the main job.
    out_dir = tmp_path / "main"
    code, out, _ = run_cli(["train", "--steps", "3", "--out", str(out_dir)], capsys)
    assert code == 0 and "validation perplexity" in out and "sample (temperature 0.8):" in out
    settings = rnnrs.load_training_state(out_dir / "latest")["cli"]
    assert settings["max_files"] == 200 and (settings["bptt"], settings["batch"]) == (32, 64)
    assert settings["lr"] == 5e-3
    config = rnnrs.load(out_dir).config
    assert (config["num_layers"], config["hidden_size"], config["embed_size"]) == (1, 256, 64)


def test_tied_weights_take_the_hidden_width(tmp_path: Path, corpus: Path) -> None:
    out_dir = tmp_path / "tied"
    args = ["train", str(corpus), *TINY, "--tie-weights", "--steps", "2", "--out", str(out_dir)]
    assert main([*args, "--sample-tokens", "5"]) == 0
    config = rnnrs.load(out_dir).config
    assert config["tie_weights"] and config["embed_size"] == config["hidden_size"] == 16


def test_help_has_examples(capsys: pytest.CaptureFixture) -> None:
    for command in ("train", "generate", "eval"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        assert "examples:" in capsys.readouterr().out


def test_ctrl_c_stops_at_a_step_boundary_and_saves(tmp_path: Path, corpus: Path) -> None:
    out_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rnnrs",
            "train",
            str(corpus),
            *TINY,
            "--time",
            "60s",
            "--out",
            str(out_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed just before training starts
    assert first.startswith("backend:"), first
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted at step" in out and f"--resume {out_dir}" in out
    step = int(out.split("interrupted at step ")[1].split(" ")[0].replace(",", ""))
    assert step > 0
    assert rnnrs.load_training_state(out_dir / "latest")["trainer"]["step"] == step
    rnnrs.load(out_dir)
