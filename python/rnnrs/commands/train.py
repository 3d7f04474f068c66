"""``rnnrs train``: train a recurrent language model on text files (default: the Python
standard library's own source), keep the best model by validation loss and the latest
(for resume), a loss curve, and print a sample.

OUT holds the best model (``rnnrs.load(OUT)``) and OUT/latest the latest one with its
training state, both saved at every evaluation; ``--resume OUT`` continues from OUT/latest.
"""

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
  rnnrs train ptb.train.txt --level word --valid ptb.valid.txt --test ptb.test.txt
  rnnrs train --resume shakespeare --time 5m # continue exactly where it stopped

OUT holds the best model by validation loss, OUT/latest the latest with its training
state; both are saved at every evaluation (--eval-every steps; --save-every N saves the
latest every N steps too), so a crash loses at most that much. Ctrl-C stops at the next
step boundary and saves; a second Ctrl-C aborts.
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
    "valid",
    "test",
    "patience",
    "lr_decay",
    "save_every",
)
# What runs saved before these settings existed did (for --resume).
LATER_SETTINGS = {
    "valid": None,
    "test": None,
    "patience": None,
    "lr_decay": 1.0,
    "save_every": None,
}
LATEST = "latest"
# Model flags and their defaults (None on the parser, so --resume can tell they were given).
MODEL_DEFAULTS = {
    "cell": "lstm",
    "hidden": 256,
    "layers": 1,
    "embed": 64,
    "dropout": 0.0,
    "tie_weights": False,
    "softmax": "full",
    "classes": None,
    "classes_file": None,
}
# Word level: a vocabulary of thousands on a small corpus overfits within a minute without
# dropout; a tied 200-wide LSTM with dropout 0.5 (the small word_language_model setting)
# keeps improving, with the API's chunking (bptt 35, batch 20).
WORD_DEFAULTS = {"hidden": 200, "embed": 200, "dropout": 0.5, "tie_weights": True}
# (bptt, batch). Word level: the API's Trainer defaults (word_language_model's). Char and BPE
# level, deliberately otherwise: shorter chunks and more streams in parallel, as char-rnn
# trains, put more tokens through each step of a short run on a few cores.
CHUNK_DEFAULTS = {"char": (32, 64), "bpe": (32, 64), "word": (35, 20)}
DEFAULT_TIME = 300.0
CELLS = ["lstm", "gru", "rnn_tanh", "rnn_relu", "rnn"]


