"""Every engine object of either backend is built here (docs/backends.md): this is the one
module that constructs the Rust core's classes (``rnnrs._core``), each beside its NumPy
counterpart. Callers choose the backend with :func:`rnnrs.backends.selection.resolve_backend`
and hand its name in.
"""

from __future__ import annotations

from typing import Any

from ..reference import bpe as reference_bpe
from .numpy_classifier import NumpyClassifierEngine
from .numpy_ngram import RefNGramCounts, RefNGramModel
from .numpy_rnnlm import NumpyEngine
from .numpy_seq2seq import NumpySeq2SeqEngine
from .numpy_tagger import NumpyTaggerEngine
from .selection import core


def rnnlm_engine(config: dict[str, Any], backend: str) -> Any:
    """A new language-model engine for a config normalized by
    :func:`rnnrs.nn.config.normalize_config`: ``RustEngine`` or :class:`NumpyEngine`."""
    if backend == "rust":
        return core().RustEngine(**config)
    return NumpyEngine(config)


def classifier_engine(config: dict[str, Any], backend: str) -> Any:
    """A new sequence-classifier engine for a config checked by ``SequenceClassifier``:
    ``ClassifierEngine`` or :class:`NumpyClassifierEngine`."""
    if backend == "rust":
        return core().ClassifierEngine(**config)
    return NumpyClassifierEngine(**config)


def seq2seq_engine(config: dict[str, Any], backend: str) -> Any:
    """A new encoder-decoder engine for a config checked by ``Seq2Seq``:
    ``Seq2SeqEngine`` or :class:`NumpySeq2SeqEngine`."""
    if backend == "rust":
        return core().Seq2SeqEngine(**config)
    return NumpySeq2SeqEngine(**config)


def tagger_engine(config: dict[str, Any], backend: str) -> Any:
    """A new sequence-tagger engine for a config checked by ``SequenceTagger``:
    ``TaggerEngine`` or :class:`NumpyTaggerEngine`."""
    if backend == "rust":
        return core().TaggerEngine(**config)
    return NumpyTaggerEngine(**config)


def rust_recurrent_stack(
    cell: str,
    input_size: int,
    hidden_size: int,
    *,
    num_layers: int,
    bidirectional: bool,
    dropout: float,
    seed: int,
) -> Any:
    """The Rust core's stack of recurrent layers behind ``rnnrs.RNN`` / ``LSTM`` / ``GRU`` on
    the Rust backend (on NumPy the layers call ``rnnrs.reference.stack`` themselves)."""
    return core().RecurrentStack(
        cell,
        input_size,
        hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout,
        seed=seed,
    )


def ngram_counts_engine(order: int, backend: str) -> Any:
    """Empty n-gram counts of orders 1..``order``."""
    if backend == "rust":
        return core().NGramCounts(order)
    return RefNGramCounts(order)


def ngram_counts_class(backend: str) -> Any:
    """The n-gram counts class of ``backend``: its static ``from_bytes`` and ``load`` read
    the counts format; the Rust one's ``count_files_bounded`` counts within a memory
    budget."""
    return core().NGramCounts if backend == "rust" else RefNGramCounts


def ngram_model_engine(backend: str) -> Any:
    """The n-gram model class of ``backend``; its static ``estimate`` (from counts of the same
    backend), ``from_arpa`` and ``load`` build a model."""
    return core().NGramModel if backend == "rust" else RefNGramModel


def bpe_trainer(backend: str) -> Any:
    """A BPE trainer: ``feed(texts)``, ``num_words``, ``train(vocab_size, min_frequency=)``."""
    return core().BpeTrainer() if backend == "rust" else reference_bpe.BpeTrainer()


def bpe_encoder(merges: list[tuple[int, int]], backend: str) -> Any:
    """A BPE encoder of ``merges``: ``encode(text)``, ``encode_batch(texts)``."""
    if backend == "rust":
        return core().BpeEncoder(merges)
    return reference_bpe.BpeEncoder(merges)
