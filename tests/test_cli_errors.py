"""The command line's error policy: a usage error is one line and a hint, --debug works
anywhere on the line, a directory given as a text file is named as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnrs.cli import main
from rnnrs.commands._common import UsageError


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--bogus"], "rnnrs train: error: unrecognized arguments: --bogus"),
        (["train", "--hidden", "x"], "rnnrs train: error: argument --hidden"),
        (["train", "--cell", "cnn"], "rnnrs train: error: argument --cell"),
        (["nosuchcommand"], "rnnrs: error: argument COMMAND"),
    ],
)
def test_usage_errors_are_one_line_and_a_hint(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith(message), err
    assert lines[1].startswith("Try 'rnnrs") and lines[1].endswith(" --help'.")
    assert "usage:" not in err


def test_a_directory_is_named_as_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(tmp_path), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err == f"rnnrs train: error: {tmp_path}: is a directory; give text files " + (
        f"(e.g. {tmp_path}/*.txt)\n"
    )


@pytest.mark.parametrize("where", [0, 2, 4])
def test_debug_works_anywhere_on_the_line(tmp_path: Path, where: int) -> None:
    argv = ["train", str(tmp_path), "--steps", "1"]
    argv.insert(where, "--debug")
    with pytest.raises(UsageError, match="is a directory"):  # --debug: the exception itself
        main(argv)
