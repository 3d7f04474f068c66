"""Loss-curve PNGs: written when matplotlib is present, a clear ImportError otherwise."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest

from rnnrs.training.plotting import matplotlib_available, save_loss_curve

HISTORY = [
    {"step": 10, "elapsed": 1.0, "train_loss": 2.5, "valid_loss": None},
    {"step": 20, "elapsed": 2.0, "train_loss": 2.0, "valid_loss": 2.1},
    {"step": 30, "elapsed": 3.0, "train_loss": 1.6, "valid_loss": 1.9},
]


def test_png_is_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "loss.png"
    save_loss_curve(HISTORY, path, x="elapsed", title="run")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 2000


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