DESCRIPTION = """\
Train an RNN/LSTM/GRU language model on TEXT files (default: the Python
standard library's source files, a corpus every machine has). Shows a progress
bar (log lines when the output is not a terminal), evaluates on --valid FILE
or the last --valid-fraction of the tokens, keeps the best model in --out and
the latest in --out/latest, draws a loss curve (loss.png, with matplotlib) and
prints the validation (and --test) perplexity and a generated sample. Runs 5
minutes unless --time, --steps or --epochs says otherwise.
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
    data.add_argument(
        "--valid", metavar="FILE", default=None, help="validation text (default: the held-out tail)"
    )
    data.add_argument(
        "--test", metavar="FILE", default=None, help="test text: perplexity printed at the end"
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
    model.add_argument("--cell", choices=CELLS, help="default lstm (rnn = rnn_tanh)")
    model.add_argument("--hidden", type=positive_int, help="default 256 (word: 200)")
    model.add_argument("--layers", type=positive_int, help="default 1")
    model.add_argument(
        "--embed", type=positive_int, help="default 64 (word, --tie-weights: --hidden)"
    )
    model.add_argument("--dropout", type=float, help="default 0 (word: 0.5)")
    model.add_argument(
        "--tie-weights",
        action="store_true",
        default=None,
        help="share embedding and output (default at word level)",
    )
    model.add_argument(
        "--softmax",
        choices=["full", "class"],
        help="default full; class: the class-factored softmax (word level)",
    )
    classes = model.add_mutually_exclusive_group()
    classes.add_argument(
        "--classes",
        type=positive_int,
        metavar="N",
        help="with --softmax class: N frequency classes of the training text (default sqrt(V))",
    )
    classes.add_argument(
        "--classes-file",
        metavar="F",
        help="with --softmax class: the classes of a word<TAB>class file (e.g. Brown clusters)",
    )
    train = p.add_argument_group("training")
    train.add_argument(
        "--bptt",
        type=positive_int,
        default=None,
        help="time steps per chunk: default 32 at char/bpe level, 35 at word level (the API's "
        "Trainer default, bptt=35)",
    )
    train.add_argument(
        "--batch",
        type=positive_int,
        default=None,
        help="parallel streams: default 64 at char/bpe level (shorter chunks, more streams: "
        "more tokens a step in a short run), 20 at word level (the API's batch_size=20)",
    )
    train.add_argument("--optimizer", choices=["adam", "adamw", "sgd"], default="adam")
    train.add_argument("--lr", type=positive_float, default=None, help="default 5e-3 (sgd 1)")
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument("--clip", type=positive_float, default=5.0, help="global norm, 5")
    train.add_argument(
        "--time",
        type=parse_duration,
        default=None,
        help="e.g. 90s, 5m, 1h (default 5m when neither --steps nor --epochs is given)",
    )
    train.add_argument("--steps", type=positive_int, default=None)
    train.add_argument("--epochs", type=positive_int, default=None)
    train.add_argument(
        "--eval-every",
        type=positive_int,
        default=200,
        help="evaluate and save the best and latest models every N steps (200)",
    )
    train.add_argument(
        "--save-every",
        type=positive_int,
        default=None,
        metavar="N",
        help="also save the latest model every N steps (default: at each evaluation)",
    )
    train.add_argument(
        "--patience",
        type=positive_int,
        default=None,
        help="stop after N evaluations without a better validation loss (default: never)",
    )
    train.add_argument(
        "--lr-decay",
        type=float,
        default=4.0,
        help="divide the learning rate by this when validation does not improve (4; 1: off)",
    )
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
        if Path(path).is_dir():
            raise UsageError(f"{path}: is a directory; give text files (e.g. {path}/*.txt)")
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file")
    settings["text"] = [str(Path(p).resolve()) for p in settings["text"]]
    for key in ("valid", "test"):
        if settings[key] is not None:
            if not Path(settings[key]).is_file():
                raise FileNotFoundError(f"--{key}: {settings[key]}: no such file")
            settings[key] = str(Path(settings[key]).resolve())
    if not settings["lr_decay"] >= 1.0:
        raise UsageError(f"--lr-decay: expected a number >= 1, got {settings['lr_decay']}")
    bptt, batch = CHUNK_DEFAULTS[settings["level"]]
    settings["bptt"] = settings["bptt"] or bptt
    settings["batch"] = settings["batch"] or batch
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
    from ..io.checkpoint import holds_checkpoint

    if args.out is None and args.resume is not None:
        return Path(args.resume)
    out = Path(args.out or time.strftime("runs/%Y%m%d-%H%M%S"))
    taken = holds_checkpoint(out) and (args.resume is None or out != Path(args.resume))
    if taken and not args.force:
        raise UsageError(
            f"--out: {out} already holds a checkpoint; continue it with --resume {out}, "
            "overwrite it with --force, or choose another --out"
        )
    return out


def _setup(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any], str, list]:
    """(model, trainer, settings, corpus text, earlier history records), fresh or resumed."""
    from ..io.checkpoint import holds_checkpoint, load_training_state
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
        latest = Path(args.resume) / LATEST
        source = latest if holds_checkpoint(latest) else Path(args.resume)
        model = load(source, backend=args.backend)
        state = load_training_state(source)
        settings = state.get("cli")
        if isinstance(settings, dict):
            settings = {**LATER_SETTINGS, **settings}
        if not isinstance(settings, dict) or set(settings) != set(RUN_SETTINGS):
            raise UsageError(f"--resume: {args.resume} was not saved by `rnnrs train`")
        trainer = _trainer(model, settings, progress)
        trainer.load_state_dict(state["trainer"])
        records = list(state.get("records", []))
        return model, trainer, settings, read_corpus(settings), records
    settings = _settings(args)
    text = read_corpus(settings)
    tokenizer = fit_tokenizer(text, settings["level"], settings["vocab_size"])
    defaults = {**MODEL_DEFAULTS, **(WORD_DEFAULTS if settings["level"] == "word" else {})}
    m: dict[str, Any] = {
        k: default if getattr(args, k) is None else getattr(args, k)
        for k, default in defaults.items()
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
        softmax=m["softmax"],
        classes=_classes(m, tokenizer, text, settings),
    )
    return model, _trainer(model, settings, progress), settings, text, []


def _classes(m: dict[str, Any], tokenizer: Any, text: str, settings: dict[str, Any]) -> Any:
    """The ``classes`` argument of RNNLM for the model flags: None (full softmax), a file's
    path, or frequency classes of the training part of the text."""
    from ..nn.classes import frequency_classes
    from .eval import encode_text

    if m["softmax"] != "class":
        if m["classes"] is not None or m["classes_file"] is not None:
            raise UsageError("--classes and --classes-file need --softmax class")
        return None
    if m["classes_file"] is not None:
        return m["classes_file"]
    train_ids, _ = split_ids(encode_text(tokenizer, text), settings)
    return frequency_classes(train_ids, tokenizer.vocab_size, m["classes"])


def _trainer(model: Any, settings: dict[str, Any], progress: bool) -> Any:
    from ..training.schedules import ReduceOnPlateau
    from ..training.trainer import Trainer

    decay = settings["lr_decay"]
    return Trainer(
        model,
        _optimizer(settings),
        clip_norm=settings["clip"],
        bptt=settings["bptt"],
        batch_size=settings["batch"],
        eval_every=settings["eval_every"],
        # the word_language_model habit: a smaller step as soon as validation stalls
        schedule=ReduceOnPlateau(factor=1.0 / decay, patience=0) if decay > 1.0 else None,
        progress=progress,
    )


# ---------------------------------------------------------------------- run


def _data(model: Any, text: str, settings: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(train, validation, test) ids: validation from --valid or the held-out tail."""
    from ..text.corpus import read_text
    from .eval import encode_text

    ids = encode_text(model.tokenizer, text)
    if settings["valid"] is None:
        train_ids, valid_ids = split_ids(ids, settings)
    else:
        train_ids = ids
        valid_ids = encode_text(model.tokenizer, read_text(settings["valid"]))
    test = settings["test"]
    test_ids = None if test is None else encode_text(model.tokenizer, read_text(test))
    return train_ids, valid_ids, test_ids


