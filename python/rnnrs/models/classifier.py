"""Sequence classification: :class:`SequenceClassifier`.

embedding -> (bi)RNN/LSTM/GRU stack over each text's real tokens -> pooling (last, mean,
max or additive attention) -> dropout -> linear -> softmax. The model owns its labels,
tokenizer, configuration and weights' initialisation; all numeric work is delegated to an
engine of the chosen backend (docs/backends.md, the spec in rnnrs/reference/classifier.py).
Texts of a batch are padded and carry their lengths: padding never changes a result.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Union

import numpy as np

from ..backends.engines import classifier_engine
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
    physical_memory,
)
from ..nn.init import init_parameters
from ..reference.classifier import classifier_shapes
from ..reference.pooling import POOLINGS
from ..text.batching import length_buckets, pad_batch, replace_rare, seen_once
from ..text.tasks import ClassificationData
from ..training.metrics import ClassificationResult, classification_metrics
from ..training.trainer import History, TrainedSteps
from .engine_backed import EngineBacked
from .registry import register_model

Label = Union[str, int]
_PREDICT_BATCH = 64  # texts per engine call when predicting and evaluating


def _check_labels(labels: Sequence[Any]) -> list[Label]:
    """The class labels as a list of distinct str or int (not both), at least two."""
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise TypeError("labels: expected a sequence of class labels (str or int)")
    out: list[Label] = []
    for label in labels:
        if isinstance(label, np.generic):
            label = label.item()
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise TypeError(f"labels: expected str or int labels, got {label!r}")
        out.append(label)
    if len({isinstance(label, str) for label in out}) > 1:
        raise TypeError(f"labels: expected labels of one type, got both strings and ints {out}")
    if len(set(out)) != len(out):
        raise ValueError(f"labels: expected distinct labels, got {out}")
    if len(out) < 2:
        raise ValueError(
            f"labels: a classifier needs at least two classes, got {len(out)} ({out}); "
            "is the data all of one class?"
        )
    return out


def check_class_count(num_classes: Any) -> int:
    """``num_classes`` as an int in [1, 2**32) whose labels fit in memory (each class costs
    a label and at least a row of the output layer): checked before the labels are made."""
    n = check_positive_int(num_classes, "num_classes")
    if n >= 2**32:
        raise ValueError(f"num_classes: expected fewer than 2**32 classes, got {n}")
    need, have = 64 * n, physical_memory()
    if have is not None and need > have:
        raise MemoryError(
            f"num_classes: {n:,} classes need over {need:.3g} bytes, more than this "
            f"machine's {have:.3g} bytes of memory"
        )
    return n


@dataclass(frozen=True)
class Explanation:
    """What :meth:`SequenceClassifier.explain` returns for one text (all per token, in
    order): the tokens, the label explained and the predicted probabilities, the saliency
    (L2 norm of the gradient of the label's logit with respect to the token's embedding),
    gradient x input, and the top layer's activations (T, D*H)."""

    tokens: list[str]
    label: Label
    probabilities: dict[Label, float]
    saliency: np.ndarray
    grad_x_input: np.ndarray
    activations: np.ndarray

    def table(self) -> str:
        """A text rendering: one token per line with its saliency as a bar."""
        top = float(self.saliency.max()) or 1.0
        width = max(len(t) for t in self.tokens)
        lines = [f"label {self.label!r} (p = {self.probabilities[self.label]:.3f})"]
        for tok, s, gx in zip(self.tokens, self.saliency, self.grad_x_input):
            bar = "#" * round(20 * float(s) / top)
            lines.append(f"{tok:>{width}}  {s:8.4f}  {gx:+8.4f}  {bar}")
        return "\n".join(lines)


