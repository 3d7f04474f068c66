"""Forward + backward time of the encoder layers (rnnrs.LSTM / GRU / RNN) on the Rust core
next to the NumPy reference and, when installed, PyTorch, in one run.

    python benches/bench_layers.py            # 2-layer bidirectional, H=256, B=32, T=64
    python benches/bench_layers.py --quick    # fewer repeats

Prints one JSON object per line: seconds per forward + backward (the best of the repeats)
and the speed-up of Rust over each other framework at the same thread count.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable

import numpy as np

import rnnrs


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up: workspaces, thread pool
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def rnnrs_step(layer: Any, x: np.ndarray, d_out: np.ndarray) -> Callable[[], Any]:
    def step() -> Any:
        layer.forward(x)
        return layer.backward(d_out)

    return step


def torch_step(cell: str, args: argparse.Namespace, x: np.ndarray, d_out: np.ndarray) -> Any:
    try:
        import torch
    except ImportError:
        return None
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(cell, torch.nn.RNN)
    mod = cls(args.input, args.hidden, args.layers, batch_first=True, bidirectional=True)
    tx = torch.from_numpy(x).requires_grad_(True)
    td = torch.from_numpy(d_out)

    def step() -> Any:
        mod.zero_grad()
        out, _ = mod(tx)
        out.backward(td)

    return step, torch.set_num_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--input", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--time", type=int, default=64)
    parser.add_argument("--cells", default="lstm,gru")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, args.time, args.input)).astype(np.float32)
    d_out = rng.normal(size=(args.batch, args.time, 2 * args.hidden)).astype(np.float32)
    for cell in args.cells.split(","):
        cls = {"lstm": rnnrs.LSTM, "gru": rnnrs.GRU}.get(cell, rnnrs.RNN)
        sizes = (args.input, args.hidden, args.layers)
        rust = cls(*sizes, bidirectional=True, backend="rust")
        ref = cls(*sizes, bidirectional=True, backend="numpy")
        torch_fn = torch_step(cell, args, x, d_out)
        for threads in (1, 2):
            rnnrs.set_num_threads(threads)
            rec: dict[str, Any] = {
                "bench": "layers_fwd_bwd",
                "cell": cell,
                "layers": args.layers,
                "bidirectional": True,
                "hidden": args.hidden,
                "batch": args.batch,
                "time": args.time,
                "threads": threads,
                "rust_s": best_of(rnnrs_step(rust, x, d_out), repeats),
            }
            if threads == 1:  # NumPy's BLAS threads follow its environment, not rnnrs
                rec["numpy_s"] = best_of(rnnrs_step(ref, x, d_out), repeats)
                rec["speedup_vs_numpy"] = rec["numpy_s"] / rec["rust_s"]
            if torch_fn is not None:
                step, set_threads = torch_fn
                set_threads(threads)
                rec["torch_s"] = best_of(step, repeats)
                rec["speedup_vs_torch"] = rec["torch_s"] / rec["rust_s"]
            print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
