"""``rnnrs tag``: train, evaluate and apply sequence taggers (part of speech, named entities)
from CoNLL-U or CoNLL column files.

Example:
    >>> from rnnrs.cli import main
    >>> main(["tag", "train", "train.conllu", "--epochs", "3", "--out", "pos"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..io.jsonfile import write_json_atomic
from ..models.registry import load
from ..models.tagger import SequenceTagger
from ..text.tasks import TAGGING_FORMATS, TaggingData, read_tagging, write_tagging
from ..text.tokenizers import WordTokenizer
from ..training.metrics import is_entity_tagset
from ..training.optimizers import Adam
from ..training.trainer import Trainer
from ._common import UsageError, backend_note, parse_duration, positive_float, positive_int

EXAMPLES = """examples:
  rnnrs tag train en_ewt-train.conllu --valid en_ewt-dev.conllu --epochs 5 --out pos
  rnnrs tag train wnut17-train.conll --valid wnut17-dev.conll --output crf --time 10m --out ner
  rnnrs tag train train.conllu --column xpos --char-encoder cnn --out xpos
  rnnrs tag eval pos en_ewt-dev.conllu          # accuracy; entity table for BIO tags
  rnnrs tag eval ner wnut17-dev.conll --json    # {"accuracy": ..., "f1": ..., ...}
  rnnrs tag predict pos new.conllu > tagged.conllu
