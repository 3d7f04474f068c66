"""The examples in the text pipeline's docstrings run as tests."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

MODULES = ["rnnrs.tokenize", "rnnrs.data", "rnnrs.reference.bpe", "rnnrs._jsonfile"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_readme_tokenizers_example(tmp_path, monkeypatch) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Tokenizers and data", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "bpe.json").is_file()
