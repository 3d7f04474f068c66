"""Batch-1 sampling speed: rnnrs generation vs a plain PyTorch per-step sampling loop.

The model is DESIGN.md's C1 LSTM (char vocabulary of 65, E=64, H=256, 1 layer) with the same
weights on both sides (rnnrs -> to_torch_state_dict -> torch). Both sample with temperature
1.0 from a short prompt, one token at a time, one thread. Prints one JSON object per line:
one per implementation, then the ratio (target: rnnrs >= 5x PyTorch on the Rust backend).

    python benches/bench_generate.py [--tokens 2000] [--repeats 3] [--backend rust|numpy]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable

import rnnrs

C1 = {"vocab_size": 65, "cell": "lstm", "embed_size": 64, "hidden_size": 256, "num_layers": 1}
PROMPT = [1, 2, 3, 4, 5, 6, 7, 8]


def best_rate(run: Callable[[], int], repeats: int) -> float:
    """Tokens per second of the fastest of ``repeats`` runs (least disturbed by neighbours)."""
    best = 0.0
    for _ in range(repeats):
        tick = time.perf_counter()
        produced = run()
        best = max(best, produced / (time.perf_counter() - tick))
    return best


def rnnrs_sampler(model: rnnrs.RNNLM, tokens: int) -> Callable[[], int]:
    def run() -> int:
        out = model.generate(PROMPT, tokens, temperature=1.0, seed=0, stop_at_end=False)
        return len(out)

    return run


def torch_sampler(model: rnnrs.RNNLM, tokens: int) -> Callable[[], int]:
    import torch

    from rnnrs.io.torch_interop import torch_module

    module = torch_module(model.config)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in model.to_torch_state_dict().items()})
    module.eval()
    generator = torch.Generator().manual_seed(0)

    @torch.no_grad()
    def run() -> int:
        logits, state = module(torch.tensor([PROMPT]), None)
        produced = 0
        for _ in range(tokens):
            probs = torch.softmax(logits[0, -1], dim=-1)
            token = torch.multinomial(probs, 1, generator=generator)
            produced += 1
            logits, state = module(token.view(1, 1), state)
        return produced

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", choices=["rust", "numpy"], default=None)
    args = parser.parse_args()
    if hasattr(rnnrs, "set_num_threads"):
        rnnrs.set_num_threads(1)
    model = rnnrs.RNNLM(**C1, seed=0, backend=args.backend)
    rows: list[dict[str, Any]] = []
    rate = best_rate(rnnrs_sampler(model, args.tokens), args.repeats)
    rows.append({"impl": "rnnrs", "backend": model.backend, "tokens_per_s": round(rate, 1)})
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        torch_rate = best_rate(torch_sampler(model, args.tokens), args.repeats)
        rows.append(
            {"impl": "torch", "version": torch.__version__, "tokens_per_s": round(torch_rate, 1)}
        )
        rows.append({"ratio_rnnrs_over_torch": round(rate / torch_rate, 3), "target": 5.0})
    for row in rows:
        print(json.dumps({"bench": "generate", "workload": "C1-lstm", "threads": 1, **row}))


if __name__ == "__main__":
    main()
