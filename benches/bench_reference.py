"""The NumPy reference backend's training speed on workload C1 next to PyTorch's.

C1: char level (V=65), 1 layer, H=256, E=64, seq 64, batch 32; one train step =
forward + BPTT + clip 5.0 + Adam. Prints one JSON object per line per cell:
tokens/s of the NumPy engine, of torch (when installed, same thread count), and their
ratio. Usage: python benches/bench_reference.py [--steps 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Optional


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    import numpy as np

    import rnnrs

    vocab, hidden, embed, seq, batch = 65, 256, 64, 64, 32
    stream = np.random.default_rng(0).integers(0, vocab, size=(batch, seq * args.steps + 1))
    stream = stream.astype(np.uint32)
    starts = np.arange(0, seq * args.steps, seq)
    for cell in ("rnn_tanh", "gru", "lstm"):
        model = rnnrs.RNNLM(vocab, cell=cell, hidden_size=hidden, embed_size=embed, backend="numpy")
        model.configure_optimizer(rnnrs.Adam(lr=1e-3).spec())
        lrs, reset = np.full(args.steps, 1e-3), np.zeros(args.steps, bool)
        model.train_steps(stream, starts[:1], seq, lrs[:1], reset[:1], None, 5.0, None)
        tick = time.perf_counter()
        model.train_steps(stream, starts, seq, lrs, reset, None, 5.0, None)
        numpy_tps = batch * seq * args.steps / (time.perf_counter() - tick)
        row = {
            "bench": "reference_train_C1",
            "cell": cell,
            "threads": args.threads,
            "numpy_tokens_per_s": round(numpy_tps),
        }
        torch_tps = torch_tokens_per_s(cell, model.parameters(), stream, starts, seq, args.threads)
        if torch_tps is not None:
            row["torch_tokens_per_s"] = round(torch_tps)
            row["numpy_over_torch"] = round(numpy_tps / torch_tps, 3)
        print(json.dumps(row), flush=True)


def torch_tokens_per_s(
    cell: str, params: dict[str, Any], stream: Any, starts: Any, seq: int, threads: int
) -> Optional[float]:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    vocab, embed = params["embedding.weight"].shape
    hidden = params["rnn.weight_hh_l0"].shape[1]
    rnn_cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(cell, torch.nn.RNN)
    modules = torch.nn.ModuleDict(
        {
            "embedding": torch.nn.Embedding(vocab, embed),
            "rnn": rnn_cls(embed, hidden, batch_first=True),
            "output": torch.nn.Linear(hidden, vocab),
        }
    )
    modules.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
    opt = torch.optim.Adam(modules.parameters(), lr=1e-3)
    data = torch.from_numpy(stream.astype("int64"))

    def step(s: int) -> None:
        opt.zero_grad()
        out, _ = modules["rnn"](modules["embedding"](data[:, s : s + seq]))
        logits = modules["output"](out)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, vocab), data[:, s + 1 : s + 1 + seq].reshape(-1)
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(modules.parameters(), 5.0)
        opt.step()

    step(0)
    tick = time.perf_counter()
    for s in starts:
        step(int(s))
    return data.shape[0] * seq * len(starts) / (time.perf_counter() - tick)


if __name__ == "__main__":
    main()
