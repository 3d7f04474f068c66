"""Train a character-level LSTM language model, then generate from it and save it.

    python examples/language_model.py                       # the Python stdlib's source, 2 min
    python examples/language_model.py input.txt --seconds 600 --out shakespeare

Without a file it reads the first --max-files of the running Python's standard library.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import rnnrs
from rnnrs.text.corpus import read_text, split_corpus, stdlib_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("text", nargs="?", type=Path, help="a UTF-8 text file")
    parser.add_argument("--max-files", type=int, default=200, help="stdlib files without TEXT")
    parser.add_argument("--seconds", type=float, default=120.0, help="training time")
    parser.add_argument("--hidden", type=int, default=256, help="LSTM width")
    parser.add_argument("--tokens", type=int, default=300, help="characters to generate")
    parser.add_argument("--out", type=Path, default=Path("charlm"), help="checkpoint folder")
    args = parser.parse_args()

    text = read_text(args.text) if args.text else stdlib_corpus(max_files=args.max_files)
    tok = rnnrs.CharTokenizer.fit(text)
    train, valid, _ = split_corpus(tok.encode(text), valid=0.05, test=0.0)
    model = rnnrs.RNNLM(tok.vocab_size, cell="lstm", hidden_size=args.hidden, tokenizer=tok)
    trainer = rnnrs.Trainer(model, rnnrs.Adam(lr=5e-3), bptt=32, batch_size=64, progress=False)
    history = trainer.fit(train, valid, max_time=args.seconds)
    print(f"{len(history)} evaluations; validation perplexity {model.perplexity(valid):.3f}")

    sample = model.generate("def ", args.tokens, temperature=0.8, top_k=40, seed=0)
    print("def " + sample)
    model.save(args.out, trainer=trainer)
    print(f"saved {args.out}: rnnrs.load({str(args.out)!r}), or `rnnrs generate {args.out}`")


if __name__ == "__main__":
    main()
