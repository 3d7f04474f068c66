"""Helpers shared by the sub-commands: argument types and the generation options."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from ..backends.ngram_binary import MAGIC as NGRAM_MAGIC
from ..backends.selection import backend
from ..generation import check_sampling_args

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(h|m|s)?", re.IGNORECASE)
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


class UsageError(Exception):
    """A command was called with arguments that do not fit; exits with code 2."""


def refuse_ngram_model(path: Path, command: str) -> None:
    """A UsageError naming ``rnnrs ngram COMMAND`` when ``path`` is an n-gram model file (ARPA
    or rnnrs's binary form) given where a neural checkpoint directory is expected."""
    if not path.is_file():
        return
    with open(path, "rb") as f:
        head = f.read(256)
    if head.startswith(NGRAM_MAGIC) or head.lstrip().startswith(b"\\data\\"):
        raise UsageError(
            f"{path} is an n-gram model, not a neural checkpoint: use `rnnrs ngram {command} "
            f"{path} ...`"
        )


def input_texts(source: str) -> list[str]:
    """One text per line of the file ``source`` (``-``: stdin), for the commands that label or
    translate texts; an empty line is a UsageError naming it."""
    if source == "-":
        name, lines = "<stdin>", sys.stdin.read().splitlines()
    else:
        name, lines = source, Path(source).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise UsageError(f"{name}, line {number}: empty line (expected one text per line)")
    return lines


def backend_note() -> str:
    """A short line telling which backend runs, for command output."""
    return f"backend: {backend()}"


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90``, ``90s``, ``5m``, ``1.5h`` or ``1h30m``
    (a bare number is seconds). An argparse ``type=``: bad text is a usage error.

    Example:
        >>> parse_duration("1h30m"), parse_duration("5m"), parse_duration("45")
        (5400.0, 300.0, 45.0)
    """
    spec = text.strip().replace(" ", "")
    total, position = 0.0, 0
    while position < len(spec):
        match = _DURATION.match(spec, position)
        if match is None:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
        position = match.end()
    if not spec or position != len(spec) or total <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a duration > 0 such as 90s, 5m, 1.5h or 1h30m, got {text!r}"
        )
    return total


def positive_int(text: str) -> int:
    """An argparse ``type=`` for integers > 0.

    Example:
        >>> positive_int("32")
        32
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An argparse ``type=`` for numbers > 0.

    Example:
        >>> positive_float("0.8")
        0.8
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def add_generation_arguments(parser: argparse.ArgumentParser, *, tokens: int, unit: str) -> None:
    """The sampling and beam-search options shared by ``rnnrs generate`` and
    ``rnnrs ngram generate`` (``tokens``: the default of ``--tokens``; ``unit``: what a token
    is called in the help)."""
    parser.add_argument(
        "--tokens",
        type=positive_int,
        default=tokens,
        help=f"new {unit} (default {tokens}), across sentence ends: a word model's </s> counts "
        "as one and is shown as a line break",
    )
    parser.add_argument(
        "--stop-at-end",
        action="store_true",
        help="stop sampling at the first end of sentence (</s>) instead",
    )
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature > 0")
    parser.add_argument(
        "--top-k", type=positive_int, default=None, help="sample from the k likeliest"
    )
    parser.add_argument(
        "--top-p", type=float, default=None, help="nucleus sampling: probability mass in (0, 1]"
    )
    parser.add_argument("--greedy", action="store_true", help="always take the likeliest token")
    parser.add_argument(
        "--beam",
        type=positive_int,
        default=None,
        metavar="WIDTH",
        help="beam search of this width: the likeliest continuation up to the end of the "
        "sentence (at most --tokens)",
    )
    parser.add_argument(
        "--length-penalty", type=float, default=1.0, help="beam search ranking exponent"
    )
    parser.add_argument("--seed", type=int, default=None, help="the same seed gives the same text")
    parser.add_argument(
        "--stop", action="append", default=None, help="stop at this text (repeatable)"
    )


def generate_from_args(model: Any, prompt: str, args: argparse.Namespace) -> Any:
    """Sample or beam-search a continuation of ``prompt`` as the options of
    :func:`add_generation_arguments` say; an option out of range raises UsageError naming it."""
    if args.beam is not None:
        if args.greedy or args.top_k is not None or args.top_p is not None or args.stop_at_end:
            raise UsageError(
                "--beam searches the likeliest text to the end of the sentence: it takes no "
                "--greedy/--top-k/--top-p/--stop-at-end"
            )
        return model.beam_search(prompt, args.beam, args.tokens, length_penalty=args.length_penalty)
    try:
        check_sampling_args(args.temperature, args.top_k, args.top_p, args.greedy, args.seed)
    except ValueError as exc:
        message = str(exc).replace("greedy=True", "--greedy").replace("_", "-")
        raise UsageError(f"--{message}") from None
    return model.generate(
        prompt,
        args.tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        greedy=args.greedy,
        seed=args.seed,
        stop=args.stop,
        stop_at_end=args.stop_at_end,
    )


def show_sentence_ends(text: str) -> str:
    """Generated words with each ``</s>`` shown as a line break (one sentence a line).

    Example:
        >>> show_sentence_ends("the cat sat </s> </s> a dog </s>")
        'the cat sat\\n\\na dog'
    """
    lines: list[list[str]] = [[]]
    for word in text.split(" "):
        if word == "</s>":
            lines.append([])
        elif word:
            lines[-1].append(word)
    return "\n".join(" ".join(line) for line in lines).rstrip("\n")
