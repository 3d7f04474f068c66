"""``rnnrs ngram build | query | generate``."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

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
