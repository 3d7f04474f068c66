"""Char-level quality: validation loss vs wall time, rnnrs next to PyTorch, same model and data.

A 2-layer LSTM-512 (E=64, bptt 128, batch 64: DESIGN.md's C2) on tinyshakespeare (first 90%
train, last 10% validation), Adam 2e-3, clip 5.0, the same initial weights and the same
batches on both sides; each side gets the same wall time (evaluations included). Target:
rnnrs reaches a validation loss <= 1.50 nats/char within 10 minutes on this 2-core machine.

Prints one JSON object per line: each evaluation (impl, step, elapsed_s, valid_loss), a
summary per implementation (final and best loss, train tokens/s, seconds to reach 1.50), and
the two curves side by side (the best validation loss each side had reached at the same
moments). --no-torch skips the PyTorch side (it is skipped anyway when torch is missing).

    python benches/bench_quality_char.py [--minutes 10] [--threads 2] [--no-torch]
    python benches/bench_quality_char.py --minutes 3 --eval-every 25 --valid-tokens 20000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

import rnnrs
from rnnrs.data import batchify, read_text, split_corpus

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
TARGET = 1.50


def emit(**row: Any) -> None:
    print(json.dumps({"bench": "quality_char", **row}), flush=True)


Curve = list[tuple[int, float, float]]  # (step, elapsed seconds, validation loss)


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
    curve: Curve = []

    def record(r: dict[str, Any]) -> None:
        curve.append((r["step"], r["elapsed"], r["valid_loss"]))
        emit(
            impl="rnnrs",
            backend=model.backend,
            step=r["step"],
            elapsed_s=round(r["elapsed"], 1),
            valid_loss=round(r["valid_loss"], 4),
        )

    trainer = rnnrs.Trainer(
        model,
        rnnrs.Adam(lr=args.lr),
        clip_norm=5.0,
        bptt=args.bptt,
        batch_size=args.batch,
        eval_every=args.eval_every,
        callbacks=[record],
        progress=False,
    )
    history = trainer.fit(train, valid, max_time=args.minutes * 60)
    rates = [r["tokens_per_s"] for r in history]
    summary("rnnrs", curve, float(np.mean(rates)))
    return curve


def run_torch(
    args: argparse.Namespace, model: rnnrs.RNNLM, train: np.ndarray, valid: np.ndarray
) -> Curve:
    import torch

    from rnnrs.torch_interop import torch_module

    torch.set_num_threads(args.threads)
    module = torch_module(model.config)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in model.to_torch_state_dict().items()})
    opt = torch.optim.Adam(module.parameters(), lr=args.lr)
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

    curve: Curve = []
    begin, train_seconds, tokens, step = time.perf_counter(), 0.0, 0, 0
    state: Optional[Any] = None
    pos = 0
    while time.perf_counter() - begin < args.minutes * 60:
        tick = time.perf_counter()
        if pos >= stream.shape[1] - 1:
            pos, state = 0, None
        t = min(args.bptt, stream.shape[1] - 1 - pos)
        x, y = stream[:, pos : pos + t], stream[:, pos + 1 : pos + 1 + t]
        if state is not None:
            state = tuple(s.detach() for s in state)
        logits, state = module(x, state)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 5.0)
        opt.step()
        pos, step, tokens = pos + t, step + 1, tokens + y.numel()
        train_seconds += time.perf_counter() - tick
        if step % args.eval_every == 0:
            v = evaluate()
            elapsed = time.perf_counter() - begin
            curve.append((step, elapsed, v))
            emit(impl="torch", step=step, elapsed_s=round(elapsed, 1), valid_loss=round(v, 4))
    v = evaluate()
    curve.append((step, time.perf_counter() - begin, v))
    emit(impl="torch", step=step, elapsed_s=round(curve[-1][1], 1), valid_loss=round(v, 4))
    summary("torch", curve, tokens / max(train_seconds, 1e-9))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="wall time per side")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--embed", type=int, default=64)
    parser.add_argument("--bptt", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--eval-every", type=int, default=100, help="steps")
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
