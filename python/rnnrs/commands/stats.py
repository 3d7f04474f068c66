"""``rnnrs stats [TEXT...]``: statistics of a corpus and of tokenizers fitted to it.

With no TEXT it reads the built-in corpus, the Python standard library's own ``*.py`` files.
Files are streamed block by block, so memory stays bounded whatever their size.

Example:
    >>> from rnnrs.cli import main
    >>> main(["stats", "--json", "--max-files", "3"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..backends.selection import resolve_backend
from ..text.corpus import iter_blocks, stdlib_files
from ..text.tokenizers import BPETokenizer
from ._common import UsageError

BLOCK = 1 << 16
# Bytes the BPE trains on and encodes by default: the Rust core handles the whole stdlib in
# seconds; the pure-Python reference is given much less so the command stays quick.
DEFAULT_SAMPLE = {"rust": 8 << 20, "numpy": 512 << 10}
DEFAULT_ENCODE = {"rust": None, "numpy": 2 << 20}


@dataclass
class Stats:
    """What ``rnnrs stats`` measures; ``seconds`` holds the time of each step."""

    corpus: str
    backend: str
    files: int = 0
    bytes: int = 0
    lines: int = 0
    characters: int = 0
    char_vocab: int = 0
    word_tokens: int = 0
    word_vocab: int = 0
    bpe_vocab: int = 0
    bpe_sample_bytes: int = 0
    bpe_encoded_bytes: int = 0
    bpe_tokens: int = 0
    bpe_words: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def tokens_per_word(self) -> float:
        return self.bpe_tokens / self.bpe_words if self.bpe_words else float("nan")


def _blocks(files: list[Path], errors: str) -> Any:
    for f in files:
        yield from iter_blocks(f, block_size=BLOCK, errors=errors)


def compute(
    files: list[Path],
    *,
    corpus: str,
    backend: str,
    bpe_vocab: int,
    sample_bytes: int,
    encode_bytes: int | None,
    errors: str = "strict",
) -> Stats:
    """Measure ``files``: one pass for characters, lines and words (also taking an evenly
    spread BPE training sample), BPE training, then a pass encoding up to ``encode_bytes``."""
    st = Stats(corpus=corpus, backend=backend, files=len(files))
    total = sum(os.path.getsize(f) for f in files)
    chars: set[str] = set()
    words: Counter[str] = Counter()
    sample: list[str] = []
    credit, t_chars, t_words = 0.0, 0.0, 0.0
    t0 = time.perf_counter()
    for block in _blocks(files, errors):
        t = time.perf_counter()
        st.characters += len(block)
        st.lines += block.count("\n")
        chars.update(block)
        t_chars += time.perf_counter() - t
        t = time.perf_counter()
        words.update(block.split())
        t_words += time.perf_counter() - t
        credit += len(block) * sample_bytes / max(total, 1)
        if credit >= len(block):
            credit -= len(block)
            sample.append(block)
    if st.characters == 0:
        raise UsageError("TEXT: the corpus is empty")
    st.bytes = total
    st.char_vocab, st.word_tokens, st.word_vocab = len(chars), sum(words.values()), len(words)
    read = time.perf_counter() - t0 - t_chars - t_words
    st.seconds.update(read=read, chars=t_chars, words=t_words)

    t = time.perf_counter()
    st.bpe_sample_bytes = sum(len(s.encode("utf-8")) for s in sample)
    bpe = BPETokenizer.train(sample or [""], bpe_vocab, backend=backend)
    st.bpe_vocab = bpe.vocab_size
    st.seconds["bpe_train"] = time.perf_counter() - t

    t = time.perf_counter()
    batch: list[str] = []
    for block in _blocks(files, errors):
        if encode_bytes is not None and st.bpe_encoded_bytes >= encode_bytes:
            break
        batch.append(block)
        st.bpe_encoded_bytes += len(block.encode("utf-8"))
        st.bpe_words += len(block.split())
        if len(batch) == 64:
            st.bpe_tokens += sum(len(ids) for ids in bpe.encode_batch(batch))
            batch = []
    st.bpe_tokens += sum(len(ids) for ids in bpe.encode_batch(batch))
    st.seconds["bpe_encode"] = time.perf_counter() - t
    return st


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def render(st: Stats) -> str:
    """The human-readable report."""
    s = st.seconds
    enc_rate = st.bpe_encoded_bytes / s["bpe_encode"] / 1e6 if s["bpe_encode"] else 0.0
    rows = [
        f"corpus       {st.corpus}",
        f"backend      {st.backend}",
        f"files        {st.files:>14,}",
        f"bytes        {st.bytes:>14,}    read in {s['read']:.2f} s",
        f"lines        {st.lines:>14,}",
        f"characters   {st.characters:>14,}",
        f"char vocab   {st.char_vocab:>14,}    {s['chars']:.2f} s",
        f"word tokens  {st.word_tokens:>14,}    (whitespace-separated)",
        f"word vocab   {st.word_vocab:>14,}    {s['words']:.2f} s",
        f"BPE vocab    {st.bpe_vocab:>14,}    trained on a {_mb(st.bpe_sample_bytes)} sample "
        f"in {s['bpe_train']:.2f} s",
        f"BPE tokens   {st.bpe_tokens:>14,}    {_mb(st.bpe_encoded_bytes)} encoded in "
        f"{s['bpe_encode']:.2f} s ({enc_rate:.1f} MB/s)",
        f"tokens/word  {st.tokens_per_word:>14.3f}    (BPE tokens per whitespace word)",
    ]
    return "\n".join(rows)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run ``rnnrs stats`` with parsed arguments."""
    backend = resolve_backend(args.backend)
    if args.text:
        files = [Path(p) for p in args.text]
        for f in files:
            if not f.is_file():
                raise UsageError(f"TEXT: no such file: {f}")
        corpus = ", ".join(str(f) for f in files)
        errors = args.errors or "strict"
    else:
        files = stdlib_files()
        corpus = f"the Python standard library, {len(files):,} *.py files"
        errors = args.errors or "replace"
    if args.max_files is not None:
        files = files[: args.max_files]
    st = compute(
        files,
        corpus=corpus,
        backend=backend,
        bpe_vocab=args.bpe_vocab,
        sample_bytes=args.bpe_sample or DEFAULT_SAMPLE[backend],
        encode_bytes=args.encode_limit or DEFAULT_ENCODE[backend],
        errors=errors,
    )
    if args.json:
        print(json.dumps({**asdict(st), "tokens_per_word": st.tokens_per_word}))
    else:
        print(render(st))
    return 0


def register(subparsers: Any) -> None:
    """Add the ``stats`` sub-command."""
    p = subparsers.add_parser(
        "stats",
        help="corpus statistics: size, characters, words, BPE tokens per word",
        description="Statistics of a corpus (default: the Python standard library's own "
        "source files) and of character, word and BPE tokenizations of it.",
    )
    p.add_argument("text", nargs="*", metavar="TEXT", help="UTF-8 text files (default: stdlib)")
    p.add_argument("--bpe-vocab", type=_positive, default=2000, help="BPE vocabulary (2000)")
    p.add_argument("--bpe-sample", type=_positive, default=None, help="bytes to train the BPE on")
    p.add_argument(
        "--encode-limit", type=_positive, default=None, help="encode at most this many bytes"
    )
    p.add_argument("--max-files", type=_positive, default=None, help="read only the first N files")
    p.add_argument(
        "--errors",
        choices=("strict", "replace"),
        default=None,
        help="invalid UTF-8: fail, or read as U+FFFD (default: strict for TEXT files, "
        "replace for the stdlib corpus)",
    )
    p.add_argument("--backend", choices=("rust", "numpy"), default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
