"""The short, deterministic run of the fuzz targets (tests/fuzzing.py): every parser and
public constructor, fed mutated files and hostile arguments, raises only the exception
classes it documents. `bash scripts/fuzz.sh 600` runs each target for ten minutes."""

from __future__ import annotations

import numpy as np
import pytest

from fuzzing import run_target, targets

# Enough to reach every check of every target a few times, well under a minute in all.
EXAMPLES = 100


@pytest.mark.parametrize("name", sorted(targets()))
def test_only_documented_exceptions_escape(name: str) -> None:
    with np.errstate(all="ignore"):
        assert run_target(targets()[name], EXAMPLES, derandomize=True) > 0