"""
DATA_JSON = "tagging.json"  # the data format and column the tagger was trained on
VALID_FRACTION = 10  # without --valid, one sentence in this many is held out


def register(subparsers: Any) -> None:
    """Add ``rnnrs tag`` and its sub-commands."""
    parser = subparsers.add_parser(
        "tag",
        help="sequence taggers: train, eval, predict",
        description="Recurrent sequence taggers (BiLSTM + char encoder, softmax or CRF).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="tag_command", metavar="SUBCOMMAND", required=True)

    train = sub.add_parser(
        "train",
        help="train a tagger on a CoNLL-U or CoNLL file",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("train", type=Path, help="tagged sentences: CoNLL-U or CoNLL columns")
    train.add_argument(
        "--valid",
        type=Path,
        help=f"validation file (default: 1/{VALID_FRACTION} of TRAIN's sentences held out)",
    )
    _data_options(train)
    train.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn_tanh", "rnn_relu"])
    train.add_argument("--embed", type=positive_int, default=100, help="word embedding size")
    train.add_argument("--hidden", type=positive_int, default=128, help="units per direction")
    train.add_argument("--layers", type=positive_int, default=1, help="stacked layers")
    train.add_argument(
        "--char-encoder",
        default="lstm",
        choices=["lstm", "cnn", "none"],
        help="character-level word encoder (default lstm)",
    )
    train.add_argument("--char-embed", type=positive_int, default=25, help="char embedding")
    train.add_argument(
        "--char-hidden",
        type=positive_int,
        default=25,
        help="char LSTM units per direction / CNN filters",
    )
    train.add_argument("--output", default="softmax", choices=["softmax", "crf"])
    train.add_argument("--dropout", type=float, default=0.5, help="dropout probability")
    train.add_argument(
        "--unk-replace",
        type=float,
        default=0.5,
        help="probability that a word seen once in TRAIN becomes <unk> while training",
    )
    train.add_argument("--batch", type=positive_int, default=32, help="sentences per batch")
    train.add_argument("--lr", type=positive_float, default=2e-3, help="Adam learning rate")
    limit = train.add_mutually_exclusive_group()
    limit.add_argument("--time", type=parse_duration, help="train this long (e.g. 10m)")
    limit.add_argument("--epochs", type=positive_int, help="passes over TRAIN (default 5)")
    train.add_argument(
        "--patience",
        type=positive_int,
        default=3,
        help="stop after this many epochs without a better validation score (default 3)",
    )
    train.add_argument("--seed", type=int, default=0, help="weights, dropout and batch order")
    train.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=run_train)

    evaluate = sub.add_parser("eval", help="score a tagger on a tagged file")
    evaluate.add_argument("model", type=Path, help="checkpoint directory")
    evaluate.add_argument("test", type=Path, help="tagged sentences in the training format")
    _data_options(evaluate, saved=True)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(func=run_eval)

    predict = sub.add_parser(
        "predict",
        help="tag a file, written in the format read",
        description="Tag FILE and write it in its own format: CoNLL-U with the tag column "
        "filled, CoNLL with the predicted tag appended as the last column.",
    )
    predict.add_argument("model", type=Path, help="checkpoint directory")
    predict.add_argument("input", type=Path, help="CoNLL-U or CoNLL file (tags not needed)")
    predict.add_argument("--out", type=Path, help="write here (default: standard output)")
    _data_options(predict, saved=True)
    predict.set_defaults(func=run_predict)


def _data_options(parser: argparse.ArgumentParser, saved: bool = False) -> None:
    as_trained = " (default: as in training)"
    parser.add_argument(
        "--format",
        choices=TAGGING_FORMATS,
        help="file format"
        + (as_trained if saved else " (default: conllu for .conllu files, else conll)"),
    )
    parser.add_argument(
        "--column",
        help="the tag column: upos or xpos for CoNLL-U, an index for CoNLL"
        + (as_trained if saved else " (default: upos; the last)"),
    )


def _read(
    path: Path, fmt: Optional[str], column: Union[str, int, None], tagged: bool = True
) -> TaggingData:
    data = read_tagging(path, format=fmt, column=column, tagged=tagged)
    if len(data) == 0:
        raise UsageError(f"{path}: no sentences found")
    return data


def held_out(data: TaggingData, seed: int) -> tuple[TaggingData, TaggingData]:
    """(kept, held out): one sentence in VALID_FRACTION chosen with ``seed``."""
    rng = np.random.default_rng(seed)
    n = len(data)
    held = np.zeros(n, dtype=bool)
    if n >= 2:
        held[rng.choice(n, size=max(1, n // VALID_FRACTION), replace=False)] = True
    tags = data.tags or []
    parts = []
    for side in (False, True):
        rows = [i for i in range(n) if held[i] == side]
        parts.append(
            TaggingData(
                [data.tokens[i] for i in rows],
                [tags[i] for i in rows],
                data.path,
                data.format,
                data.column,
                [data.lines[i] for i in rows],
                data.separator,
            )
        )
    return parts[0], parts[1]


def _tagger(directory: Path) -> tuple[SequenceTagger, dict[str, Any]]:
    model = load(directory)
    if not isinstance(model, SequenceTagger):
        raise UsageError(f"{directory}: holds a model of kind {model.kind!r}, not a tagger")
    saved = directory / DATA_JSON
    info = json.loads(saved.read_text(encoding="utf-8")) if saved.exists() else {}
    return model, info


def _saved(args: argparse.Namespace, info: dict[str, Any]) -> tuple[Optional[str], Any]:
    fmt = args.format if args.format is not None else info.get("format")
    column = args.column if args.column is not None else info.get("column")
    if args.format is not None and args.format != info.get("format") and args.column is None:
        column = None  # the saved column belongs to the saved format
    return fmt, column


def run_train(args: argparse.Namespace) -> int:
    """``rnnrs tag train``."""
    say = print
    data = _read(args.train, args.format, args.column)
    if args.valid is not None:
        train, valid = data, _read(args.valid, args.format, args.column)
    else:
        train, valid = held_out(data, args.seed)
        say(
            f"no --valid: held out 1/{VALID_FRACTION} of {args.train} "
            f"({len(valid)} sentences) for validation"
        )
    tags = sorted(set(train.tag_set()) | set(valid.tag_set()))
    if len(tags) < 2:
        raise UsageError(f"{args.train}: every token has the tag {tags}; need two or more")
    counts = Counter(t for sentence in train.tokens for t in sentence)
    tokenizer = WordTokenizer(sorted(counts, key=lambda w: (-counts[w], w)))
    model = SequenceTagger(
        tokenizer,
        tags,
        cell=args.cell,
        embed_size=args.embed,
        hidden_size=args.hidden,
        num_layers=args.layers,
        char_encoder=None if args.char_encoder == "none" else args.char_encoder,
        char_embed_size=args.char_embed,
        char_hidden_size=args.char_hidden,
        output=args.output,
        dropout=args.dropout,
        unk_replace=args.unk_replace,
        seed=args.seed,
    )
    entity = is_entity_tagset(tags)
    monitor = "f1" if entity else "accuracy"
    say(
        f"{len(train)} training sentences ({sum(map(len, train.tokens)):,} tokens), "
        f"{len(tags)} tags, vocabulary {tokenizer.vocab_size:,}, "
        f"{model.num_parameters:,} parameters; {backend_note()}"
    )
    trainer = Trainer(
        model,
        Adam(lr=args.lr),
        batch_size=args.batch,
        early_stopping_patience=args.patience if len(valid) else None,
        monitor=monitor,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    epochs = args.epochs if args.epochs is not None or args.time is not None else 5
    history = trainer.fit(train, valid if len(valid) else None, max_time=args.time, epochs=epochs)
    model.save(args.out)
    trainer.save_history(args.out / "history.json")
    write_json_atomic(args.out / DATA_JSON, {"format": train.format, "column": train.column})
    last = history[-1]
    if len(valid):
        result = model.evaluate(valid.tokens, valid.tags or [])
        scores = f"accuracy {result.accuracy:.4f}"
        if result.f1 is not None:
            scores += f", entity F1 {result.f1:.4f}"
        say(
            f"stopped ({history.stop_reason}) after {trainer.step} steps, "
            f"{last['elapsed']:.1f}s: validation {scores}"
        )
    else:
        say(f"stopped ({history.stop_reason}) after {trainer.step} steps")
    say(f"saved {args.out}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """``rnnrs tag eval``."""
    model, info = _tagger(args.model)
    fmt, column = _saved(args, info)
    data = _read(args.test, fmt, column)
    result = model.evaluate(data.tokens, data.tags or [])
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(f"{args.test}: {result.sentences} sentences, {result.tokens} tokens")
    print(result)
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """``rnnrs tag predict``."""
    model, info = _tagger(args.model)
    fmt, column = _saved(args, info)
    if fmt == "conll" or (fmt is None and args.input.suffix.lower() != ".conllu"):
        column = None  # CoNLL: tokens only; the prediction goes in a new last column
    data = _read(args.input, fmt, column, tagged=False)
    if data.format == "conllu":  # the tags go in the column the tagger was trained on
        data = dataclasses.replace(data, column=column or "upos")
    predictions = model.predict(data.tokens)
    if args.out is not None:
        write_tagging(args.out, data, predictions)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "predictions"
        write_tagging(path, data, predictions)
        sys.stdout.write(path.read_text(encoding="utf-8"))
    return 0
