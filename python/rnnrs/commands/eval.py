"""``rnnrs eval``: perplexity, token count and OOV rate of a trained model on text files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..models.rnnlm import perplexity_from_loss
from . import eval_mixture
from ._common import UsageError, positive_int, refuse_ngram_model

EXAMPLES = """\
examples:
  rnnrs eval run1 valid.txt
  rnnrs eval run1 a.txt b.txt --json
  rnnrs eval ptb-rnn ptb.o5.arpa test.txt --interpolate --tune-on valid.txt
  rnnrs eval ptb-rnn ptb.o5.arpa test.txt --interpolate --weights 0.6,0.4 --json
"""


DESCRIPTION = """\
Score TEXT files with the model saved in DIR: loss (nats per token),
perplexity, number of tokens and the share of tokens outside the vocabulary
(OOV, encoded as <unk>). Each file is read as the model was trained:
characters, BPE pieces, or words with </s> at each line end (the first line
read after </s>, so every word and every </s> is scored, as n-gram models do).

With --interpolate, the arguments are MODEL... TEXT: word-level checkpoints
and n-gram files (ARPA or binary), mixed token by token (docs/wordlm.md).
"""


def register(subparsers: Any) -> None:
    """Add the ``eval`` sub-command."""
    p = subparsers.add_parser(
        "eval",
        help="perplexity of a trained model on text files",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model", metavar="DIR", help="checkpoint directory (n-gram files too with --interpolate)"
    )
    p.add_argument("text", nargs="+", metavar="TEXT", help="UTF-8 text files")
    p.add_argument("--bptt", type=positive_int, default=256, help="chunk length (default 256)")
    p.add_argument("--json", action="store_true", help="one JSON object per file and total")
    p.add_argument("--backend", choices=["rust", "numpy"], default=None)
    eval_mixture.add_arguments(p)
    p.set_defaults(func=run)


def encode_text(tokenizer: Any, text: str) -> np.ndarray:
    """Token ids of ``text`` as the trainer reads a corpus (word level: ``</s>`` per line).

    Example:
        >>> import rnnrs
        >>> tok = rnnrs.WordTokenizer.fit("a b")
        >>> encode_text(tok, "a b\\nb").tolist()
        [4, 5, 2, 5, 2]
    """
    if getattr(tokenizer, "kind", None) == "word":
        return np.asarray(tokenizer.encode_lines(text), dtype=np.uint32)
    return np.asarray(tokenizer.encode(text), dtype=np.uint32)


def start_context(tokenizer: Any) -> np.ndarray:
    """The ids a text is read after: ``</s>`` at word level (the token before every line of
    the training stream, and the sentence start an n-gram model's ``<s>`` stands for), so
    every word and every ``</s>`` is scored, the tokens an n-gram model's perplexity
    counts; nothing at character and BPE level (the first token is not scored).

    Example:
        >>> import rnnrs
        >>> start_context(rnnrs.WordTokenizer.fit("a b")).tolist()
        [2]
    """
    if getattr(tokenizer, "kind", None) == "word":
        return np.array([tokenizer.eos_id], dtype=np.uint32)
    return np.zeros(0, dtype=np.uint32)


def score(model: Any, ids: np.ndarray, bptt: int) -> dict[str, Any]:
    """Loss, perplexity, tokens and OOV counts of one id stream under ``model``, read after
    :func:`start_context`."""
    unk = getattr(model.tokenizer, "unk_id", None)
    context = start_context(model.tokenizer)
    logprobs = model.token_logprobs(np.concatenate([context, ids]), bptt=bptt)
    loss = float(-logprobs.sum() / len(logprobs))
    oov = int(np.count_nonzero(ids == unk)) if unk is not None else 0
    return {
        "tokens": len(ids),
        "scored": len(logprobs),
        "nll": float(-logprobs.sum()),
        "loss": loss,
        "perplexity": perplexity_from_loss(loss),
        "oov": oov,
        "oov_rate": oov / len(ids),
    }


def run(args: argparse.Namespace) -> int:
    """Load the model, score each file, print a table (or JSON lines)."""
    from ..models.registry import load

    if args.interpolate:
        return eval_mixture.run(args)
    if args.weights is not None or args.tune_on is not None:
        raise UsageError("--weights and --tune-on go with --interpolate")
    from ..text.corpus import read_text

    refuse_ngram_model(Path(args.model), "query")
    model = load(args.model, backend=args.backend)
    if model.tokenizer is None:
        raise UsageError(f"{args.model}: the model has no tokenizer, so it cannot read text")
    rows = []
    for path in args.text:
        ids = encode_text(model.tokenizer, read_text(path))
        if len(ids) < 2:
            raise ValueError(f"{path}: {len(ids)} tokens — need at least 2 to score")
        rows.append({"file": path, **score(model, ids, args.bptt)})
    if len(rows) > 1:
        nll, scored = sum(r["nll"] for r in rows), sum(r["scored"] for r in rows)
        tokens, oov = sum(r["tokens"] for r in rows), sum(r["oov"] for r in rows)
        loss = nll / scored
        rows.append(
            {
                "file": "total",
                "tokens": tokens,
                "scored": scored,
                "nll": nll,
                "loss": loss,
                "perplexity": perplexity_from_loss(loss),
                "oov": oov,
                "oov_rate": oov / tokens,
            }
        )
    out = sys.stdout
    if args.json:
        for row in rows:
            out.write(json.dumps(row) + "\n")
        return 0
    width = max(len(r["file"]) for r in rows)
    out.write(f"{'file':<{width}}  {'tokens':>10}  {'OOV rate':>8}  {'loss':>7}  perplexity\n")
    for r in rows:
        out.write(
            f"{r['file']:<{width}}  {r['tokens']:>10,}  {r['oov_rate']:>8.2%}  "
            f"{r['loss']:>7.4f}  {r['perplexity']:.3f}\n"
        )
    return 0
