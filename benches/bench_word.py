"""Word level: RNN language models trained on ptb.valid.txt, scored on ptb.test.txt, next to
the 5-gram modified Kneser-Ney model of the same text.

The RNNs are DESIGN.md's W1 shape (2 layers, H=200, E=200, bptt 35, batch 20), vocabulary =
the words of ptb.valid.txt plus <unk>, <s>, </s>, <pad> (PTB's own <unk> is the special);
one </s> per line, as PyTorch's word_language_model reads PTB. The last 10% of ptb.valid.txt
is held out for early stopping. Test perplexity counts every word and </s> of ptb.test.txt
(82,430 tokens; unseen words score as <unk>), the same tokens KenLM's perplexity counts.

Prints one JSON object per line: each RNN configuration's test perplexity, the best, and the
5-gram's (rnnrs.NGramLM when this build has it; KenLM's published figure for reference).

    python benches/bench_word.py [--minutes 2] [--cells lstm,gru] [--dropouts 0.3,0.5]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

import rnnrs
from rnnrs.text.corpus import read_text, split_corpus

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KENLM_O5_PPL = 268.05  # ../shared/data/README.md: lmplz -o 5 on the prepared ptb.valid.txt


def emit(**row: Any) -> None:
    print(json.dumps({"bench": "word", **row}), flush=True)


def rnn_test_ppl(
    args: argparse.Namespace,
    cell: str,
    dropout: float,
    tok: Any,
    train: np.ndarray,
    valid: np.ndarray,
    test: np.ndarray,
) -> dict[str, Any]:
    model = rnnrs.RNNLM(
        tok.vocab_size,
        cell=cell,
        hidden_size=200,
        num_layers=2,
        embed_size=200,
        dropout=dropout,
        seed=0,
        backend=args.backend,
        tokenizer=tok,
    )
    trainer = rnnrs.Trainer(
        model,
        rnnrs.Adam(lr=args.lr),
        clip_norm=5.0,
        bptt=35,
        batch_size=20,
        eval_every=args.eval_every,
        early_stopping_patience=3,
        progress=False,
    )
    history = trainer.fit(train, valid, max_time=args.minutes * 60)
    test_loss = -float(np.mean(model.token_logprobs(test)))
    return {
        "cell": cell,
        "dropout": dropout,
        "steps": trainer.step,
        "stop_reason": history.stop_reason,
        "best_valid_ppl": round(min(r["valid_ppl"] for r in history), 2),
        "test_ppl": round(math.exp(test_loss), 2),
        "backend": model.backend,
    }


def ngram_test_ppl(train_lines: list[str], test_lines: list[str]) -> dict[str, Any]:
    ngram = getattr(rnnrs, "NGramLM", None)
    if ngram is None:
        return {"impl": "rnnrs.NGramLM", "skipped": "this build has no NGramLM yet"}
    prep = [" ".join("_unk_" if w == "<unk>" else w for w in line.split()) for line in train_lines]
    test = [" ".join("_unk_" if w == "<unk>" else w for w in line.split()) for line in test_lines]
    model = ngram(5, smoothing="modified_kneser_ney").fit([s for s in prep if s])
    return {
        "impl": "rnnrs.NGramLM",
        "order": 5,
        "smoothing": "modified_kneser_ney",
        "test_ppl": round(model.perplexity([s for s in test if s], include_oov=True), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="per RNN configuration")
    parser.add_argument("--cells", default="lstm,gru")
    parser.add_argument("--dropouts", default="0.3,0.5")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--eval-every", type=int, default=45, help="steps (~half an epoch)")
    parser.add_argument("--backend", choices=["rust", "numpy"], default=None)
    args = parser.parse_args()
    if not (DATA / "ptb.valid.txt").is_file() or not (DATA / "ptb.test.txt").is_file():
        emit(skipped=f"PTB files not found in {DATA}")
        return
    train_text, test_text = read_text(DATA / "ptb.valid.txt"), read_text(DATA / "ptb.test.txt")
    tok = rnnrs.WordTokenizer.fit(train_text.splitlines())
    ids = tok.encode_lines(train_text)
    train, valid, _ = split_corpus(ids, valid=0.1, test=0.0)
    test = tok.encode_lines(test_text)
    emit(
        vocab=tok.vocab_size,
        train_tokens=len(train),
        valid_tokens=len(valid),
        test_tokens=len(test),
        test_oov_rate=round(float(np.mean(test == tok.unk_id)), 4),
    )
    results = []
    for cell in args.cells.split(","):
        for dropout in (float(d) for d in args.dropouts.split(",")):
            row = rnn_test_ppl(args, cell, dropout, tok, train, valid, test)
            results.append(row)
            emit(impl="rnnrs.RNNLM", **row)
    best = min(results, key=lambda r: r["test_ppl"])
    emit(impl="rnnrs.RNNLM", best=True, **best)
    emit(**ngram_test_ppl(train_text.splitlines(), test_text.splitlines()))
    emit(impl="kenlm lmplz (published)", order=5, test_ppl=KENLM_O5_PPL)


if __name__ == "__main__":
    main()
