"""``rnnrs ngram build | query | generate``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnrs import NGramLM
from rnnrs.cli import main
from rnnrs.commands.ngram import stdlib_lines
from rnnrs.text.corpus import stdlib_files

LINES = ["the cat sat on the mat", "the dog sat on the log", "a cat saw a dog", "the end"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES * 3) + "\n", encoding="utf-8")
    return path


def test_build_query_generate(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arpa, binary = tmp_path / "m.arpa", tmp_path / "m.ngram"
    args = [str(corpus), "--order", "3", "--smoothing", "witten_bell"]
    assert main(["ngram", "build", *args, "--output", str(arpa)]) == 0
    assert main(["ngram", "build", *args, "--output", str(binary)]) == 0
    assert arpa.read_text().startswith("\\data\\") and binary.read_bytes()[:8] == b"RNNRSNGM"
    assert "order-3 witten_bell" in capsys.readouterr().out
    expected = NGramLM(3, "witten_bell").fit(corpus).stats([LINES[0], "a zebra"])
    test = tmp_path / "test.txt"
    test.write_text(f"{LINES[0]}\na zebra\n")
    for model in (arpa, binary):
        assert main(["ngram", "query", str(model), str(test), "--json"]) == 0
        got = json.loads(capsys.readouterr().out)
        assert got["tokens"] == 10 and got["oovs"] == 1
        assert got["perplexity"] == pytest.approx(expected["perplexity"], rel=1e-9)
    assert main(["ngram", "query", str(arpa), str(test)]) == 0
    out = capsys.readouterr().out
    assert "Perplexity including OOVs:" in out and "OOVs:\t1" in out
    monkey_stdin = io.StringIO(LINES[0] + "\n")
    old, sys.stdin = sys.stdin, monkey_stdin
    try:
        assert main(["ngram", "query", str(binary), "--json"]) == 0
    finally:
        sys.stdin = old
    assert json.loads(capsys.readouterr().out)["tokens"] == 7
    assert (
        main(["ngram", "generate", str(binary), "--prompt", "the", "--tokens", "5", "--seed", "3"])
        == 0
    )
    first = capsys.readouterr().out
    assert (
        main(["ngram", "generate", str(binary), "--prompt", "the", "--tokens", "5", "--seed", "3"])
        == 0
    )
    assert capsys.readouterr().out == first and first.startswith("the")
    assert main(["ngram", "generate", str(arpa), "--prompt", "the cat", "--beam", "3"]) == 0
    assert capsys.readouterr().out.strip() == "the cat sat on the mat"


def test_errors_are_one_line(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--output", str(tmp_path / "x")]
    assert main(["ngram", "build", str(corpus), "--order", "0", *out]) == 2
    assert "order" in capsys.readouterr().err
    assert main(["ngram", "query", str(tmp_path / "missing.arpa")]) == 1
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err
    out = ["--output", str(tmp_path / "m.arpa")]
    assert main(["ngram", "build", str(corpus), "-o", "3", *out]) == 1
    assert "discount" in capsys.readouterr().err  # tiny data: modified Kneser-Ney refuses
    with pytest.raises(SystemExit):
        main(["ngram", "--help"])
    assert "examples:" in capsys.readouterr().out


def test_builtin_corpus_is_the_standard_library() -> None:
    first = stdlib_files()[0].read_text(encoding="utf-8", errors="replace").split("\n")
    lines = stdlib_lines()
    assert [next(lines) for _ in range(min(5, len(first)))] == first[:5]


def test_stdin_to_stdout_as_lmplz(
    corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `rnnrs ngram build -o 3 < corpus > model.arpa`: the report goes to stderr.
    monkeypatch.setattr(sys, "stdin", io.StringIO(corpus.read_text()))
    assert main(["ngram", "build", "-o", "3", "--smoothing", "witten_bell"]) == 0
    captured = capsys.readouterr()
    assert "from stdin" in captured.err and captured.out.startswith("\\data\\")
    piped = tmp_path / "piped.arpa"
    piped.write_text(captured.out)
    file_arpa = tmp_path / "file.arpa"
    args = [str(corpus), "-o", "3", "--smoothing", "witten_bell", "--output", str(file_arpa)]
    assert main(["ngram", "build", *args]) == 0
    assert piped.read_text() == file_arpa.read_text()
    capsys.readouterr()
    # `-` is stdin for query too, beside files.
    monkeypatch.setattr(sys, "stdin", io.StringIO(LINES[1] + "\n"))
    assert main(["ngram", "query", str(piped), "-", str(corpus), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["tokens"] == 7 + 3 * sum(len(s.split()) + 1 for s in LINES)
    assert main(["ngram", "build", str(corpus), "--format", "binary"]) == 2
    assert "--output" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # e.g. a script's /dev/null
    assert main(["ngram", "count", "-o", "3", "--output", str(tmp_path / "c.counts")]) == 2
    assert "stdin is empty: give TEXT" in capsys.readouterr().err


def test_query_prints_per_word_scores_as_kenlm(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m.ngram"
    args = [str(corpus), "-o", "3", "--smoothing", "witten_bell", "--output", str(model)]
    assert main(["ngram", "build", *args]) == 0
    test = tmp_path / "test.txt"
    test.write_text("the cat sat\n\na zebra\n")
    capsys.readouterr()
    assert main(["ngram", "query", str(model), str(test), "-v", "word"]) == 0
    lines = capsys.readouterr().out.splitlines()
    lm = NGramLM.load(model)
    first = [f.split() for f in lines[0].split("\t")]
    expected = lm.score("the cat sat", per_token=True)
    assert [f[0].split("=")[0] for f in first[:-1]] == ["the", "cat", "sat", "</s>"]
    assert [int(f[0].split("=")[1]) for f in first[:-1]] == [
        lm.word_id(w) for w in ["the", "cat", "sat", "</s>"]
    ]
    # <s> the, <s> the cat, the cat sat are in the corpus; sat </s> is not.
    assert [int(f[1]) for f in first[:-1]] == [2, 3, 3, 1]
    assert [float(f[2]) for f in first[:-1]] == pytest.approx([p for _, p in expected], abs=1e-5)
    assert first[-1][0] == "Total:" and float(first[-1][1]) == pytest.approx(
        sum(p for _, p in expected), abs=1e-5
    )
    assert first[-1][2:] == ["OOV:", "0"]
    second = lines[1].split("\t")  # the empty line is skipped, as in the summary
    assert second[1].startswith("zebra=0 1 ") and second[-1].endswith("OOV: 1")
    assert lines[2].startswith("Perplexity including OOVs:") and lines[-1] == "Tokens:\t7"
    assert main(["ngram", "query", str(model), str(test), "-v", "sentence"]) == 0
    sentence = capsys.readouterr().out.splitlines()
    assert sentence[0] == "Total: " + lines[0].split("\tTotal: ")[1]
    assert sentence[2:] == lines[2:]


def test_neural_and_ngram_models_given_to_the_other_command_say_what_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import rnnrs

    run = tmp_path / "run1"
    rnnrs.RNNLM(10, hidden_size=8, backend="numpy").save(run)
    assert main(["ngram", "query", str(run)]) == 2
    err = capsys.readouterr().err
    assert "neural" in err and f"rnnrs eval {run}" in err and len(err.splitlines()) == 1
    assert main(["ngram", "generate", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    # ...and the other way round.
    lm = NGramLM(2, "witten_bell").fit(LINES)
    lm.to_arpa(tmp_path / "m.arpa")
    lm.save(tmp_path / "m.ngram")
    for path in (tmp_path / "m.arpa", tmp_path / "m.ngram"):
        assert main(["generate", str(path)]) == 2
        err = capsys.readouterr().err
        assert "is an n-gram model" in err and f"rnnrs ngram generate {path}" in err
        assert main(["eval", str(path), str(tmp_path / "m.arpa")]) == 2
        err = capsys.readouterr().err
        assert "is an n-gram model" in err and f"rnnrs ngram query {path}" in err


def test_a_reader_that_stops_early_is_no_error(tmp_path: Path) -> None:
    # `rnnrs ngram build -o 2 < text | head -1`: the ARPA output (far beyond a pipe's
    # buffer) is cut short, quietly, with the shell's code for SIGPIPE.
    rng = np.random.default_rng(0)
    words = rng.integers(0, 5000, size=(4000, 8))
    text = tmp_path / "text.txt"
    text.write_text("\n".join(" ".join(f"w{i}" for i in row) for row in words) + "\n")
    command = f'"{sys.executable}" -m rnnrs ngram build -o 2 --smoothing witten_bell | head -1'
    with open(text, encoding="utf-8") as stdin:
        done = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {command}"],
            stdin=stdin,
            capture_output=True,
            text=True,
        )
    assert done.stdout == "\\data\\\n"
    assert done.returncode == 141 and "error" not in done.stderr, done.stderr
