"""Type stubs for the compiled extension rnnrs._core (checked by mypy.stubtest in CI)."""

__version__: str
__all__ = [
    "BpeEncoder",
    "BpeTrainer",
    "ClassifierEngine",
    "NGramCounts",
    "NGramModel",
    "RecurrentStack",
    "RustEngine",
    "Seq2SeqEngine",
    "TaggerEngine",
    "__version__",
    "bpe_pretokenize",
    "get_num_threads",
    "set_num_threads",
]

# --- text: byte-level BPE (src/python/text.rs) ---

import os
from collections.abc import Sequence
from typing import Any, Optional, Union, final

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

# ---- n-gram engine (src/python/ngram.rs) ----------------------------------------------

@final
class NGramCounts:
    def __new__(cls, order: int) -> NGramCounts: ...
    @property
    def order(self) -> int: ...
    @property
    def tokens(self) -> int: ...
    @property
    def sentences(self) -> int: ...
    def add_lines(self, lines: list[str]) -> None: ...
    def add_file(self, path: str | os.PathLike[str]) -> None: ...
    def add_ids(self, ids: npt.NDArray[np.uint32]) -> None: ...
    def merge(self, other: NGramCounts) -> None: ...
    def count(self, words: list[str]) -> int: ...
    def num_ngrams(self) -> list[int]: ...
    def counts_of_counts(self, n: int) -> list[int]: ...
    def vocab(self) -> list[str]: ...
    def memory_bytes(self) -> int: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> NGramCounts: ...
    def save(self, path: str | os.PathLike[str]) -> None: ...
    @staticmethod
    def load(path: str | os.PathLike[str]) -> NGramCounts: ...
    @staticmethod
    def count_files_bounded(
        order: int,
        paths: list[str | os.PathLike[str]],
        memory: int,
        temp_dir: str | os.PathLike[str],
    ) -> NGramCounts: ...

@final
class NGramModel:
    @staticmethod
    def build_arpa_bounded(
        order: int,
        paths: list[str | os.PathLike[str]],
        output: str | os.PathLike[str],
        method: str,
        memory: int,
        temp_dir: str | os.PathLike[str],
        *,
        k: float = 1.0,
        discount: float | None = None,
        alpha: float = 0.4,
        discount_fallback: bool = False,
        min_counts: list[int] = ...,
    ) -> list[int]: ...
    @staticmethod
    def estimate(
        counts: NGramCounts,
        method: str,
        *,
        k: float = 1.0,
        discount: float | None = None,
        alpha: float = 0.4,
        discount_fallback: bool = False,
        min_counts: list[int] = ...,
        consume: bool = False,
    ) -> NGramModel: ...
    @staticmethod
    def from_arpa(path: str | os.PathLike[str]) -> NGramModel: ...
    @staticmethod
    def load(path: str | os.PathLike[str], *, verify: bool = True) -> NGramModel: ...
    def to_arpa(self, path: str | os.PathLike[str]) -> None: ...
    def save(self, path: str | os.PathLike[str]) -> None: ...
    @property
    def order(self) -> int: ...
    @property
    def method(self) -> str: ...
    @property
    def stupid_alpha(self) -> float | None: ...
    def vocab(self) -> list[str]: ...
    def num_ngrams(self) -> list[int]: ...
    def memory_bytes(self) -> int: ...
    def word_ids(self, words: list[str]) -> npt.NDArray[np.uint32]: ...
    def encode_lines(self, lines: list[str]) -> npt.NDArray[np.uint32]: ...
    def score_ids(self, ids: npt.NDArray[np.uint32]) -> npt.NDArray[np.float64]: ...
    def total_ids(self, ids: npt.NDArray[np.uint32]) -> float: ...
    def ngram_lengths(self, ids: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint8]: ...
    def logprob(self, context: list[int], word: int, bos: bool) -> float: ...
    def distribution(self, context: list[int], bos: bool) -> npt.NDArray[np.float64]: ...

# --- Rust neural core (src/python/nn.rs): the engine contract of docs/backends.md -------

