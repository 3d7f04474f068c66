"""Text generation for every rnnrs language model: sampling and beam search.

Works with any model implementing the generation protocol (docs/backends.md): ``RNNLM``
and ``NGramLM`` alike. Prompts are text (encoded with the model's tokenizer) or a sequence
of token ids; the result has the same kind as the prompt: ``str`` for text, ``list[int]``
(the new ids only) for ids.

Sampling order, as in common practice: log-probabilities / temperature -> keep the ``top_k``
most likely -> keep the smallest set whose probability reaches ``top_p`` -> renormalise ->
draw. ``greedy=True`` takes the most likely token; sampling with a temperature close to 0
gives the same tokens.

Models that can run the whole sampling loop natively (``RNNLM`` on the Rust backend) provide
``gen_sample_native``; :func:`generate` then makes one call instead of one per token, with the
same sampling rules but its own random stream (the same seed gives the same text on each
path, not across paths). Stop strings are applied to the native result afterwards: the text is
cut where the per-token loop would have stopped. Beam search always runs here, in Python.

Example:
    >>> import numpy as np
    >>> from rnnrs.generation import sample_token
    >>> rng = np.random.default_rng(0)
    >>> int(sample_token(np.log([0.1, 0.7, 0.2]), rng, greedy=True))
    1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Optional, Protocol, Union, overload

import numpy as np

Prompt = Union[str, Sequence[int]]

# The bound of max_new_tokens and top_k: counts the Rust core takes as 64-bit integers.
MAX_COUNT = 2**63


class GenerativeModel(Protocol):
    """What a model provides to be generated from (see docs/backends.md)."""

    @property
    def vocab_size(self) -> int: ...
    def encode_prompt(self, prompt: Prompt) -> list[int]: ...
    def decode_ids(self, ids: Sequence[int]) -> str: ...
    def gen_start(self, prompt_ids: list[int]) -> Any: ...
    def gen_logprobs(self, state: Any) -> np.ndarray: ...
    def gen_advance(self, state: Any, token_id: int) -> Any: ...
    def gen_end_ids(self) -> frozenset[int]: ...


class NativeSampler(Protocol):
    """Optional: a model whose whole sampling loop runs natively (see docs/backends.md)."""

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
    ) -> Optional[list[int]]: ...


def check_sampling_args(
    temperature: float,
    top_k: Optional[int],
    top_p: Optional[float],
    greedy: bool,
    seed: Optional[int] = None,
) -> None:
    """Raise ValueError naming the first sampling argument that is out of range.

    Rust: src/lm/sampler.rs (Sampling::validate), the same checks on the native path.

    Example:
        >>> check_sampling_args(0.8, 40, 0.95, False, seed=1)
    """
    if not isinstance(greedy, (bool, np.bool_)):
        raise TypeError(f"greedy: expected a bool, got {greedy!r}")
    if not greedy and not (
        isinstance(temperature, (int, float))
        and not isinstance(temperature, bool)
        and 0 < temperature < math.inf
    ):
        raise ValueError(
            f"temperature: must be a finite number > 0 when sampling, got {temperature!r} "
            "(use greedy=True for the most likely tokens)"
        )
    # A top_k at or above the vocabulary size keeps every token (no cut), as in Hugging
    # Face's samplers; the bound is only that of a 64-bit count.
    if top_k is not None and (
        not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k < MAX_COUNT
    ):
        raise ValueError(f"top_k: must be a positive integer below 2**63 or None, got {top_k!r}")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0.0 < top_p <= 1.0):
        raise ValueError(f"top_p: must be in (0, 1] or None, got {top_p!r}")
    if seed is not None and (
        not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0
    ):
        raise ValueError(f"seed: must be None or a non-negative integer, got {seed!r}")


def check_max_new_tokens(max_new_tokens: Any) -> None:
    """ValueError unless ``max_new_tokens`` is an int in [0, 2**63). Nothing is allocated
    from it: generation grows its output as tokens come, so a huge count costs only the time
    it runs (Ctrl-C stops it).

    Example:
        >>> check_max_new_tokens(10**12)
    """
    if (
        not isinstance(max_new_tokens, int)
        or isinstance(max_new_tokens, bool)
        or not 0 <= max_new_tokens < MAX_COUNT
    ):
        raise ValueError(
            f"max_new_tokens: must be a non-negative integer below 2**63, got {max_new_tokens!r}"
        )


def sample_token(
    logprobs: np.ndarray,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    greedy: bool = False,
) -> int:
    """Draw one token id from a (V,) array of log-probabilities (any base-e offset).

    The spec of the native sampler, src/lm/sampler.rs (Sampler::pick): the same rules, its
    own random numbers.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(1)
        >>> sample_token(np.log([0.5, 0.5, 0.1]), rng, top_k=1)
        0
    """
    lp = np.asarray(logprobs, dtype=np.float64)
    if lp.ndim != 1 or lp.size == 0:
        raise ValueError(f"logprobs: expected a non-empty 1-D array, got shape {lp.shape}")
    if greedy:
        return int(np.argmax(lp))
    scaled = lp / temperature
    # Candidates sorted by decreasing probability (stable, so ties keep id order).
    order = np.argsort(-scaled, kind="stable")
    if top_k is not None:
        order = order[:top_k]
    weights = np.exp(scaled[order] - scaled[order[0]])
    probs = weights / weights.sum()
    if top_p is not None and top_p < 1.0:
        cumulative = np.cumsum(probs)
        keep = int(np.searchsorted(cumulative, top_p * (1.0 - 1e-12)) + 1)
        order, probs = order[:keep], probs[:keep] / probs[:keep].sum()
    # Inverse-CDF draw: one uniform per token, reproducible for a seed.
    index = int(np.searchsorted(np.cumsum(probs), rng.random() * probs.sum(), side="right"))
    return int(order[min(index, len(order) - 1)])


def _stop_strings(stop: Union[str, Sequence[str], None]) -> tuple[str, ...]:
    if stop is None:
        return ()
    stops = (stop,) if isinstance(stop, str) else tuple(stop)
    if not all(isinstance(s, str) and s for s in stops):
        raise ValueError(f"stop: expected a non-empty string or a sequence of them, got {stop!r}")
    return stops


def _stop_cut(text: str, stops: tuple[str, ...]) -> int:
    """Where ``text`` is cut for the first stop string it contains (-1: none)."""
    return min((text.find(s) for s in stops if s in text), default=-1)


def _cut_native(model: GenerativeModel, ids: list[int], stops: tuple[str, ...]) -> str:
    """The text of ``ids`` cut as the per-token loop would: at the first prefix ids[:n] whose
    text contains a stop string (found by bisection), before that stop."""
    if _stop_cut(model.decode_ids(ids), stops) < 0:
        return model.decode_ids(ids)
    lo, hi = 1, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if _stop_cut(model.decode_ids(ids[:mid]), stops) >= 0:
            hi = mid
        else:
            lo = mid + 1
    text = model.decode_ids(ids[:lo])
    return text[: _stop_cut(text, stops)]


def native_seed(seed: Optional[int]) -> int:
    """A 64-bit seed for a native sampler: from ``seed`` (the same seed, the same value), or
    fresh entropy for None (check the seed first with :func:`check_sampling_args`).

    Example:
        >>> native_seed(5) == native_seed(5) != native_seed(6)
        True
    """
    return int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])


@overload
def generate(
    model: GenerativeModel,
    prompt: str,
    max_new_tokens: int = ...,
    *,
    temperature: float = ...,
    top_k: Optional[int] = ...,
    top_p: Optional[float] = ...,
    greedy: bool = ...,
    seed: Optional[int] = ...,
    stop: Union[str, Sequence[str], None] = ...,
    stop_at_end: bool = ...,
) -> str: ...
@overload
def generate(
    model: GenerativeModel,
    prompt: Sequence[int],
    max_new_tokens: int = ...,
    *,
    temperature: float = ...,
    top_k: Optional[int] = ...,
    top_p: Optional[float] = ...,
    greedy: bool = ...,
    seed: Optional[int] = ...,
    stop: Union[str, Sequence[str], None] = ...,
    stop_at_end: bool = ...,
) -> list[int]: ...


def generate(
    model: GenerativeModel,
    prompt: Prompt,
    max_new_tokens: int = 100,
    *,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    greedy: bool = False,
    seed: Optional[int] = None,
    stop: Union[str, Sequence[str], None] = None,
    stop_at_end: bool = True,
) -> Union[str, list[int]]:
    """Continue ``prompt`` by sampling up to ``max_new_tokens`` tokens from ``model``.

    ``stop`` (text prompts): stop as soon as the generated text contains one of these
    strings, and cut the result just before it. ``stop_at_end``: stop at the model's end
    token (e.g. ``</s>``), which is not included. The same ``seed`` gives the same result
    (on the same backend: a model with ``gen_sample_native`` samples natively, in one call).

    Example:
        >>> text = generate(model, "To be", 50, temperature=0.8, top_k=40, seed=0)  # doctest: +SKIP
    """
    check_max_new_tokens(max_new_tokens)
    check_sampling_args(temperature, top_k, top_p, greedy, seed)
    stops = _stop_strings(stop)
    text_prompt = isinstance(prompt, str)
    if stops and not text_prompt:
        raise ValueError("stop: stop strings need a text prompt (and a model tokenizer)")
    end_ids = model.gen_end_ids() if stop_at_end else frozenset()
    prompt_ids = model.encode_prompt(prompt)
    native = getattr(model, "gen_sample_native", None)
    if native is not None:
        ids = native(
            prompt_ids,
            max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            greedy=greedy,
            seed=native_seed(seed),
            end_ids=end_ids,
        )
        if ids is not None:
            if not text_prompt:
                return ids
            return _cut_native(model, ids, stops) if stops else model.decode_ids(ids)
    rng = np.random.default_rng(seed)
    state = model.gen_start(prompt_ids)
    new_ids: list[int] = []
    for _ in range(max_new_tokens):
        token = sample_token(
            model.gen_logprobs(state),
            rng,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            greedy=greedy,
        )
        if token in end_ids:
            break
        new_ids.append(token)
        if stops:
            text = model.decode_ids(new_ids)
            cut = _stop_cut(text, stops)
            if cut >= 0:
                return text[:cut]
        state = model.gen_advance(state, token)
    return model.decode_ids(new_ids) if text_prompt else new_ids


def beam_search(
    model: GenerativeModel,
    prompt: Prompt,
    beam_width: int = 4,
    max_new_tokens: int = 50,
    *,
    length_penalty: float = 1.0,
    stop_at_end: bool = True,
) -> Union[str, list[int]]:
    """The most likely continuation of ``prompt`` found by beam search.

    Hypotheses are ranked by total log-probability / (length ** length_penalty): 0 ranks by
    raw probability (favouring short endings), 1 by mean log-probability per token. A
    hypothesis ends at the model's end token (when ``stop_at_end``) or at ``max_new_tokens``.

    Example:
        >>> best = beam_search(model, "The", beam_width=5, max_new_tokens=20)  # doctest: +SKIP
    """
    if not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"beam_width: must be a positive integer, got {beam_width!r}")
    check_max_new_tokens(max_new_tokens)
    if not isinstance(length_penalty, (int, float)) or not math.isfinite(length_penalty):
        raise ValueError(f"length_penalty: must be a finite number, got {length_penalty!r}")

    def rank(total: float, length: int) -> float:
        return total / (max(length, 1) ** length_penalty)

    end_ids = model.gen_end_ids() if stop_at_end else frozenset()
    beams: list[tuple[float, list[int], Any]] = [
        (0.0, [], model.gen_start(model.encode_prompt(prompt)))
    ]
    finished: list[tuple[float, list[int]]] = []
    for _ in range(max_new_tokens):
        candidates: list[tuple[float, list[int], Any, int]] = []
        for total, ids, state in beams:
            lp = np.asarray(model.gen_logprobs(state), dtype=np.float64)
            width = min(2 * beam_width, lp.size)
            best = np.argpartition(-lp, width - 1)[:width]
            candidates.extend((total + float(lp[t]), ids, state, int(t)) for t in best)
        candidates.sort(key=lambda c: (-c[0], c[1], c[3]))
        beams = []
        for total, ids, state, token in candidates:
            if token in end_ids:
                finished.append((rank(total, len(ids) + 1), ids))
            else:
                beams.append((total, [*ids, token], model.gen_advance(state, token)))
            if len(beams) == beam_width:
                break
        if not beams:
            break
        if len(finished) >= beam_width:
            worst_kept = sorted((f[0] for f in finished), reverse=True)[beam_width - 1]
            if worst_kept >= rank(beams[0][0], len(beams[0][1])):
                break
    finished.extend((rank(total, len(ids)), ids) for total, ids, _ in beams)
    best_ids = max(finished, key=lambda f: f[0])[1]
    return model.decode_ids(best_ids) if isinstance(prompt, str) else best_ids
