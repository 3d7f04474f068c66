"""NumpyTaggerEngine: the tagger engine contract (docs/tagging.md) on the NumPy reference
(``rnnrs.reference.tagger``), in float32 like the Rust core; ``dtype=np.float64`` (a
reference-only constructor keyword) gives a float64 engine for gradient checks.

Dropout draws from the engine's PCG64 generator seeded by ``seed``, in the reference's order
(the input mask, the stack's masks, the output mask).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from ..reference.crf import Constraints
from ..reference.lengths import check_lengths
from ..reference.tagger import tagger_decode, tagger_forward, tagger_loss_and_grads, tagger_shapes
from .arrays import as_token_array
from .numpy_flat import FlatEngine, optional_positive

Batch = tuple[Any, Any, Any, Any, Any]


class NumpyTaggerEngine(FlatEngine):
    """The NumPy backend of ``rnnrs.SequenceTagger``; keyword arguments as the Rust
    ``TaggerEngine`` (taken as given: ``SequenceTagger`` validated them).

    Example:
        >>> import numpy as np
        >>> eng = NumpyTaggerEngine(vocab_size=5, num_tags=2, cell="gru", embed_size=3,
        ...     hidden_size=4, num_layers=1, bidirectional=True, char_encoder=None,
        ...     char_vocab_size=1, char_embed_size=1, char_hidden_size=1, output="crf",
        ...     dropout=0.0, seed=0)
        >>> eng.decode(np.array([[1, 2, 0]], np.uint32), np.array([2])).tolist()
        [[0, 0, -1]]
    """

    def __init__(
        self,
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
        dtype: Any = np.float32,
    ) -> None:
        self.config: dict[str, Any] = {
            "vocab_size": vocab_size,
            "num_tags": num_tags,
            "cell": cell,
            "embed_size": embed_size,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "bidirectional": bidirectional,
            "char_encoder": char_encoder,
            "char_vocab_size": char_vocab_size,
            "char_embed_size": char_embed_size,
            "char_hidden_size": char_hidden_size,
            "output": output,
            "dropout": dropout,
            "seed": seed,
        }
        super().__init__(tagger_shapes(self.config), seed, dtype)

    # ------------------------------------------------------------------ argument checks

    def _inputs(
        self, ids: Any, lengths: Any, chars: Any, char_lengths: Any
    ) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]:
        ids_a = np.asarray(ids)
        lens = np.asarray(lengths)
        if lens.dtype == np.bool_:
            raise ValueError(f"lengths: expected integers, got dtype {lens.dtype}")
        if ids_a.ndim != 2 or ids_a.size == 0:
            raise ValueError(f"ids: expected a (B, T) array of token ids, got shape {ids_a.shape}")
        batch, t_len = ids_a.shape
        lens = check_lengths(lens, t_len, batch)
        valid = np.arange(t_len)[None, :] < lens[:, None]
        ids_a = as_token_array(np.where(valid, ids_a, 0), "ids", self.config["vocab_size"])
        if self.config["char_encoder"] is None:
            return ids_a, lens, None, None
        if chars is None or char_lengths is None:
            raise ValueError("chars, char_lengths: the character encoder needs both")
        chars_a = np.asarray(chars)
        cl = np.asarray(char_lengths)
        if chars_a.ndim != 3 or chars_a.shape[:2] != ids_a.shape or cl.shape != ids_a.shape:
            raise ValueError(
                f"chars, char_lengths: expected shapes ({batch}, {t_len}, W) and "
                f"({batch}, {t_len}), got {chars_a.shape} and {cl.shape}"
            )
        width = chars_a.shape[2]
        real = cl[valid]
        if real.size and (real.min() < 1 or real.max() > width):
            raise ValueError(f"char_lengths: expected lengths in 1..{width} at every real token")
        inside = valid[:, :, None] & (np.arange(width)[None, None, :] < cl[:, :, None])
        chars_a = as_token_array(
            np.where(inside, chars_a, 0), "chars", self.config["char_vocab_size"], ndim=3
        )
        return ids_a, lens, chars_a, cl.astype(np.int64)

    def _tags(self, tags: Any, lens: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        arr = np.asarray(tags)
        if arr.shape != shape or arr.dtype.kind not in "iu":
            raise ValueError(f"tags: expected {shape} tag indices, got {arr.shape}")
        valid = np.arange(shape[1])[None, :] < lens[:, None]
        real = arr[valid]
        k = self.config["num_tags"]
        if real.size and (real.min() < 0 or real.max() >= k):
            raise ValueError(f"tags: expected tag indices in 0..{k - 1}")
        return np.where(valid, arr, 0).astype(np.int64)

    def _batch(self, batch: Batch) -> dict[str, Any]:
        ids, lengths, tags, chars, char_lengths = batch
        ids_a, lens, chars_a, cl = self._inputs(ids, lengths, chars, char_lengths)
        return {
            "ids": ids_a,
            "lengths": lens,
            "tags": self._tags(tags, lens, ids_a.shape),
            "chars": chars_a,
            "char_lengths": cl,
        }

    # ------------------------------------------------------------------ forward / loss

    def emissions(
        self, ids: Any, lengths: Any, chars: Any = None, char_lengths: Any = None
    ) -> np.ndarray:
        """Emission scores float32 (T, B, K), no dropout."""
        args = self._inputs(ids, lengths, chars, char_lengths)
        scores, _ = tagger_forward(self._params, self.config, *args)
        return scores.astype(np.float32)

    def loss_and_grads(
        self,
        ids: Any,
        lengths: Any,
        tags: Any,
        chars: Any = None,
        char_lengths: Any = None,
        *,
        train: bool,
    ) -> tuple[float, dict[str, np.ndarray]]:
        """(loss in nats per real token, grads keyed like param_names()); dropout when train."""
        b = self._batch((ids, lengths, tags, chars, char_lengths))
        rng = self._rng if train else None
        loss, grads, _ = tagger_loss_and_grads(self._params, self.config, rng=rng, **b)
        return float(loss), {n: grads[n] for n in self._shapes}

    def evaluate(self, batches: Sequence[Batch]) -> tuple[float, int]:
        """(summed loss over every real token in float64, number of tokens), no dropout."""
        total, count = 0.0, 0
        for batch in batches:
            b = self._batch(batch)
            loss, _, _ = tagger_loss_and_grads(self._params, self.config, **b)
            tokens = int(b["lengths"].sum())
            total += float(loss) * tokens
            count += tokens
        return total, count

    def decode(
        self,
        ids: Any,
        lengths: Any,
        chars: Any = None,
        char_lengths: Any = None,
        *,
        constraints: Optional[tuple[np.ndarray, np.ndarray, np.ndarray]] = None,
    ) -> np.ndarray:
        """Predicted tags int64 (B, T), -1 past each row's length (no dropout)."""
        ids_a, lens, chars_a, cl = self._inputs(ids, lengths, chars, char_lengths)
        cons = None if constraints is None else Constraints(*constraints)
        paths = tagger_decode(self._params, self.config, ids_a, lens, chars_a, cl, cons)
        out = np.full(ids_a.shape, -1, dtype=np.int64)
        for b, path in enumerate(paths):
            out[b, : len(path)] = path
        return out

    # ------------------------------------------------------------------ training

    def train_steps(
        self,
        batches: Sequence[Batch],
        lrs: Any,
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> tuple[np.ndarray, np.ndarray]:
        """One optimizer step per batch with ``lrs[k]``: forward with dropout, backward,
        clipping, update. Returns (losses float64 (S,), gradient norms before clipping
        float64 (S,))."""
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
            for k, b in enumerate(checked):
                loss, grads, _ = tagger_loss_and_grads(
                    self._params, self.config, rng=self._rng, **b
                )
                norms[k] = self._update(k, loss, grads, float(lrs_a[k]), clip_norm, clip_value)
                losses[k] = loss
        return losses, norms