_State = tuple[npt.NDArray[np.float32], ...]

@final
class RustEngine:
    """An RNN/LSTM/GRU language model on the Rust core (the engine of docs/backends.md)."""

    def __new__(
        cls,
        *,
        vocab_size: int,
        cell: str,
        embed_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        tie_weights: bool,
        seed: int,
        softmax: str = "full",
        classes: Optional[list[int]] = None,
    ) -> RustEngine: ...
    def param_names(self) -> list[str]: ...
    def get_parameters(self) -> dict[str, npt.NDArray[np.float32]]: ...
    def set_parameters(self, params: dict[str, Any]) -> None: ...
    def loss_and_grads(
        self,
        x: npt.NDArray[np.uint32],
        y: npt.NDArray[np.uint32],
        state: Optional[_State],
        train: bool,
    ) -> tuple[float, dict[str, npt.NDArray[np.float32]], _State]: ...
    def loss(
        self, x: npt.NDArray[np.uint32], y: npt.NDArray[np.uint32], state: Optional[_State]
    ) -> tuple[float, _State]: ...
    def logits(
        self, x: npt.NDArray[np.uint32], state: Optional[_State]
    ) -> tuple[npt.NDArray[np.float32], _State]: ...
    def token_nll(
        self,
        x: npt.NDArray[np.uint32],
        y: npt.NDArray[np.uint32],
        state: Optional[_State],
        lengths: Optional[npt.NDArray[np.int64]] = None,
    ) -> tuple[npt.NDArray[np.float64], _State]: ...
    def step_logits(
        self, tokens: npt.NDArray[np.uint32], state: Optional[_State]
    ) -> tuple[npt.NDArray[np.float32], _State]: ...
    def evaluate(self, stream: npt.NDArray[np.uint32], bptt: int) -> tuple[float, int]: ...
    def configure_optimizer(
        self,
        *,
        name: str,
        momentum: Optional[float] = None,
        nesterov: Optional[bool] = None,
        betas: Optional[tuple[float, float]] = None,
        eps: Optional[float] = None,
        weight_decay: float = 0.0,
        frozen: Sequence[str] = ...,
    ) -> None: ...
    def train_steps(
        self,
        stream: npt.NDArray[np.uint32],
        starts: Any,
        bptt: int,
        lrs: Any,
        reset: Any,
        state: Optional[_State],
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], _State]: ...
    def optimizer_state(self) -> dict[str, npt.NDArray[Any]]: ...
    def load_optimizer_state(self, state: dict[str, Any]) -> None: ...
    def rng_state(self) -> npt.NDArray[np.uint64]: ...
    def set_rng_state(self, a: npt.NDArray[np.uint64]) -> None: ...
    def generate(
        self,
        prompt_ids: npt.NDArray[np.uint32],
        max_new_tokens: int,
        /,
        *,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        greedy: bool = False,
        seed: int = 0,
        end_ids: Optional[Sequence[int]] = None,
    ) -> npt.NDArray[np.uint32]: ...

# --- Rust classifier engine (src/python/classify.rs) ------------------------------------------

_Batch = tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64], npt.NDArray[np.int64]]

