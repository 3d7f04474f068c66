"""``rnnrs stats``: exact counts on a known file, the stdlib default, and errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rnnrs.cli import main
from rnnrs.reference.bpe import pretokenize
from rnnrs.text.corpus import read_text, stdlib_files


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["stats", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_stats_on_a_known_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.txt"
    text = "the cat sat\r\non the mat 日本\nthe end 👋\n" * 30
    path.write_text(text, encoding="utf-8", newline="")
    out = run_json(capsys, str(path), "--bpe-vocab", "300")
    assert out["files"] == 1
    assert out["bytes"] == len(text.encode("utf-8"))
    assert out["characters"] == len(text)
    assert out["lines"] == 90
    assert out["char_vocab"] == len(set(text))
    assert out["word_tokens"] == 30 * 10
    assert out["word_vocab"] == 8
    assert out["bpe_encoded_bytes"] == out["bytes"] and out["bpe_words"] == 300
    # Every pre-token occurs 30 times, so merges run out before 300 ids: each pre-token
    # ends as one BPE token.
    assert 256 < out["bpe_vocab"] < 300
    assert out["bpe_tokens"] == len(pretokenize(text)) == 30 * 14
    assert out["tokens_per_word"] == pytest.approx(out["bpe_tokens"] / 300)
    assert set(out["seconds"]) == {"read", "chars", "words", "bpe_train", "bpe_encode"}


def test_stats_defaults_to_the_stdlib(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "--max-files", "12", "--bpe-vocab", "400")
    files = stdlib_files()[:12]
    text = "".join(read_text(f, errors="replace") for f in files)
    assert "standard library" in out["corpus"]
    assert out["files"] == 12
    assert out["bytes"] == sum(os.path.getsize(f) for f in files)
    assert out["characters"] == len(text)
    assert out["word_tokens"] == len(text.split())
    assert out["bpe_vocab"] == 400
    assert out["tokens_per_word"] > 1


def test_stats_human_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.txt"
    path.write_text("hello hello world\n" * 20, encoding="utf-8")
    assert main(["stats", str(path), "--bpe-vocab", "260"]) == 0
    out = capsys.readouterr().out
    for label in (
        "files",
        "bytes",
        "lines",
        "char vocab",
        "word vocab",
        "BPE vocab",
        "tokens/word",
    ):
        assert label in out
    assert " s" in out  # timings


def test_stats_missing_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stats", str(tmp_path / "nope.txt")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_stats_invalid_utf8_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\nbad \xc3\x28 here\n")
    assert main(["stats", str(path)]) == 1
    err = capsys.readouterr().err
    assert "line 2" in err and "byte offset 9" in err
    assert main(["stats", str(path), "--errors", "replace", "--bpe-vocab", "256", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["lines"] == 2


def test_stats_rejects_bad_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["stats", "--bpe-vocab", "0"])
    assert "positive integer" in capsys.readouterr().err
