"""NumpySeq2SeqEngine: the encoder-decoder engine on the NumPy reference
(``rnnrs.reference.seq2seq`` and ``seq2seq_decode``), in float32; ``dtype=np.float64`` (a
reference-only keyword) gives a float64 engine for gradient checks.

A batch is ``(src (B, S) uint32, src_len (B,), tgt (B, T) uint32, tgt_len (B,))``: each
target row holds its tokens then eos. Dropout and the teacher-forcing draws come from the
engine's PCG64 generator seeded by ``seed``: per training step, when ``teacher_forcing`` < 1,
one (T, B) uniform draw (the gold token is fed where it is below the ratio, the model's argmax
elsewhere), then the reference's dropout masks.
The Rust backend's engine is src/python/seq2seq.rs (Seq2SeqEngine), with the same methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from ..generation import sample_token
from ..reference.attention import attention_keys
from ..reference.lengths import check_lengths
from ..reference.loss import log_softmax
from ..reference.seq2seq import (
    decoder_step,
    encode,
    seq2seq_backward,
    seq2seq_forward,
    seq2seq_loss,
    seq2seq_shapes,
)
from ..reference.seq2seq_decode import beam_search, greedy_decode
from .arrays import as_token_array
from .numpy_flat import FlatEngine, optional_positive

Batch = tuple[Any, Any, Any, Any]


class NumpySeq2SeqEngine(FlatEngine):
    """The engine of ``rnnrs.Seq2Seq`` (keyword arguments checked by ``Seq2Seq``).

    Example:
        >>> eng = NumpySeq2SeqEngine(source_vocab=5, target_vocab=4, cell="gru", embed_size=2,
        ...     hidden_size=4, encoder_layers=1, decoder_layers=1, bidirectional=True,
        ...     attention="dot", attention_size=4, input_feeding=True,
        ...     tie_target_embeddings=False, label_smoothing=0.0, dropout=0.0,
        ...     teacher_forcing=1.0, bos_id=1, eos_id=2, seed=0)
        >>> eng.greedy(np.array([[3, 4]], np.uint32), np.array([2]), np.array([3]))
        [[0, 0, 0]]
    """

    def __init__(self, *, seed: int, dtype: Any = np.float32, **config: Any) -> None:
        self.config: dict[str, Any] = dict(config)
        super().__init__(seq2seq_shapes(self.config), seed, dtype)

    # ------------------------------------------------------------------ argument checks

    def _source(self, src: Any, src_len: Any) -> tuple[np.ndarray, np.ndarray]:
        ids = as_token_array(src, "source", self.config["source_vocab"])
        return ids, check_lengths(np.asarray(src_len), ids.shape[1], ids.shape[0])

    def _batch(self, batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        src, src_len, tgt, tgt_len = batch
        s, sl = self._source(src, src_len)
        t = as_token_array(tgt, "target", self.config["target_vocab"])
        if t.shape[0] != s.shape[0]:
            raise ValueError(f"target: expected {s.shape[0]} rows like source, got {t.shape[0]}")
        return s, sl, t, check_lengths(np.asarray(tgt_len), t.shape[1], t.shape[0])

    @staticmethod
    def _limits(max_lengths: Any, batch: int) -> np.ndarray:
        arr = np.asarray(max_lengths)
        if arr.shape != (batch,) or arr.dtype.kind not in "iu" or (batch and arr.min() < 1):
            raise ValueError(f"max_lengths: expected ({batch},) integers >= 1")
        return arr.astype(np.int64)

    # ------------------------------------------------------------------ scores

    def forward(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """Teacher-forced logits float32 (T, B, V) and attention weights (T, S, B) of one
        batch, no dropout (``attention(source, target)`` reads the weights)."""
        s, sl, t, tl = self._batch(batch)
        logits, weights, _ = seq2seq_forward(self._params, self.config, s, sl, t, tl)
        return logits.astype(np.float32), weights.astype(np.float32)

    def loss_and_grads(self, batch: Batch, train: bool) -> tuple[float, dict[str, np.ndarray]]:
        """(mean loss per target token, grads by name); dropout and teacher forcing < 1
        only when ``train``."""
        loss, grads, _ = self._loss_and_grads(self._batch(batch), train)
        return loss, grads

    def _loss_and_grads(
        self, checked: tuple[np.ndarray, ...], train: bool
    ) -> tuple[float, dict[str, np.ndarray], int]:
        s, sl, t, tl = checked
        rng = self._rng if train else None
        ratio = self.config["teacher_forcing"]
        feed_gold = None
        if rng is not None and ratio < 1.0:
            feed_gold = rng.random((t.shape[1], t.shape[0])) < ratio
        logits, _, cache = seq2seq_forward(self._params, self.config, s, sl, t, tl, feed_gold, rng)
        loss, d_logits, count = seq2seq_loss(logits, t, tl, self.config["label_smoothing"])
        return loss, seq2seq_backward(d_logits, self._params, self.config, cache), count

    def evaluate(self, batches: Sequence[Batch]) -> tuple[float, int]:
        """(loss summed over target tokens in float64, number of target tokens), without
        label smoothing or dropout."""
        total, count = 0.0, 0
        for batch in batches:
            s, sl, t, tl = self._batch(batch)
            logits, _, _ = seq2seq_forward(self._params, self.config, s, sl, t, tl)
            loss, _, n = seq2seq_loss(logits, t, tl)
            total += loss * n
            count += n
        return total, count

    # ------------------------------------------------------------------ decoding

    def greedy(self, src: Any, src_len: Any, max_lengths: Any) -> list[list[int]]:
        """The greedy output ids of each row (without eos)."""
        s, sl = self._source(src, src_len)
        limits = self._limits(max_lengths, s.shape[0])
        return greedy_decode(self._params, self.config, s, sl, limits)[0]

    def beam(
        self, src: Any, src_len: Any, max_lengths: Any, width: int, length_penalty: float
    ) -> list[list[int]]:
        """The best beam-search hypothesis of each row (reference/seq2seq_decode.py)."""
        s, sl = self._source(src, src_len)
        limits = self._limits(max_lengths, s.shape[0])
        return beam_search(self._params, self.config, s, sl, limits, width, length_penalty)

    def sample(
        self,
        src: Any,
        src_len: Any,
        max_lengths: Any,
        temperature: float,
        top_k: Optional[int],
        top_p: Optional[float],
        seed: int,
    ) -> list[list[int]]:
        """Sampled output ids of each row with rnnrs.generation's rules from ``seed``."""
        s, sl = self._source(src, src_len)
        limits = self._limits(max_lengths, s.shape[0])
        rng = np.random.default_rng(seed)
        mem, state, _ = encode(self._params, self.config, s, sl)
        kind = self.config["attention"]
        att = {k[10:]: v for k, v in self._params.items() if k.startswith("attention.")}
        keys = attention_keys(kind, mem, att) if kind is not None else None
        batch = s.shape[0]
        prev = np.full(batch, self.config["bos_id"], dtype=np.int64)
        feed = np.zeros((batch, self.config["hidden_size"]), dtype=mem.dtype)
        out: list[list[int]] = [[] for _ in range(batch)]
        done = np.zeros(batch, dtype=bool)
        for _ in range(int(limits.max(initial=0))):
            logits, feed, state, _, _ = decoder_step(
                self._params, self.config, prev, feed, state, mem, keys, sl
            )
            logits[:, self.config["bos_id"]] = -np.inf
            logp = log_softmax(logits.astype(np.float64))
            for b in range(batch):
                prev[b] = sample_token(
                    logp[b], rng, temperature=temperature, top_k=top_k, top_p=top_p
                )
                if done[b]:
                    continue
                if prev[b] == self.config["eos_id"]:
                    done[b] = True
                else:
                    out[b].append(int(prev[b]))
                    done[b] = len(out[b]) >= limits[b]
            if done.all():
                break
        return out

    # ------------------------------------------------------------------ training

    def train_steps(
        self,
        batches: Sequence[Batch],
        lrs: Any,
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """One optimizer step per batch with ``lrs[k]`` (dropout, teacher forcing, clipping,
        update). Returns (losses (S,), gradient norms before clipping (S,), target tokens)."""
        self._require_optimizer()
        checked = [self._batch(b) for b in batches]
        lrs_a = np.asarray(lrs, dtype=np.float64)
        if lrs_a.shape != (len(checked),):
            raise ValueError(f"lrs: expected shape ({len(checked)},) like batches")
        clip_norm = optional_positive(clip_norm, "clip_norm")
        clip_value = optional_positive(clip_value, "clip_value")
        losses, norms, tokens = np.zeros(len(checked)), np.zeros(len(checked)), 0
        with np.errstate(all="ignore"):
            for k, batch in enumerate(checked):
                loss, grads, count = self._loss_and_grads(batch, True)
                norms[k] = self._update(k, loss, grads, float(lrs_a[k]), clip_norm, clip_value)
                losses[k] = loss
                tokens += count
        return losses, norms, tokens
