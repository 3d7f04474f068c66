"""A process killed while saving leaves a checkpoint that loads, the old one or the new one
(the short run of tests/crash_safety.py; `bash scripts/crash_test.sh 200` is the long one)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

import rnnrs
from crash_safety import run
from rnnrs.io.atomic import atomic_open
from rnnrs.io.checkpoint import checkpoint_folder


def test_killed_saves_leave_the_old_or_the_new_checkpoint(tmp_path: Path) -> None:
    tally = run(kills=30, seed=1, directory=tmp_path / "ck")
    assert tally.kills == tally.loads_ok == 30
    assert tally.old + tally.new == 30
    assert tally.clean_saves == 3  # every 10th kill: the next save removed the leftovers
    # with kills anywhere in a save, both outcomes occur (seeded: this run has both)
    assert tally.old > 0 and tally.new > 0


def written_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_files_are_written_with_the_users_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        with atomic_open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
        model = rnnrs.RNNLM(6, hidden_size=4, tokenizer=rnnrs.CharTokenizer.fit("abcde"))
        model.save(tmp_path / "ck")
        model.tokenizer.save(tmp_path / "tok.json")
    finally:
        os.umask(previous)
    expected = 0o666 & ~umask
    assert written_mode(tmp_path / "plain.txt") == expected
    assert written_mode(tmp_path / "tok.json") == expected
    for path in checkpoint_folder(tmp_path / "ck").iterdir():
        assert written_mode(path) == expected, path.name
    assert written_mode(tmp_path / "ck" / "CURRENT") == expected


def test_temporary_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    dead = tmp_path / ".out.bin.999999999.a1b2.tmp"  # no such process id
    living = tmp_path / f".out.bin.{os.getppid()}.c3d4.tmp"  # a running process's
    other = tmp_path / ".other.bin.999999999.e5f6.tmp"  # another file's
    for path in (dead, living, other):
        path.write_bytes(b"partial")
    with atomic_open(target) as f:
        f.write(np.arange(3, dtype=np.uint8).tobytes())
    assert target.read_bytes() == b"\0\1\2"
    assert not dead.exists() and living.exists() and other.exists()


@pytest.mark.skipif(not rnnrs.rust_available(), reason="the Rust core's writer")
def test_the_rust_writers_remove_temporary_files_of_dead_writers(tmp_path: Path) -> None:
    lm = rnnrs.NGramLM(2, "witten_bell", backend="rust").fit(["a b", "b a"])
    for target, write in ((tmp_path / "m.arpa", lm.to_arpa), (tmp_path / "m.ngram", lm.save)):
        dead = tmp_path / f"{target.name}.tmp999999999"  # no such process id
        living = tmp_path / f"{target.name}.tmp{os.getppid()}"  # a running process's
        other = tmp_path / "x.arpa.tmp999999999"  # another file's
        for path in (dead, living, other):
            path.write_bytes(b"partial")
        write(target)
        assert target.stat().st_size > 0
        assert not dead.exists() and living.exists() and other.exists()


def test_a_save_removes_the_temporary_links_of_dead_writers(tmp_path: Path) -> None:
    """Found by the crash test under load: a writer killed between making the link to the
    current tensors and renaming it into place."""
    model = rnnrs.RNNLM(6, hidden_size=4)
    model.save(tmp_path / "ck")
    dead = tmp_path / "ck" / ".model.safetensors.999999999.link.tmp"
    dead.symlink_to("v1/model.safetensors")
    model.save(tmp_path / "ck")
    assert not dead.is_symlink()
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "CURRENT",
        "model.safetensors",
        checkpoint_folder(tmp_path / "ck").name,
    ]
