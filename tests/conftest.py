"""Shared pytest setup: the --runslow switch and paths to the shared corpora."""

from __future__ import annotations

import os
from pathlib import Path

# The tests' matrices are small: one BLAS thread is faster, and on a busy machine a
# multi-threaded BLAS can spin-wait a hundred times slower. Set before NumPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest

# Corpora live beside the project (../shared/data); tests that need them skip when absent.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture
def shared_data() -> Path:
    """The shared corpora folder; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared corpora not found at {SHARED_DATA}")
    return SHARED_DATA
