"""n-gram estimation beyond memory (issue #17), one JSON object per line.

A corpus is built from the Python standard library's *.py files (rnnrs.text.corpus.stdlib_files,
lines = sentences), repeated until it holds ``--tokens`` tokens; each repetition after the
first varies about one token in eight (a suffix naming the repetition), so the vocabulary
and the n-grams keep growing as in a larger real corpus. Then, each in a fresh process
(wall time and peak RSS measured inside it: ``VmHWM``, else ``resource.getrusage``),
order-5 modified Kneser-Ney is counted, estimated and written as ARPA (with
``discount_fallback=True``: the repetitions make the high orders' counts-of-counts
artificial):

- in memory (``NGramLM(5).fit(path, keep_counts=False).to_arpa(...)``);
- within ``memory=`` a quarter of the in-memory peak (``--share``):
  ``rnnrs.ngram.build_arpa(..., memory=...)``, lmplz's pipeline (runs and partitions in a
  temp folder, no model in memory);
- lmplz with the same ``-S`` when it is on PATH (skipped otherwise).

The ARPA files must be identical (md5 printed). CI does not run this.

Usage: python benches/bench_ngram_scale.py [--tokens 10000000] [--share 0.25] [--order 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def emit(**record: object) -> None:
    print(json.dumps(record), flush=True)


def peak_rss() -> int:
    """This process's peak RSS in bytes: getrusage's, unless Linux tells this image's own
    (``VmHWM``): getrusage keeps the peak of the parent image a child was forked from, so a
    child of a large parent would report the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def write_corpus(path: Path, tokens: int) -> tuple[int, int]:
    """Write the varied, repeated stdlib corpus; returns (tokens, repetitions)."""
    from rnnrs.text.corpus import stdlib_files

    lines = []
    for f in stdlib_files():
        lines.extend(f.read_text(encoding="utf-8", errors="replace").split("\n"))
    written, rep = 0, 0
    with open(path, "w", encoding="utf-8") as out:
        while written < tokens:
            for i, line in enumerate(lines):
                words = line.split()
                if not words:
                    continue
                if rep:
                    # One token in eight (chosen by position) gets this repetition's suffix.
                    words = [
                        f"{w}~{rep}" if (i * 31 + j * 17 + rep) % 8 == 0 else w
                        for j, w in enumerate(words)
                    ]
                out.write(" ".join(words))
                out.write("\n")
                written += len(words)
                if written >= tokens:
                    break
            rep += 1
    return written, rep


def child(corpus: str, order: int, out: str, memory: str, temp: str) -> None:
    """Run one estimation in this process and print its figures."""
    from rnnrs import NGramLM
    from rnnrs.ngram.lm import build_arpa

    start = time.perf_counter()
    # Repetitions make the counts-of-counts of the high orders artificial (counts pile up
    # at multiples of the repetitions): KenLM's fallback discounts where they are invalid.
    if memory:
        ngrams = build_arpa(
            [corpus], out, order, memory=int(memory), temp_dir=temp, discount_fallback=True
        )
    else:
        lm = NGramLM(order, discount_fallback=True).fit(corpus, keep_counts=False)
        lm.to_arpa(out)
        ngrams = lm.num_ngrams
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_bytes": peak_rss(), "ngrams": ngrams}))


def baseline_rss() -> int:
    """Peak RSS of a Python that has imported rnnrs and done nothing (bytes)."""
    code = "import rnnrs, rnnrs.ngram.lm; from bench_ngram_scale import peak_rss; print(peak_rss())"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return int(done.stdout.strip())


def run_child(corpus: Path, order: int, out: Path, memory: str, temp: Path) -> dict:
    args = [sys.executable, __file__, "--child", str(corpus), str(order), str(out), memory]
    done = subprocess.run([*args, str(temp)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=10_000_000, help="corpus size")
    parser.add_argument("--order", type=int, default=5)
    parser.add_argument("--share", type=float, default=0.25, help="memory= / in-memory peak")
    parser.add_argument("--keep", type=Path, help="keep the files in this folder")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="rnnrs-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    runs = folder / "runs"
    runs.mkdir(exist_ok=True)
    corpus = folder / "corpus.txt"
    start = time.perf_counter()
    tokens, reps = write_corpus(corpus, args.tokens)
    emit(
        what="corpus",
        tokens=tokens,
        repetitions=reps,
        mb=round(corpus.stat().st_size / 2**20, 1),
        seconds=round(time.perf_counter() - start, 1),
        load=os.getloadavg()[0],
    )
    base = baseline_rss()
    emit(what="python with rnnrs imported", peak_bytes=base)
    free = run_child(corpus, args.order, folder / "memory.arpa", "", runs)
    emit(what="in memory", **free, md5=md5(folder / "memory.arpa"))
    budget = int(free["peak_bytes"] * args.share)
    bounded = run_child(corpus, args.order, folder / "bounded.arpa", str(budget), runs)
    same = md5(folder / "bounded.arpa") == md5(folder / "memory.arpa")
    emit(
        what=f"memory={budget} ({args.share:g} of the in-memory peak)",
        **bounded,
        identical_arpa=same,
        runs_left=len(list(runs.iterdir())),
        rss_over_budget=round(bounded["peak_bytes"] / budget, 2),
        rss_above_python_over_budget=round((bounded["peak_bytes"] - base) / budget, 2),
    )
    lmplz = shutil.which("lmplz")
    if lmplz is None:
        emit(what="lmplz", skipped="not on PATH")
    else:
        # In a fresh Python whose only child is lmplz, so that its peak RSS is lmplz's.
        command = [lmplz, "-o", str(args.order), "-S", f"{budget // 1024}K", "-T", str(runs)]
        command.append("--discount_fallback")
        code = (
            "import resource, subprocess, sys, time; t = time.perf_counter(); "
            f"subprocess.run({command!r}, stdin=open({str(corpus)!r}, 'rb'), "
            f"stdout=open({str(folder / 'lmplz.arpa')!r}, 'wb'), stderr=subprocess.DEVNULL, "
            "check=True); print(time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        seconds, peak = done.stdout.split()
        emit(what="lmplz", seconds=float(seconds), peak_bytes=int(peak), memory=budget)
    emit(what="load after", load=os.getloadavg()[0])
    if args.keep is None:
        shutil.rmtree(folder)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        corpus, order, out, memory, temp = sys.argv[2:7]
        child(corpus, int(order), out, memory, temp)
    else:
        main()
