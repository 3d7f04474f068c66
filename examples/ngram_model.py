"""Build a modified Kneser-Ney n-gram model, score held-out text as KenLM's query does, and
sample from it.

    python examples/ngram_model.py                          # the Python stdlib's source
    python examples/ngram_model.py train.txt --test test.txt -o 5 --arpa model.arpa

Text files hold one sentence per line, tokens separated by whitespace. Without TEXT the
model is built from the first --max-files of the running Python's standard library (the
last 5% of its lines held out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnrs import NGramLM
from rnnrs.text.corpus import stdlib_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("text", nargs="?", type=Path, help="training text")
    parser.add_argument("--test", type=Path, help="held-out text (default: the last 5%%)")
    parser.add_argument("-o", "--order", type=int, default=5)
    parser.add_argument("--max-files", type=int, default=200, help="stdlib files without TEXT")
    parser.add_argument("--arpa", type=Path, help="write the model as an ARPA file too")
    args = parser.parse_args()

    if args.text:
        train, test = args.text, args.test
    else:
        lines = stdlib_corpus(max_files=args.max_files).split("\n")
        cut = len(lines) * 95 // 100
        train, test = "\n".join(lines[:cut]), "\n".join(lines[cut:])
    lm = NGramLM(args.order).fit(train)  # a Path is a file, a string is text
    print(lm)

    if test is not None:
        stats = lm.stats(test)
        print(
            f"perplexity {stats['perplexity']:.2f} including OOVs, "
            f"{stats['perplexity_excluding_oovs']:.2f} excluding; "
            f"{stats['oovs']} OOVs in {stats['tokens']} tokens"
        )
    sentence = "for i in range ( 10 ) :" if not args.text else "the"
    for word, log10p in lm.score(sentence, per_token=True):
        print(f"  {word}\t{log10p:.4f}")
    print(lm.generate(sentence.split()[0], 30, top_k=40, seed=0, stop_at_end=False))
    if args.arpa:
        lm.to_arpa(args.arpa)
        print(f"wrote {args.arpa}: `rnnrs ngram query {args.arpa} TEXT -v word` scores text")


if __name__ == "__main__":
    main()
