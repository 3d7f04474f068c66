"""Loss-curve and saliency heat-map PNGs: written when matplotlib is present, a clear
ImportError otherwise."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest

import rnnrs
from png_image import png_size
from rnnrs.training.plotting import matplotlib_available, save_loss_curve, save_saliency_map

HISTORY = [
    {"step": 10, "elapsed": 1.0, "train_loss": 2.5, "valid_loss": None},
    {"step": 20, "elapsed": 2.0, "train_loss": 2.0, "valid_loss": 2.1},
    {"step": 30, "elapsed": 3.0, "train_loss": 1.6, "valid_loss": 1.9},
]


def test_png_is_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "loss.png"
    save_loss_curve(HISTORY, path, x="elapsed", title="run")
    assert png_size(path) == (640, 400)  # figsize 6.4 x 4.0 inches at 100 dpi
    assert path.stat().st_size > 2000


def test_saliency_map_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    tok = rnnrs.WordTokenizer.fit(["a fine film", "a dull film", "fine acting"])
    clf = rnnrs.SequenceClassifier(tok, labels=["neg", "pos"], embed_size=6, hidden_size=5)
    explanation = clf.explain("a fine dull film fine acting")
    path = tmp_path / "heat.png"
    save_saliency_map(explanation, path)
    # 6 tokens: 0.6 * 6 + 2 = 5.6 inches wide, 5 high, at 100 dpi.
    assert png_size(path) == (560, 500)
    assert 5_000 < path.stat().st_size < 500_000


def test_nothing_to_plot_and_bad_axis(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="no train_loss"):
        save_loss_curve([{"step": 1, "train_loss": None}], tmp_path / "x.png")
    with pytest.raises(ValueError, match="x: expected"):
        save_loss_curve(HISTORY, tmp_path / "x.png", x="epoch")
    assert not (tmp_path / "x.png").exists()


def test_without_matplotlib_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert matplotlib_available() is False
    with pytest.raises(ImportError, match="pip install matplotlib"):
        save_loss_curve(HISTORY, tmp_path / "loss.png")
    assert not (tmp_path / "loss.png").exists()
