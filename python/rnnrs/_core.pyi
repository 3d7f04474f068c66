"""Type stubs for the compiled extension rnnrs._core (checked by mypy.stubtest in CI)."""

__version__: str
__all__ = ["BpeEncoder", "BpeTrainer", "__version__", "bpe_pretokenize"]

# --- text: byte-level BPE (src/python/text.rs) ---

from typing import final

import numpy as np
import numpy.typing as npt

@final
class BpeTrainer:
    """Counts pre-tokens of the texts fed to it, then learns BPE merges."""

    def __new__(cls) -> BpeTrainer: ...
    def feed(self, texts: list[str]) -> None: ...
    @property
    def num_words(self) -> int: ...
    def train(self, vocab_size: int, /, *, min_frequency: int = 2) -> list[tuple[int, int]]: ...

@final
class BpeEncoder:
    """Encodes text with a fixed list of merges."""

    def __new__(cls, merges: list[tuple[int, int]]) -> BpeEncoder: ...
    @property
    def vocab_size(self) -> int: ...
    def encode(self, text: str) -> npt.NDArray[np.uint32]: ...
    def encode_batch(self, texts: list[str]) -> list[npt.NDArray[np.uint32]]: ...

def bpe_pretokenize(text: str) -> list[str]: ...
