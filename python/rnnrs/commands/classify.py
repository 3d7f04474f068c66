"""``rnnrs classify``: train, evaluate, apply and explain sequence classifiers from labelled
text files (``label<TAB>text`` TSV, JSON lines or fastText's ``__label__X text``).

Example:
    >>> from rnnrs.cli import main
    >>> main(["classify", "train", "train.tsv", "--epochs", "3", "--out", "clf"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..models.classifier import SequenceClassifier
from ..models.registry import load
from ..text.tasks import ClassificationData, read_classification
from ..training.optimizers import Adam
from ..training.plotting import matplotlib_available, save_saliency_map
from ..training.trainer import Trainer
from ._common import (
    UsageError,
    backend_note,
    input_texts,
    parse_duration,
    positive_float,
    positive_int,
)
from .train import fit_tokenizer

EXAMPLES = """examples:
  rnnrs classify train train.tsv --valid dev.tsv --epochs 5 --out sentiment
  rnnrs classify train questions.jsonl --level char --cell gru --pooling max --time 5m --out q
  rnnrs classify eval sentiment test.tsv            # accuracy, macro-F1, table, confusion
  rnnrs classify eval sentiment test.tsv --json
  rnnrs classify predict sentiment new.txt          # one text per line -> one label per line
  echo "a fine film" | rnnrs classify predict sentiment -
  rnnrs classify explain sentiment "a fine film" --out heat.png
