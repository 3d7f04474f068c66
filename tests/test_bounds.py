"""Sizes asked for by an argument or a file are checked before anything is allocated: a
model too big for the machine is a MemoryError naming the size, a checkpoint whose config
does not match its tensors a CheckpointError, generation never reserves room from the count
asked for, and no Rust panic reaches Python (docs/checkpoints.md, "What is checked on load")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rnnrs
from rnnrs.io.checkpoint import MODEL_JSON, checkpoint_folder
from rnnrs.nn.config import parameter_count
from rnnrs.reference.seq2seq import seq2seq_shapes
from rnnrs.reference.tagger import tagger_shapes

RUST = pytest.mark.skipif(not rnnrs.rust_available(), reason="needs the Rust core")


@pytest.mark.parametrize(
    "kwargs, asked",
    [
        ({"vocab_size": 2**31}, "1,101,659,637,760 parameters"),
        ({"vocab_size": 10, "num_layers": 10**9}, "526,336,000,005,130 parameters"),
        ({"vocab_size": 10, "hidden_size": 10**9}, "8,000,000,028,000,000,010 parameters"),
        ({"vocab_size": 10, "embed_size": 10**9}, "1,034,000,266,762 parameters"),
    ],
)
def test_a_model_bigger_than_the_machine_is_a_memory_error_naming_its_size(
    kwargs: dict[str, int], asked: str
) -> None:
    with pytest.raises(MemoryError, match=f"RNNLM: {asked} need"):
        rnnrs.RNNLM(**kwargs)


def test_a_classifier_bigger_than_the_machine_is_a_memory_error() -> None:
    tok = rnnrs.WordTokenizer.fit("a b c")
    with pytest.raises(MemoryError, match=r"SequenceClassifier: .* parameters need"):
        rnnrs.SequenceClassifier(tok, num_classes=2, hidden_size=10**9)


def _tagger(**kwargs: int) -> rnnrs.SequenceTagger:
    tok = rnnrs.WordTokenizer.fit("a b c")
    return rnnrs.SequenceTagger(tok, ["O", "B-X", "I-X"], char_encoder="lstm", **kwargs)


def _seq2seq(**kwargs: int) -> rnnrs.Seq2Seq:
    chars = rnnrs.CharTokenizer.fit("abc")
    return rnnrs.Seq2Seq(chars, chars, **{"embed_size": 4, "hidden_size": 6, **kwargs})


@pytest.mark.parametrize(
    "make, kwargs",
    [
        (_tagger, {"num_layers": 10**9}),
        (_tagger, {"hidden_size": 10**9}),
        (_seq2seq, {"encoder_layers": 10**9}),
        (_seq2seq, {"decoder_layers": 10**9}),
        (_seq2seq, {"hidden_size": 10**9}),
    ],
)
def test_taggers_and_seq2seq_bigger_than_the_machine_are_memory_errors(
    make: Any, kwargs: dict[str, int]
) -> None:
    with pytest.raises(MemoryError, match=r"(SequenceTagger|Seq2Seq): [\d,]+ parameters need"):
        make(**kwargs)


@pytest.mark.parametrize(
    "make, shapes_of, keys, kwargs",
    [
        (_tagger, tagger_shapes, ("num_layers",), {"num_layers": 3}),
        (_seq2seq, seq2seq_shapes, ("encoder_layers", "decoder_layers"), {"encoder_layers": 3}),
        (_seq2seq, seq2seq_shapes, ("encoder_layers", "decoder_layers"), {"decoder_layers": 4}),
    ],
)
def test_the_size_check_counts_what_the_model_holds(
    make: Any, shapes_of: Any, keys: tuple[str, ...], kwargs: dict[str, int]
) -> None:
    # The check computes the count of a deep model from its one- and two-layer versions.
    model = make(**kwargs)
    held = sum(int(v.size) for v in model.parameters().values())
    assert parameter_count(shapes_of, model._engine_config, keys) == held


@RUST
@pytest.mark.parametrize(
    "field, value",
    [("num_layers", 10**9), ("hidden_size", 10**9), ("embed_size", 10**9), ("vocab_size", 2**31)],
)
def test_the_core_refuses_what_it_cannot_allocate_as_memory_error(field: str, value: int) -> None:
    """The last guard, for callers of rnnrs._core that skip the Python checks."""
    from rnnrs._core import ClassifierEngine, RustEngine

    cfg = {
        "vocab_size": 10,
        "cell": "lstm",
        "embed_size": 8,
        "hidden_size": 8,
        "num_layers": 1,
        "dropout": 0.0,
        "seed": 0,
    }
    with pytest.raises(MemoryError, match=r"needs \d+ bytes \(.*\), more than can be"):
        RustEngine(**{**cfg, "tie_weights": False, field: value})
    with pytest.raises(MemoryError, match="SequenceClassifier parameters"):
        ClassifierEngine(
            **{
                **cfg,
                field: value,
                "num_classes": 2,
                "bidirectional": True,
                "pooling": "mean",
                "attention_size": 4,
            }
        )


@RUST
@pytest.mark.parametrize(
    "make, engine, field, value",
    [
        (_tagger, "TaggerEngine", "embed_size", 2**40),
        (_tagger, "TaggerEngine", "num_layers", 10**9),
        (_tagger, "TaggerEngine", "vocab_size", 2**31),
        (_seq2seq, "Seq2SeqEngine", "embed_size", 2**40),
        (_seq2seq, "Seq2SeqEngine", "encoder_layers", 10**9),
        (_seq2seq, "Seq2SeqEngine", "decoder_layers", 10**9),
    ],
)
def test_the_core_refuses_taggers_and_seq2seq_it_cannot_allocate(
    make: Any, engine: str, field: str, value: int
) -> None:
    """The last guard of the newer models' engines, called without the Python checks."""
    from rnnrs import _core

    config = {**make()._engine_config, field: value}
    with pytest.raises(MemoryError, match=r"needs \d+ bytes|more than 2\^64 bytes"):
        getattr(_core, engine)(**config)


