"""``rnnrs seq2seq``: train, evaluate and apply encoder-decoder models with attention on
``source<TAB>target`` pairs, and draw their attention.

Example:
    >>> from rnnrs.cli import main
    >>> main(["seq2seq", "train", "--epochs", "1", "--out", "dates"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..models.registry import load
from ..models.seq2seq import Seq2Seq
from ..text.dates import dates_task
from ..text.tasks import PairData, read_pairs
from ..training.optimizers import Adam
from ..training.plotting import matplotlib_available, save_attention_map
from ..training.schedules import CosineWithWarmup
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
  rnnrs seq2seq train --time 2m --out dates          # the built-in dates task
  rnnrs seq2seq train train.tsv --valid dev.tsv --source-level char --target-level word \\
        --attention additive --time 20m --out g2p
  rnnrs seq2seq eval g2p test.tsv --beam 5           # exact match, token error rate, BLEU
  rnnrs seq2seq eval g2p test.tsv --json
  echo "5 May 2021" | rnnrs seq2seq translate dates -
  rnnrs seq2seq attention dates "5 May 2021" --out att.png
"""
VALID_FRACTION = 10  # without --valid, one pair in this many is held out
LEVELS = ["char", "word", "bpe"]


def register(subparsers: Any) -> None:
    """Add ``rnnrs seq2seq`` and its sub-commands."""
    parser = subparsers.add_parser(
        "seq2seq",
        help="sequence to sequence: train, eval, translate, attention",
        description="Encoder-decoder RNNs (LSTM/GRU) with attention, on source<TAB>target pairs.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="seq2seq_command", metavar="SUBCOMMAND", required=True)

    train = sub.add_parser(
        "train",
        help="train a model on source<TAB>target pairs",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "train", type=Path, nargs="?", help="TSV pairs (default: the built-in dates task)"
    )
    train.add_argument(
        "--valid", type=Path, help=f"validation pairs (default: 1/{VALID_FRACTION} of TRAIN)"
    )
    train.add_argument(
        "--dates", type=positive_int, default=10_000, help="pairs of the built-in task"
    )
    train.add_argument("--source-level", choices=LEVELS, default="char")
    train.add_argument("--target-level", choices=LEVELS, default="char")
    train.add_argument("--vocab-size", type=positive_int, help="cap on each vocabulary (BPE size)")
    train.add_argument("--cell", default="gru", choices=["lstm", "gru"])
    train.add_argument("--embed", type=positive_int, default=64, help="embedding size")
    train.add_argument("--hidden", type=positive_int, default=128, help="hidden size")
    train.add_argument("--layers", type=positive_int, default=1, help="layers on each side")
    train.add_argument("--unidirectional", action="store_true", help="one-way encoder")
    train.add_argument(
        "--attention", default="additive", choices=["additive", "dot", "general", "none"]
    )
    train.add_argument("--no-input-feeding", action="store_true", help="Luong's input feeding off")
    train.add_argument("--dropout", type=float, default=0.0, help="dropout probability")
    train.add_argument("--label-smoothing", type=float, default=0.0)
    train.add_argument("--teacher-forcing", type=float, default=1.0, help="gold-token ratio")
    train.add_argument("--batch", type=positive_int, default=64, help="pairs per batch")
    train.add_argument("--lr", type=positive_float, default=2e-3, help="Adam learning rate")
    train.add_argument(
        "--schedule",
        choices=["cosine", "constant"],
        default="constant",
        help="learning rate: constant, or a cosine from --lr down to --lr/20 over the run "
        "(its epochs or its --time; better for long runs) (default constant)",
    )
    limit = train.add_mutually_exclusive_group()
    limit.add_argument("--time", type=parse_duration, help="train this long (e.g. 20m)")
    limit.add_argument("--epochs", type=positive_int, help="passes over TRAIN (default 10)")
    train.add_argument(
        "--patience",
        type=positive_int,
        default=3,
        help="stop after this many epochs without a lower token error rate (default 3)",
    )
    train.add_argument("--seed", type=int, default=0, help="weights, dropout and batch order")
    train.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=run_train)

    evaluate = sub.add_parser("eval", help="score a model on TSV pairs")
    evaluate.add_argument("model", type=Path, help="checkpoint directory")
    evaluate.add_argument(
        "test", type=Path, help="TSV pairs (a repeated source: several references)"
    )
    evaluate.add_argument("--beam", type=positive_int, default=1, help="beam width (1: greedy)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(func=run_eval)

    translate = sub.add_parser("translate", help="translate texts, one per line")
    translate.add_argument("model", type=Path, help="checkpoint directory")
    translate.add_argument("input", nargs="?", default="-", help="text file, or - for stdin")
    translate.add_argument("--beam", type=positive_int, default=1, help="beam width (1: greedy)")
    translate.set_defaults(func=run_translate)

    attention = sub.add_parser("attention", help="draw what the decoder attends to")
    attention.add_argument("model", type=Path, help="checkpoint directory")
    attention.add_argument("source", help="the source text")
    attention.add_argument("--target", help="the target text (default: the translation)")
    attention.add_argument("--out", type=Path, help="write a heat map PNG (needs matplotlib)")
    attention.set_defaults(func=run_attention)


def _model(directory: Path) -> Seq2Seq:
    model = load(directory)
    if not isinstance(model, Seq2Seq):
        raise UsageError(f"{directory}: holds a model of kind {model.kind!r}, not a seq2seq model")
    return model


def _data(args: argparse.Namespace) -> tuple[PairData, PairData, str]:
    if args.train is None:
        if args.valid is not None:
            raise UsageError("--valid: give TRAIN too (without it the built-in dates task runs)")
        train = PairData(*dates_task(args.dates, seed=args.seed))
        valid = PairData(*dates_task(max(1, args.dates // VALID_FRACTION), seed=args.seed + 1))
        return train, valid, f"the built-in dates task ({args.dates:,} pairs)"
    data = read_pairs(args.train)
    if args.valid is not None:
        return data, read_pairs(args.valid), str(args.train)
    cut = len(data) - max(1, len(data) // VALID_FRACTION)
    if cut < 1:
        raise UsageError(f"{args.train}: {len(data)} pair(s); give --valid or more pairs")
    print(f"no --valid: held out the last {len(data) - cut} pairs of {args.train} for validation")
    train = PairData(data.sources[:cut], data.targets[:cut], data.path)
    return train, PairData(data.sources[cut:], data.targets[cut:], data.path), str(args.train)


def run_train(args: argparse.Namespace) -> int:
    """``rnnrs seq2seq train``."""
    train, valid, name = _data(args)
    source_tok = fit_tokenizer("\n".join(train.sources), args.source_level, args.vocab_size)
    target_tok = fit_tokenizer("\n".join(train.targets), args.target_level, args.vocab_size)
    model = Seq2Seq(
        source_tok,
        target_tok,
        cell=args.cell,
        embed_size=args.embed,
        hidden_size=args.hidden,
        encoder_layers=args.layers,
        decoder_layers=args.layers,
        bidirectional_encoder=not args.unidirectional,
        attention=None if args.attention == "none" else args.attention,
        input_feeding=not args.no_input_feeding,
        dropout=args.dropout,
        label_smoothing=args.label_smoothing,
        teacher_forcing=args.teacher_forcing,
        seed=args.seed,
    )
    print(
        f"{len(train):,} training pairs from {name}; vocabularies {source_tok.vocab_size:,} "
        f"({args.source_level}) -> {target_tok.vocab_size:,} ({args.target_level}); "
        f"{model.num_parameters:,} parameters; {backend_note()}"
    )
    trainer = Trainer(
        model,
        Adam(lr=args.lr),
        batch_size=args.batch,
        schedule=(
            CosineWithWarmup(warmup_steps=0, min_lr=args.lr / 20)
            if args.schedule == "cosine"
            else None
        ),
        early_stopping_patience=args.patience,
        monitor="token_error_rate",
        mode="min",
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    epochs = args.epochs if args.epochs is not None or args.time is not None else 10
    history = trainer.fit(train, valid, max_time=args.time, epochs=epochs)
    model.save(args.out)
    trainer.save_history(args.out / "history.json")
    sources, refs = valid.grouped()
    result = model.evaluate(sources, refs)
    print(
        f"stopped ({history.stop_reason}) after {trainer.step} steps, "
        f"{history[-1]['elapsed']:.1f}s: validation exact match {result.exact_match:.4f}, "
        f"token error rate {result.token_error_rate:.4f}, BLEU {result.bleu.score:.2f}"
    )
    print(f"saved {args.out}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """``rnnrs seq2seq eval``."""
    model = _model(args.model)
    sources, refs = read_pairs(args.test).grouped()
    result = model.evaluate(sources, refs, beam=args.beam)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(f"{args.test}: {len(sources)} sources, beam {args.beam}\n")
        print(result)
    return 0


def run_translate(args: argparse.Namespace) -> int:
    """``rnnrs seq2seq translate``."""
    model = _model(args.model)
    lines = input_texts(args.input)
    for text in model.translate(lines, beam=args.beam):
        print(text)
    return 0


def run_attention(args: argparse.Namespace) -> int:
    """``rnnrs seq2seq attention``."""
    model = _model(args.model)
    att = model.attention(args.source, args.target)
    width = max(len(t) for t in att.target_tokens)
    print(" " * width, " ".join(f"{t:>5}" for t in att.source_tokens))
    for token, row in zip(att.target_tokens, att.weights):
        print(f"{token:>{width}}", " ".join(f"{w:5.2f}" for w in row))
    if args.out is not None:
        if matplotlib_available():
            save_attention_map(att, args.out)
            print(f"heat map written to {args.out}")
        else:
            print(
                f"matplotlib is not installed: no heat map written to {args.out} "
                "(pip install matplotlib); the table above shows the weights",
                file=sys.stderr,
            )
    return 0
