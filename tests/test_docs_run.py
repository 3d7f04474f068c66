"""Every ```python, ```bash and ```sh block of README.md and docs/*.md runs as written.

Each document is a walk-through: its blocks run top to bottom in a fresh folder, the Python
blocks in one namespace, the shell blocks with ``bash -e`` (``rnnrs`` and ``python`` being
this interpreter's), with the small input files of :func:`write_inputs` beside them. Time
budgets are cut to a second (:data:`SHORTER`) so the whole walk-through takes seconds; every
other number runs as printed. Blocks that are not code to run are fenced as ```text; a
runnable block that cannot run here has ``<!-- not run: WHY -->`` on the line before it.
New documents and new blocks are picked up by themselves.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN = {"python": "python", "bash": "bash", "sh": "bash"}
SKIP = re.compile(r"<!--\s*not run:\s*(?P<why>\S.*?)\s*-->")
FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)")
# The one change made to the blocks: time budgets of training cut to a second.
SHORTER = [
    (re.compile(r"--time \d[\d.hms]*"), "--time 1s"),
    (re.compile(r"max_time=\d+"), "max_time=1"),
]


@dataclass
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    skip: Optional[str]  # why it is not run, from its marker

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with the skip marker before each."""
    found, lines = [], doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence, language, start = match.group(1), match.group(2).lower(), i
        i += 1
        while i < len(lines) and not lines[i].startswith(fence):
            i += 1
        before = lines[start - 1] if start > 0 else ""
        marker = SKIP.search(before)
        code = "\n".join(lines[start + 1 : i]) + "\n"
        found.append(Block(doc, start + 1, language, code, marker and marker.group("why")))
        i += 1
    return found


def runnable(doc: Path) -> list[Block]:
    return [b for b in blocks(doc) if b.language in RUN and b.skip is None]


# ------------------------------------------------------------------- the inputs
WORDS = (
    "the cat sat on mat a dog ran company said it was in market shares of new year <unk> and "
    "to stock price rose fell by percent last week"
).split()
VOCABULARY = np.array(WORDS + [f"w{i}" for i in range(1500)])


def zipf(n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1)
    return weights / weights.sum()


def word_lines(rng: np.random.Generator, n: int) -> list[str]:
    """Sentences like a small corpus's: phrases that recur (n-grams of every order seen once,
    twice, thrice..., as modified Kneser-Ney needs to estimate its discounts) between words
    of a long-tailed vocabulary."""
    by_rank = zipf(len(VOCABULARY))
    phrases = [list(rng.choice(VOCABULARY, size=k, p=by_rank)) for k in rng.integers(4, 7, 400)]
    by_phrase = zipf(len(phrases))
    lines = []
    for _ in range(n):
        words: list[str] = []
        for _ in range(rng.integers(1, 3)):
            words += phrases[rng.choice(len(phrases), p=by_phrase)]
            words += list(rng.choice(VOCABULARY, size=rng.integers(0, 3), p=by_rank))
        lines.append(" ".join(words))
    return lines


def write_inputs(folder: Path) -> None:
    """The small files the documents read: word corpora (one sentence a line, PTB-style
    with ``<unk>``), a play-like character corpus, their parts, word vectors and
    seq2seq pairs."""
    rng = np.random.default_rng(0)
    for name, n in [
        ("train.txt", 1500),
        ("big.txt", 1500),
        ("part1.txt", 800),
        ("part2.txt", 800),
        ("test.txt", 50),
        ("ptb.train.txt", 1000),
        ("ptb.valid.txt", 300),
        ("ptb.test.txt", 300),
    ]:
        (folder / name).write_text("\n".join(word_lines(rng, n)) + "\n", encoding="utf-8")
    speakers = ["ROMEO:", "JULIET:", "NURSE:"]
    lines = word_lines(rng, 400)
    play = [f"{speakers[i % 3]}\n{line.capitalize()}.\n" for i, line in enumerate(lines)]
    (folder / "input.txt").write_text("\n".join(play), encoding="utf-8")
    (folder / "valid.txt").write_text("\n".join(play[:40]), encoding="utf-8")
    for name, n in [("g2p.train.tsv", 400), ("g2p.dev.tsv", 40), ("g2p.test.tsv", 40)]:
        # word<TAB>its letters as "phones": a transduction the seq2seq blocks learn
        words = rng.choice(VOCABULARY, size=n)
        pairs = [f"{w}\t{' '.join(c.upper() for c in w)}" for w in words]
        (folder / name).write_text("\n".join(pairs) + "\n", encoding="utf-8")
    for dim in (100, 200):  # GloVe text files over most of the corpora's words
        vectors = rng.normal(size=(len(VOCABULARY) - 5, dim)).round(4)
        named = ["man", "king", "woman", "queen", "frog", "cat", "dog"]  # the docs' queries
        words = [*named, *(w for w in VOCABULARY if w not in named)]
        rows = [f"{w} {' '.join(map(str, v))}" for w, v in zip(words, vectors)]
        (folder / f"glove.6B.{dim}d.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")


def shell_tools(folder: Path) -> dict[str, str]:
    """An environment whose ``rnnrs``, ``python`` and ``python3`` are this interpreter's."""
    bin_dir = folder / ".bin"
    bin_dir.mkdir()
    commands = {"rnnrs": f'exec "{sys.executable}" -m rnnrs "$@"'}
    commands |= {name: f'exec "{sys.executable}" "$@"' for name in ("python", "python3")}
    for name, line in commands.items():
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\n{line}\n")
        script.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def shorter(code: str) -> str:
    for pattern, replacement in SHORTER:
        code = pattern.sub(replacement, code)
    return code


# ------------------------------------------------------------------- the tests
def test_blocks_are_found() -> None:
    # Guards the parametrisation below against silently collecting nothing.
    readme = runnable(ROOT / "README.md")
    assert {"python", "bash"} <= {b.language for b in readme}
    assert len(runnable(ROOT / "docs" / "ngram.md")) >= 2
    assert shorter("rnnrs train a.txt --time 5m; fit(x, max_time=300)") == (
        "rnnrs train a.txt --time 1s; fit(x, max_time=1)"
    )


def test_skipped_blocks_say_why() -> None:
    for doc in DOCS:
        for block in blocks(doc):
            if block.skip is not None:
                assert block.language in RUN, f"{block.where}: a marker on a block never run"
                assert len(block.skip) >= 10, f"{block.where}: say why it is not run"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    write_inputs(folder)
    return folder


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_document_runs(
    doc: Path, inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    todo = runnable(doc)
    if not todo:
        pytest.skip(f"{doc.name} has no block to run")
    shutil.copytree(inputs, tmp_path, dirs_exist_ok=True)
    env = shell_tools(tmp_path)
    monkeypatch.chdir(tmp_path)
    scope: dict[str, Any] = {"__name__": "__doc__"}
    for block in todo:
        code = shorter(block.code)
        if RUN[block.language] == "python":
            try:
                exec(compile(code, block.where, "exec"), scope)
            except ModuleNotFoundError as exc:
                if exc.name in ("torch", "dask", "matplotlib"):
                    pytest.skip(f"{block.where} needs {exc.name}")
                raise
            continue
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", code],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, f"{block.where} failed:\n{run.stdout}\n{run.stderr}"
