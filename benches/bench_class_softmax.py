"""Class-factored softmax on a word vocabulary (WikiText-2 validation text): training
speed of rnnrs's class softmax against rnnrs's own full softmax and PyTorch's
``nn.AdaptiveLogSoftmaxWithLoss`` at the same size, and validation perplexity after equal
CPU time.

Model: 2-layer LSTM, H = E = 256, bptt 35, batch 20, Adam 2e-3, clip 5. Vocabulary: every
word of wikitext2.valid.txt plus the specials (13.8k); the last 10% of the tokens is the
validation text. rnnrs's classes: ``rnnrs.frequency_classes`` of the training part (sqrt(V)
classes, rnnlm-0.4b's binning). PyTorch: embedding + nn.LSTM + AdaptiveLogSoftmaxWithLoss
(cutoffs 2000, 10000, div_value 4, as in its documentation's language-model examples).

Prints one JSON object per line: tokens/s of each model at 1 and 2 threads, the ratios, and
each model's validation perplexity after ``--seconds`` of process CPU time on one thread.
WikiText-2's 33k-word vocabulary is that of its training split, whose text is not in
../shared/data: ``--synthetic-vocab 33278`` adds the speed rows (labelled ``synthetic``) on
a stream of that many word types with Zipf frequencies (p(rank r) ~ 1/r) and the training
split's length (2.09M tokens); speed depends on the sizes and on how the targets fall in
the classes, not on the words themselves.
Skips cleanly when the data file or torch is absent. Run it on an otherwise idle machine.

    python benches/bench_class_softmax.py [--seconds 60] [--measure 15] [--synthetic-vocab 33278]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

import rnnrs
from rnnrs.text.batching import batchify
from rnnrs.text.corpus import read_text, split_corpus

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wikitext2.valid.txt"
HIDDEN, LAYERS, BPTT, BATCH, LR, CLIP = 256, 2, 35, 20, 2e-3, 5.0


def emit(**row: Any) -> None:
    print(json.dumps({"bench": "class_softmax", **row}), flush=True)


class RnnrsRun:
    """An rnnrs RNNLM trained by ``train_steps`` over consecutive chunks of the stream."""

    def __init__(self, vocab: int, train: np.ndarray, classes: Any) -> None:
        softmax = "full" if classes is None else "class"
        self.model = rnnrs.RNNLM(
            vocab, hidden_size=HIDDEN, num_layers=LAYERS, softmax=softmax, classes=classes
        )
        self.model.configure_optimizer(rnnrs.Adam(lr=LR).spec())
        self.stream = batchify(train, BATCH)
        self.pos, self.state = 0, None

    def steps(self, n: int) -> int:
        """Train n steps; returns the number of target tokens."""
        last = self.stream.shape[1] - 1 - BPTT
        starts = []
        for _ in range(n):
            if self.pos > last:
                self.pos, self.state = 0, None
            starts.append(self.pos)
            self.pos += BPTT
        reset = np.zeros(n, dtype=bool)
        _, _, self.state = self.model.train_steps(
            self.stream, np.array(starts), BPTT, np.full(n, LR), reset, self.state, CLIP, None
        )
        return n * BPTT * BATCH

    def valid_ppl(self, valid: np.ndarray) -> float:
        total, count = self.model.evaluate_loss(batchify(valid, 10), BPTT)
        return math.exp(total / count)


class TorchRun:
    """The same model in PyTorch with nn.AdaptiveLogSoftmaxWithLoss."""

    def __init__(self, vocab: int, train: np.ndarray) -> None:
        import torch
        from torch import nn

        torch.manual_seed(0)
        self.torch = torch
        self.emb = nn.Embedding(vocab, HIDDEN)
        self.rnn = nn.LSTM(HIDDEN, HIDDEN, LAYERS, batch_first=True)
        self.out = nn.AdaptiveLogSoftmaxWithLoss(HIDDEN, vocab, [2000, 10000], div_value=4.0)
        self.params = [*self.emb.parameters(), *self.rnn.parameters(), *self.out.parameters()]
        self.opt = torch.optim.Adam(self.params, lr=LR)
        self.stream = torch.from_numpy(batchify(train, BATCH).astype(np.int64))
        self.pos, self.state = 0, None

    def steps(self, n: int) -> int:
        torch = self.torch
        last = self.stream.shape[1] - 1 - BPTT
        for _ in range(n):
            if self.pos > last:
                self.pos, self.state = 0, None
            x = self.stream[:, self.pos : self.pos + BPTT]
            y = self.stream[:, self.pos + 1 : self.pos + 1 + BPTT]
            self.pos += BPTT
            out, state = self.rnn(self.emb(x), self.state)
            self.state = tuple(s.detach() for s in state)
            loss = self.out(out.reshape(-1, HIDDEN), y.reshape(-1)).loss
            self.opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, CLIP)
            self.opt.step()
        return n * BPTT * BATCH

    def valid_ppl(self, valid: np.ndarray) -> float:
        torch = self.torch
        stream = torch.from_numpy(batchify(valid, 10).astype(np.int64))
        total, count, state = 0.0, 0, None
        with torch.no_grad():
            for s in range(0, stream.shape[1] - 1, BPTT):
                t = min(BPTT, stream.shape[1] - 1 - s)
                out, state = self.rnn(self.emb(stream[:, s : s + t]), state)
                y = stream[:, s + 1 : s + 1 + t].reshape(-1)
                total += float(self.out(out.reshape(-1, HIDDEN), y).loss) * y.numel()
                count += y.numel()
        return math.exp(total / count)


def set_threads(n: int) -> None:
    rnnrs.set_num_threads(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass


def tokens_per_second(run: Any, measure: float) -> float:
    run.steps(1)  # warm-up: buffers, caches
    tokens, tick = 0, time.perf_counter()
    while time.perf_counter() - tick < measure:
        tokens += run.steps(1)
    return tokens / (time.perf_counter() - tick)


def zipf_stream(vocab: int, tokens: int, seed: int = 0) -> np.ndarray:
    """``tokens`` ids in 0..vocab drawn with p(id r) proportional to 1 / (r + 1)."""
    p = 1.0 / np.arange(1, vocab + 1)
    return np.random.default_rng(seed).choice(vocab, size=tokens, p=p / p.sum()).astype(np.uint32)


def models(vocab: int, train: Any, classes: list[int]) -> dict[str, Callable[[], Any]]:
    """A maker of each of the three compared models, by name."""
    return {
        "rnnrs class": lambda: RnnrsRun(vocab, train, classes),
        "rnnrs full": lambda: RnnrsRun(vocab, train, None),
        "torch adaptive": lambda: TorchRun(vocab, train),
    }


def speed_rows(
    threads: list[int], measure: float, vocab: int, train: Any, classes: list[int], **label: Any
) -> None:
    """Training tokens/s of the three models at each thread count, and the ratios."""
    emit(vocab=vocab, classes=max(classes) + 1, train_tokens=len(train), **label)
    makers = models(vocab, train, classes)
    for n in threads:
        set_threads(n)
        speed = {name: tokens_per_second(make(), measure) for name, make in makers.items()}
        for name, tps in speed.items():
            emit(impl=name, threads=n, tokens_per_s=round(tps, 1), **label)
        emit(
            threads=n,
            class_over_full=round(speed["rnnrs class"] / speed["rnnrs full"], 2),
            class_over_torch_adaptive=round(speed["rnnrs class"] / speed["torch adaptive"], 2),
            **label,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="CPU time per model")
    parser.add_argument("--measure", type=float, default=15.0, help="seconds per speed run")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument(
        "--synthetic-vocab", type=int, help="also time a Zipf stream of this many word types"
    )
    args = parser.parse_args()
    if not DATA.is_file():
        emit(skipped=f"{DATA} not found")
        return
    try:
        import torch  # noqa: F401
    except ImportError:
        emit(skipped="torch is not installed")
        return
    text = read_text(DATA)
    tok = rnnrs.WordTokenizer.fit(text.splitlines())
    ids = tok.encode_lines(text)
    train, valid, _ = split_corpus(ids, valid=0.1, test=0.0)
    classes = rnnrs.frequency_classes(train, tok.vocab_size)
    emit(valid_tokens=len(valid), load_average=os.getloadavg()[0])
    threads = [int(t) for t in args.threads.split(",")]
    speed_rows(threads, args.measure, tok.vocab_size, train, classes)
    if args.synthetic_vocab:
        vocab, stream = args.synthetic_vocab, zipf_stream(args.synthetic_vocab, 2_088_628)
        stream_classes = rnnrs.frequency_classes(stream, vocab)
        speed_rows(threads, args.measure, vocab, stream, stream_classes, data="synthetic")
    set_threads(1)
    for name, make in models(tok.vocab_size, train, classes).items():
        run = make()
        tokens, start = 0, time.process_time()
        while time.process_time() - start < args.seconds:
            tokens += run.steps(1)
        emit(
            impl=name,
            threads=1,
            cpu_seconds=round(time.process_time() - start, 1),
            train_tokens=tokens,
            valid_ppl=round(run.valid_ppl(valid), 2),
        )


if __name__ == "__main__":
    main()
