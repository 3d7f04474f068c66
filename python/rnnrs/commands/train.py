"""``rnnrs train``: train a recurrent language model on text files (default: the Python
standard library's own source), save a checkpoint, a loss curve and print a sample."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ._common import UsageError, parse_duration, positive_float, positive_int

EXAMPLES = """\
examples:
  rnnrs train --time 1m                      # a small char LSTM on Python's stdlib source
  rnnrs train input.txt --hidden 512 --layers 2 --time 10m --out shakespeare
  rnnrs train ptb.train.txt --level word --cell gru --bptt 35 --batch 20 --epochs 5
  rnnrs train --resume shakespeare --time 5m # continue exactly where it stopped

Ctrl-C stops at the next step boundary and saves the checkpoint; a second Ctrl-C aborts.
"""

# The defaults are tuned for the main job, `rnnrs train --time 1m` on the stdlib corpus: a
# one-layer LSTM-256 with short chunks and a high Adam rate makes the most of a minute on
# two cores (about 1,000 steps; validation perplexity ~4-5 and a Python-looking sample).
DEFAULT_LR = {"adam": 5e-3, "adamw": 5e-3, "sgd": 1.0}
# The stdlib corpus, unless --max-files says otherwise: the first files by path (the top-level
# modules, asyncio, collections, ctypes, ...; about 2.7 million characters) — more than a
# short run reads once, and quick to load.
STDLIB_FILES = 200
# Settings that define the data and the run; --resume takes them from the checkpoint.
RUN_SETTINGS = (
    "text",
    "level",
    "vocab_size",
    "valid_fraction",
    "max_valid_tokens",
    "max_files",
    "bptt",
    "batch",
    "optimizer",
    "lr",
    "weight_decay",
    "clip",
    "eval_every",
    "seed",
)
# Model flags and their defaults (None on the parser, so --resume can tell they were given).
MODEL_DEFAULTS = {
    "cell": "lstm",
    "hidden": 256,
    "layers": 1,
    "embed": 64,
    "dropout": 0.0,
    "tie_weights": False,
}


DESCRIPTION = """\
Train an RNN/LSTM/GRU language model on TEXT files (default: the Python
standard library's source files, a corpus every machine has). Shows a progress
bar, evaluates on the last --valid-fraction of the tokens, saves a checkpoint
to --out (model.safetensors + model.json), a loss curve (loss.png, with
matplotlib) and prints the validation perplexity and a generated sample.
"""


def register(subparsers: Any) -> None:
    """Add the ``train`` sub-command."""
    p = subparsers.add_parser(
        "train",
        help="train a recurrent language model",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("text", nargs="*", metavar="TEXT", help="UTF-8 text files")
    data = p.add_argument_group("data")
    data.add_argument("--level", choices=["char", "word", "bpe"], default="char")
    data.add_argument(
        "--vocab-size",
        type=positive_int,
        default=None,
        help="bpe: vocabulary size (default 2000); char/word: keep the most frequent",
    )
    data.add_argument("--valid-fraction", type=float, default=0.1, help="default 0.1")
    data.add_argument(
        "--max-valid-tokens", type=positive_int, default=20_000, help="cap (default 20000)"
    )
    data.add_argument(
        "--max-files",
        type=positive_int,
        default=None,
        help=f"stdlib corpus: first N files (default {STDLIB_FILES})",
    )
    model = p.add_argument_group("model")
    model.add_argument("--cell", choices=["lstm", "gru", "rnn"], help="default lstm")
    model.add_argument("--hidden", type=positive_int, help="default 256")
    model.add_argument("--layers", type=positive_int, help="default 1")
    model.add_argument(
        "--embed", type=positive_int, help="default 64 (with --tie-weights: --hidden)"
    )
    model.add_argument("--dropout", type=float, help="default 0")
    model.add_argument(
        "--tie-weights", action="store_true", default=None, help="share embedding and output"
    )
    train = p.add_argument_group("training")
    train.add_argument("--bptt", type=positive_int, default=32, help="default 32")
    train.add_argument("--batch", type=positive_int, default=64, help="default 64")
    train.add_argument("--optimizer", choices=["adam", "adamw", "sgd"], default="adam")
    train.add_argument("--lr", type=positive_float, default=None, help="default 5e-3 (sgd 1)")
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument("--clip", type=positive_float, default=5.0, help="global norm, 5")
    train.add_argument("--time", type=parse_duration, default=None, help="e.g. 90s, 5m, 1h")
    train.add_argument("--steps", type=positive_int, default=None)
    train.add_argument("--epochs", type=positive_int, default=None)
    train.add_argument("--eval-every", type=positive_int, default=200, help="steps, 200")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--backend", choices=["rust", "numpy"], default=None)
    out = p.add_argument_group("output")
    out.add_argument("--out", default=None, help="checkpoint directory (default runs/DATE)")
    out.add_argument("--resume", metavar="DIR", default=None, help="continue a saved run")
    out.add_argument("--force", action="store_true", help="overwrite a checkpoint in --out")
    out.add_argument("--sample-tokens", type=int, default=200, help="sample length, 0: none")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


# ---------------------------------------------------------------------- data


def read_corpus(settings: dict[str, Any]) -> str:
    """The training text: the given files, or the stdlib corpus; ValueError when empty."""
    from ..text.corpus import read_text, stdlib_corpus

    if settings["text"]:
        text = "".join(read_text(path) for path in settings["text"])
        where = ", ".join(settings["text"])
    else:
        text = stdlib_corpus(max_files=settings["max_files"])
        where = "the standard-library corpus"
    if not text.strip():
        raise ValueError(f"{where}: the corpus is empty — nothing to train on")
    return text


def fit_tokenizer(text: str, level: str, vocab_size: Optional[int]) -> Any:
    """A tokenizer of ``level`` fitted on ``text``."""
    from ..text.tokenizers import BPETokenizer, CharTokenizer, WordTokenizer

    if level == "char":
        return CharTokenizer.fit(text, max_size=vocab_size)
    if level == "word":
        return WordTokenizer.fit(text.splitlines(), max_size=vocab_size)
    return BPETokenizer.train(text, vocab_size or 2000)


def split_ids(ids: np.ndarray, settings: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Train ids (the first part) and validation ids (the last ``valid_fraction``, capped)."""
    from ..text.corpus import split_corpus

    train, valid, _ = split_corpus(ids, valid=settings["valid_fraction"], test=0.0)
    return train, valid[: settings["max_valid_tokens"]]


# ---------------------------------------------------------------------- setup


def _settings(args: argparse.Namespace) -> dict[str, Any]:

    settings = {k: getattr(args, k) for k in RUN_SETTINGS}
    if not 0.0 < settings["valid_fraction"] < 1.0:
        raise UsageError(
            f"--valid-fraction: expected a number in (0, 1), got {args.valid_fraction}"
        )
    for path in settings["text"]:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file")
    settings["text"] = [str(Path(p).resolve()) for p in settings["text"]]
    settings["lr"] = settings["lr"] or DEFAULT_LR[settings["optimizer"]]
    if not settings["text"] and settings["max_files"] is None:
        settings["max_files"] = STDLIB_FILES
    return settings


def _optimizer(settings: dict[str, Any]) -> Any:
    from ..training.optimizers import SGD, Adam, AdamW

    name, lr, wd = settings["optimizer"], settings["lr"], settings["weight_decay"]
    if name == "sgd":
        return SGD(lr, weight_decay=wd)
    return (AdamW if name == "adamw" else Adam)(lr, weight_decay=wd)


def _out_dir(args: argparse.Namespace) -> Path:
    from ..io.checkpoint import MODEL_JSON

    if args.out is None and args.resume is not None:
        return Path(args.resume)
    out = Path(args.out or time.strftime("runs/%Y%m%d-%H%M%S"))
    taken = (out / MODEL_JSON).exists() and (args.resume is None or out != Path(args.resume))
    if taken and not args.force:
        raise UsageError(
            f"--out: {out} already holds a checkpoint; continue it with --resume {out}, "
            "overwrite it with --force, or choose another --out"
        )
    return out


def _setup(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any], str, list]:
    """(model, trainer, settings, corpus text, earlier history records), fresh or resumed."""
    from ..io.checkpoint import load_training_state
    from ..models.registry import load
    from ..models.rnnlm import RNNLM

    progress = not args.no_progress and sys.stderr.isatty()
    if args.resume is not None:
        given = [f"--{k.replace('_', '-')}" for k in MODEL_DEFAULTS if getattr(args, k) is not None]
        if args.text or given:
            dropped = " ".join(given) if given else "TEXT"
            raise UsageError(
                f"--resume continues a run with its own data and model; drop {dropped}"
            )
        model = load(args.resume, backend=args.backend)
        state = load_training_state(args.resume)
        settings = state.get("cli")
        if not isinstance(settings, dict) or set(settings) != set(RUN_SETTINGS):
            raise UsageError(f"--resume: {args.resume} was not saved by `rnnrs train`")
        trainer = _trainer(model, settings, progress)
        trainer.load_state_dict(state["trainer"])
        return model, trainer, settings, read_corpus(settings), list(state.get("records", []))
    settings = _settings(args)
    text = read_corpus(settings)
    tokenizer = fit_tokenizer(text, settings["level"], settings["vocab_size"])
    m: dict[str, Any] = {
        k: default if getattr(args, k) is None else getattr(args, k)
        for k, default in MODEL_DEFAULTS.items()
    }
    if m["tie_weights"] and args.embed is None:
        m["embed"] = m["hidden"]  # tying shares one table: its width is the hidden size
    model = RNNLM(
        tokenizer.vocab_size,
        cell=m["cell"],
        hidden_size=m["hidden"],
        num_layers=m["layers"],
        embed_size=m["embed"],
        dropout=m["dropout"],
        tie_weights=m["tie_weights"],
        seed=settings["seed"],
        backend=args.backend,
        tokenizer=tokenizer,
    )
    return model, _trainer(model, settings, progress), settings, text, []