"""
VALID_FRACTION = 10  # without --valid, one text in this many of each label is held out


def register(subparsers: Any) -> None:
    """Add ``rnnrs classify`` and its sub-commands."""
    parser = subparsers.add_parser(
        "classify",
        help="sequence classifiers: train, eval, predict, explain",
        description="Recurrent text classifiers (RNN/LSTM/GRU, bidirectional, pooled).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="classify_command", metavar="SUBCOMMAND", required=True)

    train = sub.add_parser(
        "train",
        help="train a classifier on labelled texts",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("train", type=Path, help="labelled texts: TSV, JSON lines or fastText")
    train.add_argument(
        "--valid",
        type=Path,
        help=f"validation file (default: a stratified 1/{VALID_FRACTION} of TRAIN held out)",
    )
    train.add_argument("--level", choices=["word", "char", "bpe"], default="word")
    train.add_argument("--vocab-size", type=positive_int, help="cap on the vocabulary")
    train.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn_tanh", "rnn_relu"])
    train.add_argument("--embed", type=positive_int, default=128, help="embedding size")
    train.add_argument("--hidden", type=positive_int, default=256, help="hidden size")
    train.add_argument("--layers", type=positive_int, default=1, help="stacked layers")
    direction = train.add_mutually_exclusive_group()
    direction.add_argument("--bidirectional", dest="bidirectional", action="store_true")
    direction.add_argument("--unidirectional", dest="bidirectional", action="store_false")
    train.set_defaults(bidirectional=True)
    train.add_argument("--pooling", default="last", choices=["last", "mean", "max", "attention"])
    train.add_argument("--dropout", type=float, default=0.0, help="dropout probability")
    train.add_argument(
        "--embedding-dropout",
        type=float,
        default=0.0,
        help="dropout probability on the embedded tokens",
    )
    train.add_argument(
        "--unk-replace",
        type=float,
        default=0.0,
        help="probability that a word seen once in TRAIN becomes <unk> while training",
    )
    train.add_argument("--batch", type=positive_int, default=32, help="texts per batch")
    train.add_argument("--lr", type=positive_float, default=2e-3, help="Adam learning rate")
    limit = train.add_mutually_exclusive_group()
    limit.add_argument("--time", type=parse_duration, help="train this long (e.g. 5m)")
    limit.add_argument("--epochs", type=positive_int, help="passes over TRAIN (default 5)")
    train.add_argument(
        "--patience",
        type=positive_int,
        default=3,
        help="stop after this many epochs without a better validation accuracy (default 3)",
    )
    train.add_argument("--max-length", type=positive_int, help="longest text in tokens")
    train.add_argument("--seed", type=int, default=0, help="weights, dropout and batch order")
    train.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=run_train)

    evaluate = sub.add_parser("eval", help="score a classifier on labelled texts")
    evaluate.add_argument("model", type=Path, help="checkpoint directory")
    evaluate.add_argument("test", type=Path, help="labelled texts: TSV, JSON lines or fastText")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(func=run_eval)

    predict = sub.add_parser("predict", help="label texts, one per line")
    predict.add_argument("model", type=Path, help="checkpoint directory")
    predict.add_argument("input", nargs="?", default="-", help="text file, or - for stdin")
    predict.add_argument("--truncate", action="store_true", help="cut texts to --max-length")
    predict.set_defaults(func=run_predict)

    explain = sub.add_parser("explain", help="which tokens a prediction rests on")
    explain.add_argument("model", type=Path, help="checkpoint directory")
    explain.add_argument("text", help="the text to explain")
    explain.add_argument("--label", help="explain this label (default: the predicted one)")
    explain.add_argument("--out", type=Path, help="write a heat map PNG (needs matplotlib)")
    explain.set_defaults(func=run_explain)


def stratified_split(
    data: ClassificationData, fraction: int, seed: int
) -> tuple[ClassificationData, ClassificationData]:
    """(kept, held out): one text in ``fraction`` of each label held out (rounded, at least
    one of a label with two or more texts), chosen with ``seed``.

    Example:
        >>> data = ClassificationData(["a", "b", "c", "d"] * 5, ["x", "x", "y", "y"] * 5)
        >>> kept, held = stratified_split(data, 10, seed=0)
        >>> len(kept), sorted(held.labels)
        (18, ['x', 'y'])
    """
    rng = np.random.default_rng(seed)
    labels = np.array([str(y) for y in data.labels])
    held = np.zeros(len(labels), dtype=bool)
    for label in sorted(set(labels.tolist())):
        rows = np.flatnonzero(labels == label)
        if len(rows) >= 2:
            take = max(1, round(len(rows) / fraction))
            held[rng.choice(rows, size=take, replace=False)] = True
    pick = [
        ClassificationData(
            [t for t, h in zip(data.texts, held) if h == side],
            [y for y, h in zip(data.labels, held) if h == side],
            data.path,
        )
        for side in (False, True)
    ]
    return pick[0], pick[1]


def _classifier(directory: Path) -> SequenceClassifier:
    model = load(directory)
    if not isinstance(model, SequenceClassifier):
        raise UsageError(
            f"{directory}: holds a model of kind {model.kind!r}, not a sequence classifier"
        )
    return model


def run_train(args: argparse.Namespace) -> int:
    """``rnnrs classify train``."""
    say = print
    data = read_classification(args.train)
    if args.valid is not None:
        train, valid = data, read_classification(args.valid)
    else:
        train, valid = stratified_split(data, VALID_FRACTION, args.seed)
        say(
            f"no --valid: held out a stratified 1/{VALID_FRACTION} of {args.train} "
            f"({len(valid)} texts) for validation"
        )
    labels = train.label_set()
    if len(labels) < 2:
        raise UsageError(f"{args.train}: every text has the label {labels}; need two or more")
    tokenizer = fit_tokenizer("\n".join(train.texts), args.level, args.vocab_size)
    model = SequenceClassifier(
        tokenizer,
        labels=labels,
        cell=args.cell,
        embed_size=args.embed,
        hidden_size=args.hidden,
        num_layers=args.layers,
        bidirectional=args.bidirectional,
        pooling=args.pooling,
        dropout=args.dropout,
        embedding_dropout=args.embedding_dropout,
        unk_replace=args.unk_replace if args.level != "bpe" else 0.0,
        seed=args.seed,
        max_length=args.max_length,
    )
    say(
        f"{len(train)} training texts, {len(labels)} labels, {args.level} level "
        f"(vocabulary {tokenizer.vocab_size:,}), {model.num_parameters:,} parameters; "
        f"{backend_note()}"
    )
    trainer = Trainer(
        model,
        Adam(lr=args.lr),
        batch_size=args.batch,
        early_stopping_patience=args.patience if len(valid) else None,
        monitor="accuracy",
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    epochs = args.epochs if args.epochs is not None or args.time is not None else 5
    history = trainer.fit(
        (train.texts, train.labels),
        (valid.texts, valid.labels) if len(valid) else None,
        max_time=args.time,
        epochs=epochs,
    )
    model.save(args.out)
    trainer.save_history(args.out / "history.json")
    last = history[-1]
    if len(valid):
        result = model.evaluate(valid.texts, valid.labels)
        say(
            f"stopped ({history.stop_reason}) after {trainer.step} steps, "
            f"{last['elapsed']:.1f}s: validation accuracy {result.accuracy:.4f}, "
            f"macro-F1 {result.macro_f1:.4f}"
        )
    else:
        say(f"stopped ({history.stop_reason}) after {trainer.step} steps")
    say(f"saved {args.out}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """``rnnrs classify eval``."""
    model = _classifier(args.model)
    data = read_classification(args.test)
    result = model.evaluate(data.texts, data.labels)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(f"{args.test}: {len(data)} texts; accuracy {result.accuracy:.4f}, ", end="")
        print(f"macro-F1 {result.macro_f1:.4f}\n")
        print(result)
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """``rnnrs classify predict``."""
    model = _classifier(args.model)
    lines = input_texts(args.input)
    for label in model.predict(lines, truncate=args.truncate):
        print(label)
    return 0


def run_explain(args: argparse.Namespace) -> int:
    """``rnnrs classify explain``."""
    model = _classifier(args.model)
    label: Any = args.label
    if label is not None and all(isinstance(y, int) for y in model.labels):
        label = int(label) if label.lstrip("-").isdigit() else label
    explanation = model.explain(args.text, label)
    print(explanation.table())
    if args.out is not None:
        if matplotlib_available():
            save_saliency_map(explanation, args.out)
            print(f"heat map written to {args.out}")
        else:
            print(
                f"matplotlib is not installed: no heat map written to {args.out} "
                "(pip install matplotlib); the table above shows the saliency",
                file=sys.stderr,
            )
    return 0
