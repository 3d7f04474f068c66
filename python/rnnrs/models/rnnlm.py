"""Recurrent language models: :class:`RNNLM`.

The model owns its configuration, tokenizer and weights' initialisation; all numeric work
is delegated to an engine of the chosen backend (docs/backends.md).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Union

import numpy as np

from ..backends.arrays import as_token_array
from ..backends.engines import rnnlm_engine
from ..backends.selection import resolve_backend
from ..errors import CheckpointError
from ..generation import beam_search as beam_search_sequence
from ..generation import generate as generate_sequence
from ..io.checkpoint import Checkpoint, save_model
from ..io.word_vectors import EmbeddingOverlap, seed_model_embedding
from ..ngram.inputs import sentence_texts
from ..nn.classes import classes_from_mapping, read_classes_file
from ..nn.config import check_model_size, normalize_config
from ..nn.init import init_parameters
from ..reference.lm import parameter_shapes
from ..reference.loss import log_softmax
from ..scoring import SentenceScores
from ..text.batching import batchify
from ..training.trainer import TrainedSteps
from .engine_backed import EngineBacked
from .registry import register_model
from .rnn_scoring import rnn_sentence_logprobs

State = tuple[np.ndarray, ...]


def perplexity_from_loss(loss: float) -> float:
    """exp(loss) of a mean loss in nats: inf where that overflows a float (a loss above
    about 709.8 nats a token, which huge weights can give), a ValueError for NaN.

    Example:
        >>> perplexity_from_loss(0.0), perplexity_from_loss(1e30)
        (1.0, inf)
    """
    if math.isnan(loss):
        raise ValueError(
            "the model's loss on this text is NaN: its weights hold NaN, or values so large "
            "that the scores overflow"
        )
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


@dataclass(frozen=True)
class GenState:
    """A generation state of an RNNLM: the recurrent state after the tokens seen so far
    and the log-probabilities (V,) of the next token. Never mutated."""

    state: State
    logprobs: np.ndarray


@dataclass(frozen=True)
class TokenStream:
    """A language model's training or validation data for the Trainer: a batchified (B, N)
    uint32 stream cut into chunks of ``bptt`` steps starting at columns ``starts``."""

    stream: np.ndarray
    bptt: int
    unit: ClassVar[str] = "tokens"

    @property
    def starts(self) -> np.ndarray:
        """The first column of each step's chunk."""
        return np.arange(0, self.stream.shape[1] - 1, self.bptt, dtype=np.int64)

    @property
    def steps_per_epoch(self) -> int:
        """Chunks in one pass over the stream."""
        return len(range(0, self.stream.shape[1] - 1, self.bptt))

    def progress(self, loss: float, per_second: float) -> dict[str, str]:
        """Perplexity and tokens/s for the progress bar."""
        return {"ppl": f"{math.exp(min(loss, 50)):.1f}", "tok_s": f"{per_second:.0f}"}


def _token_stream(ids: Any, batch_size: int, vocab_size: int, name: str) -> np.ndarray:
    """``ids`` as a batchified (B, N) uint32 stream checked against the vocabulary: a 1-D
    sequence goes through :func:`rnnrs.text.batching.batchify`; a 2-D array is taken as
    batchified."""
    arr = np.asarray(ids)
    if arr.ndim == 2:
        return as_token_array(arr, name, vocab_size)
    seq = as_token_array(arr, name, vocab_size, ndim=1)
    if len(seq) // batch_size < 2:
        raise ValueError(
            f"{name}: {len(seq)} tokens are too few for batch_size={batch_size} "
            "(need at least 2 per row)"
        )
    return batchify(seq, batch_size)