def _tampered(tmp_path: Path, model: object, **config: int) -> Path:
    model.save(tmp_path / "run")  # type: ignore[attr-defined]
    path = checkpoint_folder(tmp_path / "run") / MODEL_JSON
    document = json.loads(path.read_text())
    document["config"].update(config)
    path.write_text(json.dumps(document))
    return tmp_path / "run"


@pytest.mark.parametrize(
    "config",
    [
        {"num_layers": 10**9},
        {"hidden_size": 10**9},
        {"embed_size": 10**9},
        {"num_layers": 2},
        {"vocab_size": 2**31},
    ],
)
def test_a_checkpoint_config_that_does_not_match_its_tensors_is_refused_before_allocating(
    tmp_path: Path, config: dict[str, int]
) -> None:
    run = _tampered(tmp_path, rnnrs.RNNLM(12, hidden_size=8), **config)
    with pytest.raises(
        rnnrs.CheckpointError, match=r"config asks for .* parameters but the tensors hold 780"
    ):
        rnnrs.load(run)


def test_a_classifier_checkpoint_config_is_checked_against_its_tensors(tmp_path: Path) -> None:
    tok = rnnrs.WordTokenizer.fit("a b c")
    run = _tampered(
        tmp_path,
        rnnrs.SequenceClassifier(tok, num_classes=2, hidden_size=4, embed_size=4),
        num_layers=10**9,
    )
    with pytest.raises(rnnrs.CheckpointError, match=r"config asks for .* parameters"):
        rnnrs.load(run)


@pytest.mark.parametrize("count", [2**63, 10**30, -1, 2.0, True])
def test_max_new_tokens_out_of_range_is_a_value_error(count: object) -> None:
    model = rnnrs.RNNLM(10, hidden_size=8)
    with pytest.raises(ValueError, match="max_new_tokens: must be a non-negative integer below"):
        model.generate([1, 2], count)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_new_tokens: must be a non-negative integer below"):
        model.beam_search([1, 2], 2, count)  # type: ignore[arg-type]


@RUST
def test_a_huge_max_new_tokens_reserves_nothing_up_front() -> None:
    """10**12 ids would be 4 TB: the native loop grows its output, so it ends at the end id."""
    model = rnnrs.RNNLM(10, hidden_size=8, seed=3, backend="rust")
    every_id_ends = frozenset(range(10))
    new = model.gen_sample_native(
        [1, 2],
        10**12,
        temperature=1.0,
        top_k=None,
        top_p=None,
        greedy=False,
        seed=0,
        end_ids=every_id_ends,
    )
    assert new == []


@RUST
def test_the_core_takes_counts_beyond_64_bits_as_value_errors() -> None:
    model = rnnrs.RNNLM(10, hidden_size=8, backend="rust")
    prompt = np.array([1], dtype=np.uint32)
    with pytest.raises(ValueError, match="max_new_tokens: expected a non-negative int below"):
        model.engine.generate(prompt, 2**63)
    with pytest.raises(ValueError, match="top_k: expected a positive int below"):
        model.engine.generate(prompt, 3, top_k=2**64)
    with pytest.raises(ValueError, match="temperature: must be a finite number > 0"):
        model.engine.generate(prompt, 3, temperature=float("inf"))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"greedy": "x"}, TypeError, "greedy: expected a bool"),
        ({"temperature": float("inf")}, ValueError, "temperature: must be a finite number"),
        ({"temperature": float("nan")}, ValueError, "temperature: must be a finite number"),
        ({"top_k": 2**63}, ValueError, "top_k: must be a positive integer below 2"),
    ],
)
def test_sampling_arguments_out_of_range_are_refused(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    model = rnnrs.RNNLM(10, hidden_size=8)
    with pytest.raises(error, match=message):
        model.generate([1, 2], 5, **kwargs)


def test_a_top_k_above_the_vocabulary_keeps_every_token() -> None:
    """The documented bound: top_k >= vocab_size is no cut (as Hugging Face's samplers)."""
    model = rnnrs.RNNLM(10, hidden_size=8)
    assert model.generate([1, 2], 20, top_k=10**12, seed=4) == model.generate([1, 2], 20, seed=4)


@pytest.mark.parametrize("n", [10**6, 1025, 0])
def test_set_num_threads_is_bounded(n: int) -> None:
    before = rnnrs.get_num_threads()
    with pytest.raises(ValueError, match=r"n: expected a number of threads in 1..=1024"):
        rnnrs.set_num_threads(n)
    assert rnnrs.get_num_threads() == before
