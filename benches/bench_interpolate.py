"""RNN + n-gram interpolation on PTB: test perplexity of a word-level LSTM, of a 5-gram
modified Kneser-Ney model and of their mixture, side by side on the same tokens.

Both models learn from ptb.valid.txt: the first 90% of its lines train them, the last 10%
is held out to tune the mixture weights by EM (and to pick the LSTM's best weights by
validation loss). The test text is ptb.test.txt. The vocabulary is every word of the
training lines (both models share it; test words outside it are ``<unk>`` for both). The
LSTM is W1's: 2 layers, H = E = 200, tied, dropout 0.5, bptt 35, batch 20, Adam 2e-3 with
the rate divided by 4 when validation stalls, for ``--minutes`` of training. Perplexity
counts every word and every ``</s>`` (docs/wordlm.md), as KenLM's ``query`` does.

Prints one JSON object per line: the data, each model's training, the tuned weights and the
test perplexities with the mixture's gain over the better model alone (the target: >= 10%).
Skips cleanly when the data files are absent. ``--quick`` runs a tiny version (a few hundred
lines, a small LSTM, seconds) to check that the script works.

    python benches/bench_interpolate.py [--minutes 10] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import rnnrs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def emit(**row: Any) -> None:
    print(json.dumps({"bench": "interpolate", **row}), flush=True)


def train_rnn(
    tok: rnnrs.WordTokenizer, train: list[str], held_out: list[str], args: argparse.Namespace
) -> rnnrs.RNNLM:
    """The word-level LSTM, trained for ``args.minutes`` with the best weights kept."""
    model = rnnrs.RNNLM(
        tok.vocab_size,
        cell="lstm",
        hidden_size=args.hidden,
        num_layers=args.layers,
        dropout=args.dropout,
        tie_weights=True,
        tokenizer=tok,
        seed=0,
    )
    trainer = rnnrs.Trainer(
        model,
        rnnrs.Adam(lr=2e-3),
        bptt=35,
        batch_size=20,
        schedule=rnnrs.ReduceOnPlateau(factor=0.25, patience=0),
        eval_every=args.eval_every,
        early_stopping_patience=args.patience,
        progress=False,
    )
    started = time.perf_counter()
    history = trainer.fit(
        tok.encode_lines(train), tok.encode_lines(held_out), max_time=60.0 * args.minutes
    )
    best = min(r["valid_ppl"] for r in history if r.get("valid_ppl") is not None)
    emit(
        model="rnn",
        steps=history[-1]["step"],
        seconds=round(time.perf_counter() - started, 1),
        held_out_ppl_best=round(best, 2),
        parameters=model.num_parameters,
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="LSTM training time")
    parser.add_argument("--order", type=int, default=5, help="n-gram order")
    parser.add_argument("--quick", action="store_true", help="a tiny run to check the script")
    args = parser.parse_args()
    args.hidden, args.layers, args.dropout, args.eval_every, args.patience = 200, 2, 0.5, 200, 6
    valid_path, test_path = DATA / "ptb.valid.txt", DATA / "ptb.test.txt"
    if not (valid_path.is_file() and test_path.is_file()):
        emit(skipped=f"data not found: {valid_path}, {test_path}")
        return
    lines = valid_path.read_text(encoding="utf-8").splitlines()
    test = test_path.read_text(encoding="utf-8").splitlines()
    if args.quick:
        lines, test = lines[:600], test[:100]
        args.minutes, args.hidden, args.layers, args.eval_every = 0.25, 32, 1, 20
    cut = int(0.9 * len(lines))
    train, held_out = lines[:cut], lines[cut:]
    tok = rnnrs.WordTokenizer.fit(train)
    emit(
        train_lines=len(train),
        held_out_lines=len(held_out),
        test_lines=len(test),
        vocab=tok.vocab_size,
        backend=rnnrs.backend(),
        threads=rnnrs.get_num_threads(),
        quick=args.quick,
    )

    started = time.perf_counter()
    ngram = rnnrs.NGramLM(args.order).fit(train, discount_fallback=True)
    emit(model=f"{args.order}-gram", seconds=round(time.perf_counter() - started, 2))
    rnn = train_rnn(tok, train, held_out, args)

    started = time.perf_counter()
    mix = rnnrs.interpolate([rnn, ngram], tune_on=held_out)
    tuning = round(time.perf_counter() - started, 2)
    result = mix.evaluate(test)
    rnn_ppl, ngram_ppl = result["perplexities"]
    better = min(rnn_ppl, ngram_ppl)
    emit(
        test_tokens=result["tokens"],
        weights={"rnn": round(mix.weights[0], 4), "ngram": round(mix.weights[1], 4)},
        em_iterations=mix.em_iterations,
        tuning_seconds=tuning,
        test_ppl={
            "rnn": round(rnn_ppl, 2),
            f"{args.order}-gram": round(ngram_ppl, 2),
            "mixture": round(result["mixture_perplexity"], 2),
        },
        mixture_below_better=round(1.0 - result["mixture_perplexity"] / better, 4),
        target=0.10,
    )


if __name__ == "__main__":
    main()
