"""Byte-level BPE: the Rust core against the pure-Python reference, and both against a
brute-force BPE that recounts every pair before every merge."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnrs
from rnnrs.reference import bpe as ref

needs_rust = pytest.mark.skipif(not rnnrs.rust_available(), reason="Rust core not built")

SAMPLES = [
    "Hello world, it's 2024!",
    "a  b\n\n c\t\tx  ",
    "日本語。テスト 👋🏽! naïve\u3000x",
    "don't ''s 'S we'll I'M\r\n\r\nend",
    "👨\u200d👩\u200d👧 family e\u0301\u0301 \x00\x00 NUL",
    "   leading and trailing   ",
]


def brute_force_bpe(text: str, num_merges: int, min_frequency: int = 1) -> list[tuple[int, int]]:
    """The definition: recount every adjacent pair of every pre-token occurrence, merge the
    most frequent (smallest pair on ties), repeat."""
    words = [list(p.encode("utf-8")) for p in ref.pretokenize(text)]
    merges: list[tuple[int, int]] = []
    while len(merges) < num_merges:
        counts: Counter[tuple[int, int]] = Counter()
        for w in words:
            counts.update(zip(w, w[1:]))
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        if counts[best] < min_frequency:
            break
        new_id = 256 + len(merges)
        merges.append(best)
        for k, w in enumerate(words):
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[k] = out
    return merges


def train(backend_trainer: object, texts: list[str], vocab_size: int, min_frequency: int = 1):
    backend_trainer.feed(texts)  # type: ignore[attr-defined]
    return backend_trainer.train(vocab_size, min_frequency=min_frequency)  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", SAMPLES)
def test_pretokenize_pieces_concatenate_to_text(text: str) -> None:
    pieces = ref.pretokenize(text)
    assert "".join(pieces) == text
    assert all(pieces)


def test_pretokenize_examples() -> None:
    assert ref.pretokenize("Hello world, it's 2024!") == [
        "Hello",
        " world",
        ",",
        " it",
        "'s",
        " 2024",
        "!",
    ]
    assert ref.pretokenize("a\n\nb  c   ") == ["a", "\n", "\n", "b", " ", " c", "   "]
    assert ref.pretokenize("日本語。テスト") == ["日本語", "。", "テスト"]
    assert ref.pretokenize("x = f(y)\n    return") == [
        "x",
        " =",
        " f",
        "(",
        "y",
        ")",
        "\n   ",
        " return",
    ]


@needs_rust
@settings(max_examples=300, deadline=None)
@given(st.text())
def test_pretokenize_rust_equals_python(text: str) -> None:
    from rnnrs import _core

    assert _core.bpe_pretokenize(text) == ref.pretokenize(text)


@needs_rust
@pytest.mark.parametrize("text", SAMPLES)
def test_pretokenize_rust_equals_python_on_samples(text: str) -> None:
    from rnnrs import _core

    assert _core.bpe_pretokenize(text) == ref.pretokenize(text)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab c\n'é", max_size=80), st.integers(0, 25))
def test_reference_training_equals_brute_force(text: str, num_merges: int) -> None:
    if not text:
        return
    assert train(ref.BpeTrainer(), [text], 256 + num_merges) == brute_force_bpe(text, num_merges)


@needs_rust
@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet="ab c\n'é日", max_size=60), min_size=1, max_size=4),
    st.integers(0, 40),
    st.integers(1, 3),
)
def test_rust_training_equals_reference(texts: list[str], num_merges: int, min_freq: int) -> None:
    from rnnrs import _core

    if not "".join(texts):
        return
    expected = train(ref.BpeTrainer(), texts, 256 + num_merges, min_freq)
    assert train(_core.BpeTrainer(), texts, 256 + num_merges, min_freq) == expected


@needs_rust
def test_rust_equals_reference_on_a_real_corpus(shared_data) -> None:
    from rnnrs import _core

    text = (shared_data / "tinyshakespeare.txt").read_text(encoding="utf-8")[:150_000]
    merges = train(_core.BpeTrainer(), [text], 600, 2)
    assert merges == train(ref.BpeTrainer(), [text], 600, 2)
    assert len(merges) == 600 - 256
    held_out = (shared_data / "tinyshakespeare.txt").read_text(encoding="utf-8")[-100_000:]
    rust_ids = _core.BpeEncoder(merges).encode(held_out)
    np.testing.assert_array_equal(rust_ids, ref.BpeEncoder(merges).encode(held_out))


@needs_rust
def test_parallel_encoding_of_a_large_text_matches_reference() -> None:
    from rnnrs import _core

    text = "".join(
        f"line {i}: the quick brown fox's {i * 7919 % 1000} jumps\n  ok\n\n" for i in range(6000)
    )
    merges = train(_core.BpeTrainer(), [text[:20000]], 400, 2)
    assert len(text) > 200_000
    enc = _core.BpeEncoder(merges)
    ids = enc.encode(text)
    np.testing.assert_array_equal(ids, ref.BpeEncoder(merges).encode(text))
    batch = enc.encode_batch([text[:1000], "", text[1000:3000]])
    np.testing.assert_array_equal(batch[2], enc.encode(text[1000:3000]))
    assert batch[1].dtype == np.uint32 and batch[1].size == 0


def test_encoding_reproduces_training_segmentation() -> None:
    text = "lower lowest newer newest wider widest " * 4
    merges = brute_force_bpe(text, 30)
    enc = ref.BpeEncoder(merges)
    ids = enc.encode(text)
    # The training words after all merges are exactly the encoding of the text.
    tok = rnnrs.BPETokenizer(merges)
    assert tok.decode(ids) == text
    assert [tok.id_to_token(int(i)) for i in ids[:3]] == ["lower", "Ġlowest", "Ġnewer"]


def test_tie_break_takes_the_smallest_pair() -> None:
    # "ab" and "cd" both occur twice; (97, 98) < (99, 100), so "ab" merges first.
    merges = train(ref.BpeTrainer(), ["cd\nab\ncd\nab"], 257)
    assert merges == [(97, 98)]


def test_min_frequency_stops_training() -> None:
    merges = train(ref.BpeTrainer(), ["abc abc xyz"], 300, 2)
    # Only pairs seen twice merge: (a,b) then (ab,c); x-y-z occur once.
    assert merges == [(97, 98), (256, 99)]


@pytest.mark.parametrize("backend", ["numpy", pytest.param("rust", marks=needs_rust)])
def test_a_vocabulary_size_beyond_the_data_stops_when_the_pairs_run_out(backend: str) -> None:
    # The largest vocabulary the Rust core takes; nothing is allocated for it up front.
    tok = rnnrs.BPETokenizer.train("low lower", 2**32 - 1, min_frequency=1, backend=backend)
    assert tok.vocab_size == 256 + 5  # lo, low, " low", er, " lower"
    assert [tok.id_to_token(int(i)) for i in tok.encode("low lower")] == ["low", "Ġlower"]


@pytest.mark.parametrize(
    "merges, message",
    [([(256, 1)], "merge 0 .* not defined before it"), ([(1, 2), (1, 2)], "appears twice")],
)
def test_bad_merges_are_rejected(merges: list[tuple[int, int]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ref.BpeEncoder(merges)
    with pytest.raises(ValueError, match=message):
        rnnrs.BPETokenizer(merges)


def test_negative_merge_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="merge 0"):
        ref.BpeEncoder([(-1, 2)])
    with pytest.raises(ValueError, match="merge 0 \\(-1, 2\\) has a negative id"):
        rnnrs.BPETokenizer([(-1, 2)])


@pytest.mark.parametrize("trainer_kind", ["reference", "rust"])
def test_trainer_argument_errors(trainer_kind: str) -> None:
    if trainer_kind == "rust":
        if not rnnrs.rust_available():
            pytest.skip("Rust core not built")
        from rnnrs import _core

        trainer = _core.BpeTrainer()
    else:
        trainer = ref.BpeTrainer()
    with pytest.raises(ValueError, match="texts: no text"):
        trainer.train(300)
    trainer.feed(["some text"])
    assert trainer.num_words == 2
    with pytest.raises(ValueError, match="vocab_size: must be at least 256"):
        trainer.train(255)
