"""Training and scoring throughput of rnnrs's Rust engine next to PyTorch (and the NumPy
reference), on the canonical workloads of the design notes, in one run.

    python benches/bench_train.py            # C1, C2, W1 x rnn_tanh, gru, lstm x 1, 2 threads
    python benches/bench_train.py --quick    # fewer steps
    python benches/bench_train.py --memory   # also C2 peak memory, each framework in a subprocess

Prints one JSON object per line. A train step is forward + BPTT + clip (global norm 5.0) +
Adam. GFLOP/s counts 6 x (matmul parameters) per token, the work PyTorch does (rnnrs does
less on a char model's layer 0, so its figure is the rate of equivalent work);
`sgemm_peak_gflops` is torch's (else NumPy's) float32 1024^3 matmul at the same thread count,
measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WORKLOADS: dict[str, dict[str, Any]] = {
    "C1": {"kind": "char", "layers": 1, "hidden": 256, "embed": 64, "bptt": 64, "batch": 32},
    "C2": {"kind": "char", "layers": 2, "hidden": 512, "embed": 64, "bptt": 128, "batch": 64},
    "W1": {"kind": "word", "layers": 2, "hidden": 200, "embed": 200, "bptt": 35, "batch": 20},
}
CELLS = ("rnn_tanh", "gru", "lstm")
# Scoring a workload takes a third of the time training it does: the best of a few runs
# keeps a momentary stall of the machine out of the figure.
SCORE_REPEATS = 3
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def corpus(kind: str, n_tokens: int) -> tuple[np.ndarray, int, str]:
    """(ids, vocab size, source): the real corpus when present, else synthetic ids."""
    if kind == "char":
        path = DATA / "tinyshakespeare.txt"
        if path.is_file():
            text = path.read_text(encoding="utf-8")[: n_tokens + 1]
            chars = sorted(set(path.read_text(encoding="utf-8")))
            index = {c: i for i, c in enumerate(chars)}
            return np.array([index[c] for c in text], dtype=np.uint32), len(chars), str(path.name)
        vocab = 65
    else:
        path = DATA / "ptb.valid.txt"
        if path.is_file():
            words: list[str] = []
            for line in path.read_text(encoding="utf-8").splitlines():
                words.extend([*line.split(), "</s>"])
            vocab_list = sorted(set(words))
            index = {w: i for i, w in enumerate(vocab_list)}
            ids = np.array([index[w] for w in words], dtype=np.uint32)
            reps = int(np.ceil((n_tokens + 1) / len(ids)))
            return np.tile(ids, reps)[: n_tokens + 1], len(vocab_list), str(path.name)
        vocab = 6022
    rng = np.random.default_rng(0)
    return rng.integers(0, vocab, n_tokens + 1).astype(np.uint32), vocab, "synthetic"


def batchify(ids: np.ndarray, batch: int) -> np.ndarray:
    n = len(ids) // batch
    return np.ascontiguousarray(ids[: n * batch].reshape(batch, n))


def matmul_params(cell: str, w: dict[str, Any], vocab: int) -> int:
    g, h = GATES[cell] * w["hidden"], w["hidden"]
    total = 0
    for layer in range(w["layers"]):
        i = w["embed"] if layer == 0 else h
        total += g * (i + h)
    return total + vocab * h


def sgemm_peak(threads: int) -> tuple[float, str]:
    try:
        import torch

        torch.set_num_threads(threads)
        a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
        mm: Callable[[], Any] = lambda: torch.mm(a, b)  # noqa: E731
        who = "torch"
    except ImportError:
        an = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
        mm = lambda: an @ an  # noqa: E731
        who = "numpy"
    mm()
    best = min(timed(mm) for _ in range(5))
    return 2 * 1024**3 / best / 1e9, who


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def config(cell: str, w: dict[str, Any], vocab: int) -> dict[str, Any]:
    return {
        "vocab_size": vocab,
        "cell": cell,
        "hidden_size": w["hidden"],
        "embed_size": w["embed"],
        "num_layers": w["layers"],
        "dropout": 0.0,
        "tie_weights": False,
        "seed": 0,
    }


def engine_train(engine: Any, stream: np.ndarray, bptt: int, steps: int) -> float:
    """Tokens/s of `steps` train steps through the engine contract (after one warm-up)."""
    engine.configure_optimizer(name="adam", betas=(0.9, 0.999), eps=1e-8)
    n = stream.shape[1]
    starts = (np.arange(steps + 1) * bptt) % (n - 1 - bptt)
    lrs = np.full(steps + 1, 1e-3)
    reset = np.zeros(steps + 1, dtype=bool)
    reset[0] = True
    engine.train_steps(stream, starts[:1], bptt, lrs[:1], reset[:1], None, 5.0, None)
    sec = timed(
        lambda: engine.train_steps(stream, starts[1:], bptt, lrs[1:], reset[1:], None, 5.0, None)
    )
    return steps * stream.shape[0] * bptt / sec


def engine_score(engine: Any, stream: np.ndarray, bptt: int, steps: int) -> float:
    part = np.ascontiguousarray(stream[:, : steps * bptt + 1])
    engine.evaluate(np.ascontiguousarray(stream[:, : bptt + 1]), bptt)
    sec = min(timed(lambda: engine.evaluate(part, bptt)) for _ in range(SCORE_REPEATS))
    return steps * stream.shape[0] * bptt / sec


def torch_model(cell: str, w: dict[str, Any], vocab: int) -> Any:
    import torch

    nn = torch.nn

    class LM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(vocab, w["embed"])
            args = (w["embed"], w["hidden"], w["layers"])
            if cell == "lstm":
                self.rnn: nn.Module = nn.LSTM(*args, batch_first=True)
            elif cell == "gru":
                self.rnn = nn.GRU(*args, batch_first=True)
            else:
                self.rnn = nn.RNN(*args, nonlinearity=cell[4:], batch_first=True)
            self.output = nn.Linear(w["hidden"], vocab)

        def forward(self, x: Any, state: Any) -> Any:
            out, state = self.rnn(self.embedding(x), state)
            return self.output(out), state

    return LM()


def detach(state: Any) -> Any:
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def torch_train(cell: str, w: dict[str, Any], vocab: int, stream: np.ndarray, steps: int) -> float:
    import torch

    model = torch_model(cell, w, vocab)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.from_numpy(stream.astype(np.int64))
    bptt, v = w["bptt"], vocab
    state: Any = None

    def step(k: int) -> None:
        nonlocal state
        s = (k * bptt) % (data.shape[1] - 1 - bptt)
        x, y = data[:, s : s + bptt], data[:, s + 1 : s + 1 + bptt]
        opt.zero_grad()
        logits, st = model(x, state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, v), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        state = detach(st)

    step(0)
    sec = timed(lambda: [step(k) for k in range(1, steps + 1)])
    return steps * stream.shape[0] * bptt / sec


def torch_score(cell: str, w: dict[str, Any], vocab: int, stream: np.ndarray, steps: int) -> float:
    import torch

    model = torch_model(cell, w, vocab)
    data = torch.from_numpy(stream.astype(np.int64))
    bptt = w["bptt"]

    def run(n: int) -> None:
        state = None
        with torch.no_grad():
            for k in range(n):
                s = k * bptt
                logits, state = model(data[:, s : s + bptt], state)
                torch.nn.functional.cross_entropy(
                    logits.reshape(-1, vocab), data[:, s + 1 : s + 1 + bptt].reshape(-1)
                )

    run(1)
    sec = min(timed(lambda: run(steps)) for _ in range(SCORE_REPEATS))
    return steps * stream.shape[0] * bptt / sec


def have_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def probe_memory(framework: str, cell: str) -> None:
    """Subprocess mode: train C2 for 2 steps, print the peak RSS growth in MB."""
    w = WORKLOADS["C2"]
    ids, vocab, _ = corpus("char", w["batch"] * (3 * w["bptt"] + 2))
    stream = batchify(ids, w["batch"])
    if framework == "torch":
        import torch  # noqa: F401  (imported before the baseline, like rnnrs's import)
    else:
        from rnnrs import _core
    base = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    if framework == "torch":
        torch_train(cell, w, vocab, stream, 2)
    else:
        # Zero weights (no initial draw to count): 2 steps of Adam write every parameter.
        engine_train(_core.RustEngine(**config(cell, w, vocab)), stream, w["bptt"], 2)
    # VmHWM: this process's own peak (ru_maxrss would include the parent's, from fork).
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) * 1024
    print(json.dumps({"peak_mb": (peak - base) / 2**20}))


def memory(cell: str) -> None:
    out: dict[str, Any] = {"bench": "memory", "workload": "C2", "cell": cell}
    for fw in ("rnnrs", "torch") if have_torch() else ("rnnrs",):
        res = subprocess.run(
            [sys.executable, __file__, "--probe", fw, cell], capture_output=True, text=True
        )
        if res.returncode != 0:
            out[f"{fw}_error"] = res.stderr.strip().splitlines()[-1:]
            continue
        out[f"{fw}_peak_mb"] = round(json.loads(res.stdout)["peak_mb"], 1)
    if "rnnrs_peak_mb" in out and "torch_peak_mb" in out:
        out["ratio"] = round(out["rnnrs_peak_mb"] / out["torch_peak_mb"], 3)
    emit(out)


def main(argv: Optional[list[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps per measurement")
    ap.add_argument("--workloads", default="C1,C2,W1", help="comma-separated, or none")
    ap.add_argument("--cells", default=",".join(CELLS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--numpy", action="store_true", help="also time the NumPy reference")
    ap.add_argument("--memory", action="store_true", help="C2 peak memory per framework")
    ap.add_argument("--probe", nargs=2, metavar=("FRAMEWORK", "CELL"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        probe_memory(*args.probe)
        return

    import rnnrs

    use_torch = have_torch() and not args.no_torch
    for name in [w for w in args.workloads.split(",") if w and w != "none"]:
        w = WORKLOADS[name]
        steps = (2 if name == "C2" else 5) if args.quick else (5 if name == "C2" else 20)
        ids, vocab, source = corpus(w["kind"], w["batch"] * (steps + 3) * w["bptt"] + w["batch"])
        stream = batchify(ids, w["batch"])
        for threads in [int(t) for t in args.threads.split(",")]:
            rnnrs.set_num_threads(threads)
            peak, peak_src = sgemm_peak(threads)
            for cell in args.cells.split(","):
                rec: dict[str, Any] = {
                    "bench": "train",
                    "workload": name,
                    "cell": cell,
                    "threads": threads,
                    "vocab": vocab,
                    "data": source,
                    "steps": steps,
                }
                engine = rnnrs.RNNLM(**config(cell, w, vocab), backend="rust").engine
                rec["rnnrs_tok_s"] = round(engine_train(engine, stream, w["bptt"], steps))
                rec["rnnrs_score_tok_s"] = round(engine_score(engine, stream, w["bptt"], steps))
                rec["score_over_train"] = round(rec["rnnrs_score_tok_s"] / rec["rnnrs_tok_s"], 2)
                flops = 6 * matmul_params(cell, w, vocab)
                rec["rnnrs_gflops"] = round(rec["rnnrs_tok_s"] * flops / 1e9, 1)
                rec["sgemm_peak_gflops"] = round(peak, 1)
                rec["sgemm_peak_by"] = peak_src
                if use_torch:
                    import torch

                    torch.set_num_threads(threads)
                    rec["torch_tok_s"] = round(torch_train(cell, w, vocab, stream, steps))
                    rec["torch_score_tok_s"] = round(torch_score(cell, w, vocab, stream, steps))
                    rec["ratio"] = round(rec["rnnrs_tok_s"] / rec["torch_tok_s"], 2)
                    rec["score_ratio"] = round(
                        rec["rnnrs_score_tok_s"] / rec["torch_score_tok_s"], 2
                    )
                    rec["torch_gflops"] = round(rec["torch_tok_s"] * flops / 1e9, 1)
                if args.numpy and threads == 1:
                    from rnnrs.backends.numpy_rnnlm import NumpyEngine

                    ref = NumpyEngine(config(cell, w, vocab))
                    rec["numpy_tok_s"] = round(engine_train(ref, stream, w["bptt"], 1))
                emit(rec)
    if args.memory:
        for cell in args.cells.split(","):
            memory(cell)


if __name__ == "__main__":
    main()