@final
class ClassifierEngine:
    """A sequence classifier on the Rust core: embedding -> (bi)RNN/LSTM/GRU over padded
    batches -> pooling -> dropout -> linear (the classifier engine contract)."""

    def __new__(
        cls,
        *,
        vocab_size: int,
        num_classes: int,
        cell: str,
        embed_size: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        pooling: str,
        attention_size: int,
        dropout: float,
        seed: int,
        embedding_dropout: float = 0.0,
    ) -> ClassifierEngine: ...
    def param_names(self) -> list[str]: ...
    def get_parameters(self) -> dict[str, npt.NDArray[np.float32]]: ...
    def set_parameters(self, params: dict[str, Any]) -> None: ...
    def logits(
        self, ids: npt.NDArray[np.uint32], lengths: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]: ...
    def loss_and_grads(
        self,
        ids: npt.NDArray[np.uint32],
        lengths: npt.NDArray[np.int64],
        labels: npt.NDArray[np.int64],
        train: bool,
    ) -> tuple[float, dict[str, npt.NDArray[np.float32]]]: ...
    def evaluate(self, batches: list[_Batch]) -> tuple[float, int, npt.NDArray[np.float32]]: ...
    def configure_optimizer(
        self,
        *,
        name: str,
        momentum: Optional[float] = None,
        nesterov: Optional[bool] = None,
        betas: Optional[tuple[float, float]] = None,
        eps: Optional[float] = None,
        weight_decay: float = 0.0,
        frozen: Sequence[str] = ...,
    ) -> None: ...
    def train_steps(
        self,
        batches: list[_Batch],
        lrs: Any,
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
    def saliency(
        self,
        ids: npt.NDArray[np.uint32],
        lengths: npt.NDArray[np.int64],
        target: Optional[npt.NDArray[np.int64]] = None,
    ) -> dict[str, npt.NDArray[Any]]: ...
    def optimizer_state(self) -> dict[str, npt.NDArray[Any]]: ...
    def load_optimizer_state(self, state: dict[str, Any]) -> None: ...
    def rng_state(self) -> npt.NDArray[np.uint64]: ...
    def set_rng_state(self, a: npt.NDArray[np.uint64]) -> None: ...

# --- Rust encoder layers (src/python/layers.rs): float32 rnnrs.RNN / LSTM / GRU ------------

@final
class RecurrentStack:
    """Stacked, optionally bidirectional RNN/LSTM/GRU layers in float32, batch-first."""

    def __new__(
        cls,
        cell: str,
        input_size: int,
        hidden_size: int,
        /,
        *,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        seed: int = 0,
    ) -> RecurrentStack: ...
    def param_names(self) -> list[str]: ...
    def get_parameters(self) -> dict[str, npt.NDArray[np.float32]]: ...
    def set_parameters(self, params: dict[str, Any]) -> None: ...
    def forward(
        self, x: npt.NDArray[np.float32], state: Optional[_State], train: bool
    ) -> tuple[npt.NDArray[np.float32], _State]: ...
    def backward(
        self, d_outputs: npt.NDArray[np.float32], d_final_state: Optional[_State]
    ) -> tuple[npt.NDArray[np.float32], _State, dict[str, npt.NDArray[np.float32]]]: ...

def set_num_threads(n: Union[int, np.integer[Any]]) -> None: ...
def get_num_threads() -> int: ...

_Pairs = tuple[
    npt.NDArray[np.uint32], npt.NDArray[np.int64], npt.NDArray[np.uint32], npt.NDArray[np.int64]
]

@final
class Seq2SeqEngine:
    """An encoder-decoder with attention on the Rust core (the methods of
    ``backends/numpy_seq2seq.py::NumpySeq2SeqEngine``)."""

    def __new__(
        cls,
        *,
        source_vocab: int,
        target_vocab: int,
        cell: str,
        embed_size: int,
        hidden_size: int,
        encoder_layers: int,
        decoder_layers: int,
        bidirectional: bool,
        attention: Optional[str],
        attention_size: int,
        input_feeding: bool,
        tie_target_embeddings: bool,
        label_smoothing: float,
        teacher_forcing: float,
        dropout: float,
        bos_id: int,
        eos_id: int,
        seed: int,
    ) -> Seq2SeqEngine: ...
    def param_names(self) -> list[str]: ...
    def get_parameters(self) -> dict[str, npt.NDArray[np.float32]]: ...
    def set_parameters(self, params: dict[str, Any]) -> None: ...
    def forward(self, batch: _Pairs) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...
    def loss_and_grads(
        self, batch: _Pairs, train: bool
    ) -> tuple[float, dict[str, npt.NDArray[np.float32]]]: ...
    def evaluate(self, batches: list[_Pairs]) -> tuple[float, int]: ...
    def greedy(
        self, src: npt.NDArray[np.uint32], src_len: Any, max_lengths: Any
    ) -> list[list[int]]: ...
    def beam(
        self,
        src: npt.NDArray[np.uint32],
        src_len: Any,
        max_lengths: Any,
        width: int,
        length_penalty: float,
    ) -> list[list[int]]: ...
    def sample(
        self,
        src: npt.NDArray[np.uint32],
        src_len: Any,
        max_lengths: Any,
        temperature: float,
        top_k: Optional[int],
        top_p: Optional[float],
        seed: int,
    ) -> list[list[int]]: ...
    def configure_optimizer(
        self,
        *,
        name: str,
        momentum: Optional[float] = None,
        nesterov: Optional[bool] = None,
        betas: Optional[tuple[float, float]] = None,
        eps: Optional[float] = None,
        weight_decay: float = 0.0,
        frozen: Sequence[str] = ...,
    ) -> None: ...
    def train_steps(
        self,
        batches: list[_Pairs],
        lrs: Any,
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int]: ...
    def optimizer_state(self) -> dict[str, npt.NDArray[Any]]: ...
    def load_optimizer_state(self, state: dict[str, Any]) -> None: ...
    def rng_state(self) -> npt.NDArray[np.uint64]: ...
    def set_rng_state(self, a: npt.NDArray[np.uint64]) -> None: ...

# --- sequence tagging (src/python/tag.rs) -----------------------------------------------------

_TagBatch = tuple[Any, Any, Any, Any, Any]

@final
class TaggerEngine:
    """A sequence tagger on the Rust core: word embedding [+ character encoder] ->
    (bi)RNN/LSTM/GRU over padded batches -> emission scores -> softmax or CRF."""

    def __new__(
        cls,
        *,
        vocab_size: int,
        num_tags: int,
        cell: str,
        embed_size: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        char_encoder: Optional[str],
        char_vocab_size: int,
        char_embed_size: int,
        char_hidden_size: int,
        output: str,
        dropout: float,
        seed: int,
    ) -> TaggerEngine: ...
    def param_names(self) -> list[str]: ...
    def get_parameters(self) -> dict[str, npt.NDArray[np.float32]]: ...
    def set_parameters(self, params: dict[str, Any]) -> None: ...
    def emissions(
        self,
        ids: npt.NDArray[np.uint32],
        lengths: npt.NDArray[np.int64],
        chars: Optional[npt.NDArray[np.uint32]] = None,
        char_lengths: Optional[npt.NDArray[np.int64]] = None,
    ) -> npt.NDArray[np.float32]: ...
    def loss_and_grads(
        self,
        ids: npt.NDArray[np.uint32],
        lengths: npt.NDArray[np.int64],
        tags: npt.NDArray[np.int64],
        chars: Optional[npt.NDArray[np.uint32]] = None,
        char_lengths: Optional[npt.NDArray[np.int64]] = None,
        *,
        train: bool,
    ) -> tuple[float, dict[str, npt.NDArray[np.float32]]]: ...
    def evaluate(self, batches: list[_TagBatch]) -> tuple[float, int]: ...
    def decode(
        self,
        ids: npt.NDArray[np.uint32],
        lengths: npt.NDArray[np.int64],
        chars: Optional[npt.NDArray[np.uint32]] = None,
        char_lengths: Optional[npt.NDArray[np.int64]] = None,
        *,
        constraints: Optional[tuple[Any, Any, Any]] = None,
    ) -> npt.NDArray[np.int64]: ...
    def configure_optimizer(
        self,
        *,
        name: str,
        momentum: Optional[float] = None,
        nesterov: Optional[bool] = None,
        betas: Optional[tuple[float, float]] = None,
        eps: Optional[float] = None,
        weight_decay: float = 0.0,
        frozen: Sequence[str] = ...,
    ) -> None: ...
    def train_steps(
        self,
        batches: list[_TagBatch],
        lrs: Any,
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
    def optimizer_state(self) -> dict[str, npt.NDArray[Any]]: ...
    def load_optimizer_state(self, state: dict[str, Any]) -> None: ...
    def rng_state(self) -> npt.NDArray[np.uint64]: ...
    def set_rng_state(self, a: npt.NDArray[np.uint64]) -> None: ...
