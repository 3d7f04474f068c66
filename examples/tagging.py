"""Train a BiLSTM-CRF named-entity tagger with a character encoder, evaluate it, save it.

    python examples/tagging.py                                  # a synthetic entity task
    python examples/tagging.py --train train.conll --test dev.conll --epochs 5
    python examples/tagging.py --train en_ewt-ud-train.conllu --test en_ewt-ud-dev.conllu

Data files are CoNLL-U (the UPOS column) or CoNLL columns (``token ... tag``, a blank line
between sentences; see rnnrs.text.tasks.read_tagging). Without them the example makes a
small task: sentences of filler words around one- or two-word names of people and places,
tagged in BIO.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

import rnnrs
from rnnrs.text.tasks import read_tagging

NAMES = {"PER": ["Pankaj", "Maria", "Li", "Ana"], "LOC": ["Munich", "Paris", "Lagos", "Lima"]}
FILLERS = ["we", "met", "in", "and", "saw", "then", "lives", "near"]


def synthetic(n: int, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    """``n`` sentences of filler words and names, with their BIO tags."""
    rng = np.random.default_rng(seed)
    sentences, tags = [], []
    for _ in range(n):
        words: list[str] = []
        labels: list[str] = []
        for _ in range(int(rng.integers(2, 6))):
            if rng.random() < 0.4:
                kind = str(rng.choice(["PER", "LOC"]))
                width = int(rng.integers(1, 3))
                words += [str(rng.choice(NAMES[kind])) for _ in range(width)]
                labels += [f"B-{kind}"] + [f"I-{kind}"] * (width - 1)
            words.append(str(rng.choice(FILLERS)))
            labels.append("O")
        sentences.append(words)
        tags.append(labels)
    return sentences, tags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=Path, help="tagged sentences (CoNLL-U or CoNLL)")
    parser.add_argument("--test", type=Path, help="tagged test sentences")
    parser.add_argument("--sentences", type=int, default=1000, help="synthetic sentences")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("tagger"), help="checkpoint folder")
    args = parser.parse_args()

    if args.train:
        train = read_tagging(args.train)
        test = read_tagging(args.test) if args.test else train
        train_s, train_t = train.tokens, train.tags or []
        test_s, test_t = test.tokens, test.tags or []
    else:
        sentences, tags = synthetic(args.sentences, seed=0)
        cut = len(sentences) * 4 // 5
        train_s, train_t, test_s, test_t = sentences[:cut], tags[:cut], sentences[cut:], tags[cut:]

    counts = Counter(w for s in train_s for w in s)
    tok = rnnrs.WordTokenizer(sorted(counts, key=lambda w: (-counts[w], w)))
    tag_set = sorted({t for row in [*train_t, *test_t] for t in row})
    # Character BiLSTM word vectors, a BiLSTM over the sentence, a CRF over the tags.
    tagger = rnnrs.SequenceTagger(
        tok,
        tag_set,
        embed_size=32,
        hidden_size=args.hidden,
        char_encoder="lstm",
        char_hidden_size=16,
        output="crf",
        dropout=0.25,
        unk_replace=0.5,
    )
    tagger.fit(train_s, train_t, epochs=args.epochs, batch_size=16, optimizer=rnnrs.Adam(lr=5e-3))
    result = tagger.evaluate(test_s, test_t)
    print(result)
    print(tagger.predict([test_s[0]])[0])
    tagger.save(args.out)
    print(f"saved {args.out}: `rnnrs tag predict {args.out} FILE` tags a CoNLL file")


if __name__ == "__main__":
    main()
