"""The examples in the text pipeline's docstrings run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["rnnrs.tokenize", "rnnrs.data", "rnnrs.reference.bpe", "rnnrs._jsonfile"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
