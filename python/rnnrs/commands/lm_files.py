"""Language models named on the command line: a checkpoint directory or an n-gram file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ..backends.ngram_binary import MAGIC


def load_language_model(path: str, backend: Optional[str] = None) -> Any:
    """The model at ``path``: a checkpoint directory (``rnnrs.load``), or an n-gram model in
    an ARPA file or rnnrs's binary form (told apart by the file's first bytes)."""
    from ..models.registry import load
    from ..ngram.lm import NGramLM

    p = Path(path)
    if p.is_dir():
        return load(p, backend=backend)
    if not p.is_file():
        raise FileNotFoundError(f"model: no such checkpoint directory or n-gram file: {path}")
    with open(p, "rb") as f:
        binary = f.read(len(MAGIC)) == MAGIC
    if binary:
        return NGramLM.load(p, backend=backend)
    return NGramLM.from_arpa(p, backend=backend)