@register_model
class RNNLM(EngineBacked):
    """A recurrent language model: embedding -> stacked RNN/LSTM/GRU -> linear -> softmax.

    Args:
        vocab_size: number of token ids.
        cell: "lstm", "gru", "rnn_tanh" (alias "rnn") or "rnn_relu".
        hidden_size, num_layers: size and depth of the recurrent stack.
        embed_size: embedding width (default: hidden_size).
        dropout: probability on the inputs of layers 2..L and on the last layer's output.
        tie_weights: share the embedding table with the output layer (needs
            embed_size == hidden_size).
        seed: seeds the weight initialisation and the dropout RNG.
        backend: "rust", "numpy" or None (the process default, see ``rnnrs.backend()``).
        tokenizer: any object with ``encode(text) -> ids`` and ``decode(ids) -> str``; lets
            prompts be text.
        softmax: "full", or "class" for the class-factored softmax P(w|h) = P(c(w)|h) *
            P(w|c(w),h) (exactly normalised; training costs O(H * (K + |class|)) per token).
        classes: with softmax="class", the class of every token id: a sequence of V ints
            (e.g. ``rnnrs.frequency_classes(train_ids, V)``), a ``{word: class}`` mapping
            or the path of a ``word<TAB>class`` file (both need the tokenizer's ``vocab``).
        embeddings: a :class:`rnnrs.WordVectors`: the embedding row of every token the
            vectors hold starts as its vector (the others as drawn; ``embed_size``
            defaults to their dimension; needs the tokenizer). ``embedding_overlap``
            tells how many tokens were found.
        freeze_embeddings: train everything but the embedding table (torch's
            ``requires_grad=False``: no gradient, no update, no weight decay); with
            ``tie_weights`` the shared table is the output layer's too.

    Example:
        >>> import numpy as np, rnnrs
        >>> model = rnnrs.RNNLM(10, cell="gru", hidden_size=8, backend="numpy")
        >>> x = np.array([[1, 2, 3]]); y = np.array([[2, 3, 4]])
        >>> loss, grads, state = model.loss_and_grads(x, y)
        >>> sorted(grads) == sorted(model.parameters()), state[0].shape
        (True, (1, 1, 8))
    """

    kind: ClassVar[str] = "RNNLM"

    def __init__(
        self,
        vocab_size: int,
        cell: str = "lstm",
        hidden_size: int = 256,
        num_layers: int = 1,
        embed_size: Optional[int] = None,
        dropout: float = 0.0,
        tie_weights: bool = False,
        seed: int = 0,
        backend: Optional[str] = None,
        tokenizer: Any = None,
        softmax: str = "full",
        classes: Any = None,
        embeddings: Any = None,
        freeze_embeddings: bool = False,
    ) -> None:
        if isinstance(classes, (str, os.PathLike, Mapping)):
            vocab = getattr(tokenizer, "vocab", None)
            if vocab is None:
                raise TypeError(
                    "classes: a file or a {word: class} mapping needs a tokenizer with a vocab"
                )
            if isinstance(classes, Mapping):
                classes = classes_from_mapping(classes, vocab)
            else:
                classes = read_classes_file(classes, vocab)
        if embeddings is not None and embed_size is None:
            embed_size = getattr(embeddings, "dim", None)
        self._config = normalize_config(
            {
                "vocab_size": vocab_size,
                "cell": cell,
                "hidden_size": hidden_size,
                "num_layers": num_layers,
                "embed_size": embed_size,
                "dropout": dropout,
                "tie_weights": tie_weights,
                "seed": seed,
                "softmax": softmax,
                "classes": classes,
                "freeze_embeddings": freeze_embeddings,
            }
        )
        if tokenizer is not None and not (
            callable(getattr(tokenizer, "encode", None))
            and callable(getattr(tokenizer, "decode", None))
        ):
            raise TypeError("tokenizer: expected an object with encode(text) and decode(ids)")
        self.tokenizer = tokenizer
        self.backend = resolve_backend(backend)
        check_model_size("RNNLM", parameter_shapes, self._config)
        engine_config = {k: v for k, v in self._config.items() if k != "freeze_embeddings"}
        self.engine = rnnlm_engine(engine_config, self.backend)
        if self._config.get("freeze_embeddings"):
            self.frozen_parameters = ("embedding.weight",)
        initial = init_parameters(
            parameter_shapes(self._config),
            np.random.default_rng(self._config["seed"]),
            hidden_size=self._config["hidden_size"],
        )
        self.embedding_overlap: Optional[EmbeddingOverlap] = None
        if embeddings is not None:
            self.embedding_overlap = seed_model_embedding(initial, embeddings, tokenizer)
        self.engine.set_parameters(initial)

    # ------------------------------------------------------------------ description

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (without backend and tokenizer): RNNLM(**config)."""
        return dict(self._config)

    @property
    def vocab_size(self) -> int:
        """Number of token ids."""
        return int(self._config["vocab_size"])

    @property
    def num_parameters(self) -> int:
        """Number of trainable scalars (a tied table counts once)."""
        return sum(int(np.prod(s)) for s in parameter_shapes(self._config).values())

    def __repr__(self) -> str:
        shown = {k: v for k, v in self._config.items() if k != "classes"}
        if "classes" in self._config:
            shown["num_classes"] = max(self._config["classes"]) + 1
        args = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"RNNLM({args}, backend={self.backend!r})"

    # ------------------------------------------------------------------ parameters

    def set_parameters(self, params: dict[str, np.ndarray]) -> None:
        """Replace every weight; ValueError naming a missing, extra or misshapen tensor."""
        self._load_parameters(params, parameter_shapes(self._config))

    # ------------------------------------------------------------------ files and torch

    def save(self, directory: Union[str, os.PathLike], trainer: Any = None) -> None:
        """Write a checkpoint directory (model.safetensors + model.json, atomically; see
        docs/checkpoints.md); with ``trainer``, also the training state for exact resume.

        Example:
            >>> model.save("run1")  # doctest: +SKIP
            >>> rnnrs.load("run1")  # doctest: +SKIP
        """
        save_model(self, directory, trainer=trainer)

    @classmethod
    def from_checkpoint(
        cls, checkpoint: Checkpoint, tokenizer: Any, *, backend: Optional[str] = None
    ) -> RNNLM:
        """The model of a checkpoint read by ``rnnrs.load`` (see ``rnnrs.models.registry``),
        with the tokenizer saved beside it (or None)."""
        model = cls.restored(checkpoint, **checkpoint.config, backend=backend)
        if tokenizer is not None:
            if tokenizer.vocab_size != model.vocab_size:
                raise CheckpointError(
                    f"{checkpoint.path}: the tokenizer has {tokenizer.vocab_size} tokens but "
                    f"the model {model.vocab_size}: they do not belong together"
                )
            model.tokenizer = tokenizer
        return model

    def to_torch_state_dict(self) -> dict[str, np.ndarray]:
        """The weights as the state_dict (numpy float32) of the equivalent torch module
        (``rnnrs.io.torch_interop.torch_module``): Embedding ``embedding``, RNN/LSTM/GRU
        ``rnn`` (batch_first), Linear ``output``.

        Example:
            >>> import rnnrs
            >>> sd = rnnrs.RNNLM(5, hidden_size=4, backend="numpy").to_torch_state_dict()
            >>> sd["rnn.weight_hh_l0"].shape
            (16, 4)
        """
        from ..io.torch_interop import state_dict_from_parameters

        return state_dict_from_parameters(self.parameters(), self._config["tie_weights"])

    @classmethod
    def from_torch_state_dict(
        cls,
        state_dict: Any,
        *,
        cell: Optional[str] = None,
        dropout: float = 0.0,
        seed: int = 0,
        backend: Optional[str] = None,
        tokenizer: Any = None,
    ) -> RNNLM:
        """A model with the weights of a torch state_dict (numpy arrays or tensors) named
        as :meth:`to_torch_state_dict`; sizes, cell and tying are read from the shapes.

        Example:
            >>> import rnnrs
            >>> a = rnnrs.RNNLM(5, cell="gru", hidden_size=4, backend="numpy")
            >>> b = rnnrs.RNNLM.from_torch_state_dict(a.to_torch_state_dict(), backend="numpy")
            >>> b.config == a.config
            True
        """
        from ..io.torch_interop import (
            as_numpy_state_dict,
            config_from_state_dict,
            parameters_from_state_dict,
        )

        sd = as_numpy_state_dict(state_dict)
        config = config_from_state_dict(sd, cell=cell)
        model = cls(**config, dropout=dropout, seed=seed, backend=backend, tokenizer=tokenizer)
        model.set_parameters(parameters_from_state_dict(sd, config["tie_weights"]))
        return model

    # ------------------------------------------------------------------ forward / loss

    def _tokens(self, ids: Any, name: str) -> np.ndarray:
        return as_token_array(ids, name, self.vocab_size)

    def _xy(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        xa, ya = self._tokens(x, "x"), self._tokens(y, "y")
        if xa.shape != ya.shape:
            raise ValueError(f"y: expected the shape of x {xa.shape}, got {ya.shape}")
        return xa, ya

    def loss_and_grads(
        self, x: Any, y: Any, state: Optional[State] = None, train: bool = False
    ) -> tuple[float, dict[str, np.ndarray], State]:
        """Mean cross-entropy (nats) of targets y (B, T) given inputs x (B, T), its
        gradients keyed like :meth:`parameters`, and the final state (carry it into the
        next chunk for truncated BPTT). ``train=True`` applies dropout.

        Example:
            >>> import rnnrs
            >>> m = rnnrs.RNNLM(5, hidden_size=4, backend="numpy")
            >>> loss, grads, (h, c) = m.loss_and_grads([[0, 1]], [[1, 2]])
            >>> grads["rnn.weight_hh_l0"].shape, h.shape
            ((16, 4), (1, 1, 4))
        """
        xa, ya = self._xy(x, y)
        return self.engine.loss_and_grads(xa, ya, state, bool(train))

    def loss(self, x: Any, y: Any, state: Optional[State] = None) -> tuple[float, State]:
        """(mean cross-entropy in nats, final state), without dropout or gradients."""
        xa, ya = self._xy(x, y)
        return self.engine.loss(xa, ya, state)

    def logits(self, x: Any, state: Optional[State] = None) -> tuple[np.ndarray, State]:
        """(logits float32 (B, T, V), final state) for inputs x (B, T). With the class
        softmax the logits are the exact log-probabilities log P(w|h)."""
        return self.engine.logits(self._tokens(x, "x"), state)

    def perplexity(self, ids: Any, bptt: int = 256) -> float:
        """exp(mean NLL) of each token given the ones before it.

        ``ids`` is a 1-D id sequence (scored exactly, as one stream) or a batchified
        (B, N) stream (B independent streams; see ``rnnrs.text.batching.batchify``).

        Example:
            >>> import rnnrs
            >>> m = rnnrs.RNNLM(4, hidden_size=4, backend="numpy")
            >>> 3.0 < m.perplexity([0, 1, 2, 3, 0, 1]) < 5.5
            True
        """
        arr = np.asarray(ids)
        stream = self._tokens(arr[None, :] if arr.ndim == 1 else arr, "ids")
        if stream.shape[1] < 2:
            raise ValueError(f"ids: expected at least 2 tokens per stream, got {stream.shape}")
        total, count = self.evaluate_loss(stream, bptt)
        return perplexity_from_loss(total / count)

    def token_logprobs(self, ids: Any, bptt: int = 256) -> np.ndarray:
        """Natural-log probability (float64) of ids[t] given ids[:t], for t = 1..N-1.

        Example:
            >>> import rnnrs
            >>> m = rnnrs.RNNLM(4, hidden_size=4, backend="numpy")
            >>> m.token_logprobs([0, 1, 2]).shape
            (2,)
        """
        seq = as_token_array(ids, "ids", self.vocab_size, ndim=1)
        if len(seq) < 2:
            raise ValueError(f"ids: expected at least 2 tokens, got {len(seq)}")
        out = np.empty(len(seq) - 1)
        state: Optional[State] = None
        for s in range(0, len(seq) - 1, bptt):
            t = min(bptt, len(seq) - 1 - s)
            logits, state = self.engine.logits(seq[None, s : s + t], state)
            logp = log_softmax(logits[0].astype(np.float64))
            out[s : s + t] = logp[np.arange(t), seq[s + 1 : s + 1 + t]]
        return out

    def score_sentences(self, sentences: Any) -> SentenceScores:
        """Log-probability of each sentence (a string, one sentence per line; a
        ``pathlib.Path`` to such a file; or a list of strings or token lists) of a
        word-level model: its words and ``</s>``, read from a fresh state after ``</s>``,
        the token before every line of the training stream (docs/wordlm.md).
        Natural log (``.logprob``) and log10 (``.log10``); sentences run in padded batches.

        Example:
            >>> import rnnrs
            >>> tok = rnnrs.WordTokenizer.fit(["a b", "b a"])
            >>> m = rnnrs.RNNLM(tok.vocab_size, hidden_size=4, tokenizer=tok, backend="numpy")
            >>> s = m.score_sentences(["a b", "b"])
            >>> s.tokens.tolist(), bool(np.isclose(s.logprob[1], m.token_logprobs([2, 5, 2]).sum()))
            ([3, 2], True)
        """
        tok = self.tokenizer
        if getattr(tok, "kind", None) != "word":
            raise ValueError(
                "sentences: score_sentences needs a word-level model (a WordTokenizer): "
                "sentences end with </s>"
            )
        ids = [np.asarray(tok.encode(line), dtype=np.uint32) for line in sentence_texts(sentences)]
        per_sentence = rnn_sentence_logprobs(self, ids, int(tok.eos_id), int(tok.eos_id))
        return SentenceScores.from_token_logprobs(per_sentence)

    # ------------------------------------------------------------------ generation

    def generate(
        self,
        prompt: Union[str, Sequence[int]],
        max_new_tokens: int = 100,
        *,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        greedy: bool = False,
        seed: Optional[int] = None,
        stop: Union[str, Sequence[str], None] = None,
        stop_at_end: bool = True,
    ) -> Any:
        """Sample up to ``max_new_tokens`` tokens continuing ``prompt`` (text through the
        tokenizer, or token ids). Text in, text out; ids in, the new ids out.

        ``temperature`` (> 0) divides the log-probabilities; ``top_k`` keeps the k likeliest
        tokens, ``top_p`` the smallest set reaching that probability (nucleus sampling);
        ``greedy`` takes the likeliest token every time; the same ``seed`` gives the same
        result on the same backend. ``stop`` (text prompts): stop as soon as the text
        contains one of these strings, cut just before it. ``stop_at_end``: stop at the
        tokenizer's end of sentence (``</s>`` of a word tokenizer), which is not included;
        ``False`` goes on across sentence ends. See :func:`rnnrs.generation.generate`.

        Example:
            >>> m = RNNLM(10, hidden_size=8, backend="numpy")
            >>> len(m.generate([1, 2], 5, seed=0, stop_at_end=False))
            5
        """
        return generate_sequence(
            self,
            prompt,
            max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            greedy=greedy,
            seed=seed,
            stop=stop,
            stop_at_end=stop_at_end,
        )

    def beam_search(
        self,
        prompt: Union[str, Sequence[int]],
        beam_width: int = 4,
        max_new_tokens: int = 50,
        *,
        length_penalty: float = 1.0,
        stop_at_end: bool = True,
    ) -> Any:
        """The likeliest continuation of ``prompt`` found by a beam search of
        ``beam_width`` hypotheses, at most ``max_new_tokens`` long. Hypotheses are ranked by
        total log-probability / length ** ``length_penalty`` (0: raw probability, which
        favours short endings; 1: mean per token). ``stop_at_end``: a hypothesis ends at the
        tokenizer's end of sentence. See :func:`rnnrs.generation.beam_search`.

        Example:
            >>> m = RNNLM(10, hidden_size=8, backend="numpy")
            >>> len(m.beam_search([1, 2], beam_width=3, max_new_tokens=4, stop_at_end=False))
            4
        """
        return beam_search_sequence(
            self,
            prompt,
            beam_width,
            max_new_tokens,
            length_penalty=length_penalty,
            stop_at_end=stop_at_end,
        )

    # ------------------------------------------------------------------ generation protocol

    def encode_prompt(self, prompt: Union[str, Sequence[int]]) -> list[int]:
        """Token ids of a prompt: text through the tokenizer, or ids checked as they are."""
        if isinstance(prompt, str):
            if self.tokenizer is None:
                raise TypeError(
                    "prompt: a text prompt needs a tokenizer (RNNLM(..., tokenizer=...)); "
                    "give a sequence of token ids instead"
                )
            ids = list(self.tokenizer.encode(prompt))
        else:
            ids = list(prompt)
        if not ids:
            return []
        return [int(i) for i in as_token_array(ids, "prompt", self.vocab_size, ndim=1)]

    def decode_ids(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` through the tokenizer (space-separated ids without one)."""
        if self.tokenizer is None:
            return " ".join(str(int(i)) for i in ids)
        return str(self.tokenizer.decode(list(ids)))

    def gen_start(self, prompt_ids: list[int]) -> GenState:
        """The generation state after reading ``prompt_ids`` (at least one id)."""
        if len(prompt_ids) == 0:
            raise ValueError("prompt: expected at least one token to condition on")
        ids = as_token_array(prompt_ids, "prompt_ids", self.vocab_size, ndim=1)
        logits, state = self.engine.logits(ids[None, :], None)
        return GenState(state, log_softmax(logits[0, -1:].astype(np.float64))[0])

    def gen_logprobs(self, state: GenState) -> np.ndarray:
        """Log-probabilities (V,) float64 of the next token."""
        return state.logprobs.copy()

    def gen_advance(self, state: GenState, token_id: int) -> GenState:
        """A new state after ``token_id`` (``state`` is left unchanged)."""
        tok = as_token_array([token_id], "token_id", self.vocab_size, ndim=1)
        logits, new = self.engine.step_logits(tok, state.state)
        return GenState(new, log_softmax(logits.astype(np.float64))[0])

    def gen_sample_native(
        self,
        prompt_ids: list[int],
        max_new_tokens: int,
        *,
        temperature: float,
        top_k: Optional[int],
        top_p: Optional[float],
        greedy: bool,
        seed: int,
        end_ids: frozenset[int],
    ) -> Optional[list[int]]:
        """The new ids of a whole sampling loop run by the engine (Rust backend), or None
        when the engine has no native loop (NumPy backend; :func:`rnnrs.generation.generate`
        then loops in Python). Arguments are checked by the caller, as in ``generate``.

        Example:
            >>> m = RNNLM(10, hidden_size=8)
            >>> ids = m.gen_sample_native([1, 2], 5, temperature=1.0, top_k=None, top_p=None,
            ...                           greedy=False, seed=0, end_ids=frozenset())
            >>> ids is None if m.backend == "numpy" else len(ids) == 5
            True
        """
        native = getattr(self.engine, "generate", None)
        if native is None:
            return None
        if len(prompt_ids) == 0:
            raise ValueError("prompt: expected at least one token to condition on")
        ids = as_token_array(prompt_ids, "prompt_ids", self.vocab_size, ndim=1)
        out = native(
            ids,
            max_new_tokens,
            temperature=1.0 if greedy else float(temperature),
            top_k=top_k,
            top_p=None if top_p is None else float(top_p),
            greedy=bool(greedy),
            seed=seed,
            end_ids=sorted(end_ids),
        )
        return [int(i) for i in out]

    def gen_end_ids(self) -> frozenset[int]:
        """Ids that end a sequence: the tokenizer's ``eos_id`` when it has one."""
        eos = getattr(self.tokenizer, "eos_id", None)
        return frozenset() if eos is None else frozenset({int(eos)})

    # ------------------------------------------------------------------ training interface
    # rnnrs.training.trainer.TrainableModel: what the Trainer calls; the engine does the work.

    def training_data(self, data: Any, *, batch_size: int, bptt: int, name: str) -> TokenStream:
        """Token ids (1-D, cut into ``batch_size`` streams, or batchified (B, N)) as the
        chunks of truncated BPTT the Trainer walks in order."""
        return TokenStream(_token_stream(data, batch_size, self.vocab_size, name), bptt)

    def train_on(
        self,
        data: TokenStream,
        epoch: int,
        positions: np.ndarray,
        lrs: np.ndarray,
        carry: Optional[State],
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> TrainedSteps:
        """Train the chunks at ``positions`` in stream order (the same in every epoch),
        carrying the recurrent state; it restarts from zeros at the epoch's first chunk."""
        starts = data.starts[positions]
        reset = positions == 0
        losses, norms, state = self.train_steps(
            data.stream, starts, data.bptt, lrs, reset, carry, clip_norm, clip_value
        )
        width = data.stream.shape[1] - 1
        tokens = int(sum(min(data.bptt, width - int(s)) for s in starts)) * data.stream.shape[0]
        return TrainedSteps(losses, norms, state, tokens)

    def evaluate_on(self, data: Optional[TokenStream]) -> dict[str, Optional[float]]:
        """``valid_loss`` (mean NLL in nats per token) and ``valid_ppl`` over ``data``."""
        if data is None:
            return {"valid_loss": None, "valid_ppl": None}
        total, count = self.evaluate_loss(data.stream, data.bptt)
        loss = float(total / count)
        return {"valid_loss": loss, "valid_ppl": math.exp(min(loss, 700.0))}

    def train_steps(
        self,
        stream: np.ndarray,
        starts: np.ndarray,
        bptt: int,
        lrs: np.ndarray,
        reset: np.ndarray,
        state: Optional[State],
        clip_norm: Optional[float],
        clip_value: Optional[float],
    ) -> tuple[np.ndarray, np.ndarray, State]:
        """Train ``len(starts)`` steps on chunks of a batchified (B, N) stream: forward,
        BPTT, clipping and one optimizer step each (docs/backends.md). Returns (losses,
        gradient norms before clipping, final state)."""
        return self.engine.train_steps(
            stream, starts, bptt, lrs, reset, state, clip_norm, clip_value
        )

    def evaluate_loss(self, stream: np.ndarray, bptt: int) -> tuple[float, int]:
        """(summed NLL in nats, number of targets) over a batchified (B, N) stream, in
        chunks of ``bptt`` with the state carried, no dropout."""
        return self.engine.evaluate(stream, bptt)
