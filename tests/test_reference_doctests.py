"""The examples in the docstrings of the model, layer, optimizer and reference modules run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "rnnrs.models",
    "rnnrs.layers",
    "rnnrs.optim",
    "rnnrs.schedules",
    "rnnrs.train",
    "rnnrs.diagnostics",
    "rnnrs._lmconfig",
    "rnnrs._arrays",
    "rnnrs.reference.clip",
    "rnnrs.reference.dropout",
    "rnnrs.reference.embedding",
    "rnnrs.reference.engine",
    "rnnrs.reference.loss",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
