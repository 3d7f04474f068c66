"""The docstring examples of the checkpoint, interchange, plotting and CLI helper modules run."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

MODULES = [
    "rnnrs.io",
    "rnnrs.checkpoint",
    "rnnrs.torch_interop",
    "rnnrs.plotting",
    "rnnrs.commands._common",
    "rnnrs.commands.eval",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
