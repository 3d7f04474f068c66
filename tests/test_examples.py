"""Each script of examples/ runs, with small settings, and does what it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import rnnrs
from rnnrs import NGramLM
from rnnrs.text.corpus import stdlib_corpus

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script: str, *args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_example_is_tested() -> None:
    assert {p.name for p in EXAMPLES.glob("*.py")} == {
        "language_model.py",
        "ngram_model.py",
        "classification.py",
        "tagging.py",
    }


def test_language_model(tmp_path: Path) -> None:
    args = ["--max-files", "3", "--seconds", "1", "--hidden", "32", "--tokens", "20"]
    out = run("language_model.py", *args, "--out", "lm", cwd=tmp_path)
    assert "validation perplexity" in out and "def " in out
    model = rnnrs.load(tmp_path / "lm")
    assert isinstance(model, rnnrs.RNNLM) and model.config["hidden_size"] == 32


def test_ngram_model(tmp_path: Path) -> None:
    out = run("ngram_model.py", "--max-files", "10", "-o", "3", cwd=tmp_path)
    assert "including OOVs" in out and "NGramLM(order=3" in out
    lines = stdlib_corpus(max_files=10).split("\n")
    (tmp_path / "train.txt").write_text("\n".join(lines[:-200]))
    (tmp_path / "test.txt").write_text("\n".join(lines[-200:]))
    args = ["train.txt", "--test", "test.txt", "-o", "3", "--arpa", "m.arpa"]
    out = run("ngram_model.py", *args, cwd=tmp_path)
    stats = NGramLM(3).fit(tmp_path / "train.txt").stats(tmp_path / "test.txt")
    assert f"perplexity {stats['perplexity']:.2f} including OOVs" in out
    assert NGramLM.from_arpa(tmp_path / "m.arpa").num_ngrams[0] > 100


def test_classification(tmp_path: Path) -> None:
    args = ["--examples", "600", "--epochs", "6", "--hidden", "32", "--out", "clf"]
    out = run("classification.py", *args, cwd=tmp_path)
    accuracy = float(out.split("accuracy")[1].split()[0])
    assert accuracy > 0.8, out  # one cue word decides: learnt in a few epochs
    assert isinstance(rnnrs.load(tmp_path / "clf"), rnnrs.SequenceClassifier)


def test_tagging(tmp_path: Path) -> None:
    args = ["--sentences", "400", "--epochs", "4", "--hidden", "32", "--out", "ner"]
    out = run("tagging.py", *args, cwd=tmp_path)
    accuracy = float(out.split("token accuracy:")[1].split()[0])
    assert accuracy > 0.95 and "PER" in out and "LOC" in out
    assert isinstance(rnnrs.load(tmp_path / "ner"), rnnrs.SequenceTagger)
