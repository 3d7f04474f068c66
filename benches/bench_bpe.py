"""Byte-level BPE: train a 2,000-token vocabulary on tinyshakespeare and encode the whole
file, rnnrs side by side with HF `tokenizers` (ByteLevel BPE trainer, same vocab size and
min_frequency) when it is installed. Prints one JSON object per line; the `ratio` lines
give HF's time over rnnrs's (above 1: rnnrs is faster), against HF's faster mode.

    python benches/bench_bpe.py [--data PATH] [--vocab 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rnnrs
from rnnrs.text.corpus import read_text

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs of ``fn`` and its last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def bench_rnnrs(text: str, lines: list[str], vocab: int, repeat: int) -> dict[str, float]:
    train_s, tok = best_of(repeat, lambda: rnnrs.BPETokenizer.train(text, vocab))
    enc_s, ids = best_of(repeat, lambda: tok.encode(text))
    batch_s, batch = best_of(repeat, lambda: tok.encode_batch(lines))
    assert tok.decode(ids) == text
    common = {"impl": "rnnrs", "backend": tok.backend, "vocab_size": tok.vocab_size}
    emit(bench="bpe_train", mode="whole text", seconds=train_s, **common)
    emit(bench="bpe_encode", mode="whole text", seconds=enc_s, tokens=len(ids), **common)
    emit(
        bench="bpe_encode",
        mode="batch of lines",
        seconds=batch_s,
        tokens=sum(len(b) for b in batch),
        **common,
    )
    return {"train": train_s, "encode": min(enc_s, batch_s)}


def bench_hf(text: str, lines: list[str], vocab: int, repeat: int) -> dict[str, float] | None:
    try:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    except ImportError:
        emit(bench="bpe", impl="hf-tokenizers", skipped="tokenizers is not installed")
        return None

    def train(data: list[str]) -> Any:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab,
            min_frequency=2,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(data, trainer)
        return tok

    import tokenizers

    common = {"impl": "hf-tokenizers", "version": tokenizers.__version__}
    whole_s, tok = best_of(repeat, lambda: train([text]))
    lines_s, _ = best_of(repeat, lambda: train(lines))
    enc_s, enc = best_of(repeat, lambda: tok.encode(text))
    batch_s, batch = best_of(repeat, lambda: tok.encode_batch(lines))
    vocab_size = tok.get_vocab_size()
    emit(bench="bpe_train", mode="whole text", seconds=whole_s, vocab_size=vocab_size, **common)
    emit(bench="bpe_train", mode="lines", seconds=lines_s, vocab_size=vocab_size, **common)
    emit(bench="bpe_encode", mode="whole text", seconds=enc_s, tokens=len(enc.ids), **common)
    emit(
        bench="bpe_encode",
        mode="batch of lines",
        seconds=batch_s,
        tokens=sum(len(e.ids) for e in batch),
        **common,
    )
    return {"train": min(whole_s, lines_s), "encode": min(enc_s, batch_s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--vocab", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.data.is_file():
        emit(bench="bpe", skipped=f"corpus not found: {args.data}")
        return
    text = read_text(args.data)
    lines = text.splitlines(keepends=True)
    emit(bench="bpe", corpus=args.data.name, bytes=len(text.encode("utf-8")), vocab=args.vocab)
    ours = bench_rnnrs(text, lines, args.vocab, args.repeat)
    theirs = bench_hf(text, lines, args.vocab, args.repeat)
    if theirs is not None:
        for what in ("train", "encode"):
            emit(
                bench=f"bpe_{what}",
                ratio_hf_over_rnnrs=theirs[what] / ours[what],
                rnnrs_seconds=ours[what],
                hf_seconds=theirs[what],
            )


if __name__ == "__main__":
    main()
