"""``rnnrs generate``: continue a prompt with a trained model (sampling or beam search)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._common import (
    UsageError,
    add_generation_arguments,
    generate_from_args,
    refuse_ngram_model,
    show_sentence_ends,
)

EXAMPLES = """\
examples:
  rnnrs generate run1 --prompt "ROMEO:" --tokens 500 --temperature 0.8
  rnnrs generate run1 --prompt "def " --top-k 40 --top-p 0.95 --seed 1
  rnnrs generate run1 --prompt "the company said" --beam 5 --tokens 20
"""


DESCRIPTION = """\
Continue --prompt with the model saved in DIR by `rnnrs train` (or
model.save). Prints the prompt and its continuation.
"""


def register(subparsers: Any) -> None:
    """Add the ``generate`` sub-command."""
    p = subparsers.add_parser(
        "generate",
        help="continue a prompt with a trained model",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="DIR", help="checkpoint directory")
    p.add_argument("--prompt", default=None, help="text to continue (default: a new line)")
    add_generation_arguments(p, tokens=200, unit="tokens")
    p.add_argument("--backend", choices=["rust", "numpy"], default=None)
    p.set_defaults(func=run)


def default_prompt(model: Any) -> str:
    """A neutral start: the beginning of a line (word models: after an end of sentence)."""
    tokenizer = model.tokenizer
    if getattr(tokenizer, "kind", None) == "word":
        return "</s>"
    return "\n"


def run(args: argparse.Namespace) -> int:
    """Load the checkpoint, generate, print."""
    from ..models.registry import load

    refuse_ngram_model(Path(args.model), "generate")
    model = load(args.model, backend=args.backend)
    if model.tokenizer is None:
        raise UsageError(f"{args.model}: the model has no tokenizer, so it cannot read a prompt")
    prompt = default_prompt(model) if args.prompt is None else args.prompt
    if not prompt:
        raise UsageError("--prompt: expected some text to continue")
    text = str(generate_from_args(model, prompt, args))
    if getattr(model.tokenizer, "kind", None) == "word":
        text = show_sentence_ends(" ".join(x for x in (args.prompt, text) if x))
    elif args.prompt is not None:
        text = prompt + text
    sys.stdout.write(text + "\n")
    return 0
