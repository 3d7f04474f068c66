"""Benchmarks of the n-gram engine (issue #5), one JSON object per line.

- estimate: count + modified Kneser-Ney + write ARPA, order 5, each run in a fresh process
  (time inside it, peak RSS of the process) on the Python standard library's *.py files
  (all, 1/4, 1/16 prefixes; lines = sentences) and on ptb.valid.txt (start-up cost).
  KenLM's lmplz is not installed here: its figures from ../shared/data/README.md are printed
  as constants, labelled "reference".
- score: tokens/s scoring numpy id arrays with the PTB order-5 model (KenLM's own ARPA),
  threads 1 and 2, next to the kenlm Python module's score() and full_scores() when
  installed.
- nltk: nltk.lm.KneserNeyInterpolated on a small sample when installed, and the ratio.

Usage: python benches/bench_ngram.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# KenLM figures measured on this machine (../shared/data/README.md), not re-run here.
KENLM_REFERENCE = [
    {
        "what": "lmplz -o 5, stdlib 2.77M tokens",
        "seconds": 3.46,
        "tokens_per_s": 0.80e6,
        "peak_mb": 800,
    },
    {"what": "lmplz -o 5, ptb.valid.txt", "seconds": 0.45, "note": "mostly fixed start-up"},
    {"what": "KenLM C++ query", "tokens_per_s": "16-21M"},
    {"what": "kenlm Python score()", "tokens_per_s": "12-16M"},
    {"what": "kenlm Python full_scores()", "tokens_per_s": "6-7.5M"},
]


def emit(**record: object) -> None:
    print(json.dumps(record), flush=True)


def write_corpus(files: list[Path], path: Path) -> int:
    tokens = 0
    with open(path, "w", encoding="utf-8") as out:
        for f in files:
            text = f.read_text(encoding="utf-8", errors="replace")
            tokens += len(text.split())
            out.write(text)
            out.write("\n")
    return tokens


def child_estimate(corpus: str, order: int, out: str) -> None:
    from rnnrs import NGramLM

    start = time.perf_counter()
    lm = NGramLM(order).fit(corpus, keep_counts=False)
    fitted = time.perf_counter()
    lm.to_arpa(out)
    end = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"fit_s": fitted - start, "seconds": end - start, "peak_mb": peak_mb}))


def child_baseline() -> None:
    import rnnrs  # noqa: F401

    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(args: list[str], env: dict[str, str] | None = None) -> dict:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return result


def bench_estimation(tmp: Path, quick: bool) -> None:
    base = run_child(["baseline"])
    emit(bench="estimate", what="python + import rnnrs (baseline)", peak_mb=round(base["peak_mb"]))
    from rnnrs.text.corpus import stdlib_files

    files = stdlib_files()
    fractions = [16] if quick else [16, 4, 1]
    for frac in fractions:
        subset = files[: max(1, len(files) // frac)]
        corpus = tmp / f"stdlib_{frac}.txt"
        tokens = write_corpus(subset, corpus)
        # A fresh file per run: replacing an existing file costs more on ext4 (the kernel
        # flushes the new file when it replaces one: auto_da_alloc), which is not estimation.
        arpa = tmp / f"stdlib_{frac}.arpa"
        r = run_child(["estimate", str(corpus), "5", str(arpa)])
        emit(
            bench="estimate",
            corpus=f"stdlib 1/{frac}" if frac > 1 else "stdlib",
            files=len(subset),
            tokens=tokens,
            order=5,
            seconds=round(r["seconds"], 3),
            fit_seconds=round(r["fit_s"], 3),
            tokens_per_s=round(tokens / r["seconds"]),
            peak_mb=round(r["peak_mb"]),
            arpa_mb=round(arpa.stat().st_size / 2**20, 1),
            kenlm_reference_seconds=3.46 if frac == 1 else None,
            ratio_vs_kenlm_reference=round(3.46 / r["seconds"], 2) if frac == 1 else None,
        )
    ptb = DATA / "ptb.valid.txt"
    if ptb.exists():
        r = run_child(["estimate", str(ptb), "5", str(tmp / "ptb.arpa")])
        emit(
            bench="estimate",
            corpus="ptb.valid.txt",
            order=5,
            seconds=round(r["seconds"], 3),
            process_seconds=round(r["process_s"], 3),
            peak_mb=round(r["peak_mb"]),
            kenlm_reference_seconds=0.45,
        )


def child_score(arpa: str, repeat: int) -> None:
    import numpy as np

    from rnnrs import NGramLM

    lm = NGramLM.from_arpa(arpa)
    test = (DATA / "ptb.test.txt").read_text().split("\n")
    test = [" ".join("_unk_" if t == "<unk>" else t for t in s.split()) for s in test]
    ids = np.tile(lm.encode(test), repeat)
    best_total = best_tokens = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        lm.score_ids(ids)
        best_total = min(best_total, time.perf_counter() - t)
        t = time.perf_counter()
        lm.score_ids(ids, per_token=True)
        best_tokens = min(best_tokens, time.perf_counter() - t)
    print(
        json.dumps(
            {
                "tokens": int(ids.size),
                "total_tokens_per_s": ids.size / best_total,
                "per_token_tokens_per_s": ids.size / best_tokens,
            }
        )
    )


def bench_scoring(tmp: Path, quick: bool) -> None:
    arpa = DATA / "kenlm" / "ptb.o5.arpa"
    if not arpa.exists():
        emit(bench="score", skipped=f"{arpa} absent")
        return
    repeat = 4 if quick else 20
    rnnrs_rate = {}
    for threads in (1, 2):
        r = run_child(["score", str(arpa), str(repeat)], env={"RNNRS_NUM_THREADS": str(threads)})
        rnnrs_rate[threads] = r["total_tokens_per_s"]
        emit(
            bench="score",
            engine="rnnrs score_ids",
            model="ptb.o5.arpa",
            threads=threads,
            tokens=r["tokens"],
            total_tokens_per_s=round(r["total_tokens_per_s"]),
            per_token_tokens_per_s=round(r["per_token_tokens_per_s"]),
        )
    try:
        import kenlm
    except ImportError:
        emit(bench="score", engine="kenlm", skipped="the kenlm module is not installed")
        return
    model = kenlm.Model(str(arpa))
    test = (DATA / "ptb.test.txt").read_text().split("\n")
    sentences = [" ".join("_unk_" if t == "<unk>" else t for t in s.split()) for s in test]
    sentences = [s for s in sentences if s] * repeat
    tokens = sum(len(s.split()) + 1 for s in sentences)
    best_score = best_full = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for s in sentences:
            model.score(s)
        best_score = min(best_score, time.perf_counter() - t)
        t = time.perf_counter()
        for s in sentences:
            for _ in model.full_scores(s):
                pass
        best_full = min(best_full, time.perf_counter() - t)
    for name, seconds in (("score()", best_score), ("full_scores()", best_full)):
        emit(
            bench="score",
            engine=f"kenlm module {name}",
            model="ptb.o5.arpa",
            tokens=tokens,
            tokens_per_s=round(tokens / seconds),
            ratio_rnnrs_1_thread=round(rnnrs_rate[1] / (tokens / seconds), 2),
            ratio_rnnrs_2_threads=round(rnnrs_rate[2] / (tokens / seconds), 2),
        )


def bench_nltk(quick: bool) -> None:
    try:
        from nltk.lm import KneserNeyInterpolated
        from nltk.lm.preprocessing import padded_everygram_pipeline
    except ImportError:
        emit(bench="nltk", skipped="nltk is not installed")
        return
    import numpy as np

    from rnnrs import NGramLM

    lines = [s.split() for s in (DATA / "ptb.valid.txt").read_text().split("\n") if s.split()]
    train = lines[: 300 if quick else 1000]
    test = lines[1000:1010]
    t = time.perf_counter()
    nl = KneserNeyInterpolated(3)
    grams, vocab = padded_everygram_pipeline(3, train)
    nl.fit(grams, vocab)
    nltk_fit = time.perf_counter() - t
    t = time.perf_counter()
    n_tokens = 0
    for s in test:
        padded = ["<s>", "<s>", *s, "</s>"]
        for i in range(2, len(padded)):
            nl.logscore(padded[i], padded[i - 2 : i])
            n_tokens += 1
    nltk_rate = n_tokens / (time.perf_counter() - t)
    t = time.perf_counter()
    lm = NGramLM(3, "kneser_ney").fit([" ".join(s) for s in train])
    rnnrs_fit = time.perf_counter() - t
    ids = np.tile(lm.encode([" ".join(s) for s in test]), 2000)
    t = time.perf_counter()
    lm.score_ids(ids, per_token=True)
    rnnrs_rate = ids.size / (time.perf_counter() - t)
    emit(
        bench="nltk",
        model="order 3 Kneser-Ney (nltk KneserNeyInterpolated vs rnnrs kneser_ney)",
        train_sentences=len(train),
        nltk_fit_s=round(nltk_fit, 3),
        rnnrs_fit_s=round(rnnrs_fit, 4),
        nltk_tokens_per_s=round(nltk_rate, 1),
        rnnrs_tokens_per_s=round(rnnrs_rate),
        ratio_scoring=round(rnnrs_rate / nltk_rate),
        ratio_fit=round(nltk_fit / rnnrs_fit),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "estimate":
            child_estimate(rest[0], int(rest[1]), rest[2])
        elif kind == "score":
            child_score(rest[0], int(rest[1]))
        else:
            child_baseline()
        return
    import rnnrs

    emit(bench="setup", backend=rnnrs.backend(), cpus=os.cpu_count(), python=sys.version.split()[0])
    for ref in KENLM_REFERENCE:
        emit(bench="kenlm_reference", **ref)
    with tempfile.TemporaryDirectory() as tmp:
        bench_estimation(Path(tmp), args.quick)
        bench_scoring(Path(tmp), args.quick)
    bench_nltk(args.quick)


if __name__ == "__main__":
    main()
