"""Char-level quality: validation loss vs wall time, rnnrs next to PyTorch, same model and data.

A 2-layer LSTM-512 (E=64) on tinyshakespeare (first 90% train, last 10% validation), Adam,
clip 5.0, the same initial weights and the same batches on both sides; each side gets the
same wall time, evaluations included. Target: rnnrs reaches a validation loss <= 1.50
nats/char within 10 minutes on this 2-core machine.

Defaults (batch 32, bptt 64, lr 2e-3, cosine decay to lr/10): with a fixed time budget, many
small steps beat few large ones early in training (at 1.2M training characters, batch 32 x 64
reached 1.65 where DESIGN.md's C2 shape, batch 64 x 128, reached 2.09), and a rate that decays
to the end of the budget settles the last minutes. The cosine needs the number of steps that
fit in the budget: each side times a few steps and one evaluation of a throw-away copy of the
model before its clock starts, and plans its own steps from that (PyTorch gets its own
count). Training stops at the planned step count or when the time is up, whichever is first,
and the last evaluation ends inside the budget.

Prints one JSON object per line: each evaluation (impl, step, elapsed_s, valid_loss), a
summary per implementation (final and best loss, train tokens/s, seconds to reach 1.50), and
the two curves side by side (the best validation loss each side had reached at the same
moments). --no-torch skips the PyTorch side (it is skipped anyway when torch is missing).

    python benches/bench_quality_char.py [--minutes 10] [--threads 2] [--no-torch]
    python benches/bench_quality_char.py --minutes 3 --evals 3 --valid-tokens 20000
    python benches/bench_quality_char.py --schedule constant --batch 64 --bptt 128
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

import rnnrs
from rnnrs.text.batching import batchify
from rnnrs.text.corpus import read_text, split_corpus

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
TARGET = 1.50


def emit(**row: Any) -> None:
    print(json.dumps({"bench": "quality_char", **row}), flush=True)


Curve = list[tuple[int, float, float]]  # (step, elapsed seconds, validation loss)

# Of the budget left after the planned evaluations, the share planned for training steps:
# throughput drifts during a run on a shared machine, and overrunning would cut the cosine
# short.
PLAN_MARGIN = 0.95
WARMUP_STEPS = 2  # untimed: first-call allocations
CALIBRATION_STEPS = 10
EVAL_MARGIN = 1.5


def plan(
    args: argparse.Namespace, seconds_per_step: float, seconds_per_eval: float
) -> tuple[int, int, float]:
    """(training steps, evaluate every this many steps, training time limit in seconds) for
    a budget of ``args.minutes``: ``args.evals`` evaluations plus the final one fit in it.
    """
    budget = args.minutes * 60
    train_seconds = budget - (args.evals + 1) * seconds_per_eval
    if train_seconds <= 0:
        raise SystemExit(f"--minutes {args.minutes}: the evaluations alone take longer")
    steps = max(1, int(PLAN_MARGIN * train_seconds / seconds_per_step))
    # The last evaluation starts at the limit; the margin covers one that runs slower than timed.
    return steps, max(1, steps // (args.evals + 1)), budget - EVAL_MARGIN * seconds_per_eval


def lr_at(args: argparse.Namespace, step: int, total: int) -> float:
    """The rate of 0-based ``step`` of ``total``: constant, or cosine from lr to lr/10."""
    if args.schedule == "constant":
        return float(args.lr)
    return float(rnnrs.CosineWithWarmup(0, total, min_lr=args.lr / 10).lr_at(step, args.lr))


def side_by_side(curves: dict[str, Curve], points: int = 10) -> None:
    """At ``points`` evenly spaced moments, the best loss each implementation had reached."""
    end = max(c[-1][1] for c in curves.values())
    for k in range(1, points + 1):
        at = end * k / points
        row: dict[str, Any] = {"side_by_side": True, "elapsed_s": round(at, 1)}
        for impl, curve in curves.items():
            seen = [loss for _, t, loss in curve if t <= at]
            row[impl] = round(min(seen), 4) if seen else None
        emit(**row)


def summary(impl: str, curve: Curve, tokens_per_s: float) -> None:
    reached = next((t for _, t, loss in curve if loss <= TARGET), None)
    emit(
        impl=impl,
        summary=True,
        steps=curve[-1][0],
        final_valid_loss=round(curve[-1][2], 4),
        best_valid_loss=round(min(c[2] for c in curve), 4),
        train_tokens_per_s=round(tokens_per_s),
        target=TARGET,
        seconds_to_target=None if reached is None else round(reached, 1),
    )


def run_rnnrs(
    args: argparse.Namespace, model: rnnrs.RNNLM, train: np.ndarray, valid: np.ndarray
) -> Curve:
    def trainer(m: rnnrs.RNNLM, steps: int, every: int, **kw: Any) -> rnnrs.Trainer:
        schedule = None
        if args.schedule == "cosine":
            schedule = rnnrs.CosineWithWarmup(0, steps, min_lr=args.lr / 10)
        return rnnrs.Trainer(
            m,
            rnnrs.Adam(lr=args.lr),
            clip_norm=5.0,
            bptt=args.bptt,
            batch_size=args.batch,
            schedule=schedule,
            eval_every=every,
            progress=False,
            **kw,
        )

    # Sizing run on a copy (same seed, same shapes); its timings plan the real run.
    probe = rnnrs.RNNLM(**model.config, backend=args.backend)
    trainer(probe, CALIBRATION_STEPS, CALIBRATION_STEPS).fit(train, None, max_steps=WARMUP_STEPS)
    tick = time.perf_counter()
    trainer(probe, CALIBRATION_STEPS, CALIBRATION_STEPS).fit(
        train, None, max_steps=CALIBRATION_STEPS
    )
    per_step = (time.perf_counter() - tick) / CALIBRATION_STEPS
    tick = time.perf_counter()
    probe.evaluate_loss(batchify(valid, args.batch), args.bptt)
    per_eval = time.perf_counter() - tick
    steps, every, limit = plan(args, per_step, per_eval)
    emit(
        impl="rnnrs",
        plan_steps=steps,
        eval_every=every,
        s_per_step=round(per_step, 4),
        s_per_eval=round(per_eval, 2),
    )

    curve: Curve = []

    def record(r: dict[str, Any]) -> None:
        curve.append((r["step"], r["elapsed"], r["valid_loss"]))
        emit(
            impl="rnnrs",
            backend=model.backend,
            step=r["step"],
            elapsed_s=round(r["elapsed"], 1),
            valid_loss=round(r["valid_loss"], 4),
            lr=r["lr"],
        )

    history = trainer(model, steps, every, callbacks=[record]).fit(
        train, valid, max_steps=steps, max_time=limit
    )
    rates = [r["tokens_per_s"] for r in history]
    summary("rnnrs", curve, float(np.mean(rates)))
    return curve


def run_torch(
    args: argparse.Namespace, model: rnnrs.RNNLM, train: np.ndarray, valid: np.ndarray
) -> Curve:
    import copy

    import torch

    from rnnrs.io.torch_interop import torch_module

    torch.set_num_threads(args.threads)
    module = torch_module(model.config)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in model.to_torch_state_dict().items()})
    initial = copy.deepcopy(module.state_dict())
    stream = torch.from_numpy(batchify(train, args.batch).astype(np.int64))
    vstream = torch.from_numpy(batchify(valid, args.batch).astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss()

    @torch.no_grad()
    def evaluate() -> float:
        module.eval()
        total, count, state = 0.0, 0, None
        for s in range(0, vstream.shape[1] - 1, args.bptt):
            t = min(args.bptt, vstream.shape[1] - 1 - s)
            logits, state = module(vstream[:, s : s + t], state)
            y = vstream[:, s + 1 : s + 1 + t]
            total += float(loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))) * y.numel()
            count += y.numel()
        module.train()
        return total / count

    def train_for(steps: int, limit: float, every: int, on_eval: Any) -> tuple[int, float, int]:
        """Train from the start of the stream; (steps done, seconds training, tokens)."""
        opt = torch.optim.Adam(module.parameters(), lr=args.lr)
        begin, train_seconds, tokens, step = time.perf_counter(), 0.0, 0, 0
        state: Optional[Any] = None
        pos = 0
        while step < steps and time.perf_counter() - begin < limit:
            tick = time.perf_counter()
            if pos >= stream.shape[1] - 1:
                pos, state = 0, None
            t = min(args.bptt, stream.shape[1] - 1 - pos)
            x, y = stream[:, pos : pos + t], stream[:, pos + 1 : pos + 1 + t]
            if state is not None:
                state = tuple(s.detach() for s in state)
            for group in opt.param_groups:
                group["lr"] = lr_at(args, step, steps)
            logits, state = module(x, state)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 5.0)
            opt.step()
            pos, step, tokens = pos + t, step + 1, tokens + y.numel()
            train_seconds += time.perf_counter() - tick
            if step % every == 0 and step < steps:
                on_eval(step, time.perf_counter() - begin)
        on_eval(step, time.perf_counter() - begin)
        return step, train_seconds, tokens

    # Sizing run from the same initial weights, which are restored afterwards.
    train_for(WARMUP_STEPS, math.inf, WARMUP_STEPS, lambda *_: None)
    _, per_step_total, _ = train_for(
        CALIBRATION_STEPS, math.inf, CALIBRATION_STEPS, lambda *_: None
    )
    tick = time.perf_counter()
    evaluate()
    per_eval = time.perf_counter() - tick
    module.load_state_dict(initial)
    steps, every, limit = plan(args, per_step_total / CALIBRATION_STEPS, per_eval)
    emit(
        impl="torch",
        plan_steps=steps,
        eval_every=every,
        s_per_step=round(per_step_total / CALIBRATION_STEPS, 4),
        s_per_eval=round(per_eval, 2),
    )

    curve: Curve = []

    def record(step: int) -> None:
        v = evaluate()
        elapsed = time.perf_counter() - begin  # evaluation included, as the Trainer counts
        curve.append((step, elapsed, v))
        emit(impl="torch", step=step, elapsed_s=round(elapsed, 1), valid_loss=round(v, 4))

    begin = time.perf_counter()
    _, train_seconds, tokens = train_for(steps, limit, every, lambda st, _: record(st))
    summary("torch", curve, tokens / max(train_seconds, 1e-9))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="wall time per side")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--embed", type=int, default=64)
    parser.add_argument("--bptt", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    parser.add_argument("--evals", type=int, default=4, help="evaluations before the final one")
    parser.add_argument("--valid-tokens", type=int, default=None, help="cap, for quick runs")
    parser.add_argument("--backend", choices=["rust", "numpy"], default=None)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    if not DATA.is_file():
        emit(skipped=f"{DATA} not found")
        return
    if hasattr(rnnrs, "set_num_threads"):
        rnnrs.set_num_threads(args.threads)
    text = read_text(DATA)
    tok = rnnrs.CharTokenizer.fit(text)
    train, valid, _ = split_corpus(tok.encode(text), valid=0.1, test=0.0)
    valid = valid[: args.valid_tokens]
    model = rnnrs.RNNLM(
        tok.vocab_size,
        cell="lstm",
        hidden_size=args.hidden,
        num_layers=args.layers,
        embed_size=args.embed,
        seed=0,
        backend=args.backend,
        tokenizer=tok,
    )
    emit(
        config={k: v for k, v in vars(args).items()},
        vocab=tok.vocab_size,
        train_tokens=len(train),
        valid_tokens=len(valid),
        unigram_entropy=round(unigram_entropy(train), 4),
    )
    initial = rnnrs.RNNLM(**model.config, backend=args.backend)  # same seed: same weights
    curves: dict[str, Curve] = {}
    if not args.no_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            emit(impl="torch", skipped="torch is not installed")
        else:
            curves["torch"] = run_torch(args, initial, train, valid)
    curves["rnnrs"] = run_rnnrs(args, model, train, valid)
    side_by_side(curves)


def unigram_entropy(ids: np.ndarray) -> float:
    """Entropy (nats) of the token frequencies: the loss of a model that ignores context."""
    p = np.bincount(ids) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


if __name__ == "__main__":
    main()
