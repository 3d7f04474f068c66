"""`rnnrs train` keeps the best model and the latest: saves at every evaluation, a killed
run resumes bit for bit from the latest, early stopping, LR decay, --valid/--test files, log
lines when the output is not a terminal, cell names."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import rnnrs
from rnnrs.cli import main
from rnnrs.commands.train import CHUNK_DEFAULTS

TEXT = (
    "Captain:\nSpeak plainly, the ship is ready and the tide is high.\n\n"
    "Crew:\nWe hear you, captain.\n\nCaptain:\nShall we sail at dawn for the northern isles?\n"
) * 12
TINY = ["--hidden", "16", "--bptt", "8", "--batch", "4", "--sample-tokens", "0"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def train(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["train", *args])
    return code, capsys.readouterr().out


def same_parameters(a: Path, b: Path) -> None:
    pa, pb = rnnrs.load(a).parameters(), rnnrs.load(b).parameters()
    assert sorted(pa) == sorted(pb)
    for name in pa:
        np.testing.assert_array_equal(pa[name], pb[name], err_msg=name)


def test_the_best_model_is_kept_and_the_latest_beside_it(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A high rate and other validation text: validation gets worse after a while.
    valid = tmp_path / "valid.txt"
    valid.write_text("the tide. we hear the ship, captain? sail the isles at dawn.\n" * 3)
    run = ["--valid", str(valid), "--eval-every", "5", "--lr", "0.2", "--lr-decay", "1", *TINY]
    code, out = train(capsys, str(corpus), *run, "--steps", "40", "--out", str(tmp_path / "a"))
    assert code == 0
    records = rnnrs.load_training_state(tmp_path / "a" / "latest")["records"]
    losses = [r["valid_loss"] for r in records]
    best_step = records[int(np.argmin(losses))]["step"]
    assert best_step < 40, losses  # the run got worse at the end
    # the best model is what a run stopped at that step has as its latest
    steps = str(best_step)
    assert train(capsys, str(corpus), *run, "--steps", steps, "--out", str(tmp_path / "b"))[0] == 0
    same_parameters(tmp_path / "a", tmp_path / "b" / "latest")
    assert f"best {np.exp(min(losses)):.3f}" in out


def test_a_killed_run_resumes_from_the_latest_bit_for_bit(tmp_path: Path, corpus: Path) -> None:
    run = [str(corpus), "--eval-every", "5", *TINY]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnrs", "train", *run, "--steps", "100000", "--out", str(killed)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("step 15 |"):  # logged after the step-15 saves
            break
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    state = rnnrs.load_training_state(killed / "latest")
    saved = state["trainer"]["step"]
    assert saved >= 15 and saved % 5 == 0
    resume = ["train", "--resume", str(killed), "--steps", "10", "--sample-tokens", "0"]
    assert main(resume) == 0
    whole = tmp_path / "whole"
    assert main(["train", *run, "--steps", str(saved + 10), "--out", str(whole)]) == 0
    same_parameters(killed / "latest", whole / "latest")
    same_parameters(killed, whole)  # the best models too


def test_save_every_saves_the_latest_between_evaluations(tmp_path: Path, corpus: Path) -> None:
    run = [str(corpus), "--eval-every", "1000", "--save-every", "3", *TINY]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnrs", "train", *run, "--steps", "100000", "--out", str(killed)],
        stdout=subprocess.DEVNULL,
    )
    try:
        saved = 0
        deadline = time.monotonic() + 120
        while saved < 6 and time.monotonic() < deadline:
            if (killed / "latest" / "CURRENT").exists():
                saved = rnnrs.load_training_state(killed / "latest")["trainer"]["step"]
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = rnnrs.load_training_state(killed / "latest")["trainer"]["step"]
    assert saved >= 6 and saved % 3 == 0
    resume = ["train", "--resume", str(killed), "--steps", "6", "--sample-tokens", "0"]
    assert main(resume) == 0
    whole = tmp_path / "whole"
    assert main(["train", *run, "--steps", str(saved + 6), "--out", str(whole)]) == 0
    same_parameters(killed / "latest", whole / "latest")


def test_early_stopping_and_lr_decay(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(corpus), "--eval-every", "5", "--lr", "0.05", "--patience", "2", *TINY]
    code, out = train(capsys, *args, "--steps", "500", "--out", str(tmp_path / "e"))
    assert code == 0 and "early stopping: 2 evaluations without improvement" in out
    records = rnnrs.load_training_state(tmp_path / "e" / "latest")["records"]
    assert records[-1]["step"] < 500
    losses = [r["valid_loss"] for r in records]
    assert min(losses[-2:]) >= min(losses[:-2])  # the last two did not improve
    # each evaluation without improvement divided the rate by 4 (the default --lr-decay)
    best = records[0]["valid_loss"]
    for record, following in zip(records[1:-1], records[2:]):
        improved = record["valid_loss"] < best * (1 - 1e-4)  # ReduceOnPlateau's threshold
        best = min(best, record["valid_loss"])
        factor = 1 if improved else 4
        assert following["lr"] == pytest.approx(record["lr"] / factor)
    assert any(r["lr"] < records[0]["lr"] for r in records)


def test_valid_and_test_files_and_log_lines(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    valid, test = tmp_path / "valid.txt", tmp_path / "test.txt"
    valid.write_text("Speak plainly, captain.\n", encoding="utf-8")
    test.write_text("We sail at dawn.\n", encoding="utf-8")
    code, out = train(
        capsys,
        str(corpus),
        "--valid",
        str(valid),
        "--test",
        str(test),
        "--eval-every",
        "5",
        *TINY,
        "--steps",
        "10",
        "--out",
        str(tmp_path / "v"),
    )
    assert code == 0
    assert f"and {len('Speak plainly, captain.') + 1} validation tokens" in out
    assert re.search(r"^test perplexity \d+\.\d{3} \(best model, 16 tokens\)$", out, re.M), out
    # stdout is not a terminal here: one plain line per evaluation, with an ETA
    lines = [line for line in out.splitlines() if line.startswith("step ")]
    assert len(lines) == 2, out
    pattern = (
        r"step (5|10) \| [\d,]+ tok/s \| loss \d+\.\d{4} \(ppl [\d.]+\) \| valid ppl [\d.]+ \| "
        r"lr [\d.e-]+ \| \d+:\d\d elapsed \| ETA \d+:\d\d"
    )
    for line in lines:
        assert re.fullmatch(pattern, line), line


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "rnn"])
def test_cell_names_are_the_apis(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str], cell: str
) -> None:
    out_dir = tmp_path / cell
    assert (
        train(capsys, str(corpus), "--cell", cell, *TINY, "--steps", "2", "--out", str(out_dir))[0]
        == 0
    )
    expected = "rnn_tanh" if cell == "rnn" else cell
    assert rnnrs.load(out_dir).config["cell"] == expected
    assert rnnrs.RNNLM(5, cell=cell, hidden_size=4).config["cell"] == expected


def test_help_says_the_default_duration_and_word_defaults_match_the_api(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default 5m when neither --steps nor --epochs is given" in text
    # Word level chunks as the API's Trainer; char and BPE level otherwise, on purpose, said.
    trainer = rnnrs.Trainer(rnnrs.RNNLM(5, hidden_size=4), rnnrs.Adam(), progress=False)
    assert CHUNK_DEFAULTS["word"] == (trainer.bptt, trainer.batch_size) == (35, 20)
    char_bptt, char_batch = CHUNK_DEFAULTS["char"]
    assert f"default {char_bptt} at char/bpe level, 35 at word level" in text
    assert f"default {char_batch} at char/bpe level" in text
    assert "Trainer default, bptt=35" in text and "batch_size=20" in text
