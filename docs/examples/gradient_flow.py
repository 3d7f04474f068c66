"""How far back does the loss reach? Gradient flow through an Elman RNN and an LSTM.

Trains each cell briefly on Tiny Shakespeare (characters) and prints, before and after
training, ||dLoss_T / dh_k|| for k = T, T-10, ..., 1 (T = 100) as one JSON object per line;
with matplotlib installed it also saves gradient_flow.png. About a minute on the NumPy
backend. Usage: python docs/examples/gradient_flow.py [path/to/tinyshakespeare.txt]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import rnnrs
from rnnrs.models.diagnostics import gradient_flow

DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "data" / "tinyshakespeare.txt"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    text = path.read_text(encoding="utf-8")
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], dtype=np.uint32)
    cut = int(len(ids) * 0.9)
    train, valid = ids[:cut], ids[cut:]
    probe = valid[: 8 * 101].reshape(8, 101)  # 8 streams: read 100 characters, predict 1
    curves = {}
    for cell in ("rnn_tanh", "lstm"):
        model = rnnrs.RNNLM(len(chars), cell=cell, hidden_size=128, embed_size=32, seed=1)
        before = gradient_flow(model, probe)
        trainer = rnnrs.Trainer(model, rnnrs.Adam(lr=3e-3), bptt=100, batch_size=32)
        history = trainer.fit(train, valid[:20_000], max_steps=400)
        after = gradient_flow(model, probe)
        curves[cell] = (before, after)
        for stage, norms in (("init", before), ("trained", after)):
            row = {f"k={k}": float(f"{norms[k - 1]:.2e}") for k in range(100, 0, -10)}
            row.update(cell=cell, stage=stage, valid_loss=round(history[-1]["valid_loss"], 3))
            print(json.dumps(row))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    steps_back = np.arange(99, -1, -1)  # T - k
    for cell, (before, after) in curves.items():
        ax.semilogy(steps_back, before, "--", label=f"{cell}, initialised")
        ax.semilogy(steps_back, after, label=f"{cell}, after 400 steps")
    ax.set_xlabel("steps back from the loss (T - k)")
    ax.set_ylabel("||dLoss_T / dh_k||")
    ax.legend()
    fig.tight_layout()
    fig.savefig("gradient_flow.png", dpi=120)
    print("saved gradient_flow.png")


if __name__ == "__main__":
    main()