class _Keeper:
    """At each evaluation: save the best model to OUT and the latest, with its training
    state, to OUT/latest; log a line when the output is not a terminal; ask the trainer to
    stop after ``patience`` evaluations without improvement."""

    def __init__(
        self, out: Path, settings: dict[str, Any], records: list, plan: dict[str, Any]
    ) -> None:
        self.out, self.settings, self.records = out, settings, records
        self.plan = plan  # planned steps or seconds, for the ETA
        earlier = [r["valid_loss"] for r in records if r.get("valid_loss") is not None]
        self.best = min(earlier, default=math.inf)
        self.stale = 0
        for loss in earlier:  # evaluations since the best, as the earlier run counted them
            self.stale = 0 if loss <= self.best else self.stale + 1
        self.model: Any = None
        self.trainer: Any = None
        self.log = not sys.stdout.isatty()
        self.stopped_early = False
        self.saved_step = -1

    def __call__(self, record: dict[str, Any]) -> bool:
        loss = record.get("valid_loss")
        if loss is not None and loss < self.best:
            self.best, self.stale = loss, 0
            self.model.save(self.out)
        elif loss is not None:
            self.stale += 1
        self.save_latest(self.trainer.history)
        if self.log:
            self._log_line(record)
        patience = self.settings["patience"]
        self.stopped_early = patience is not None and self.stale >= patience
        return self.stopped_early

    def save_latest(self, history: list) -> None:
        from ..io.checkpoint import save_model

        if self.trainer.step == self.saved_step:
            return
        self.saved_step = self.trainer.step
        records = self.records + list(history)
        extra = {"cli": self.settings, "records": records}
        save_model(self.model, self.out / LATEST, trainer=self.trainer, extra=extra)

    def _log_line(self, record: dict[str, Any]) -> None:
        elapsed = record["elapsed"]
        eta = ""
        if self.plan.get("seconds"):
            eta = f" | ETA {_clock(max(self.plan['seconds'] - elapsed, 0.0))}"
        elif self.plan.get("steps"):
            done = self.trainer.step - self.plan["first_step"]
            rate = elapsed / max(done, 1)
            eta = f" | ETA {_clock(max(self.plan['steps'] - done, 0) * rate)}"
        train = record["train_loss"]
        parts = [f"step {record['step']}", f"{record['tokens_per_s']:,.0f} tok/s"]
        if train is not None:
            parts.append(f"loss {train:.4f} (ppl {math.exp(min(train, 700.0)):.2f})")
        if record["valid_loss"] is not None:
            parts.append(f"valid ppl {record['valid_ppl']:.2f}")
        parts.append(f"lr {record['lr']:.3g}")
        sys.stdout.write(" | ".join(parts) + f" | {_clock(elapsed)} elapsed{eta}\n")
        sys.stdout.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return (
        f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
        if minutes >= 60
        else f"{minutes}:{secs:02d}"
    )


