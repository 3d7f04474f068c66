"""Each failure raises one class of rnnrs.errors, the same on both backends: the Rust core's
error variants are mapped to the classes by src/python/errors.rs, the NumPy backend raises
them itself. Every case here is a real failing call, run on each backend available."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import rnnrs
from rnnrs import NGramLM

BACKENDS = ["numpy", "rust"] if rnnrs.rust_available() else ["numpy"]


def failure(call: Callable[[str], object], expected: type[BaseException]) -> list[BaseException]:
    """The exception `call(backend)` raises on each backend, each exactly of class `expected`."""
    raised = []
    for backend in BACKENDS:
        with pytest.raises(expected) as info:
            call(backend)
        assert type(info.value) is expected, (backend, type(info.value))
        raised.append(info.value)
    return raised


def same_message(errors: list[BaseException]) -> str:
    messages = {str(e) for e in errors}
    assert len(messages) == 1, messages
    return messages.pop()


def test_the_classes_are_the_builtins_users_already_catch() -> None:
    assert issubclass(rnnrs.FormatError, ValueError)
    assert issubclass(rnnrs.ArpaError, rnnrs.FormatError)
    assert issubclass(rnnrs.CheckpointError, rnnrs.FormatError)
    assert issubclass(rnnrs.NotFittedError, RuntimeError)
    assert issubclass(rnnrs.TrainingDivergedError, FloatingPointError)
    assert issubclass(rnnrs.BackendUnavailableError, ImportError)
    for cls in (
        rnnrs.FormatError,
        rnnrs.ArpaError,
        rnnrs.CheckpointError,
        rnnrs.NotFittedError,
        rnnrs.TrainingDivergedError,
        rnnrs.BackendUnavailableError,
    ):
        assert issubclass(cls, rnnrs.RnnrsError)
    assert not issubclass(rnnrs.NotFittedError, ValueError)


def test_a_corrupt_arpa_file_raises_arpa_error_naming_the_line(tmp_path: Path) -> None:
    good = tmp_path / "good.arpa"
    NGramLM(2, "witten_bell").fit(["a b", "b a"]).to_arpa(good)
    lines = good.read_text(encoding="utf-8").split("\n")
    line = lines.index("\\2-grams:") + 2  # the first bigram, 1-based
    lines[line - 1] = "1e-x\t" + lines[line - 1].split("\t", 1)[1]
    bad = tmp_path / "bad.arpa"
    bad.write_text("\n".join(lines), encoding="utf-8")
    errors = failure(lambda b: NGramLM.from_arpa(bad, backend=b), rnnrs.ArpaError)
    for e in errors:
        assert str(e).startswith(f"malformed ARPA file {bad} at line {line}: ")
        assert "bad log10 probability" in str(e) and "1e-x" in str(e)


def test_a_corrupt_binary_model_raises_format_error(tmp_path: Path) -> None:
    path = tmp_path / "m.ngram"
    NGramLM(2, "witten_bell").fit(["a b", "b a"]).save(path)
    path.write_bytes(path.read_bytes()[:-8])
    errors = failure(lambda b: NGramLM.load(path, backend=b), rnnrs.FormatError)
    for e in errors:
        assert str(e).startswith(f"malformed rnnrs binary n-gram model {path}: ")
        assert "truncated" in str(e)


def test_a_corpus_that_is_not_utf8_raises_format_error_naming_line_and_byte(
    tmp_path: Path,
) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"a b\nthe caf\xe9\n")
    errors = failure(lambda b: NGramLM(2, "mle", backend=b).fit(path), rnnrs.FormatError)
    assert same_message(errors) == f"malformed text file {path} at line 2: not UTF-8 (byte 11)"


@pytest.mark.parametrize(
    "call",
    [
        lambda lm: lm.perplexity(["a b"]),
        lambda lm: lm.logprob("a"),
        lambda lm: lm.vocab,
        lambda lm: lm.to_arpa("never-written.arpa"),
    ],
)
def test_an_unfitted_ngram_model_raises_not_fitted_error(
    call: Callable[[NGramLM], object],
) -> None:
    errors = failure(lambda b: call(NGramLM(2, backend=b)), rnnrs.NotFittedError)
    assert "call fit() or load one first" in same_message(errors)


def test_diverging_training_raises_training_diverged_error_at_the_same_step() -> None:
    # Token 4's embedding times an input weight overflows float32, so its hidden unit is
    # +inf and the loss NaN. The stream first shows token 4 in its 5th chunk of 6 tokens:
    # four finite steps, then the failing one.
    data = np.tile(np.array([0, 1, 2, 3, 2, 1]), 20)
    data[26] = 4
    steps = []
    for backend in BACKENDS:
        model = rnnrs.RNNLM(5, cell="rnn_relu", hidden_size=8, seed=3, backend=backend)
        params = model.parameters()
        params["embedding.weight"][4] = 0.0
        params["embedding.weight"][4, 0] = 3e38
        params["rnn.weight_ih_l0"][0, 0] = 2.0
        model.set_parameters(params)
        trainer = rnnrs.Trainer(model, rnnrs.SGD(lr=0.1), bptt=6, batch_size=1, progress=False)
        with pytest.raises(rnnrs.TrainingDivergedError) as info:
            trainer.fit(data, max_steps=12)
        # The engine's own error (the Rust one through the error bridge) counts the step
        # within its call; the Trainer re-raises it counting from the start of training,
        # its step count at the last good step.
        engine_error = info.value.__cause__
        assert type(engine_error) is rnnrs.TrainingDivergedError, backend
        assert isinstance(engine_error.step, int)
        assert f"at step {engine_error.step} of this call" in str(engine_error)
        assert trainer.step + 1 == info.value.step
        assert f"at step {info.value.step} (epoch 1)" in str(info.value)
        assert "of this call" not in str(info.value)
        steps.append(info.value.step)
    assert steps == [5] * len(BACKENDS)
