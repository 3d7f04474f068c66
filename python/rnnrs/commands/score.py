"""``rnnrs score``: the log-probability of each sentence of a file under one or more
word-level language models, as KenLM's ``query`` prints it (log10, words and ``</s>``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..scoring import LN10
from ._common import UsageError
from .lm_files import load_language_model

EXAMPLES = """\
examples:
  rnnrs score ptb.o5.arpa test.txt                 # log10 per sentence
  rnnrs score ptb-rnn ptb.o5.arpa test.txt         # one column per model
  rnnrs score ptb.o5.arpa test.txt --per-token     # word=log10 ... </s>=log10  Total: ...
  echo "the cat sat" | rnnrs score ptb-rnn - --json
"""

DESCRIPTION = """\
Score each line of FILE ("-": standard input) as a sentence under each MODEL (a
word-level checkpoint directory, or an n-gram model: ARPA or binary): the log10
probability of its words and </s>, after a sentence start (docs/wordlm.md).
Prints one line per sentence: each model's log10 score, the tokens scored, the
sentence; --per-token prints word=log10 for every token instead, one line per
model and sentence; --json one object per sentence (log10 and natural log).
"""


def register(subparsers: Any) -> None:
    """Add the ``score`` sub-command."""
    p = subparsers.add_parser(
        "score",
        help="log-probability of each sentence under word-level models",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="MODEL... FILE", help="models, then the text")
    p.add_argument("--per-token", action="store_true", help="every token's log10 probability")
    p.add_argument("--json", action="store_true", help="one JSON object per sentence")
    p.add_argument("--backend", choices=["rust", "numpy"], default=None)
    p.set_defaults(func=run)


def read_lines(path: str) -> list[str]:
    """The lines of ``path`` (``-``: standard input), no line after a final newline."""
    if path == "-":
        text = sys.stdin.read()
    else:
        from ..text.corpus import read_text

        text = read_text(path)
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def run(args: argparse.Namespace) -> int:
    """Load the models, score every line, print."""
    if len(args.paths) < 2:
        raise UsageError("give at least one MODEL and the FILE to score")
    *model_paths, text_path = args.paths
    models = [load_language_model(p, args.backend) for p in model_paths]
    lines = read_lines(text_path)
    try:
        scores = [m.score_sentences(lines) for m in models]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out = sys.stdout
    for i, line in enumerate(lines):
        words = [*line.split(), "</s>"]
        if args.json:
            row: dict[str, Any] = {
                "sentence": line,
                "tokens": int(scores[0].tokens[i]),
                "log10": [float(s.log10[i]) for s in scores],
                "logprob": [float(s.logprob[i]) for s in scores],
            }
            if args.per_token:
                row["token_log10"] = [(s.token_logprobs[i] / LN10).tolist() for s in scores]
            out.write(json.dumps(row) + "\n")
        elif args.per_token:
            for s in scores:
                per_token = s.token_logprobs[i] / LN10
                pairs = " ".join(f"{w}={lp:.6g}" for w, lp in zip(words, per_token))
                out.write(f"{pairs}\tTotal: {float(s.log10[i]):.6g}\n")
        else:
            columns = "\t".join(f"{float(s.log10[i]):.4f}" for s in scores)
            out.write(f"{columns}\t{int(scores[0].tokens[i])}\t{line.strip()}\n")
    return 0

