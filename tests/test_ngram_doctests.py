"""The examples in the n-gram modules' docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "rnnrs.ngram",
    "rnnrs.reference.ngram",
    "rnnrs.reference.arpa",
    "rnnrs.reference.ngram_binary",
    "rnnrs.reference.ngram_engine",
    "rnnrs.commands.ngram",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
