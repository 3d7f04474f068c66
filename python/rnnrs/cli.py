"""The ``rnnrs`` command line.

Each sub-command lives in its own module under ``rnnrs/commands/`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (taking the parsed
arguments, returning an exit code); a command raises ``commands._common.UsageError`` for
arguments that do not fit. This module owns only the dispatch and the error policy: one
clear line on stderr, exit code 2 for usage errors and 1 for failures, and a traceback only
with ``--debug``.

Example:
    >>> from rnnrs.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    rnnrs 0.1.0
    0
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn, Optional

from . import __version__
from .commands import classify, generate, ngram, rescore, score, seq2seq, stats, tag, train
from .commands import eval as evaluate
from .commands._common import UsageError

# Sub-command modules, in the order `rnnrs --help` lists them.
_COMMANDS = (stats, train, generate, evaluate, ngram, classify, score, rescore, seq2seq, tag)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line and a hint, not the whole usage (sub-parsers inherit it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\nTry '{self.prog} --help'.\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command registered."""
    parser = _Parser(
        prog="rnnrs",
        description="Language models on the CPU: n-gram and recurrent (RNN, LSTM, GRU), "
        "recurrent text classifiers, sequence taggers and sequence-to-sequence models.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rnnrs {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when something fails"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    # --debug works anywhere on the line (before a "--" that ends the options)
    end = words.index("--") if "--" in words else len(words)
    debug = "--debug" in words[:end]
    args, unknown = parser.parse_known_args(
        [w for i, w in enumerate(words) if i >= end or w != "--debug"]
    )
    if unknown:
        prog = f"rnnrs {args.command}" if args.command else "rnnrs"
        parser.exit(
            2,
            f"{prog}: error: unrecognized arguments: {' '.join(unknown)}\nTry '{prog} --help'.\n",
        )
    args.debug = debug
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        if args.debug:
            raise
        print(f"rnnrs {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rnnrs {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`... | head`): stop quietly, as Unix tools do, with
        # stdout pointed at /dev/null so that the final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, a shell's code for it
    except Exception as exc:  # the error policy: one line, no traceback unless --debug
        if args.debug:
            raise
        print(f"rnnrs {args.command}: error: {exc}", file=sys.stderr)
        return 1
