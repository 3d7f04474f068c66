"""``rnnrs rescore``: re-rank n-best lists with word-level language models."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from ._common import UsageError
from .eval_mixture import parse_weights
from .lm_files import load_language_model

EXAMPLES = """\
examples:
  rnnrs rescore nbest.tsv --lm ptb.o5.arpa
  rnnrs rescore nbest.tsv --lm ptb-rnn --lm ptb.o5.arpa --weights 0.5,0.5 --feature-weight 1
  rnnrs rescore nbest.tsv --lm ptb-rnn --json
"""

DESCRIPTION = """\
Re-rank the hypotheses of NBEST, one per line as ID<TAB>SCORE<TAB>HYPOTHESIS
(SCORE: the first pass's score, higher is better), by

  feature_weight * SCORE + sum_k weight_k * log10 P_k(HYPOTHESIS)

where P_k is the k-th --lm (a word-level checkpoint directory or an n-gram
model, ARPA or binary) and the sentence probability counts its words and </s>.
Prints the new best hypothesis of each id, in order of first appearance, as
ID<TAB>NEW_SCORE<TAB>HYPOTHESIS (--json: one object per id).
"""


def register(subparsers: Any) -> None:
    """Add the ``rescore`` sub-command."""
    p = subparsers.add_parser(
        "rescore",
        help="re-rank n-best lists with language models",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("nbest", metavar="NBEST", help="n-best file: ID<TAB>SCORE<TAB>HYPOTHESIS")
    p.add_argument(
        "--lm", action="append", required=True, metavar="MODEL", help="a language model"
    )
    p.add_argument(
        "--weights", type=parse_weights, default=None, help="one per --lm (default 1 each)"
    )
    p.add_argument(
        "--feature-weight",
        type=float,
        default=1.0,
        help="weight of the first-pass score (default 1)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per id")
    p.add_argument("--backend", choices=["rust", "numpy"], default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the n-best list, score every hypothesis with every LM, print the new 1-best."""
    from ..text.nbest import read_nbest, rerank

    weights = [1.0] * len(args.lm) if args.weights is None else args.weights
    if len(weights) != len(args.lm):
        raise UsageError(f"--weights: expected {len(args.lm)} (one per --lm), got {len(weights)}")
    if not all(np.isfinite(weights)) or not np.isfinite(args.feature_weight):
        raise UsageError("--weights, --feature-weight: must be finite numbers")
    entries = read_nbest(args.nbest)
    hypotheses = [e.hypothesis for e in entries]
    models = [load_language_model(p, args.backend) for p in args.lm]
    try:
        lm_log10 = np.array([m.score_sentences(hypotheses).log10 for m in models])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    best = rerank(entries, lm_log10, weights, feature_weight=args.feature_weight)
    out = sys.stdout
    for b in best:
        if args.json:
            row = {
                "id": b.id,
                "hypothesis": b.hypothesis,
                "score": b.score,
                "first_pass_score": entries[b.entry].score,
                "lm_log10": [float(x) for x in lm_log10[:, b.entry]],
                "rank_before": b.rank_before,
            }
            out.write(json.dumps(row) + "\n")
        else:
            out.write(f"{b.id}\t{b.score:.4f}\t{b.hypothesis}\n")
    return 0
