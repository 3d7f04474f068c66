"""Sequence to sequence: :class:`Seq2Seq`, an encoder-decoder RNN with attention.

source -> (bi)LSTM/GRU encoder over each source's real tokens -> bridge -> decoder cells with
Luong's input feeding and additive, dot or general attention -> generator -> softmax.
Training is teacher-forced (``teacher_forcing`` < 1 feeds back the model's own argmax), the
loss masked over target padding, with optional label smoothing; decoding is greedy, sampled
or by batched beam search. The equations are the spec's (rnnrs/reference/seq2seq.py); the
engine is the Rust core's Seq2SeqEngine or ``backends/numpy_seq2seq.py``.

The target side's ids are the target tokenizer's, then ``<bos>`` (id V) and ``<eos>``
(id V+1), so any rnnrs tokenizer (char, word, BPE) serves on either side.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Optional, Union

import numpy as np

from ..backends.engines import seq2seq_engine
from ..backends.selection import resolve_backend
from ..errors import CheckpointError
from ..io.checkpoint import Checkpoint, save_model, tokenizer_to_json
from ..nn.config import (
    check_dropout,
    check_model_size,
    check_positive_int,
    check_seed,
)
from ..nn.init import init_parameters
from ..reference.attention import ATTENTIONS
from ..reference.seq2seq import seq2seq_shapes
from ..text.batching import length_buckets, pad_batch
from ..text.tasks import PairData
from ..training.metrics import Seq2SeqResult, seq2seq_metrics
from ..training.trainer import History, TrainedSteps
from .engine_backed import EngineBacked
from .registry import _tokenizer, register_model

_DECODE_BATCH = 64  # sources per engine call when translating
Batch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class PairBatches:
    """A seq2seq model's training or validation data for the Trainer: encoded sources and
    targets (eos appended), the batch size and the seed of the per-epoch order; the texts,
    grouped by source, for the validation metrics."""

    sources: list[np.ndarray]
    targets: list[np.ndarray]
    batch_size: int
    seed: int
    grouped: tuple[list[str], list[list[str]]]
    unit: ClassVar[str] = "tokens"

    @property
    def steps_per_epoch(self) -> int:
        """Batches in one pass over the pairs."""
        return math.ceil(len(self.sources) / self.batch_size)

    @cached_property
    def longest_source(self) -> int:
        """Tokens in the longest source."""
        return max((len(s) for s in self.sources), default=0)

    def progress(self, loss: float, per_second: float) -> dict[str, str]:
        """Target tokens/s for the progress bar."""
        return {"tok_s": f"{per_second:.0f}"}

    def batch(self, index: np.ndarray) -> Batch:
        """The padded (source, source lengths, target, target lengths) of rows ``index``."""
        src, src_len = pad_batch([self.sources[i] for i in index])
        tgt, tgt_len = pad_batch([self.targets[i] for i in index])
        return src, src_len, tgt, tgt_len

    def epoch_batches(self, epoch: int, positions: Union[Sequence[int], np.ndarray]) -> list[Batch]:
        """The batches at ``positions`` of epoch ``epoch``'s order, shuffled and bucketed by
        source length, the same for the same seed and epoch."""
        rng = np.random.default_rng([self.seed, epoch])
        order = length_buckets([len(s) for s in self.sources], self.batch_size, rng)
        return [self.batch(order[int(p)]) for p in positions]

    def sorted_batches(self) -> list[Batch]:
        """All pairs in source-length order, for evaluation."""
        return [self.batch(i) for i in length_buckets([len(s) for s in self.sources], 64)]


@dataclass(frozen=True)
class AttentionMap:
    """What :meth:`Seq2Seq.attention` returns: the source tokens, the target tokens (then
    ``</s>``) and the weights (len(target_tokens), len(source_tokens)), rows summing to 1."""

    source_tokens: list[str]
    target_tokens: list[str]
    weights: np.ndarray


@register_model
class Seq2Seq(EngineBacked):
    """An encoder-decoder RNN with attention, trained on (source, target) text pairs.

    Args:
        source_tokenizer, target_tokenizer: rnnrs tokenizers (char, word or BPE) of each side.
        cell: "lstm" or "gru".
        embed_size, hidden_size: E of both embeddings, H of the decoder (and of the
            encoder's output: H/2 per direction when bidirectional, so H must be even).
        encoder_layers, decoder_layers: stacked layers on each side.
        bidirectional_encoder: run the encoder both ways (from each source's own end).
        attention: "additive" (Bahdanau), "dot" or "general" (Luong), or None.
        attention_size: width of the additive scorer (default H).
        input_feeding: feed the previous attentional vector with the next input (Luong).
        dropout: between encoder layers and on the attentional vector, while training.
        tie_target_embeddings: the generator reuses the target embedding (E must equal H).
        label_smoothing: eps of the smoothed cross-entropy, in [0, 1).
        teacher_forcing: probability of feeding the gold token (else the model's argmax).
        max_len_a, max_len_b: decoding stops after a*source_len + b tokens (fairseq's rule).
        max_source_length: the longest source this model translates (None: any); training
            raises it to the longest source of the training data, and a longer one is a
            ValueError.
        seed: seeds the weights, the dropout and teacher-forcing draws and the batch order.
        backend: "rust", "numpy" or None (the process default).

    Example:
        >>> import rnnrs
        >>> from rnnrs.text.dates import dates_task
        >>> src, tgt = dates_task(200, seed=0)
        >>> model = rnnrs.Seq2Seq(rnnrs.CharTokenizer.fit("".join(src)),
        ...                       rnnrs.CharTokenizer.fit("".join(tgt)), hidden_size=16,
        ...                       embed_size=8)
        >>> len(model.translate(["5 May 2021"])[0]) <= 2 * 10 + 10
        True
    """

    kind: ClassVar[str] = "seq2seq"

    def __init__(
        self,
        source_tokenizer: Any,
        target_tokenizer: Any,
        cell: str = "lstm",
        embed_size: int = 64,
        hidden_size: int = 128,
        encoder_layers: int = 1,
        decoder_layers: int = 1,
        bidirectional_encoder: bool = True,
        attention: Optional[str] = "additive",
        attention_size: Optional[int] = None,
        input_feeding: bool = True,
        dropout: float = 0.0,
        tie_target_embeddings: bool = False,
        label_smoothing: float = 0.0,
        teacher_forcing: float = 1.0,
        max_len_a: float = 2.0,
        max_len_b: int = 10,
        max_source_length: Optional[int] = None,
        seed: int = 0,
        backend: Optional[str] = None,
    ) -> None:
        for name, tok in (
            ("source_tokenizer", source_tokenizer),
            ("target_tokenizer", target_tokenizer),
        ):
            if not (callable(getattr(tok, "encode", None)) and hasattr(tok, "vocab_size")):
                raise TypeError(f"{name}: expected an rnnrs tokenizer (encode(text), vocab_size)")
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell: expected 'lstm' or 'gru', got {cell!r}")
        if attention is not None and attention not in ATTENTIONS:
            raise ValueError(
                f"attention: expected one of {', '.join(ATTENTIONS)} or None, got {attention!r}"
            )
        hidden = check_positive_int(hidden_size, "hidden_size")
        embed = check_positive_int(embed_size, "embed_size")
        if bidirectional_encoder and hidden % 2:
            raise ValueError(
                f"hidden_size: a bidirectional encoder gives each direction H/2 units, so H "
                f"must be even, got {hidden}"
            )
        if tie_target_embeddings and embed != hidden:
            raise ValueError(
                f"tie_target_embeddings: needs embed_size == hidden_size, got {embed} and {hidden}"
            )
        for name, value in (
            ("label_smoothing", label_smoothing),
            ("teacher_forcing", teacher_forcing),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name}: expected a float, got {value!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing: expected a value in [0, 1), got {label_smoothing}")
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing: expected a value in [0, 1], got {teacher_forcing}")
        if not (isinstance(max_len_a, (int, float)) and max_len_a >= 0):
            raise ValueError(f"max_len_a: expected a number >= 0, got {max_len_a!r}")
        if isinstance(max_len_b, bool) or not isinstance(max_len_b, int) or max_len_b < 0:
            raise ValueError(f"max_len_b: expected an int >= 0, got {max_len_b!r}")
        seed = check_seed(seed)
        self.tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        tv = int(target_tokenizer.vocab_size)
        self.bos_id, self.eos_id = tv, tv + 1
        self.max_len_a, self.max_len_b = float(max_len_a), int(max_len_b)
        self.max_source_length = (
            None
            if max_source_length is None
            else check_positive_int(max_source_length, "max_source_length")
        )
        self._engine_config: dict[str, Any] = {
            "source_vocab": int(source_tokenizer.vocab_size),
            "target_vocab": tv + 2,
            "cell": cell,
            "embed_size": embed,
            "hidden_size": hidden,
            "encoder_layers": check_positive_int(encoder_layers, "encoder_layers"),
            "decoder_layers": check_positive_int(decoder_layers, "decoder_layers"),
            "bidirectional": bool(bidirectional_encoder),
            "attention": attention,
            "attention_size": hidden
            if attention_size is None
            else check_positive_int(attention_size, "attention_size"),
            "input_feeding": bool(input_feeding),
            "tie_target_embeddings": bool(tie_target_embeddings),
            "label_smoothing": float(label_smoothing),
            "teacher_forcing": float(teacher_forcing),
            "dropout": check_dropout(dropout),
            "bos_id": self.bos_id,
            "eos_id": self.eos_id,
            "seed": int(seed),
        }
        self.backend = resolve_backend(backend)
        check_model_size(
            "Seq2Seq", seq2seq_shapes, self._engine_config, ("encoder_layers", "decoder_layers")
        )
        self.engine = seq2seq_engine(self._engine_config, self.backend)
        self._shapes = seq2seq_shapes(self._engine_config)
        initial = init_parameters(
            self._shapes, np.random.default_rng(int(seed)), hidden_size=hidden
        )
        self.engine.set_parameters(initial)

    # ------------------------------------------------------------------ description

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments but the tokenizers and backend, and the target
        tokenizer's JSON (what a checkpoint saves; the source tokenizer is saved as the
        model's tokenizer)."""
        c = self._engine_config
        return {
            "cell": c["cell"],
            "embed_size": c["embed_size"],
            "hidden_size": c["hidden_size"],
            "encoder_layers": c["encoder_layers"],
            "decoder_layers": c["decoder_layers"],
            "bidirectional_encoder": c["bidirectional"],
            "attention": c["attention"],
            "attention_size": c["attention_size"],
            "input_feeding": c["input_feeding"],
            "dropout": c["dropout"],
            "tie_target_embeddings": c["tie_target_embeddings"],
            "label_smoothing": c["label_smoothing"],
            "teacher_forcing": c["teacher_forcing"],
            "max_len_a": self.max_len_a,
            "max_len_b": self.max_len_b,
            "max_source_length": self.max_source_length,
            "seed": c["seed"],
            "target_tokenizer": tokenizer_to_json(self.target_tokenizer),
        }

    @property
    def num_parameters(self) -> int:
        """Number of trainable scalars."""
        return sum(int(np.prod(s)) for s in self._shapes.values())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "target_tokenizer")
        return f"Seq2Seq({args}, backend={self.backend!r})"

    # ------------------------------------------------------------------ parameters and files

    def set_parameters(self, params: dict[str, np.ndarray]) -> None:
        """Replace every weight; ValueError naming a missing, extra or misshapen tensor."""
        self._load_parameters(params, self._shapes)

    def to_torch_state_dict(self) -> dict[str, np.ndarray]:
        """The weights by PyTorch name: ``encoder.rnn.weight_ih_l0_reverse``,
        ``decoder.rnn.weight_hh_l0`` (nn.LSTM/GRU names under their modules), the embeddings,
        ``bridge``, ``attention.*`` and ``generator`` (nn.Linear); docs/seq2seq.md has the
        equivalent torch model."""
        return self.parameters()

    def save(self, directory: Union[str, os.PathLike], trainer: Any = None) -> None:
        """Write a checkpoint directory (weights, config, both tokenizers); with ``trainer``
        its training state too. ``rnnrs.load(directory)`` reads it back."""
        save_model(self, directory, trainer=trainer)

    @classmethod
    def from_checkpoint(
        cls, checkpoint: Checkpoint, tokenizer: Any, *, backend: Optional[str] = None
    ) -> Seq2Seq:
        """The model of a checkpoint read by ``rnnrs.load``, with its tokenizers."""
        config = dict(checkpoint.config)
        target_json = config.pop("target_tokenizer", None)
        if tokenizer is None or target_json is None:
            raise CheckpointError(f"{checkpoint.path}: a seq2seq model needs both tokenizers")
        target = _tokenizer(target_json, checkpoint.path)
        return cls.restored(checkpoint, tokenizer, target, **config, backend=backend)

    # ------------------------------------------------------------------ texts

    def _encode(self, texts: Sequence[str], side: str, name: str) -> list[np.ndarray]:
        if isinstance(texts, str):
            raise TypeError(f"{name}: expected a sequence of texts, got one string")
        tok = self.tokenizer if side == "source" else self.target_tokenizer
        out = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"{name}[{i}]: expected a string, got {type(text).__name__}")
            ids = np.asarray(tok.encode(text), dtype=np.uint32)
            if ids.size == 0:
                raise ValueError(f"{name}[{i}]: the {side} text has no tokens ({text!r})")
            out.append(ids if side == "source" else np.append(ids, np.uint32(self.eos_id)))
        return out

    def _target_tokens(self, ids: Union[Sequence[int], np.ndarray]) -> list[str]:
        to_token = getattr(self.target_tokenizer, "id_to_token", None)
        return [
            to_token(int(i)) if to_token else self.target_tokenizer.decode([int(i)]) for i in ids
        ]

    def _source_tokens(self, ids: Union[Sequence[int], np.ndarray]) -> list[str]:
        to_token = getattr(self.tokenizer, "id_to_token", None)
        return [to_token(int(i)) if to_token else self.tokenizer.decode([int(i)]) for i in ids]

    def _max_lengths(self, lengths: np.ndarray, max_length: Optional[int]) -> np.ndarray:
        if max_length is not None:
            return np.full(len(lengths), check_positive_int(max_length, "max_length"))
        return np.maximum(1, (self.max_len_a * lengths).astype(np.int64) + self.max_len_b)

    # ------------------------------------------------------------------ decoding

    def translate_ids(
        self,
        texts: Sequence[str],
        *,
        beam: int = 1,
        length_penalty: float = 1.0,
        max_length: Optional[int] = None,
        sample: bool = False,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        seed: int = 0,
    ) -> list[list[int]]:
        """The output ids (target tokenizer ids, no eos) of each text; see :meth:`translate`."""
        if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
            raise ValueError(f"beam: the beam width must be a positive int, got {beam!r}")
        if not isinstance(length_penalty, (int, float)) or not math.isfinite(length_penalty):
            raise ValueError(f"length_penalty: expected a finite number, got {length_penalty!r}")
        if sample and beam > 1:
            raise ValueError("sample, beam: sampling draws one sequence; use beam=1")
        if sample and not temperature > 0:
            raise ValueError(f"temperature: must be > 0 when sampling, got {temperature!r}")
        seqs = self._encode(texts, "source", "texts")
        self._check_source_lengths(seqs, "texts")
        return self._decode(
            seqs, beam, float(length_penalty), max_length, sample, (temperature, top_k, top_p, seed)
        )

    def _check_source_lengths(self, seqs: list[np.ndarray], name: str) -> None:
        longest = self.max_source_length
        for i, ids in enumerate(seqs):
            if longest is not None and len(ids) > longest:
                raise ValueError(
                    f"{name}[{i}]: {len(ids)} tokens, longer than any source seen in training "
                    f"({longest}); set model.max_source_length = None to translate it anyway"
                )

    def _decode(
        self,
        seqs: list[np.ndarray],
        beam: int,
        length_penalty: float,
        max_length: Optional[int],
        sample: bool,
        sampling: tuple[float, Optional[int], Optional[float], int],
    ) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in seqs]
        temperature, top_k, top_p, seed = sampling
        for index in length_buckets([len(s) for s in seqs], _DECODE_BATCH):
            src, src_len = pad_batch([seqs[i] for i in index])
            limits = self._max_lengths(src_len, max_length)
            if sample:
                rows = self.engine.sample(src, src_len, limits, temperature, top_k, top_p, seed)
            elif beam > 1:
                rows = self.engine.beam(src, src_len, limits, beam, length_penalty)
            else:
                rows = self.engine.greedy(src, src_len, limits)
            for i, ids in zip(index, rows):
                out[int(i)] = [int(t) for t in ids]
        return out

    def translate(
        self,
        texts: Sequence[str],
        *,
        beam: int = 1,
        length_penalty: float = 1.0,
        max_length: Optional[int] = None,
        sample: bool = False,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        seed: int = 0,
    ) -> list[str]:
        """The output text of each source text: greedy (``beam=1``), beam search of width
        ``beam`` (hypotheses ranked by log-probability / length ** ``length_penalty``), or
        sampled (``sample=True`` with ``temperature``, ``top_k``, ``top_p``, from ``seed``).
        A text stops at ``</s>`` or after ``max_length`` tokens (default
        ``max_len_a * source_len + max_len_b``)."""
        ids = self.translate_ids(
            texts,
            beam=beam,
            length_penalty=length_penalty,
            max_length=max_length,
            sample=sample,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
        )
        return [self.target_tokenizer.decode(np.asarray(row, dtype=np.uint32)) for row in ids]

    def attention(self, source: str, target: Optional[str] = None) -> AttentionMap:
        """The attention weights of ``target`` (default: the greedy translation) read with
        teacher forcing on ``source``: one row per target token and one for ``</s>``."""
        if self._engine_config["attention"] is None:
            raise ValueError("attention: this model has no attention (attention=None)")
        (src,) = self._encode([source], "source", "source")
        self._check_source_lengths([src], "source")
        if target is None:
            target = self.translate([source])[0]
            tgt_ids = np.append(
                np.asarray(self.target_tokenizer.encode(target), np.uint32), np.uint32(self.eos_id)
            )
        else:
            (tgt_ids,) = self._encode([target], "target", "target")
        _, weights = self.engine.forward(
            (src[None], np.array([len(src)]), tgt_ids[None], np.array([len(tgt_ids)]))
        )
        return AttentionMap(
            source_tokens=self._source_tokens(src),
            target_tokens=[*self._target_tokens(tgt_ids[:-1]), "</s>"],
            weights=weights[:, :, 0].copy(),
        )

    def evaluate(
        self,
        sources: Sequence[str],
        references: Sequence[Union[str, Sequence[str]]],
        *,
        beam: int = 1,
        length_penalty: float = 1.0,
        max_length: Optional[int] = None,
    ) -> Seq2SeqResult:
        """Exact match, token error rate and corpus BLEU of the translations of ``sources``
        against ``references`` (one text, or a list of texts per source: a hypothesis
        matching any of them counts). Tokens are the target tokenizer's."""
        if len(sources) != len(references):
            raise ValueError(f"references: {len(sources)} sources but {len(references)} references")
        hyps = self.translate_ids(
            sources, beam=beam, length_penalty=length_penalty, max_length=max_length
        )
        return self._metrics(hyps, references)

    def _metrics(
        self, hyps: list[list[int]], references: Sequence[Union[str, Sequence[str]]]
    ) -> Seq2SeqResult:
        refs = []
        for i, r in enumerate(references):
            options = [r] if isinstance(r, str) else list(r)
            if not options:
                raise ValueError(f"references[{i}]: expected at least one reference")
            refs.append([self._target_tokens(self.target_tokenizer.encode(o)) for o in options])
        return seq2seq_metrics([self._target_tokens(h) for h in hyps], refs)

    # ------------------------------------------------------------------ training

    def fit(
        self,
        sources: Sequence[str],
        targets: Sequence[str],
        *,
        valid: Optional[tuple[Sequence[str], Sequence[str]]] = None,
        epochs: Optional[int] = None,
        max_time: Optional[float] = None,
        max_steps: Optional[int] = None,
        batch_size: int = 64,
        optimizer: Any = None,
        **trainer_options: Any,
    ) -> History:
        """Train with an ``rnnrs.Trainer`` (default ``Adam(lr=2e-3)``) on the pairs,
        validating on ``valid`` = (sources, targets) when given; other keywords
        (eval_every, early_stopping_patience, monitor = "valid_loss", "exact_match" or
        "token_error_rate", schedule, clip_norm, progress, callbacks) go to the Trainer."""
        from ..training.optimizers import Adam
        from ..training.trainer import Trainer

        trainer_options.setdefault("progress", False)
        if trainer_options.get("monitor") == "token_error_rate":
            trainer_options.setdefault("mode", "min")
        trainer = Trainer(
            self,
            optimizer if optimizer is not None else Adam(lr=2e-3),
            batch_size=batch_size,
            **trainer_options,
        )
        train = self.pair_batches((sources, targets), batch_size, name="sources")
        checked = None if valid is None else self.pair_batches(valid, batch_size, name="valid")
        return trainer.fit(train, checked, max_steps=max_steps, max_time=max_time, epochs=epochs)

    # rnnrs.training.trainer.TrainableModel: what the Trainer calls; the engine does the work.

    def pair_batches(self, data: Any, batch_size: int, *, name: str = "data") -> PairBatches:
        """(sources, targets) or a ``PairData`` encoded for training or validation; errors
        (an empty text, unequal counts) name ``name``."""
        if isinstance(data, PairData):
            sources, targets = data.sources, data.targets
        elif isinstance(data, tuple) and len(data) == 2:
            sources, targets = data
        else:
            raise TypeError(f"{name}: expected (sources, targets) or a PairData")
        if len(sources) != len(targets):
            raise ValueError(f"{name}: {len(sources)} sources but {len(targets)} targets")
        if len(sources) == 0:
            raise ValueError(f"{name}: expected at least one pair, got none")
        try:
            src = self._encode(sources, "source", "sources")
            tgt = self._encode(targets, "target", "targets")
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        grouped = PairData(list(sources), list(targets)).grouped()
        return PairBatches(src, tgt, batch_size, self._engine_config["seed"], grouped)

    def training_data(self, data: Any, *, batch_size: int, bptt: int, name: str) -> PairBatches:
        """:meth:`pair_batches` of ``data`` (or ``data`` itself when it already is one)."""
        if isinstance(data, PairBatches):
            return data
        return self.pair_batches(data, batch_size, name=name)

    def train_on(
        self,
        data: PairBatches,
        epoch: int,
        positions: np.ndarray,
        lrs: np.ndarray,
        carry: Any,
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> TrainedSteps:
        """Train the batches at ``positions`` of epoch ``epoch``'s shuffled order."""
        batches = data.epoch_batches(epoch, positions)
        losses, norms, tokens = self.engine.train_steps(batches, lrs, clip_norm, clip_value)
        # Every source of the training data counts as seen, not only the batches trained so
        # far: a short run must still translate its own validation sources.
        self.max_source_length = max(self.max_source_length or 0, data.longest_source)
        return TrainedSteps(losses, norms, None, int(tokens))

    def evaluate_on(self, data: Optional[PairBatches]) -> dict[str, Optional[float]]:
        """``valid_loss`` (nats per target token, teacher-forced), and the greedy
        translations' ``exact_match`` and ``token_error_rate``."""
        if data is None:
            return {"valid_loss": None, "exact_match": None, "token_error_rate": None}
        total, count = self.engine.evaluate(data.sorted_batches())
        sources, refs = data.grouped
        hyps = self._decode(
            self._encode(sources, "source", "valid"), 1, 1.0, None, False, (1.0, None, None, 0)
        )
        result = self._metrics(hyps, refs)
        return {
            "valid_loss": float(total / count),
            "exact_match": result.exact_match,
            "token_error_rate": result.token_error_rate,
        }


__all__ = ["AttentionMap", "PairBatches", "Seq2Seq"]
