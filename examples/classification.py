"""Train a bidirectional LSTM text classifier, evaluate it, explain a prediction, save it.

    python examples/classification.py                       # a synthetic sentiment task
    python examples/classification.py --train train.tsv --test test.tsv --epochs 5

Data files are ``label<TAB>text`` lines (or JSON lines, fastText lines: see
rnnrs.text.tasks.read_classification). Without them the example makes a small task: each
sentence hides one positive or negative cue word among noise words.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import rnnrs
from rnnrs.text.tasks import read_classification


def synthetic(n: int, seed: int) -> tuple[list[str], list[str]]:
    """``n`` sentences of 3-11 noise words around one cue word, labelled by the cue."""
    rng = np.random.default_rng(seed)
    cues = {"pos": ["good", "great", "lovely"], "neg": ["bad", "awful", "dull"]}
    texts, labels = [], []
    for _ in range(n):
        label = str(rng.choice(["pos", "neg"]))
        words = [f"w{i}" for i in rng.integers(0, 30, size=rng.integers(3, 12))]
        words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(cues[label])))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=Path, help="training examples")
    parser.add_argument("--test", type=Path, help="test examples")
    parser.add_argument("--examples", type=int, default=2000, help="synthetic examples")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("classifier"), help="checkpoint folder")
    args = parser.parse_args()

    if args.train:
        train = read_classification(args.train)
        train_texts, train_labels = list(train.texts), list(train.labels)
        test = read_classification(args.test) if args.test else train
        test_texts, test_labels = list(test.texts), list(test.labels)
    else:
        texts, labels = synthetic(args.examples, seed=0)
        cut = len(texts) * 4 // 5
        train_texts, train_labels = texts[:cut], labels[:cut]
        test_texts, test_labels = texts[cut:], labels[cut:]

    tok = rnnrs.WordTokenizer.fit(train_texts)
    # Mean pooling over the bidirectional LSTM's outputs: a cue anywhere in the text counts.
    clf = rnnrs.SequenceClassifier(
        tok,
        labels=sorted(set(train_labels)),
        embed_size=32,
        hidden_size=args.hidden,
        pooling="mean",
    )
    clf.fit(train_texts, train_labels, epochs=args.epochs, batch_size=32, progress=False)
    result = clf.evaluate(test_texts, test_labels)
    print(result)
    print(clf.explain(test_texts[0]).table())
    clf.save(args.out)
    print(f"saved {args.out}: `rnnrs classify predict {args.out} FILE` labels text")


if __name__ == "__main__":
    main()
