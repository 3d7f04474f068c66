"""``rnnrs ngram``: build, query and sample n-gram models from the command line.

As in lmplz, ``-o`` is the order (``--order``) and files are named with ``--output``;
``build`` writes ARPA to stdout without ``--output``. TEXT ``-`` is stdin; ``build`` and
``count`` read stdin when given no TEXT and stdin is not a terminal, ``query`` whenever it
is given no TEXT. Commands that take no order (``merge``, ``query``, ``generate``) have no
``-o``.

Example:
    >>> from rnnrs.cli import main
    >>> main(["ngram", "build", "corpus.txt", "-o", "3", "--output", "m.arpa"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..backends.ngram_binary import MAGIC
from ..errors import FormatError
from ..io.checkpoint import holds_checkpoint
from ..ngram.counts import NGramCounts
from ..ngram.inputs import parse_memory
from ..ngram.lm import NGramLM, build_arpa
from ..reference.ngram import EOS, METHODS, UNK
from ..text.corpus import stdlib_files
from ._common import (
    UsageError,
    add_generation_arguments,
    backend_note,
    generate_from_args,
    show_sentence_ends,
)

EXAMPLES = """examples:
  rnnrs ngram build corpus.txt -o 5 --output model.arpa     # modified Kneser-Ney, ARPA
  rnnrs ngram build -o 3 < corpus.txt > model.arpa          # stdin to stdout, as lmplz
  rnnrs ngram build a.txt b.txt --smoothing witten_bell --output m.ngram   # binary form
  rnnrs ngram build --output stdlib.ngram  # no TEXT, in a terminal: the Python stdlib's *.py
  rnnrs ngram build big.txt -o 5 --memory 2G --temp-dir /scratch --output big.arpa
  rnnrs ngram count part1.txt -o 5 --output part1.counts    # counts that travel...
  rnnrs ngram merge part1.counts part2.counts --output all.counts   # ...merge exactly,
  rnnrs ngram build --from-counts all.counts --output model.arpa    # ...then estimate
  rnnrs ngram query model.arpa test.txt    # perplexity with and without OOVs
  echo "the cat sat" | rnnrs ngram query model.ngram -v word   # per-word scores, as KenLM
  rnnrs ngram generate model.ngram --prompt "def" --tokens 20 --temperature 0.8 --top-k 40
  rnnrs ngram generate model.arpa --prompt "the" --beam 5
