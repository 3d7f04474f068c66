"""Every docstring example in the package runs and shows what it says; so does the README's."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import shlex
from pathlib import Path
from typing import Any

import pytest

import rnnrs
from rnnrs.cli import main

# __main__ runs the command line on import.
MODULES = sorted(
    m.name for m in pkgutil.walk_packages(rnnrs.__path__, "rnnrs.") if m.name != "rnnrs.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_discovery_finds_the_package() -> None:
    # Guards the parametrisation above against silently collecting nothing.
    expected = {"rnnrs.models.rnnlm", "rnnrs.text.tokenizers", "rnnrs.ngram.lm", "rnnrs.generation"}
    assert expected <= set(MODULES)


def test_readme_tokenizers_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Tokenizers and data", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "bpe.json").is_file()


def test_readme_classification_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Sequence classification", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["result"].accuracy > 0.9
    assert isinstance(rnnrs.load(tmp_path / "sentiment"), rnnrs.SequenceClassifier)
    for command in section.split("```bash\n", 1)[1].split("```", 1)[0].splitlines():
        argv = shlex.split(command.split("#", 1)[0])
        if argv[:1] == ["echo"]:
            continue
        assert main(argv[1:]) == 0, command
