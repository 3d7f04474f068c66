"""Sampling and beam search against a tiny Markov chain whose probabilities are known."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Union

import numpy as np
import pytest

from rnnrs.generation import beam_search, generate, sample_token

END = 0


class MarkovChain:
    """A first-order chain over characters; token 0 is the end marker."""

    def __init__(self, alphabet: str, transitions: np.ndarray) -> None:
        self.alphabet = "\0" + alphabet
        self.logp = np.log(transitions)
        self.vocab_size = len(self.alphabet)

    def encode_prompt(self, prompt: Union[str, Sequence[int]]) -> list[int]:
        if isinstance(prompt, str):
            return [self.alphabet.index(c) for c in prompt]
        return list(prompt)

    def decode_ids(self, ids: Sequence[int]) -> str:
        return "".join(self.alphabet[i] for i in ids)

    def gen_start(self, prompt_ids: list[int]) -> int:
        return prompt_ids[-1]

    def gen_logprobs(self, state: int) -> np.ndarray:
        return self.logp[state]

    def gen_advance(self, state: int, token_id: int) -> int:
        return token_id

    def gen_end_ids(self) -> frozenset[int]:
        return frozenset({END})


def random_chain(seed: int = 0, size: int = 6) -> MarkovChain:
    rng = np.random.default_rng(seed)
    t = rng.dirichlet(np.ones(size), size=size)
    t[:, END] = 1e-3  # rarely ends, so runs are long
    return MarkovChain("abcde"[: size - 1], t / t.sum(axis=1, keepdims=True))


def test_greedy_follows_the_most_likely_transition() -> None:
    chain = random_chain()
    out = generate(chain, [1], 10, greedy=True, stop_at_end=False)
    expected, state = [], 1
    for _ in range(10):
        state = int(np.argmax(chain.logp[state]))
        expected.append(state)
    assert out == expected


def test_temperature_towards_zero_equals_greedy() -> None:
    chain = random_chain(3)
    greedy = generate(chain, "a", 30, greedy=True, stop_at_end=False)
    cold = generate(chain, "a", 30, temperature=1e-4, seed=7, stop_at_end=False)
    assert cold == greedy


def test_same_seed_same_text_other_seed_differs() -> None:
    chain = random_chain(1)
    a = generate(chain, "ab", 60, seed=5)
    b = generate(chain, "ab", 60, seed=5)
    c = generate(chain, "ab", 60, seed=6)
    assert a == b and a != c


def draw_counts(logp: np.ndarray, n: int, **kw: object) -> np.ndarray:
    rng = np.random.default_rng(0)
    counts = np.zeros(len(logp))
    for _ in range(n):
        counts[sample_token(logp, rng, **kw)] += 1  # type: ignore[arg-type]
    return counts / n


def test_plain_sampling_matches_the_distribution() -> None:
    p = np.array([0.5, 0.3, 0.15, 0.05])
    freq = draw_counts(np.log(p), 20000, top_p=1.0, top_k=None)
    assert np.abs(freq - p).max() < 0.015


def test_temperature_sharpens_and_flattens() -> None:
    p = np.array([0.5, 0.3, 0.15, 0.05])
    for temperature in (0.5, 2.0):
        q = p ** (1 / temperature)
        q /= q.sum()
        freq = draw_counts(np.log(p), 20000, temperature=temperature)
        assert np.abs(freq - q).max() < 0.015


def test_top_k_and_top_p_truncate() -> None:
    p = np.array([0.05, 0.5, 0.15, 0.3])
    freq_k = draw_counts(np.log(p), 5000, top_k=2)
    assert set(np.nonzero(freq_k)[0]) == {1, 3}
    assert abs(freq_k[1] - 0.5 / 0.8) < 0.03
    assert set(np.nonzero(draw_counts(np.log(p), 3000, top_p=0.8))[0]) == {1, 3}
    assert set(np.nonzero(draw_counts(np.log(p), 3000, top_p=0.81))[0]) == {1, 2, 3}


def test_end_token_and_stop_strings() -> None:
    t = np.full((4, 4), 1e-9)
    t[1, 2] = t[2, 3] = t[3, END] = 1.0  # a -> b -> c -> end
    chain = MarkovChain("abc", t / t.sum(axis=1, keepdims=True))
    assert generate(chain, "a", 10, greedy=True) == "bc"
    assert generate(chain, "a", 10, greedy=True, stop="c") == "b"
    assert generate(chain, [1], 1, greedy=True) == [2]


def test_beam_search_beats_greedy_where_greedy_is_myopic() -> None:
    # From a: b (0.6) then anything at 1/3 each, or c (0.4) then end at 0.99.
    t = np.full((4, 4), 1e-12)
    t[1, 2], t[1, 3] = 0.6, 0.4
    t[2, 1:] = 1 / 3
    t[3, END] = 0.99
    t[3, 1] = 0.01
    chain = MarkovChain("abc", t / t.sum(axis=1, keepdims=True))
    assert generate(chain, "a", 1, greedy=True) == "b"
    assert beam_search(chain, "a", beam_width=3, max_new_tokens=5, length_penalty=0.0) == "c"


def test_beam_search_equals_exhaustive_search_on_a_short_horizon() -> None:
    chain = random_chain(2, size=4)
    horizon = 4
    best, best_score = None, -np.inf
    for seq in itertools.product(range(1, 4), repeat=horizon):
        score, state = 0.0, 1
        for tok in seq:
            score += chain.logp[state, tok]
            state = tok
        if score > best_score:
            best, best_score = list(seq), score
    found = beam_search(chain, [1], beam_width=27, max_new_tokens=horizon, stop_at_end=False)
    assert found == best


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": 0}, "top_k"),
        ({"stop": ""}, "stop"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_sampling_arguments_name_themselves(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        generate(random_chain(), "a", 5, **kwargs)  # type: ignore[arg-type]


def test_bad_beam_arguments() -> None:
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(random_chain(), "a", beam_width=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(random_chain(), "a", -1)


def test_rnnlm_generates_text_through_its_tokenizer() -> None:
    import rnnrs

    tok = rnnrs.CharTokenizer.fit("abcabcabc hello")
    model = rnnrs.RNNLM(tok.vocab_size, cell="gru", hidden_size=16, tokenizer=tok, seed=3)
    sample = model.generate("ab", 12, seed=4)
    assert isinstance(sample, str) and len(sample) == 12
    assert sample == model.generate("ab", 12, seed=4)
    greedy = model.generate("ab", 12, greedy=True)
    assert model.generate("ab", 12, temperature=1e-5, seed=9) == greedy
    assert isinstance(model.beam_search("ab", beam_width=3, max_new_tokens=6), str)
    # unseen characters in the prompt encode to <unk> rather than failing
    assert isinstance(model.generate("zz", 3, seed=0), str)