"""


def stdlib_lines() -> Iterator[str]:
    """Every line of the built-in corpus, :func:`rnnrs.text.corpus.stdlib_files` (lines =
    sentences, whitespace tokens).

    Example:
        >>> isinstance(next(stdlib_lines()), str)
        True
    """
    for path in stdlib_files():
        yield from path.read_text(encoding="utf-8", errors="replace").split("\n")


def register(subparsers: Any) -> None:
    """Add ``rnnrs ngram`` and its sub-commands."""
    parser = subparsers.add_parser(
        "ngram",
        help="n-gram language models: build, query, generate",
        description="n-gram language models (KenLM-exact modified Kneser-Ney and more).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="ngram_command", metavar="SUBCOMMAND", required=True)

    build = sub.add_parser(
        "build",
        help="estimate a model from text files or saved counts",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument("text", nargs="*", type=Path, help=TEXT_HELP)
    build.add_argument(
        "--from-counts",
        type=Path,
        metavar="COUNTS",
        help="estimate from counts written by `rnnrs ngram count` / `merge` instead of TEXT",
    )
    add_order_argument(build, required=False)
    build.add_argument("--smoothing", default="modified_kneser_ney", choices=[*METHODS, "laplace"])
    build.add_argument("--k", type=float, default=1.0, help="add_k pseudo-count")
    build.add_argument("--discount", type=float, help="fixed discount (absolute, kneser_ney)")
    build.add_argument("--alpha", type=float, default=0.4, help="stupid_backoff penalty")
    build.add_argument(
        "--discount-fallback", action="store_true", help="use fallback discounts on tiny data"
    )
    build.add_argument(
        "--min-counts", type=int, nargs="+", help="pruning threshold per order, e.g. 0 1 2 2 3"
    )
    add_memory_arguments(build)
    build.add_argument("--output", type=Path, help="model file to write (default: ARPA to stdout)")
    build.add_argument(
        "--format",
        choices=["arpa", "binary"],
        help="output format (default: arpa for *.arpa, else rnnrs's binary form)",
    )
    build.set_defaults(func=run_build)

    count = sub.add_parser(
        "count",
        help="count n-grams of text files into a counts file (a shard)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    count.add_argument("text", nargs="*", type=Path, help=TEXT_HELP)
    add_order_argument(count, required=True)
    add_memory_arguments(count)
    count.add_argument(
        "--output", type=Path, required=True, help="counts file to write (binary: not stdout)"
    )
    count.set_defaults(func=run_count)

    merge = sub.add_parser(
        "merge",
        help="merge counts files (exactly: as if counted together)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    merge.add_argument("counts", nargs="+", type=Path, help="counts files of one order")
    merge.add_argument(
        "--output", type=Path, required=True, help="counts file to write (binary: not stdout)"
    )
    merge.set_defaults(func=run_merge)

    query = sub.add_parser(
        "query",
        help="perplexity of text (stdin when no TEXT)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    query.add_argument("model", type=Path, help="ARPA file or rnnrs binary model")
    query.add_argument(
        "text", nargs="*", type=Path, help="UTF-8 files, one sentence per line (- or none: stdin)"
    )
    query.add_argument(
        "-v",
        "--verbosity",
        choices=["summary", "sentence", "word"],
        default="summary",
        help="as KenLM's query: word prints word=id n-gram-length log10p for every word and "
        "each sentence's Total and OOV count, a sentence a line; sentence prints those two; "
        "summary (the default) only the summary that always ends the output",
    )
    query.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object (its last line)"
    )
    add_no_verify_argument(query)
    query.set_defaults(func=run_query)

    gen = sub.add_parser(
        "generate",
        help="sample or beam-search a continuation",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gen.add_argument("model", type=Path, help="ARPA file or rnnrs binary model")
    gen.add_argument("--prompt", default="", help="words to continue (after <s>)")
    add_generation_arguments(gen, tokens=20, unit="words")
    add_no_verify_argument(gen)
    gen.set_defaults(func=run_generate)


DEFAULT_ORDER = 5
TEXT_HELP = (
    "UTF-8 files, one sentence per line (- is stdin; none: stdin, or in a terminal the "
    "Python standard library's *.py files)"
)


def add_order_argument(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``-o/--order``, as lmplz spells it."""
    default = "" if required else " (default 5, or the order of --from-counts)"
    parser.add_argument("-o", "--order", type=int, required=required, help=f"n-gram order{default}")


def memory_size(text: str) -> int:
    """An argparse ``type=`` for ``--memory`` (see :func:`rnnrs.ngram.parse_memory`).

    Example:
        >>> memory_size("2M")
        2097152
    """
    try:
        return parse_memory(text, "--memory")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_memory_arguments(parser: argparse.ArgumentParser) -> None:
    """``--memory`` and ``--temp-dir``, as lmplz's ``-S`` and ``-T``."""
    parser.add_argument(
        "--memory",
        type=memory_size,
        metavar="SIZE",
        help="count within this memory, spilling sorted runs to --temp-dir (e.g. 1G, 500M, "
        "80%%; default: no limit)",
    )
    parser.add_argument(
        "--temp-dir", type=Path, help="folder for the runs of --memory (default: the system's)"
    )


