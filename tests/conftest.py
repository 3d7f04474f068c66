"""Shared pytest setup: the --runslow switch and paths to the shared corpora."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
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


@pytest.fixture(autouse=True, scope="session")
def sigint_raises_keyboard_interrupt() -> Iterator[None]:
    """A suite started in the background (`pytest &` without job control) inherits SIGINT
    ignored, and so would the processes it starts; the Ctrl-C tests need Python's usual
    handler (an installed handler becomes the default one in a started program)."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def shared_data() -> Path:
    """The shared corpora folder; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared corpora not found at {SHARED_DATA}")
    return SHARED_DATA
