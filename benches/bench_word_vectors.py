"""Loading pretrained word vectors: rnnrs.WordVectors against gensim's
``KeyedVectors.load_word2vec_format`` on the same files, GloVe text and word2vec binary.

The files are synthetic, GloVe's shape: ``--rows`` words (default 400,000) of ``--dim``
values (default 300), normal draws written as the shortest float32 text, in a temporary
folder (the 400k x 300 text file takes about 1.2 GB there). Each loader runs ``--repeat``
times; the best time counts. The issue's target: the text file at >= 3x gensim's speed.

Prints one JSON object per line: the file sizes, then per format the seconds of each loader
and the ratio. gensim is optional: without it only rnnrs's times are printed.
``--quick`` uses 20,000 x 50.

    python benches/bench_word_vectors.py [--rows 400000] [--dim 300] [--quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from rnnrs import WordVectors


def emit(**row: Any) -> None:
    print(json.dumps({"bench": "word_vectors", **row}), flush=True)


def best_time(load: Callable[[], Any], repeat: int) -> float:
    """The shortest of ``repeat`` runs of ``load``, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        load()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="20,000 x 50, once")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.dim, args.repeat = 20_000, 50, 1
    keyed: Any = None  # gensim's KeyedVectors, when gensim is installed
    try:
        from gensim.models import KeyedVectors as keyed
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(args.rows)]
    vectors = WordVectors(words, rng.standard_normal((args.rows, args.dim), dtype=np.float32))
    with tempfile.TemporaryDirectory(prefix="rnnrs-bench-") as tmp:
        text, binary = Path(tmp) / "vectors.txt", Path(tmp) / "vectors.bin"
        vectors.save_glove(text)
        vectors.save_word2vec_format(binary, binary=True)
        emit(
            rows=args.rows,
            dim=args.dim,
            text_mb=round(text.stat().st_size / 1e6, 1),
            binary_mb=round(binary.stat().st_size / 1e6, 1),
            gensim=keyed is not None,
        )
        cases: list[tuple[str, Callable[[], Any], Any]] = [
            (
                "glove_text",
                lambda: WordVectors.load_glove(text),
                None
                if keyed is None
                else lambda: keyed.load_word2vec_format(text, no_header=True),
            ),
            (
                "word2vec_binary",
                lambda: WordVectors.load_word2vec_format(binary, binary=True),
                None
                if keyed is None
                else lambda: keyed.load_word2vec_format(binary, binary=True),
            ),
        ]
        for name, ours, theirs in cases:
            ours_s = best_time(ours, args.repeat)
            row: dict[str, Any] = {"format": name, "rnnrs_s": round(ours_s, 3)}
            if theirs is not None:
                theirs_s = best_time(theirs, args.repeat)
                row.update(gensim_s=round(theirs_s, 3), speedup=round(theirs_s / ours_s, 2))
            emit(**row)


if __name__ == "__main__":
    main()