@dataclass(frozen=True)
class TextBatches:
    """A classifier's training or validation data for the Trainer: the encoded texts, their
    class indices, the batch size and the seed of the per-epoch order; for training, which
    tokens are words seen once in the data (``rare``), replaced by ``unk_id`` with
    probability ``unk_replace`` in each epoch's batches."""

    sequences: list[np.ndarray]
    targets: np.ndarray
    batch_size: int
    seed: int
    rare: list[np.ndarray]
    unk_replace: float = 0.0
    unk_id: int = 0
    unit: ClassVar[str] = "texts"

    @property
    def steps_per_epoch(self) -> int:
        """Batches in one pass over the texts."""
        return math.ceil(len(self.sequences) / self.batch_size)

    def progress(self, loss: float, per_second: float) -> dict[str, str]:
        """Texts/s for the progress bar."""
        return {"texts_s": f"{per_second:.0f}"}

    def _batch(
        self, index: np.ndarray, rng: Optional[np.random.Generator] = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The padded batch of the texts at ``index``; with ``rng``, each rare word becomes
        ``<unk>`` with probability ``unk_replace``."""
        sequences = [self.sequences[i] for i in index]
        if rng is not None and self.unk_replace > 0:
            sequences = [
                replace_rare(s, self.rare[i], self.unk_replace, self.unk_id, rng)
                for i, s in zip(index, sequences)
            ]
        ids, lengths = pad_batch(sequences)
        return ids, lengths, self.targets[index]

    def epoch_batches(
        self, epoch: int, positions: Union[Sequence[int], np.ndarray]
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The padded batches at ``positions`` of epoch ``epoch``'s order: shuffled and
        bucketed by length, the same for the same seed and epoch (so a resumed run sees the
        order an uninterrupted one does; rare words replaced as drawn for that epoch and
        position)."""
        rng = np.random.default_rng([self.seed, epoch])
        lengths = [len(s) for s in self.sequences]
        order = length_buckets(lengths, self.batch_size, rng)
        return [
            self._batch(order[int(p)], np.random.default_rng([self.seed, epoch, int(p)]))
            for p in positions
        ]

    def sorted_batches(self) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray]:
        """Padded batches in length order (for evaluation) and the order of their rows."""
        buckets = length_buckets([len(s) for s in self.sequences], self.batch_size)
        return [self._batch(i) for i in buckets], np.concatenate(buckets)


