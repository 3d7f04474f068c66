"""Native generation (RustEngine.generate): the sampling rules of rnnrs.generation, checked by
statistics against the model's own next-token distribution, plus end ids, stop strings,
seeds, argument errors and Ctrl-C."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Optional

import numpy as np
import pytest

import rnnrs
from rnnrs.backends.selection import rust_available
from rnnrs.generation import generate

pytestmark = pytest.mark.skipif(not rust_available(), reason="the Rust extension is not built")

PROMPT = [3, 1, 4, 1, 5]


def tiny(cell: str = "lstm", layers: int = 2, backend: str = "rust", **kw: object) -> rnnrs.RNNLM:
    model = rnnrs.RNNLM(
        12,
        cell=cell,
        hidden_size=16,
        num_layers=layers,
        embed_size=8,
        seed=2,
        backend=backend,
        **kw,
    )  # type: ignore[arg-type]
    # Sharpen the output so the distribution has clear winners and losers.
    params = model.parameters()
    params["output.weight"] = params["output.weight"] * 20
    model.set_parameters(params)
    return model


def next_token_logprobs(model: rnnrs.RNNLM, prompt: list[int]) -> np.ndarray:
    logits, _ = model.logits(np.array([prompt]))
    z = logits[0, -1].astype(np.float64)
    return z - np.logaddexp.reduce(z)


def expected(
    lp: np.ndarray, temperature: float, top_k: Optional[int], top_p: Optional[float]
) -> np.ndarray:
    """The distribution the rules of rnnrs.generation define (written out independently)."""
    scaled = lp / temperature
    order = np.argsort(-scaled, kind="stable")[:top_k]
    p = np.exp(scaled[order] - scaled[order].max())
    p /= p.sum()
    if top_p is not None:
        keep = 1 + next(i for i, c in enumerate(np.cumsum(p)) if c >= top_p * (1 - 1e-12))
        order, p = order[:keep], p[:keep] / p[:keep].sum()
    out = np.zeros_like(lp)
    out[order] = p
    return out


def first_token_frequencies(model: rnnrs.RNNLM, n: int, **kw: object) -> np.ndarray:
    counts = np.zeros(model.vocab_size)
    for seed in range(n):
        (token,) = model.generate(PROMPT, 1, seed=seed, stop_at_end=False, **kw)
        counts[token] += 1
    return counts / n


def test_the_native_path_is_taken_on_rust_only() -> None:
    args = dict(temperature=1.0, top_k=None, top_p=None, greedy=False, seed=0, end_ids=frozenset())
    assert len(tiny().gen_sample_native(PROMPT, 7, **args)) == 7  # type: ignore[arg-type]
    assert tiny(backend="numpy").gen_sample_native(PROMPT, 7, **args) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"),
    [(1.0, None, None), (0.6, None, None), (1.5, 4, None), (1.0, None, 0.7), (0.8, 5, 0.9)],
)
def test_first_token_follows_the_sampling_distribution(
    temperature: float, top_k: Optional[int], top_p: Optional[float]
) -> None:
    model = tiny()
    want = expected(next_token_logprobs(model, PROMPT), temperature, top_k, top_p)
    freq = first_token_frequencies(model, 4000, temperature=temperature, top_k=top_k, top_p=top_p)
    assert np.abs(freq - want).max() < 0.035, (freq.round(3), want.round(3))
    assert np.all(freq[want == 0] == 0)  # truncated tokens never appear


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_greedy_equals_the_python_loop_on_the_same_weights(cell: str) -> None:
    fast = tiny(cell)
    slow = tiny(cell, backend="numpy")
    slow.set_parameters(fast.parameters())
    assert fast.generate(PROMPT, 40, greedy=True, stop_at_end=False) == slow.generate(
        PROMPT, 40, greedy=True, stop_at_end=False
    )


def test_seeds_temperature_zero_and_long_runs() -> None:
    model = tiny("gru", layers=1)
    a = model.generate(PROMPT, 300, seed=5, stop_at_end=False)
    assert a == model.generate(PROMPT, 300, seed=5, stop_at_end=False)
    assert a != model.generate(PROMPT, 300, seed=6, stop_at_end=False)
    greedy = model.generate(PROMPT, 50, greedy=True, stop_at_end=False)
    assert model.generate(PROMPT, 50, temperature=1e-6, seed=1, stop_at_end=False) == greedy
    assert model.generate(PROMPT, 0, seed=1) == []


def test_end_ids_stop_before_the_end_token() -> None:
    tok = rnnrs.WordTokenizer.fit(["a b c d e f g h i"])
    model = tiny(tokenizer=tok)
    free = model.generate(PROMPT, 400, seed=9, stop_at_end=False)
    assert tok.eos_id in free, "the sharpened model should reach </s> within 400 tokens"
    ended = model.generate(PROMPT, 400, seed=9)
    assert ended == free[: free.index(tok.eos_id)]


def test_stop_strings_cut_where_the_python_loop_would() -> None:
    tok = rnnrs.CharTokenizer.fit("abcdefghijk")
    model = tiny(tokenizer=tok)
    full = model.generate("abc", 200, seed=4)
    stop = full[60:62]
    cut = model.generate("abc", 200, seed=4, stop=[stop, "zz"])
    assert cut == full[: full.index(stop)]
    assert model.generate("abc", 200, seed=4, stop="zz") == full


def test_bad_arguments_are_checked_before_and_inside_the_engine() -> None:
    model = tiny()
    with pytest.raises(ValueError, match="top_p"):
        generate(model, PROMPT, 5, top_p=1.5)
    with pytest.raises(ValueError, match="prompt"):
        generate(model, [], 5)
    with pytest.raises(ValueError, match="prompt"):
        generate(model, [99], 5)
    with pytest.raises(ValueError, match="seed"):
        generate(model, PROMPT, 5, seed=-1)
    engine = model.engine
    ids = np.array(PROMPT, dtype=np.uint32)
    with pytest.raises(ValueError, match="temperature"):
        engine.generate(ids, 5, temperature=0.0)
    with pytest.raises(ValueError, match="top_k"):
        engine.generate(ids, 5, top_k=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        engine.generate(ids, -1)
    with pytest.raises(TypeError, match="prompt_ids"):
        engine.generate(ids.astype(np.int64), 5)
    with pytest.raises(ValueError, match="out of range"):
        engine.generate(np.array([12], dtype=np.uint32), 5)


def test_nan_weights_give_a_clear_error() -> None:
    model = tiny()
    params = model.parameters()
    params["output.bias"][0] = np.nan
    model.engine.set_parameters(params)  # past the RNNLM check, as a corrupted engine would be
    with pytest.raises(ValueError, match="non-finite"):
        model.generate(PROMPT, 5, seed=0)


def test_ctrl_c_interrupts_a_long_generation() -> None:
    code = """
        import os, signal, threading, time
        import numpy as np
        import rnnrs
        eng = rnnrs.RNNLM(50, hidden_size=64, backend="rust").engine
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        tick = time.perf_counter()
        try:
            eng.generate(np.array([1, 2], dtype=np.uint32), 10**9, seed=0)
            print("finished")
        except KeyboardInterrupt:
            print("interrupted", time.perf_counter() - tick < 30)
    """
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["interrupted", "True"]
