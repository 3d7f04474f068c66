"""NumpyClassifierEngine: the classifier engine contract (docs/backends.md) on the NumPy
reference (``rnnrs.reference.classifier``), in float32 like the Rust core; ``dtype=np.float64``
(a reference-only constructor keyword) gives a float64 engine for gradient checks.

Dropout draws from the engine's PCG64 generator seeded by ``seed``, in the reference's order
(the stack's masks, then the pooled vector's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from ..reference.classifier import (
    classifier_backward,
    classifier_forward,
    classifier_saliency,
    classifier_shapes,
)
from ..reference.lengths import check_lengths
from ..reference.loss import cross_entropy
from .arrays import as_token_array
from .numpy_flat import FlatEngine, optional_positive

Batch = tuple[Any, Any, Any]


class NumpyClassifierEngine(FlatEngine):
    """The NumPy backend of ``rnnrs.SequenceClassifier``; keyword arguments as the Rust
    ``ClassifierEngine`` (taken as given: ``SequenceClassifier`` validated them).

    Example:
        >>> import numpy as np
        >>> eng = NumpyClassifierEngine(vocab_size=5, num_classes=2, cell="gru", embed_size=3,
        ...     hidden_size=4, num_layers=1, bidirectional=True, pooling="mean",
        ...     attention_size=8, dropout=0.0, seed=0)
        >>> eng.logits(np.array([[1, 2, 0]], np.uint32), np.array([2])).tolist()
        [[0.0, 0.0]]
    """

    def __init__(
        self,
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
        dtype: Any = np.float32,
    ) -> None:
        self.config: dict[str, Any] = {
            "vocab_size": vocab_size,
            "num_classes": num_classes,
            "cell": cell,
            "embed_size": embed_size,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "bidirectional": bidirectional,
            "pooling": pooling,
            "attention_size": attention_size,
            "dropout": dropout,
            "embedding_dropout": embedding_dropout,
            "seed": seed,
        }
        super().__init__(classifier_shapes(self.config), seed, dtype)

    # ------------------------------------------------------------------ argument checks

    def _inputs(self, ids: Any, lengths: Any) -> tuple[np.ndarray, np.ndarray]:
        ids_a = as_token_array(ids, "ids", self.config["vocab_size"])
        lens = np.asarray(lengths)
        if lens.dtype == np.bool_:
            raise ValueError(f"lengths: expected integers, got dtype {lens.dtype}")
        return ids_a, check_lengths(lens, ids_a.shape[1], ids_a.shape[0])

    def _labels(self, labels: Any, batch: int, name: str = "labels") -> np.ndarray:
        arr = np.asarray(labels)
        if arr.shape != (batch,) or arr.dtype.kind not in "iu":
            raise ValueError(f"{name}: expected ({batch},) class indices, got {arr.shape}")
        classes = self.config["num_classes"]
        if batch and (arr.min() < 0 or arr.max() >= classes):
            raise ValueError(f"{name}: class indices must lie in 0..{classes - 1}")
        return arr.astype(np.int64)

    def _batch(self, batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids, lengths, labels = batch
        ids_a, lens = self._inputs(ids, lengths)
        return ids_a, lens, self._labels(labels, ids_a.shape[0])

    # ------------------------------------------------------------------ forward / loss

    def logits(self, ids: Any, lengths: Any) -> np.ndarray:
        """logits float32 (B, C) of padded ids (B, T) with lengths (B,); no dropout."""
        ids_a, lens = self._inputs(ids, lengths)
        logits, _ = classifier_forward(self._params, self.config, ids_a, lens)
        return logits.astype(np.float32)

    def loss_and_grads(
        self, ids: Any, lengths: Any, labels: Any, train: bool
    ) -> tuple[float, dict[str, np.ndarray]]:
        """(mean cross-entropy in nats, grads keyed like param_names()); dropout when train."""
        ids_a, lens, labels_a = self._batch((ids, lengths, labels))
        rng = self._rng if train else None
        logits, cache = classifier_forward(self._params, self.config, ids_a, lens, rng)
        loss, d_logits, _ = cross_entropy(logits, labels_a)
        grads, _ = classifier_backward(d_logits, self._params, cache)
        return float(loss), {n: grads[n] for n in self._shapes}

    def evaluate(self, batches: Sequence[Batch]) -> tuple[float, int, np.ndarray]:
        """(summed cross-entropy in float64, number of rows, logits float32 (sum B, C))
        over ``batches`` of (ids, lengths, labels), no dropout."""
        total, count, out = 0.0, 0, []
        for batch in batches:
            ids_a, lens, labels_a = self._batch(batch)
            logits, _ = classifier_forward(self._params, self.config, ids_a, lens)
            loss, _, _ = cross_entropy(logits, labels_a)
            total += float(loss) * len(labels_a)
            count += len(labels_a)
            out.append(logits.astype(np.float32))
        classes = self.config["num_classes"]
        stacked = np.concatenate(out) if out else np.zeros((0, classes), np.float32)
        return total, count, stacked

    def saliency(self, ids: Any, lengths: Any, target: Any = None) -> dict[str, np.ndarray]:
        """Saliency of each token (reference/classifier.py::classifier_saliency) as a dict:
        target (B,), logits (B, C), grad (T, B, E), saliency (T, B), grad_x_input (T, B),
        activations (T, B, D*H); float32, no dropout."""
        ids_a, lens = self._inputs(ids, lengths)
        tgt = None if target is None else self._labels(target, ids_a.shape[0], "target")
        result = classifier_saliency(self._params, self.config, ids_a, lens, tgt)
        out = {k: v.astype(np.float32) for k, v in result._asdict().items()}
        out["target"] = np.asarray(result.target, dtype=np.int64)
        return out

    # ------------------------------------------------------------------ training

    def train_steps(
        self,
        batches: Sequence[Batch],
        lrs: Any,
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> tuple[np.ndarray, np.ndarray]:
        """One optimizer step per (ids, lengths, labels) batch with ``lrs[k]``: forward with
        dropout, backward, clipping, update. Returns (losses float64 (S,), gradient norms
        before clipping float64 (S,))."""
        self._require_optimizer()
        checked = [self._batch(b) for b in batches]
        lrs_a = np.asarray(lrs, dtype=np.float64)
        if lrs_a.shape != (len(checked),):
            raise ValueError(
                f"lrs: expected shape ({len(checked)},) like batches, got {lrs_a.shape}"
            )
        if not np.all(np.isfinite(lrs_a)) or np.any(lrs_a < 0):
            raise ValueError("lrs: expected finite learning rates >= 0")
        clip_norm = optional_positive(clip_norm, "clip_norm")
        clip_value = optional_positive(clip_value, "clip_value")
        losses = np.zeros(len(checked))
        norms = np.zeros(len(checked))
        # Overflow is not an error here: it shows up as a non-finite loss or norm.
        with np.errstate(all="ignore"):
            for k, (ids_a, lens, labels_a) in enumerate(checked):
                logits, cache = classifier_forward(
                    self._params, self.config, ids_a, lens, self._rng
                )
                loss, d_logits, _ = cross_entropy(logits, labels_a)
                grads, _ = classifier_backward(d_logits, self._params, cache)
                norms[k] = self._update(k, loss, grads, float(lrs_a[k]), clip_norm, clip_value)
                losses[k] = loss
        return losses, norms