@register_model
class SequenceClassifier(EngineBacked):
    """A recurrent text classifier: embedding -> (bi)RNN/LSTM/GRU stack -> pooling over the
    real tokens -> dropout -> linear -> softmax.

    Args:
        tokenizer: encodes a text to ids (``encode(text)``, ``vocab_size``): an
            ``rnnrs.WordTokenizer``, ``CharTokenizer`` or ``BPETokenizer``.
        num_classes: number of classes (labels 0..num_classes-1), or
        labels: the class labels (strings or ints), fixed for the model's life.
        cell: "lstm", "gru", "rnn_tanh" (alias "rnn") or "rnn_relu".
        embed_size, hidden_size, num_layers: sizes of the embedding and the stack.
        bidirectional: run a reverse direction too (from each text's own last token).
        pooling: "last" (final states), "mean", "max" or "attention" (additive).
        attention_size: width of the attention scorer (pooling="attention").
        dropout: between stacked layers and on the pooled vector, while training.
        embedding_dropout: on the embedded tokens (each feature of each token), while
            training.
        unk_replace: while training, each word seen only once in the training data becomes
            ``<unk>`` with this probability, so that ``<unk>`` learns to stand for the words
            the model never saw (as :class:`rnnrs.SequenceTagger`'s).
        seed: seeds the weight initialisation, the dropout RNG and the batch order.
        backend: "rust", "numpy" or None (the process default).
        max_length: longest text in tokens (None: any); a longer one is an error unless
            ``truncate=True`` is passed where texts are read.
        embeddings: a :class:`rnnrs.WordVectors` the embedding rows of the tokens it holds
            start from (``embed_size`` then defaults to its dimension, else to 128);
            ``embedding_overlap`` tells how many tokens were found.
        freeze_embeddings: train everything but the embedding table (docs/wordlm.md).

    Example:
        >>> import rnnrs
        >>> tok = rnnrs.WordTokenizer.fit(["good fun", "bad dull"])
        >>> clf = rnnrs.SequenceClassifier(tok, labels=["neg", "pos"], hidden_size=8,
        ...                                embed_size=8, backend="numpy")
        >>> history = clf.fit(["good fun", "bad dull"] * 8, ["pos", "neg"] * 8, epochs=15,
        ...                   batch_size=4)
        >>> clf.predict(["fun good", "dull"])
        ['pos', 'neg']
    """

    kind: ClassVar[str] = "sequence_classifier"

    def __init__(
        self,
        tokenizer: Any,
        num_classes: Optional[int] = None,
        labels: Optional[Sequence[Label]] = None,
        cell: str = "lstm",
        embed_size: Optional[int] = None,
        hidden_size: int = 256,
        num_layers: int = 1,
        bidirectional: bool = True,
        pooling: str = "last",
        attention_size: int = 64,
        dropout: float = 0.0,
        embedding_dropout: float = 0.0,
        unk_replace: float = 0.0,
        seed: int = 0,
        backend: Optional[str] = None,
        max_length: Optional[int] = None,
        embeddings: Any = None,
        freeze_embeddings: bool = False,
    ) -> None:
        if embed_size is None:
            embed_size = getattr(embeddings, "dim", 128) if embeddings is not None else 128
        if not isinstance(freeze_embeddings, (bool, np.bool_)):
            raise TypeError(
                f"freeze_embeddings: expected a bool, got {type(freeze_embeddings).__name__}"
            )
        if not (callable(getattr(tokenizer, "encode", None)) and hasattr(tokenizer, "vocab_size")):
            raise TypeError("tokenizer: expected an rnnrs tokenizer (encode(text), vocab_size)")
        if labels is None:
            if num_classes is None:
                raise ValueError("num_classes, labels: give the number of classes or the labels")
            labels = list(range(check_class_count(num_classes)))
        checked = _check_labels(labels)
        if num_classes is not None and num_classes != len(checked):
            raise ValueError(f"num_classes: {num_classes} but {len(checked)} labels {checked}")
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise TypeError(f"bidirectional: expected a bool, got {type(bidirectional).__name__}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling: expected one of {', '.join(POOLINGS)}, got {pooling!r}")
        seed = check_seed(seed)
        self.unk_replace = check_probability(unk_replace, "unk_replace")
        if self.unk_replace > 0 and not hasattr(tokenizer, "unk_id"):
            raise ValueError(
                f"unk_replace: {type(tokenizer).__name__} has no <unk> to replace words with"
            )
        self.tokenizer = tokenizer
        self.labels: list[Label] = checked
        self._index = {label: i for i, label in enumerate(checked)}
        self.max_length = (
            None if max_length is None else check_positive_int(max_length, "max_length")
        )
        self._engine_config: dict[str, Any] = {
            "vocab_size": int(tokenizer.vocab_size),
            "num_classes": len(checked),
            "cell": normalize_cell(cell),
            "embed_size": check_positive_int(embed_size, "embed_size"),
            "hidden_size": check_positive_int(hidden_size, "hidden_size"),
            "num_layers": check_positive_int(num_layers, "num_layers"),
            "bidirectional": bool(bidirectional),
            "pooling": pooling,
            "attention_size": check_positive_int(attention_size, "attention_size"),
            "dropout": check_dropout(dropout),
            "embedding_dropout": check_dropout(embedding_dropout, "embedding_dropout"),
            "seed": int(seed),
        }
        self.backend = resolve_backend(backend)
        check_model_size("SequenceClassifier", classifier_shapes, self._engine_config)
        self.engine = classifier_engine(self._engine_config, self.backend)
        self._shapes = classifier_shapes(self._engine_config)
        initial = init_parameters(
            self._shapes, np.random.default_rng(int(seed)), hidden_size=int(hidden_size)
        )
        self.embedding_overlap: Optional[EmbeddingOverlap] = None
        if embeddings is not None:
            self.embedding_overlap = seed_model_embedding(initial, embeddings, tokenizer)
        if freeze_embeddings:
            self.frozen_parameters = ("embedding.weight",)
        self.engine.set_parameters(initial)

    # ------------------------------------------------------------------ description

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments but tokenizer and backend (what a checkpoint saves)."""
        cfg = {k: v for k, v in self._engine_config.items() if k != "vocab_size"}
        cfg["labels"] = list(self.labels)
        cfg["max_length"] = self.max_length
        cfg["unk_replace"] = self.unk_replace
        if self.frozen_parameters:  # only a frozen embedding adds the key
            cfg["freeze_embeddings"] = True
        return cfg

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.labels)

    @property
    def num_parameters(self) -> int:
        """Number of trainable scalars."""
        return sum(int(np.prod(s)) for s in self._shapes.values())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"SequenceClassifier({args}, backend={self.backend!r})"

    # ------------------------------------------------------------------ parameters

    def set_parameters(self, params: dict[str, np.ndarray]) -> None:
        """Replace every weight; ValueError naming a missing, extra or misshapen tensor."""
        self._load_parameters(params, self._shapes)

    def to_torch_state_dict(self) -> dict[str, np.ndarray]:
        """The weights as the state_dict (numpy float32) of the equivalent torch module,
        ``rnnrs.io.torch_interop.torch_classifier(model.config, vocab_size)``: Embedding
        ``embedding``, RNN/LSTM/GRU ``rnn`` (``rnn.weight_ih_l0_reverse`` ...), the
        attention scorer ``pool`` (attention pooling only), Linear ``classifier``."""
        return self.parameters()

    # ------------------------------------------------------------------ files

    def save(self, directory: Union[str, os.PathLike], trainer: Any = None) -> None:
        """Write a checkpoint directory (weights, config with the labels, tokenizer); with
        ``trainer``, also the training state. ``rnnrs.load(directory)`` reads it back."""
        if self.tokenizer is None or not hasattr(self.tokenizer, "save"):
            raise TypeError("tokenizer: only an rnnrs tokenizer can be saved with the model")
        save_model(self, directory, trainer=trainer)

    @classmethod
    def from_checkpoint(
        cls, checkpoint: Checkpoint, tokenizer: Any, *, backend: Optional[str] = None
    ) -> SequenceClassifier:
        """The classifier of a checkpoint read by ``rnnrs.load``, with its tokenizer."""
        if tokenizer is None:
            raise CheckpointError(f"{checkpoint.path}: a classifier needs its tokenizer")
        return cls.restored(checkpoint, tokenizer, **checkpoint.config, backend=backend)

    # ------------------------------------------------------------------ texts and labels

    def encode(self, texts: Sequence[str], *, truncate: bool = False) -> list[np.ndarray]:
        """The token ids of each text; ValueError for an empty text or (without
        ``truncate``) one longer than ``max_length``, naming its index."""
        if isinstance(texts, str):
            raise TypeError("texts: expected a sequence of texts, got one string")
        out = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}]: expected a string, got {type(text).__name__}")
            ids = np.asarray(self.tokenizer.encode(text), dtype=np.uint32)
            if ids.size == 0:
                raise ValueError(f"texts[{i}]: the text has no tokens ({text!r})")
            if self.max_length is not None and ids.size > self.max_length:
                if not truncate:
                    raise ValueError(
                        f"texts[{i}]: {ids.size} tokens, longer than max_length="
                        f"{self.max_length}; pass truncate=True to cut it"
                    )
                ids = ids[: self.max_length]
            out.append(ids)
        return out

    def label_indices(self, labels: Sequence[Any], name: str = "labels") -> np.ndarray:
        """Class indices of ``labels``; ValueError naming an unknown label and its index."""
        out = np.empty(len(labels), dtype=np.int64)
        for i, label in enumerate(labels):
            key = label.item() if isinstance(label, np.generic) else label
            try:
                out[i] = self._index[key]
            except (KeyError, TypeError):
                raise ValueError(
                    f"{name}[{i}]: unknown label {label!r}; this classifier's labels are "
                    f"{self.labels}"
                ) from None
        return out

    def _data(self, data: Any, name: str) -> tuple[Sequence[str], Sequence[Any]]:
        if isinstance(data, ClassificationData):
            return data.texts, data.labels
        if isinstance(data, tuple) and len(data) == 2:
            texts, labels = data
            if len(texts) != len(labels):
                raise ValueError(
                    f"{name}: {len(texts)} texts but {len(labels)} labels, expected one each"
                )
            return texts, labels
        raise TypeError(f"{name}: expected (texts, labels) or a ClassificationData")

    # ------------------------------------------------------------------ prediction

    def _logits(self, texts: Sequence[str], truncate: bool) -> np.ndarray:
        seqs = self.encode(texts, truncate=truncate)
        if not seqs:
            return np.zeros((0, self.num_classes), dtype=np.float32)
        out = np.empty((len(seqs), self.num_classes), dtype=np.float32)
        for index in length_buckets([len(s) for s in seqs], _PREDICT_BATCH):
            ids, lengths = pad_batch([seqs[i] for i in index])
            out[index] = self.engine.logits(ids, lengths)
        return out

    def predict_proba(self, texts: Sequence[str], *, truncate: bool = False) -> np.ndarray:
        """Class probabilities (N, C) float32, columns in the order of ``labels``."""
        logits = self._logits(texts, truncate).astype(np.float64)
        if len(logits) == 0:
            return logits.astype(np.float32)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict(self, texts: Sequence[str], *, truncate: bool = False) -> list[Label]:
        """The most probable label of each text (the first in ``labels`` on ties)."""
        logits = self._logits(texts, truncate)
        return [self.labels[int(i)] for i in np.argmax(logits, axis=1)] if len(logits) else []

    def evaluate(
        self, texts: Sequence[str], labels: Sequence[Any], *, truncate: bool = False
    ) -> ClassificationResult:
        """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix of the
        predictions against ``labels`` (an unknown label is a ValueError naming it)."""
        gold = self.label_indices(labels)
        if len(gold) != len(texts):
            raise ValueError(f"labels: {len(texts)} texts but {len(gold)} labels")
        pred = np.argmax(self._logits(texts, truncate), axis=1)
        return classification_metrics(
            [self.labels[i] for i in gold], [self.labels[i] for i in pred], labels=self.labels
        )

    def explain(
        self, text: str, label: Optional[Label] = None, *, truncate: bool = False
    ) -> Explanation:
        """Per-token saliency of ``label``'s score (default: the predicted label): the
        gradient's L2 norm and gradient x input, and the hidden activations over time."""
        (ids,) = self.encode([text], truncate=truncate)
        target = None if label is None else self.label_indices([label], "label")
        out = self.engine.saliency(ids[None, :], np.array([len(ids)]), target)
        logits = out["logits"][0].astype(np.float64)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        to_token = getattr(self.tokenizer, "id_to_token", None)
        tokens = [to_token(int(i)) if to_token else self.tokenizer.decode([int(i)]) for i in ids]
        return Explanation(
            tokens=tokens,
            label=self.labels[int(out["target"][0])],
            probabilities={lab: float(p) for lab, p in zip(self.labels, probs)},
            saliency=out["saliency"][:, 0].copy(),
            grad_x_input=out["grad_x_input"][:, 0].copy(),
            activations=out["activations"][:, 0].copy(),
        )

    # ------------------------------------------------------------------ training

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[Any],
        *,
        valid: Optional[tuple[Sequence[str], Sequence[Any]]] = None,
        epochs: Optional[int] = None,
        max_time: Optional[float] = None,
        max_steps: Optional[int] = None,
        batch_size: int = 32,
        optimizer: Any = None,
        truncate: bool = False,
        **trainer_options: Any,
    ) -> History:
        """Train with an ``rnnrs.Trainer`` (default optimizer ``Adam(lr=2e-3)``) on
        ``texts`` and ``labels``, validating on ``valid`` = (texts, labels) when given;
        other keywords (eval_every, early_stopping_patience, monitor, schedule, clip_norm,
        progress, callbacks) go to the Trainer. Returns its History."""
        from ..training.optimizers import Adam
        from ..training.trainer import Trainer

        trainer_options.setdefault("progress", False)
        trainer = Trainer(
            self,
            optimizer if optimizer is not None else Adam(lr=2e-3),
            batch_size=batch_size,
            **trainer_options,
        )
        train = self.text_batches((texts, labels), batch_size, truncate=truncate, name="texts")
        checked = (
            None
            if valid is None
            else self.text_batches(valid, batch_size, truncate=truncate, name="valid")
        )
        return trainer.fit(train, checked, max_steps=max_steps, max_time=max_time, epochs=epochs)

    # ------------------------------------------------------------------ training interface
    # rnnrs.training.trainer.TrainableModel: what the Trainer calls; the engine does the work.

    def text_batches(
        self, data: Any, batch_size: int, *, truncate: bool = False, name: str = "data"
    ) -> TextBatches:
        """(texts, labels) or a ClassificationData encoded for training or validation in
        batches of ``batch_size`` texts; errors (an empty or too long text, an unknown
        label) name ``name``."""
        texts, labels = self._data(data, name)
        if len(texts) == 0:
            raise ValueError(f"{name}: expected at least one text, got none")
        try:
            sequences = self.encode(texts, truncate=truncate)
            targets = self.label_indices(labels)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        return TextBatches(
            sequences,
            targets,
            batch_size,
            self._engine_config["seed"],
            seen_once(sequences),
            self.unk_replace,
            int(getattr(self.tokenizer, "unk_id", 0)),
        )

    def training_data(self, data: Any, *, batch_size: int, bptt: int, name: str) -> TextBatches:
        """:meth:`text_batches` of ``data`` (or ``data`` itself when it already is one;
        ``bptt`` does not apply to classification)."""
        if isinstance(data, TextBatches):
            return data
        return self.text_batches(data, batch_size, name=name)

    def train_on(
        self,
        data: TextBatches,
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
        return TrainedSteps(losses, norms, None, sum(len(b[2]) for b in batches))

    def evaluate_on(self, data: Optional[TextBatches]) -> dict[str, Optional[float]]:
        """``valid_loss`` (mean cross-entropy in nats), ``accuracy`` and ``macro_f1``."""
        if data is None:
            return {"valid_loss": None, "accuracy": None, "macro_f1": None}
        batches, rows = data.sorted_batches()
        total, count, logits = self.engine.evaluate(batches)
        pred = np.argmax(logits, axis=1)
        gold = data.targets[rows]
        classes = list(range(self.num_classes))
        result = classification_metrics(gold.tolist(), pred.tolist(), labels=classes)
        return {
            "valid_loss": float(total / count),
            "accuracy": result.accuracy,
            "macro_f1": result.macro_f1,
        }


__all__ = ["Explanation", "SequenceClassifier", "TextBatches"]
