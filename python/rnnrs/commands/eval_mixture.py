"""``rnnrs eval MODEL MODEL... TEXT --interpolate``: each model's perplexity and the
mixture's on the same tokens, with the weights given or fit by EM on validation text."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._common import UsageError
from .lm_files import load_language_model


def parse_weights(text: str) -> list[float]:
    """An argparse ``type=`` for comma-separated weights such as ``0.6,0.4``.

    Example:
        >>> parse_weights("0.6,0.4")
        [0.6, 0.4]
    """
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 0.6,0.4, got {text!r}"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``--interpolate``."""
    group = parser.add_argument_group("interpolation (word-level models)")
    group.add_argument(
        "--interpolate",
        action="store_true",
        help="mix the models (all arguments but the last are models, the last is TEXT)",
    )
    group.add_argument(
        "--weights", type=parse_weights, default=None, help="mixture weights, e.g. 0.6,0.4"
    )
    group.add_argument(
        "--tune-on", metavar="VALID", default=None, help="fit the weights by EM on this text"
    )
    group.add_argument(
        "--vocab",
        choices=["same", "intersection"],
        default="same",
        help="models must share their words (same), or words outside the shared ones "
        "become <unk> (intersection)",
    )


def run(args: argparse.Namespace) -> int:
    """Load the models, fit or check the weights, print the perplexities."""
    from ..models.interpolated import interpolate

    paths = [args.model, *args.text[:-1]]
    text = args.text[-1]
    if len(paths) < 2:
        raise UsageError("--interpolate: give at least two models before TEXT")
    if (args.weights is None) == (args.tune_on is None):
        raise UsageError("--interpolate: give either --weights or --tune-on VALID")
    models = [load_language_model(p, args.backend) for p in paths]
    try:
        tune_on = None if args.tune_on is None else Path(args.tune_on)
        mix = interpolate(models, args.weights, tune_on=tune_on, vocab=args.vocab)
    except ValueError as exc:
        message = str(exc).replace("tune_on=", "--tune-on ")
        raise UsageError(message.replace("vocab='intersection'", "--vocab intersection")) from None
    result: dict[str, Any] = {"models": paths, "text": text, **mix.evaluate(Path(text))}
    if args.tune_on is not None:
        result["tuned_on"] = args.tune_on
        result["em_iterations"] = mix.em_iterations
    out = sys.stdout
    if args.json:
        out.write(json.dumps(result) + "\n")
        return 0
    width = max(len(p) for p in [*paths, "mixture"])
    how = f"fit by EM on {args.tune_on}" if args.tune_on is not None else "given"
    out.write(f"{result['tokens']:,} tokens of {text} (every word and </s>); weights {how}\n")
    out.write(f"{'model':<{width}}  {'weight':>7}  perplexity\n")
    for path, weight, ppl in zip(paths, result["weights"], result["perplexities"]):
        out.write(f"{path:<{width}}  {weight:>7.4f}  {ppl:.3f}\n")
    out.write(f"{'mixture':<{width}}  {'':>7}  {result['mixture_perplexity']:.3f}\n")
    return 0
