"""``rnnrs ngram``: build, query and sample n-gram models from the command line.

Example:
    >>> from rnnrs.cli import main
    >>> main(["ngram", "build", "corpus.txt", "--order", "3", "-o", "m.arpa"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..backends.ngram_binary import MAGIC
from ..ngram.counts import NGramCounts
from ..ngram.lm import NGramLM
from ..reference.ngram import METHODS
from ..text.corpus import stdlib_files
from ._common import UsageError, add_generation_arguments, backend_note, generate_from_args

EXAMPLES = """examples:
  rnnrs ngram build corpus.txt --order 5 -o model.arpa       # modified Kneser-Ney, ARPA
  rnnrs ngram build a.txt b.txt --smoothing witten_bell -o m.ngram   # binary form
  rnnrs ngram build -o stdlib.ngram        # no TEXT: the Python standard library's *.py
  rnnrs ngram query model.arpa test.txt    # perplexity with and without OOVs
  echo "the cat sat" | rnnrs ngram query model.ngram
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
        help="estimate a model from text files",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument("text", nargs="*", type=Path, help="UTF-8 files, one sentence per line")
    build.add_argument("--order", type=int, default=5, help="n-gram order (default 5)")
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
    build.add_argument("-o", "--output", type=Path, required=True, help="model file to write")
    build.add_argument(
        "--format",
        choices=["arpa", "binary"],
        help="output format (default: arpa for *.arpa, else rnnrs's binary form)",
    )
    build.set_defaults(func=run_build)

    query = sub.add_parser(
        "query",
        help="perplexity of text (stdin when no TEXT)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    query.add_argument("model", type=Path, help="ARPA file or rnnrs binary model")
    query.add_argument("text", nargs="*", type=Path, help="UTF-8 files, one sentence per line")
    query.add_argument("--json", action="store_true", help="print one JSON object")
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
    gen.set_defaults(func=run_generate)


def load_model(path: Path) -> NGramLM:
    """An ARPA file or rnnrs's binary form, told apart by the file's first bytes."""
    if not path.is_file():
        raise FileNotFoundError(f"model: no such file: {path}")
    with open(path, "rb") as f:
        binary = f.read(len(MAGIC)) == MAGIC
    return NGramLM.load(path) if binary else NGramLM.from_arpa(path)


def run_build(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    try:
        lm = NGramLM(
            args.order,
            args.smoothing,
            k=args.k,
            discount=args.discount,
            alpha=args.alpha,
            discount_fallback=args.discount_fallback,
            min_counts=args.min_counts,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    counts = NGramCounts(args.order)
    if args.text:
        for path in args.text:
            counts.add_file(path)
        source = f"{len(args.text)} file(s)"
    else:
        counts.add(list(stdlib_lines()))
        source = f"the Python standard library ({len(stdlib_files())} *.py files)"
    tokens = counts.tokens
    lm.fit(counts, keep_counts=False)
    fmt = args.format or ("arpa" if args.output.suffix == ".arpa" else "binary")
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


def run_query(args: argparse.Namespace) -> int:
    lm = load_model(args.model)
    if args.text:
        lines = [line for p in args.text for line in p.read_text(encoding="utf-8").split("\n")]
    else:
        lines = sys.stdin.read().split("\n")
    stats = lm.stats(lines)
    if args.json:
        print(json.dumps(stats))
    else:
        print(f"Perplexity including OOVs:\t{stats['perplexity']:.4f}")
        print(f"Perplexity excluding OOVs:\t{stats['perplexity_excluding_oovs']:.4f}")
        print(f"OOVs:\t{stats['oovs']}")
        print(f"Tokens:\t{stats['tokens']}")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    lm = load_model(args.model)
    try:
        text = generate_from_args(lm, args.prompt, args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(" ".join(x for x in (args.prompt, text) if x))
    return 0