def run(args: argparse.Namespace) -> int:
    """Train, keeping the best and latest models, report."""
    from ..models.registry import load

    if args.time is None and args.steps is None and args.epochs is None:
        args.time = DEFAULT_TIME
    out = _out_dir(args)
    model, trainer, settings, text, records = _setup(args)
    say = sys.stdout.write
    train_ids, valid_ids, test_ids = _data(model, text, settings)
    say(
        f"backend: {model.backend}; {model.num_parameters:,} parameters; "
        f"{len(train_ids):,} training and {len(valid_ids):,} validation tokens "
        f"({settings['level']} level, vocabulary {model.vocab_size:,})\n"
    )
    sys.stdout.flush()
    plan = {"seconds": args.time, "steps": args.steps, "first_step": trainer.step}
    keeper = _Keeper(out, settings, records, plan)
    keeper.model, keeper.trainer = model, trainer
    trainer.callbacks = (keeper,)
    if settings["save_every"] is not None:
        trainer.save_every = settings["save_every"]
        trainer.save = lambda t: keeper.save_latest(t.history)
    history = trainer.fit(
        train_ids, valid_ids, max_steps=args.steps, max_time=args.time, epochs=args.epochs
    )
    keeper.save_latest(history)  # the last evaluation saved it, unless Ctrl-C came after
    records = records + list(history)
    last = history[-1] if history else {}
    if last.get("valid_loss") is not None:
        say(
            f"validation perplexity {last['valid_ppl']:.3f} (loss {last['valid_loss']:.4f} "
            f"nats/token) after {trainer.step:,} steps; best {math.exp(min(keeper.best, 700)):.3f}"
            "\n"
        )
    if keeper.stopped_early:
        say(f"early stopping: {settings['patience']} evaluations without improvement\n")
    say(f"best model saved: {out} (latest, for --resume: {out / LATEST})\n")
    _plot(records, out, say)
    if history.interrupted:
        say(
            f"interrupted at step {trainer.step:,} (a step boundary); nothing lost. "
            f"Resume with: rnnrs train --resume {out} --time 5m\n"
        )
        return 130
    best = load(out, backend=args.backend) if (out / "CURRENT").exists() else model
    if test_ids is not None:
        from .eval import score

        result = score(best, test_ids, settings["bptt"])
        scored = result["scored"]
        say(f"test perplexity {result['perplexity']:.3f} (best model, {scored:,} tokens)\n")
    if args.sample_tokens > 0:
        from ..generation import generate
        from .generate import default_prompt

        sample = generate(best, default_prompt(best), args.sample_tokens, temperature=0.8, seed=0)
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
