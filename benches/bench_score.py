"""Sentence scoring with a word-level RNN: rnnrs's ``score_sentences`` against PyTorch's
batched forward of the same model and weights, on the sentences of ptb.valid.txt.

Model: W1's LSTM (2 layers, H = E = 200, the vocabulary of ptb.valid.txt), untrained: speed
does not depend on the weights. Each sentence is scored from a fresh state after ``</s>``:
its words and ``</s>``. PyTorch's side is what a user would write: sentences sorted by
length, batches of ``--batch``, padded, one forward, log_softmax, the targets gathered and
summed under a mask. Both sides' scores are compared (max absolute difference in nats).

Prints one JSON object per line: sentences/s of each at 1 and 2 threads and the ratio (the
issue's target: rnnrs >= 2x). Skips cleanly when the data or torch is absent. ``--quick``
scores 300 sentences once; ``--nbest K`` scores K hypotheses per sentence (the workload of
``rnnrs rescore``: the last 1-3 words of each drawn anew).

rnnrs runs the first words of sentences that begin alike once (every sentence starts from
the same state; ``rnn_scoring.prefix_levels``); the first line reports how many of the
positions that saves, so the share of the ratio it accounts for is visible.

    python benches/bench_score.py [--sentences 3000] [--batch 64] [--repeat 3] [--quick]
                                  [--nbest K]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

import rnnrs
from rnnrs.io.torch_interop import torch_module
from rnnrs.models import rnn_scoring

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb.valid.txt"


def emit(**row: Any) -> None:
    print(json.dumps({"bench": "score", **row}), flush=True)


def torch_scores(module: Any, sentences: list[np.ndarray], eos: int, batch: int) -> np.ndarray:
    """Sentence log-probabilities by PyTorch: sorted, padded batches, one forward each."""
    import torch

    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    out = np.zeros(len(sentences))
    with torch.no_grad():
        for start in range(0, len(order), batch):
            group = order[start : start + batch]
            width = max(len(sentences[i]) for i in group) + 1
            x = torch.full((len(group), width), eos, dtype=torch.long)
            y = torch.full((len(group), width), eos, dtype=torch.long)
            mask = torch.zeros((len(group), width))
            for row, i in enumerate(group):
                words = torch.from_numpy(sentences[i].astype(np.int64))
                x[row, 1 : len(words) + 1] = words
                y[row, : len(words)] = words
                mask[row, : len(words) + 1] = 1.0
            logits, _ = module(x)
            logp = torch.log_softmax(logits, dim=-1).gather(2, y.unsqueeze(2)).squeeze(2)
            out[group] = (logp * mask).sum(dim=1).double().numpy()
    return out


def nbest_variants(lines: list[str], k: int) -> list[str]:
    """``k`` hypotheses per line, as an n-best list has them: the line with its last 1-3
    words replaced by words drawn from the text (seeded)."""
    rng = random.Random(0)
    words = [w for line in lines for w in line.split()] or ["a"]
    out = []
    for line in lines:
        w = line.split()
        for _ in range(k):
            cut = rng.randint(1, 3) if w else 0
            out.append(" ".join(w[: len(w) - cut] + [rng.choice(words) for _ in range(cut)]))
    return out


def shared_positions(sentences: list[np.ndarray], end_id: int, vocab: int) -> int:
    """Positions that rnnrs's scoring does not run apart: on each prefix level it runs, the
    sentences reaching it minus its distinct prefixes."""
    levels = rnn_scoring.prefix_levels(*rnn_scoring._padded(sentences, end_id), vocab)
    return sum(members.size - first.size for members, first, _ in levels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=64, help="PyTorch's batch size")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--quick", action="store_true", help="300 sentences, once")
    parser.add_argument(
        "--nbest",
        type=int,
        default=0,
        help="score K variants of each sentence instead (n-best-like: the last 1-3 words drawn "
        "anew), --sentences in all",
    )
    args = parser.parse_args()
    if args.quick:
        args.sentences, args.repeat = 300, 1
    try:
        import torch
    except ImportError:
        emit(skipped="torch is not installed")
        return
    if not DATA.is_file():
        emit(skipped=f"data not found: {DATA}")
        return
    lines = DATA.read_text(encoding="utf-8").splitlines()
    tok = rnnrs.WordTokenizer.fit(lines)
    lines = (
        nbest_variants(lines[: max(1, args.sentences // args.nbest)], args.nbest)
        if args.nbest
        else lines[: args.sentences]
    )
    model = rnnrs.RNNLM(tok.vocab_size, hidden_size=200, num_layers=2, tokenizer=tok)
    module = torch_module(model.config)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in model.to_torch_state_dict().items()})
    module.eval()
    ids = [tok.encode(line) for line in lines]
    tokens = sum(len(s) + 1 for s in ids)
    emit(
        sentences=len(lines),
        tokens=tokens,
        vocab=tok.vocab_size,
        backend=rnnrs.backend(),
        positions_shared=shared_positions(ids, tok.eos_id, tok.vocab_size),
    )
    ours = model.score_sentences(lines).logprob
    theirs = torch_scores(module, ids, tok.eos_id, args.batch)
    emit(max_abs_diff_nats=float(np.abs(ours - theirs).max()))
    for threads in (int(t) for t in args.threads.split(",")):
        rnnrs.set_num_threads(threads)
        torch.set_num_threads(threads)
        best = {"rnnrs": float("inf"), "torch": float("inf")}
        for _ in range(args.repeat):
            started = time.perf_counter()
            model.score_sentences(lines)
            best["rnnrs"] = min(best["rnnrs"], time.perf_counter() - started)
            started = time.perf_counter()
            torch_scores(module, ids, tok.eos_id, args.batch)
            best["torch"] = min(best["torch"], time.perf_counter() - started)
        emit(
            threads=threads,
            rnnrs_sentences_per_s=round(len(lines) / best["rnnrs"], 1),
            torch_sentences_per_s=round(len(lines) / best["torch"], 1),
            ratio=round(best["torch"] / best["rnnrs"], 2),
        )


if __name__ == "__main__":
    main()
