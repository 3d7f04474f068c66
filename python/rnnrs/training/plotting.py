"""Loss curves, classifier explanations and seq2seq attention as PNG files (matplotlib,
optional: rnnrs does not require it).

Example:
    >>> from rnnrs.training.plotting import save_loss_curve
    >>> history = [{"step": 10, "train_loss": 2.1, "valid_loss": 2.0},
    ...            {"step": 20, "train_loss": 1.7, "valid_loss": 1.8}]
    >>> save_loss_curve(history, "loss.png")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

from ..io.atomic import atomic_open


def matplotlib_available() -> bool:
    """True when matplotlib can be imported (needed by :func:`save_loss_curve`).

    Example:
        >>> isinstance(matplotlib_available(), bool)
        True
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _series(history: Sequence[Mapping[str, Any]], x_key: str, y_key: str) -> tuple[list, list]:
    points = [
        (float(r[x_key]), float(r[y_key]))
        for r in history
        if r.get(x_key) is not None and r.get(y_key) is not None
    ]
    return [p[0] for p in points], [p[1] for p in points]


def save_loss_curve(
    history: Sequence[Mapping[str, Any]],
    path: Union[str, os.PathLike],
    *,
    x: str = "step",
    title: Optional[str] = None,
) -> None:
    """Plot ``train_loss`` and ``valid_loss`` (nats per token) of a training history
    against ``x`` ("step" or "elapsed" seconds) and write a PNG to ``path`` atomically.

    Raises ImportError with an install hint when matplotlib is absent, and ValueError when
    the history holds no losses.

    Example:
        >>> save_loss_curve(trainer.history, "run/loss.png", x="elapsed")  # doctest: +SKIP
    """
    if x not in ("step", "elapsed"):
        raise ValueError(f"x: expected 'step' or 'elapsed', got {x!r}")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("a loss-curve plot needs matplotlib (pip install matplotlib)") from None
    curves = {
        label: _series(history, x, key)
        for label, key in (("train", "train_loss"), ("validation", "valid_loss"))
    }
    if not any(xs for xs, _ in curves.values()):
        raise ValueError("history: no train_loss or valid_loss values to plot")
    figure = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, (xs, ys) in curves.items():
        if xs:
            axes.plot(xs, ys, marker="." if len(xs) < 50 else None, label=label)
    axes.set_xlabel("step" if x == "step" else "seconds")
    axes.set_ylabel("loss (nats per token)")
    axes.grid(alpha=0.3)
    axes.legend()
    if title:
        axes.set_title(title)
    figure.tight_layout()
    with atomic_open(path, "wb") as f:
        figure.savefig(f, format="png")


def save_saliency_map(explanation: Any, path: Union[str, os.PathLike]) -> None:
    """Draw a classifier's explanation of one text (``SequenceClassifier.explain``) as a
    PNG: the saliency and gradient x input of each token as two heat rows, and the hidden
    activations over the tokens as a heat map below; written to ``path`` atomically.

    Raises ImportError with an install hint when matplotlib is absent.

    Example:
        >>> save_saliency_map(model.explain("a fine film"), "heat.png")  # doctest: +SKIP
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("a heat map needs matplotlib (pip install matplotlib)") from None
    import numpy as np

    tokens = list(explanation.tokens)
    n = len(tokens)
    figure = Figure(figsize=(max(4.0, 0.6 * n + 2.0), 5.0), dpi=100)
    FigureCanvasAgg(figure)
    # gridspec_kw, not height_ratios=: the keyword is matplotlib 3.6+, rnnrs supports 3.5.
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 3]})
    rows = np.stack([explanation.saliency, explanation.grad_x_input])
    scale = float(np.abs(rows).max()) or 1.0
    top.imshow(rows / scale, aspect="auto", cmap="coolwarm", vmin=-1, vmax=1)
    top.set_yticks([0, 1], ["saliency", "grad x input"])
    prob = explanation.probabilities[explanation.label]
    top.set_title(f"label {explanation.label!r} (p = {prob:.3f})")
    image = bottom.imshow(np.asarray(explanation.activations).T, aspect="auto", cmap="coolwarm")
    bottom.set_ylabel("hidden unit")
    bottom.set_xticks(range(n), tokens, rotation=45, ha="right")
    figure.colorbar(image, ax=bottom, label="activation")
    figure.tight_layout()
    with atomic_open(path, "wb") as f:
        figure.savefig(f, format="png")


def _label(token: str) -> str:
    # a space shows as the open box; other control characters as escapes
    return "\u2423" if token == " " else repr(token)[1:-1]


def save_attention_map(attention: Any, path: Union[str, os.PathLike]) -> None:
    """Draw a seq2seq model's attention (``Seq2Seq.attention``) as a PNG heat map: one row
    per target token, one column per source token; written to ``path`` atomically.

    Raises ImportError with an install hint when matplotlib is absent.

    Example:
        >>> save_attention_map(model.attention("5 May 2021"), "att.png")  # doctest: +SKIP
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("a heat map needs matplotlib (pip install matplotlib)") from None

    rows, cols = len(attention.target_tokens), len(attention.source_tokens)
    figure = Figure(figsize=(max(4.0, 0.4 * cols + 2.0), max(3.0, 0.4 * rows + 1.5)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    image = axes.imshow(attention.weights, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(cols), [_label(t) for t in attention.source_tokens], rotation=90)
    axes.set_yticks(range(rows), [_label(t) for t in attention.target_tokens])
    axes.set_xlabel("source")
    axes.set_ylabel("target")
    figure.colorbar(image, ax=axes, label="attention")
    figure.tight_layout()
    with atomic_open(path, "wb") as f:
        figure.savefig(f, format="png")
