"""A small seeded sentiment-like task: each sentence holds one positive or negative cue word
among noise words; its label says which. Learnable only by finding the cue, wherever it is."""

from __future__ import annotations

import numpy as np

POSITIVE = ("good", "great", "fine", "lovely")
NEGATIVE = ("bad", "awful", "poor", "dull")
NOISE = tuple(f"w{i}" for i in range(40))


def sentiment_data(n: int, seed: int) -> tuple[list[str], list[str]]:
    """``n`` (text, label) pairs, labels "pos"/"neg" balanced on average, 4 to 12 words."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        positive = bool(rng.integers(2))
        words = [str(w) for w in rng.choice(NOISE, size=int(rng.integers(3, 12)))]
        cue = str(rng.choice(POSITIVE if positive else NEGATIVE))
        words.insert(int(rng.integers(len(words) + 1)), cue)
        texts.append(" ".join(words))
        labels.append("pos" if positive else "neg")
    return texts, labels
