"""``rnnrs generate``: continue a prompt with a trained model (sampling or beam search)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..generate import check_sampling_args
from ._common import positive_int

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
    p.add_argument("--tokens", type=positive_int, default=200, help="new tokens (default 200)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature > 0")
    p.add_argument("--top-k", type=positive_int, default=None, help="sample from the k likeliest")
    p.add_argument(
        "--top-p", type=float, default=None, help="nucleus sampling: probability mass in (0, 1]"
    )
    p.add_argument("--greedy", action="store_true", help="always take the likeliest token")
    p.add_argument("--beam", type=positive_int, default=None, metavar="WIDTH", help="beam search")
    p.add_argument("--length-penalty", type=float, default=1.0, help="beam search ranking exponent")
    p.add_argument("--seed", type=int, default=None, help="the same seed gives the same text")
    p.add_argument("--stop", action="append", default=None, help="stop at this text (repeatable)")
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
    from ..checkpoint import load
    from ..cli import UsageError

    if args.beam is None:
        try:
            check_sampling_args(args.temperature, args.top_k, args.top_p, args.greedy, args.seed)
        except ValueError as exc:
            message = str(exc).replace("greedy=True", "--greedy").replace("_", "-")
            raise UsageError(f"--{message}") from None
    elif args.greedy or args.top_k is not None or args.top_p is not None:
        raise UsageError("--beam searches the likeliest text: it takes no --greedy/--top-k/--top-p")
    model = load(args.model, backend=args.backend)
    if model.tokenizer is None:
        raise UsageError(f"{args.model}: the model has no tokenizer, so it cannot read a prompt")
    prompt = default_prompt(model) if args.prompt is None else args.prompt
    if not prompt:
        raise UsageError("--prompt: expected some text to continue")
    if args.beam is not None:
        text = model.beam_search(prompt, args.beam, args.tokens, length_penalty=args.length_penalty)
    else:
        text = model.generate(
            prompt,
            args.tokens,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            greedy=args.greedy,
            seed=args.seed,
            stop=args.stop,
        )
    sep = " " if getattr(model.tokenizer, "kind", None) == "word" else ""
    shown = "" if args.prompt is None else prompt + sep
    sys.stdout.write(shown + str(text) + "\n")
    return 0
