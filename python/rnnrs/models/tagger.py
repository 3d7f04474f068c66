"""Sequence tagging: :class:`SequenceTagger`.

word embedding [+ a character-level word encoder: char BiLSTM or char CNN] -> (bi)RNN/LSTM/GRU
stack over each sentence's real tokens -> linear emission scores per token -> softmax, or a
linear-chain CRF with Viterbi decoding. The model owns its tags, word tokenizer, character
set, configuration and weights' initialisation; all numeric work is delegated to an engine
of the chosen backend (the spec in rnnrs/reference/tagger.py). Sentences of a batch are padded
and carry their lengths: padding never changes a result.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Union

import numpy as np

from ..backends.engines import tagger_engine
from ..backends.selection import resolve_backend
from ..errors import CheckpointError
from ..io.checkpoint import Checkpoint, save_model
from ..io.word_vectors import EmbeddingOverlap, seed_model_embedding
from ..nn.config import (
    check_dropout,
    check_model_size,
    check_positive_int,
    check_probability,
    check_seed,
    normalize_cell,
)
from ..nn.init import init_parameters
from ..reference.char_encoder import CHAR_ENCODERS
from ..reference.crf import allowed_transitions
from ..reference.tagger import OUTPUTS, tagger_shapes
from ..text.batching import length_buckets, replace_rare, seen_once
from ..text.tasks import TaggingData
from ..training.metrics import TaggingResult, is_entity_tagset, tagging_metrics
from ..training.trainer import History, TrainedSteps
from .engine_backed import EngineBacked
from .registry import register_model

_PREDICT_BATCH = 64  # sentences per engine call when predicting and evaluating
_UNK_CHAR = 0  # character id of a character outside the model's set

Sentences = Sequence[Sequence[str]]


@dataclass(frozen=True)
class Encoded:
    """One sentence as the engine reads it: word ids (T,) and each word's character ids."""

    ids: np.ndarray
    chars: list[np.ndarray]


def _check_sentences(sentences: Any, name: str) -> list[list[str]]:
    """Sentences as lists of str tokens; TypeError/ValueError naming the sentence."""
    if isinstance(sentences, str) or not isinstance(sentences, Sequence):
        raise TypeError(f"{name}: expected a list of sentences (lists of tokens)")
    out = []
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, str) or not isinstance(sentence, Sequence):
            raise TypeError(
                f"{name}[{i}]: expected a list of tokens, got {type(sentence).__name__}"
            )
        if len(sentence) == 0:
            raise ValueError(f"{name}[{i}]: the sentence has no tokens")
        for j, token in enumerate(sentence):
            if not isinstance(token, str) or not token:
                raise ValueError(f"{name}[{i}][{j}]: expected a non-empty string, got {token!r}")
        out.append(list(sentence))
    return out