def _trainer(model: Any, settings: dict[str, Any], progress: bool) -> Any:
    from ..training.trainer import Trainer

    return Trainer(
        model,
        _optimizer(settings),
        clip_norm=settings["clip"],
        bptt=settings["bptt"],
        batch_size=settings["batch"],
        eval_every=settings["eval_every"],
        progress=progress,
    )


# ---------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> int:
    """Train, save, report."""
    from ..io.checkpoint import save_model
    from .eval import encode_text

    if args.time is None and args.steps is None and args.epochs is None:
        args.time = 300.0
    out = _out_dir(args)
    model, trainer, settings, text, records = _setup(args)
    say = sys.stdout.write
    ids = encode_text(model.tokenizer, text)
    train_ids, valid_ids = split_ids(ids, settings)
    say(
        f"backend: {model.backend}; {model.num_parameters:,} parameters; "
        f"{len(train_ids):,} training and {len(valid_ids):,} validation tokens "
        f"({settings['level']} level, vocabulary {model.vocab_size:,})\n"
    )
    sys.stdout.flush()
    history = trainer.fit(
        train_ids, valid_ids, max_steps=args.steps, max_time=args.time, epochs=args.epochs
    )
    records = records + list(history)
    save_model(model, out, trainer=trainer, extra={"cli": settings, "records": records})
    last = history[-1] if history else {}
    if last.get("valid_loss") is not None:
        loss = last["valid_loss"]
        say(
            f"validation perplexity {math.exp(loss):.3f} (loss {loss:.4f} nats/token) "
            f"after {trainer.step:,} steps\n"
        )
    say(f"checkpoint saved: {out}\n")
    _plot(records, out, say)
    if history.interrupted:
        say(
            f"interrupted at step {trainer.step:,} (a step boundary); nothing lost. "
            f"Resume with: rnnrs train --resume {out} --time 5m\n"
        )
        return 130
    if args.sample_tokens > 0:
        from ..generation import generate
        from .generate import default_prompt

        sample = generate(model, default_prompt(model), args.sample_tokens, temperature=0.8, seed=0)
        say(f"sample (temperature 0.8):\n{sample}\n")
    return 0


def _plot(records: list, out: Path, say: Any) -> None:
    from ..training.plotting import matplotlib_available, save_loss_curve

    if not matplotlib_available():
        say("loss curve: not drawn (pip install matplotlib to get loss.png)\n")
        return
    try:
        save_loss_curve(records, out / "loss.png")
    except ValueError:
        return
    say(f"loss curve: {out / 'loss.png'}\n")