def count_texts(args: argparse.Namespace, order: int) -> tuple[NGramCounts, str]:
    """The counts of the TEXT files (``-``: stdin; none: stdin, or the standard library when
    stdin is a terminal), and what they were counted from."""
    if args.temp_dir is not None and args.memory is None:
        raise UsageError("--temp-dir holds the runs of --memory: give --memory too")
    if args.text and "-" not in map(str, args.text):
        counts = NGramCounts.count_files(
            args.text, order, memory=args.memory, temp_dir=args.temp_dir
        )
        return counts, f"{len(args.text)} file(s)"
    if args.memory is not None:
        raise UsageError("--memory counts files: give TEXT files (not stdin)")
    if args.text or not sys.stdin.isatty():
        counts = NGramCounts(order)
        for path in args.text or [Path("-")]:
            counts.add(read_lines(path))
        if counts.tokens == 0 and not args.text:
            raise UsageError(
                "stdin is empty: give TEXT files (without TEXT the text is read from stdin, "
                "or from the Python standard library when stdin is a terminal)"
            )
        return counts, "stdin" if not args.text else f"{len(args.text)} input(s)"
    counts = NGramCounts(order).add(list(stdlib_lines()))
    return counts, f"the Python standard library ({len(stdlib_files())} *.py files)"


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 file, or of stdin for ``-``."""
    if str(path) == "-":
        return sys.stdin.read().split("\n")
    return path.read_text(encoding="utf-8").split("\n")


def add_no_verify_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="trust a binary model: skip its checksum and value checks (huge files)",
    )


def load_model(path: Path, *, verify: bool = True) -> NGramLM:
    """An ARPA file or rnnrs's binary form, told apart by the file's first bytes; a binary
    model is verified unless ``verify`` is false (``--no-verify``)."""
    if path.is_dir():
        if holds_checkpoint(path):
            raise UsageError(
                f"{path} is a neural model's checkpoint, not an n-gram model: score text with "
                f"`rnnrs eval {path} TEXT`, continue a prompt with `rnnrs generate {path}`"
            )
        raise UsageError(f"{path} is a directory: expected an ARPA file or an rnnrs binary model")
    if not path.is_file():
        raise FileNotFoundError(f"model: no such file: {path}")
    with open(path, "rb") as f:
        binary = f.read(len(MAGIC)) == MAGIC
    return NGramLM.load(path, verify=verify) if binary else NGramLM.from_arpa(path)


def run_build(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if args.output is None:
        if args.format == "binary":
            raise UsageError("--format binary writes a file: give --output")
        return build_to_stdout(args)
    fmt = args.format or ("arpa" if args.output.suffix == ".arpa" else "binary")
    if args.from_counts is not None:
        if args.text or args.memory is not None:
            raise UsageError("--from-counts estimates saved counts: it takes no TEXT or --memory")
        counts = NGramCounts.load(args.from_counts, order=args.order)
        source = str(args.from_counts)
        order = counts.order
    else:
        order = DEFAULT_ORDER if args.order is None else args.order
    options: dict[str, Any] = {
        "k": args.k,
        "discount": args.discount,
        "alpha": args.alpha,
        "discount_fallback": args.discount_fallback,
        "min_counts": args.min_counts,
    }
    try:
        lm = NGramLM(order, args.smoothing, **options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.memory is not None and fmt == "arpa" and args.text and "-" not in map(str, args.text):
        # As lmplz: counted and estimated within the budget, the file written as it goes.
        written = build_arpa(
            args.text,
            args.output,
            order,
            args.smoothing,
            memory=args.memory,
            temp_dir=args.temp_dir,
            **options,
        )
        print(
            f"built an order-{order} {lm.smoothing} model from {len(args.text)} file(s) within "
            f"{args.memory} bytes: n-grams {written}; wrote {args.output} (arpa) in "
            f"{time.perf_counter() - start:.2f} s; {backend_note()}"
        )
        return 0
    if args.from_counts is None:
        counts, source = count_texts(args, lm.order)
    tokens = counts.tokens
    lm.fit(counts, keep_counts=False)
    if fmt == "arpa":
        lm.to_arpa(args.output)
    else:
        lm.save(args.output)
    seconds = time.perf_counter() - start
    print(
        f"built an order-{lm.order} {lm.smoothing} model from {source}: {tokens} tokens, "
        f"n-grams {lm.num_ngrams}; wrote {args.output} ({fmt}) in {seconds:.2f} s; "
        f"{backend_note()}"
    )
    return 0


def build_to_stdout(args: argparse.Namespace) -> int:
    """``build`` without ``--output``: the ARPA file to stdout, the report to stderr."""
    with tempfile.TemporaryDirectory(prefix="rnnrs-") as tmp:
        args.output, args.format = Path(tmp) / "model.arpa", "arpa"
        with contextlib.redirect_stdout(sys.stderr):
            code = run_build(args)
        with open(args.output, encoding="utf-8") as f:
            shutil.copyfileobj(f, sys.stdout)
    sys.stdout.flush()
    return code


def run_count(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    try:
        counts, source = count_texts(args, args.order)
    except ValueError as exc:
        if "order" not in str(exc):
            raise
        raise UsageError(str(exc)) from None
    counts.save(args.output)
    print(
        f"counted {source}: {counts.tokens} tokens, n-grams {counts.num_ngrams}; wrote "
        f"{args.output} in {time.perf_counter() - start:.2f} s; {backend_note()}"
    )
    return 0


def run_merge(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    merged = NGramCounts.load(args.counts[0])
    for path in args.counts[1:]:
        part = NGramCounts.load(path)
        if part.order != merged.order:
            raise FormatError(
                f"{path}: counts of order {part.order}; {args.counts[0]} is of order "
                f"{merged.order}: only counts of one order merge"
            )
        merged.merge(part)
    merged.save(args.output)
    print(
        f"merged {len(args.counts)} counts files: {merged.tokens} tokens, n-grams "
        f"{merged.num_ngrams}; wrote {args.output} in {time.perf_counter() - start:.2f} s"
    )
    return 0


def run_query(args: argparse.Namespace) -> int:
    lm = load_model(args.model, verify=not args.no_verify)
    lines = [line for p in args.text or [Path("-")] for line in read_lines(p)]
    if args.verbosity != "summary":
        print_sentence_scores(lm, lines, per_word=args.verbosity == "word")
    stats = lm.stats(lines)
    if args.json:
        print(json.dumps(stats))
    else:
        print(f"Perplexity including OOVs:\t{stats['perplexity']:.4f}")
        print(f"Perplexity excluding OOVs:\t{stats['perplexity_excluding_oovs']:.4f}")
        print(f"OOVs:\t{stats['oovs']}")
        print(f"Tokens:\t{stats['tokens']}")
    return 0


def print_sentence_scores(lm: NGramLM, lines: list[str], *, per_word: bool) -> None:
    """KenLM ``query``'s lines: per sentence (empty lines skipped, as :meth:`NGramLM.stats`
    does), ``word=id length log10p`` for each word and ``</s>`` when ``per_word``, then
    ``Total: <log10 p> OOV: <count>``."""
    ids = lm.encode(lines)
    scores = np.asarray(lm.score_ids(ids, per_token=True))
    lengths = lm.ngram_lengths(ids)
    words = (w for line in lines for w in [*line.split(), "</s>"] if line.split())
    out, start = [], 0
    for end in (np.flatnonzero(ids == EOS) + 1).tolist():
        parts = []
        if per_word:
            parts = [
                f"{next(words)}={ids[i]} {lengths[i]} {scores[i]:.6g}" for i in range(start, end)
            ]
        oovs = int((ids[start:end] == UNK).sum())
        parts.append(f"Total: {scores[start:end].sum():.6g} OOV: {oovs}")
        out.append("\t".join(parts))
        start = end
    if out:
        print("\n".join(out))


def run_generate(args: argparse.Namespace) -> int:
    lm = load_model(args.model, verify=not args.no_verify)
    try:
        text = generate_from_args(lm, args.prompt, args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(show_sentence_ends(" ".join(x for x in (args.prompt, text) if x)))
    return 0