def _check_tags(tags: Any) -> list[str]:
    """The tag set as a list of distinct non-empty strings, at least two."""
    if isinstance(tags, str) or not isinstance(tags, Sequence):
        raise TypeError("tags: expected a sequence of tag strings")
    out = list(tags)
    bad = [t for t in out if not isinstance(t, str) or not t or any(c.isspace() for c in t)]
    if bad:
        raise ValueError(f"tags: expected non-empty strings without spaces, got {bad[0]!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"tags: expected distinct tags, got {out}")
    if len(out) < 2:
        raise ValueError(f"tags: a tagger needs at least two tags, got {out}")
    return out


def _pad(
    encoded: Sequence[Encoded], tags: Optional[Sequence[np.ndarray]], with_chars: bool
) -> tuple[Any, ...]:
    """A padded engine batch (ids, lengths, tags or None, chars or None, char_lengths or None)."""
    b = len(encoded)
    lengths = np.array([len(e.ids) for e in encoded], dtype=np.int64)
    t = int(lengths.max())
    ids = np.zeros((b, t), dtype=np.uint32)
    tag_arr = np.zeros((b, t), dtype=np.int64) if tags is not None else None
    for i, e in enumerate(encoded):
        ids[i, : len(e.ids)] = e.ids
        if tag_arr is not None and tags is not None:
            tag_arr[i, : len(e.ids)] = tags[i]
    if not with_chars:
        return ids, lengths, tag_arr, None, None
    w = max(len(c) for e in encoded for c in e.chars)
    chars = np.zeros((b, t, w), dtype=np.uint32)
    char_lengths = np.ones((b, t), dtype=np.int64)
    for i, e in enumerate(encoded):
        for j, c in enumerate(e.chars):
            chars[i, j, : len(c)] = c
            char_lengths[i, j] = len(c)
    return ids, lengths, tag_arr, chars, char_lengths


@dataclass(frozen=True)
class TagBatches:
    """A tagger's training or validation data for the Trainer: the encoded sentences, their
    tag indices, the batch size and the seed of the per-epoch order; for training, which
    tokens are words seen once in the data (``rare``), replaced by ``unk_id`` with
    probability ``unk_replace`` in each epoch's batches."""

    sentences: list[Encoded]
    targets: list[np.ndarray]
    batch_size: int
    seed: int
    with_chars: bool
    rare: list[np.ndarray]
    unk_replace: float
    unk_id: int
    unit: ClassVar[str] = "tokens"

    @property
    def steps_per_epoch(self) -> int:
        """Batches in one pass over the sentences."""
        return math.ceil(len(self.sentences) / self.batch_size)

    def progress(self, loss: float, per_second: float) -> dict[str, str]:
        """Tokens/s for the progress bar."""
        return {"tok_s": f"{per_second:.0f}"}

    def batch(
        self, index: Union[Sequence[int], np.ndarray], rng: Optional[np.random.Generator] = None
    ) -> tuple[Any, ...]:
        """The padded batch of the sentences at ``index``; with ``rng``, each rare word
        becomes ``<unk>`` with probability ``unk_replace`` (its characters stay)."""
        encoded = [self.sentences[i] for i in index]
        if rng is not None and self.unk_replace > 0:
            encoded = [
                Encoded(
                    replace_rare(e.ids, self.rare[i], self.unk_replace, self.unk_id, rng), e.chars
                )
                for i, e in zip(index, encoded)
            ]
        return _pad(encoded, [self.targets[i] for i in index], self.with_chars)

    def epoch_batches(
        self, epoch: int, positions: Union[Sequence[int], np.ndarray]
    ) -> list[tuple[Any, ...]]:
        """The padded batches at ``positions`` of epoch ``epoch``'s order: shuffled and
        bucketed by length, the same for the same seed and epoch (rare words replaced as
        drawn for that epoch and position)."""
        rng = np.random.default_rng([self.seed, epoch])
        order = length_buckets([len(s.ids) for s in self.sentences], self.batch_size, rng)
        return [
            self.batch(order[int(p)], np.random.default_rng([self.seed, epoch, int(p)]))
            for p in positions
        ]

    def sorted_batches(self) -> tuple[list[tuple[Any, ...]], list[np.ndarray]]:
        """Padded batches in length order (for evaluation) and the rows of each."""
        buckets = length_buckets([len(s.ids) for s in self.sentences], self.batch_size)
        return [self.batch(i) for i in buckets], buckets


@register_model
class SequenceTagger(EngineBacked):
    """A recurrent sequence tagger (part-of-speech, named entities): word embedding [+ a
    character-level word encoder] -> (bi)RNN/LSTM/GRU stack -> linear -> softmax or CRF.

    Args:
        tokenizer: the word vocabulary, an ``rnnrs.WordTokenizer`` (tokens are looked up as
            given, lowercased when the tokenizer lowercases; unknown ones are ``<unk>``).
        tags: the tag set (strings), fixed for the model's life.
        cell: "lstm", "gru", "rnn_tanh" (alias "rnn") or "rnn_relu".
        embed_size, hidden_size, num_layers: sizes of the word embedding and the stack.
        bidirectional: run a reverse direction too (from each sentence's own last token).
        char_encoder: None, "lstm" (a char BiLSTM of ``char_hidden_size`` units per
            direction; the final states) or "cnn" (``char_hidden_size`` filters of width 3,
            max over the word).
        char_embed_size, char_hidden_size: the character encoder's sizes.
        chars: the characters the encoder knows (others share one id); default: every
            character of the tokenizer's words.
        output: "softmax" (each token on its own) or "crf" (a linear-chain CRF, Viterbi).
        constrained: decode a CRF over BIO/BIOES tags with impossible transitions forbidden
            (``I-X`` only after ``B-X``/``I-X``, ...).
        dropout: on the stack's input, between layers and on its output, while training.
        unk_replace: while training, each word seen only once in the training data becomes
            ``<unk>`` with this probability (its characters stay), so that ``<unk>`` learns
            to stand for a rare word (Lample et al. 2016 use 0.5).
        seed: seeds the weight initialisation, the dropout RNG and the batch order.
        backend: "rust", "numpy" or None (the process default).
        embeddings: a :class:`rnnrs.WordVectors` the word embedding rows of the words it holds
            start from (``embed_size`` then defaults to its dimension, else to 100);
            ``embedding_overlap`` tells how many words were found.
        freeze_embeddings: train everything but the word embedding table.

    Example:
        >>> import rnnrs
        >>> sents = [["the", "dog", "runs"], ["a", "cat", "sleeps"]]
        >>> tags = [["DET", "NOUN", "VERB"], ["DET", "NOUN", "VERB"]]
        >>> tok = rnnrs.WordTokenizer.fit(" ".join(s) for s in sents)
        >>> tagger = rnnrs.SequenceTagger(tok, ["DET", "NOUN", "VERB"], embed_size=8,
        ...                               hidden_size=8, backend="numpy")
        >>> history = tagger.fit(sents * 4, tags * 4, epochs=30, batch_size=4,
        ...                      optimizer=rnnrs.Adam(lr=0.02))
        >>> tagger.predict([["a", "dog", "sleeps"]])
        [['DET', 'NOUN', 'VERB']]
    """

    kind: ClassVar[str] = "sequence_tagger"

    def __init__(
        self,
        tokenizer: Any,
        tags: Sequence[str],
        cell: str = "lstm",
        embed_size: Optional[int] = None,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        char_encoder: Optional[str] = None,
        char_embed_size: int = 25,
        char_hidden_size: int = 25,
        chars: Optional[Union[str, Sequence[str]]] = None,
        output: str = "softmax",
        constrained: bool = True,
        dropout: float = 0.0,
        unk_replace: float = 0.0,
        seed: int = 0,
        backend: Optional[str] = None,
        embeddings: Any = None,
        freeze_embeddings: bool = False,
    ) -> None:
        if embed_size is None:
            embed_size = getattr(embeddings, "dim", 100) if embeddings is not None else 100
        if not isinstance(freeze_embeddings, (bool, np.bool_)):
            raise TypeError(
                f"freeze_embeddings: expected a bool, got {type(freeze_embeddings).__name__}"
            )
        if not (hasattr(tokenizer, "vocab") and hasattr(tokenizer, "vocab_size")):
            raise TypeError("tokenizer: expected an rnnrs.WordTokenizer (vocab, vocab_size)")
        if char_encoder is not None and char_encoder not in CHAR_ENCODERS:
            raise ValueError(f"char_encoder: expected None, 'lstm' or 'cnn', got {char_encoder!r}")
        if output not in OUTPUTS:
            raise ValueError(f"output: expected 'softmax' or 'crf', got {output!r}")
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise TypeError(f"bidirectional: expected a bool, got {type(bidirectional).__name__}")
        seed = check_seed(seed)
        self.tokenizer = tokenizer
        self.tags: list[str] = _check_tags(tags)
        self._tag_index = {t: i for i, t in enumerate(self.tags)}
        self._words = tokenizer.vocab
        self._unk = int(getattr(tokenizer, "unk_id", 0))
        self._lowercase = bool(getattr(tokenizer, "lowercase", False))
        if chars is None:
            specials = set(getattr(tokenizer, "SPECIALS", ()))
            chars = sorted({c for w in self._words if w not in specials for c in w})
        char_list = list(chars)
        if any(not isinstance(c, str) or len(c) != 1 for c in char_list):
            raise ValueError("chars: expected single characters")
        self.chars: list[str] = char_list
        self._char_index = {c: i + 1 for i, c in enumerate(dict.fromkeys(char_list))}
        self.constrained = bool(constrained)
        self.unk_replace = check_probability(unk_replace, "unk_replace")
        self._engine_config: dict[str, Any] = {
            "vocab_size": int(tokenizer.vocab_size),
            "num_tags": len(self.tags),
            "cell": normalize_cell(cell),
            "embed_size": check_positive_int(embed_size, "embed_size"),
            "hidden_size": check_positive_int(hidden_size, "hidden_size"),
            "num_layers": check_positive_int(num_layers, "num_layers"),
            "bidirectional": bool(bidirectional),
            "char_encoder": char_encoder,
            "char_vocab_size": len(self._char_index) + 1,
            "char_embed_size": check_positive_int(char_embed_size, "char_embed_size"),
            "char_hidden_size": check_positive_int(char_hidden_size, "char_hidden_size"),
            "output": output,
            "dropout": check_dropout(dropout),
            "seed": int(seed),
        }
        self.backend = resolve_backend(backend)
        check_model_size("SequenceTagger", tagger_shapes, self._engine_config)
        self.engine = tagger_engine(self._engine_config, self.backend)
        self._shapes = tagger_shapes(self._engine_config)
        rng = np.random.default_rng(int(seed))
        char_rnn = {n: s for n, s in self._shapes.items() if n.startswith("char_rnn.")}
        rest = {n: s for n, s in self._shapes.items() if n not in char_rnn}
        initial = init_parameters(rest, rng, hidden_size=int(hidden_size))
        initial.update(init_parameters(char_rnn, rng, hidden_size=int(char_hidden_size)))
        self.embedding_overlap: Optional[EmbeddingOverlap] = None
        if embeddings is not None:
            self.embedding_overlap = seed_model_embedding(initial, embeddings, tokenizer)
        if freeze_embeddings:
            self.frozen_parameters = ("embedding.weight",)
        self.engine.set_parameters({n: initial[n] for n in self._shapes})
        cons = allowed_transitions(self.tags) if output == "crf" and constrained else None
        self._constraints = None if cons is None else tuple(cons)

    # ------------------------------------------------------------------ description

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments but tokenizer and backend (what a checkpoint saves)."""
        cfg = {
            k: v
            for k, v in self._engine_config.items()
            if k not in ("vocab_size", "num_tags", "char_vocab_size")
        }
        cfg["tags"] = list(self.tags)
        cfg["chars"] = list(self.chars)
        cfg["constrained"] = self.constrained
        cfg["unk_replace"] = self.unk_replace
        if self.frozen_parameters:  # only a frozen embedding adds the key
            cfg["freeze_embeddings"] = True
        return cfg

    @property
    def num_tags(self) -> int:
        """Number of tags."""
        return len(self.tags)

    @property
    def num_parameters(self) -> int:
        """Number of trainable scalars."""
        return sum(int(np.prod(s)) for s in self._shapes.values())

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.config.items() if k != "chars"}
        args = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"SequenceTagger({args}, backend={self.backend!r})"

    # ------------------------------------------------------------------ parameters

    def set_parameters(self, params: dict[str, np.ndarray]) -> None:
        """Replace every weight; ValueError naming a missing, extra or misshapen tensor."""
        self._load_parameters(params, self._shapes)

    def to_torch_state_dict(self) -> dict[str, np.ndarray]:
        """The weights as the state_dict (numpy float32) of the equivalent torch module
        (docs/tagging.md): Embedding ``embedding``, ``char_embedding`` with LSTM
        ``char_rnn`` or Conv1d ``char_cnn``, RNN/LSTM/GRU ``rnn``, Linear ``emission``, and
        pytorch-crf's ``crf.transitions``, ``crf.start_transitions``,
        ``crf.end_transitions``."""
        return self.parameters()

    # ------------------------------------------------------------------ files

    def save(self, directory: Union[str, os.PathLike], trainer: Any = None) -> None:
        """Write a checkpoint directory (weights, config with the tags and characters,
        tokenizer); with ``trainer``, also the training state."""
        if self.tokenizer is None or not hasattr(self.tokenizer, "save"):
            raise TypeError("tokenizer: only an rnnrs tokenizer can be saved with the model")
        save_model(self, directory, trainer=trainer)

    @classmethod
    def from_checkpoint(
        cls, checkpoint: Checkpoint, tokenizer: Any, *, backend: Optional[str] = None
    ) -> SequenceTagger:
        """The tagger of a checkpoint read by ``rnnrs.load``, with its tokenizer."""
        if tokenizer is None:
            raise CheckpointError(f"{checkpoint.path}: a tagger needs its tokenizer")
        return cls.restored(checkpoint, tokenizer, **checkpoint.config, backend=backend)

    # ------------------------------------------------------------------ sentences and tags

    def encode(self, sentences: Sentences, *, name: str = "sentences") -> list[Encoded]:
        """Word ids and character ids of each sentence; errors name the sentence."""
        checked = _check_sentences(sentences, name)
        words, unk, chars = self._words, self._unk, self._char_index
        with_chars = self._engine_config["char_encoder"] is not None
        out = []
        for sentence in checked:
            keys = [t.lower() for t in sentence] if self._lowercase else sentence
            ids = np.array([words.get(t, unk) for t in keys], dtype=np.uint32)
            char_ids = (
                [np.array([chars.get(c, _UNK_CHAR) for c in t], dtype=np.uint32) for t in sentence]
                if with_chars
                else []
            )
            out.append(Encoded(ids, char_ids))
        return out

    def tag_indices(
        self, tags: Sentences, sentences: Sentences, name: str = "tags"
    ) -> list[np.ndarray]:
        """Tag indices of each sentence's tags; ValueError naming an unknown tag (one never
        seen in training) or a sentence whose tag count differs from its token count."""
        if len(tags) != len(sentences):
            raise ValueError(f"{name}: {len(sentences)} sentences but tags for {len(tags)}")
        out = []
        for i, (row, words) in enumerate(zip(tags, sentences)):
            if isinstance(row, str) or len(row) != len(words):
                raise ValueError(
                    f"{name}[{i}]: expected {len(words)} tags (one per token), got "
                    f"{'a string' if isinstance(row, str) else len(row)}"
                )
            try:
                out.append(np.array([self._tag_index[t] for t in row], dtype=np.int64))
            except KeyError as exc:
                raise ValueError(
                    f"{name}[{i}]: unknown tag {exc.args[0]!r}, not one of this tagger's "
                    f"{len(self.tags)} tags (never seen in training)"
                ) from None
        return out

    def _data(self, data: Any, name: str) -> tuple[Sentences, Sentences]:
        if isinstance(data, TaggingData):
            if data.tags is None:
                raise ValueError(f"{name}: the data has no tags (read with tagged=False)")
            return data.tokens, data.tags
        if isinstance(data, tuple) and len(data) == 2:
            return data[0], data[1]
        raise TypeError(f"{name}: expected (sentences, tags) or a TaggingData")

    # ------------------------------------------------------------------ prediction

    def _decode(self, encoded: list[Encoded]) -> list[list[str]]:
        out: list[list[str]] = [[] for _ in encoded]
        with_chars = self._engine_config["char_encoder"] is not None
        for index in length_buckets([len(e.ids) for e in encoded], _PREDICT_BATCH):
            ids, lengths, _, chars, cl = _pad([encoded[i] for i in index], None, with_chars)
            pred = self.engine.decode(ids, lengths, chars, cl, constraints=self._constraints)
            for row, i in enumerate(index):
                out[i] = [self.tags[int(k)] for k in pred[row, : lengths[row]]]
        return out

    def predict(self, sentences: Sentences) -> list[list[str]]:
        """The tags of each sentence (a list of tokens in, a list of tags out)."""
        return self._decode(self.encode(sentences))

    def evaluate(self, sentences: Sentences, tags: Sentences) -> TaggingResult:
        """Token accuracy and, for BIO/BIOES tag sets, entity-level precision, recall and
        F1 per type and overall (conlleval / seqeval rules) of the predictions against
        ``tags``; an unknown tag is a ValueError naming it."""
        encoded = self.encode(sentences)
        self.tag_indices(tags, sentences)
        return tagging_metrics([list(t) for t in tags], self._decode(encoded))

    # ------------------------------------------------------------------ training

    def fit(
        self,
        sentences: Any,
        tags: Optional[Sentences] = None,
        *,
        valid: Any = None,
        epochs: Optional[int] = None,
        max_time: Optional[float] = None,
        max_steps: Optional[int] = None,
        batch_size: int = 32,
        optimizer: Any = None,
        **trainer_options: Any,
    ) -> History:
        """Train with an ``rnnrs.Trainer`` (default optimizer ``Adam(lr=2e-3)``) on
        ``sentences`` and ``tags`` (or a ``TaggingData`` as ``sentences``), validating on
        ``valid`` = (sentences, tags) or a ``TaggingData`` when given; other keywords
        (eval_every, early_stopping_patience, monitor="accuracy" or "f1", schedule,
        clip_norm, progress, callbacks) go to the Trainer. Returns its History."""
        from ..training.optimizers import Adam
        from ..training.trainer import Trainer

        trainer_options.setdefault("progress", False)
        trainer = Trainer(
            self,
            optimizer if optimizer is not None else Adam(lr=2e-3),
            batch_size=batch_size,
            **trainer_options,
        )
        data = sentences if tags is None else (sentences, tags)
        train = self.tag_batches(data, batch_size, name="sentences")
        checked = None if valid is None else self.tag_batches(valid, batch_size, name="valid")
        return trainer.fit(train, checked, max_steps=max_steps, max_time=max_time, epochs=epochs)

    # ------------------------------------------------------------------ training interface
    # rnnrs.training.trainer.TrainableModel: what the Trainer calls; the engine does the work.

    def tag_batches(self, data: Any, batch_size: int, *, name: str = "data") -> TagBatches:
        """(sentences, tags) or a TaggingData encoded for training or validation in batches
        of ``batch_size`` sentences; errors name ``name``."""
        sentences, tags = self._data(data, name)
        if len(sentences) == 0:
            raise ValueError(f"{name}: expected at least one sentence, got none")
        encoded = self.encode(sentences, name=name)
        targets = self.tag_indices(tags, sentences, name=f"{name} tags")
        with_chars = self._engine_config["char_encoder"] is not None
        rare = seen_once([e.ids for e in encoded])
        seed = self._engine_config["seed"]
        return TagBatches(
            encoded, targets, batch_size, seed, with_chars, rare, self.unk_replace, self._unk
        )

    def training_data(self, data: Any, *, batch_size: int, bptt: int, name: str) -> TagBatches:
        """:meth:`tag_batches` of ``data`` (or ``data`` itself when it already is one;
        ``bptt`` does not apply to tagging)."""
        if isinstance(data, TagBatches):
            return data
        return self.tag_batches(data, batch_size, name=name)

    def train_on(
        self,
        data: TagBatches,
        epoch: int,
        positions: np.ndarray,
        lrs: np.ndarray,
        carry: Any,
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> TrainedSteps:
        """Train the batches at ``positions`` of epoch ``epoch``'s shuffled order."""
        batches = data.epoch_batches(epoch, positions)
        losses, norms = self.engine.train_steps(batches, lrs, clip_norm, clip_value)
        return TrainedSteps(losses, norms, None, sum(int(b[1].sum()) for b in batches))

    def evaluate_on(self, data: Optional[TagBatches]) -> dict[str, Optional[float]]:
        """``valid_loss`` (nats per token), ``accuracy`` and, for BIO/BIOES tags, ``f1``
        (entity level)."""
        entity = is_entity_tagset(self.tags)
        if data is None:
            empty: dict[str, Optional[float]] = {"valid_loss": None, "accuracy": None}
            return {**empty, "f1": None} if entity else empty
        batches, rows = data.sorted_batches()
        total, count = self.engine.evaluate(batches)
        gold: list[list[str]] = []
        pred: list[list[str]] = []
        for (ids, lengths, _, chars, cl), index in zip(batches, rows):
            out = self.engine.decode(ids, lengths, chars, cl, constraints=self._constraints)
            for row, i in enumerate(index):
                n = int(lengths[row])
                pred.append([self.tags[int(k)] for k in out[row, :n]])
                gold.append([self.tags[int(k)] for k in data.targets[i]])
        result = tagging_metrics(gold, pred, entity_level=entity)
        scores: dict[str, Optional[float]] = {
            "valid_loss": float(total / count),
            "accuracy": result.accuracy,
        }
        if entity:
            scores["f1"] = result.f1
        return scores


__all__ = ["Encoded", "SequenceTagger", "TagBatches"]
