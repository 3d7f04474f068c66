"""Inputs that once escaped as bare OverflowError, RecursionError or UnicodeEncodeError, or
ran on past Ctrl-C, each get a clear error of a documented class (docs/tokenizers.md,
docs/checkpoints.md, README "Evaluate and generate")."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import rnnrs
from rnnrs.io.checkpoint import MODEL_JSON, checkpoint_folder
from rnnrs.io.safetensors import load_safetensors
from rnnrs.text.tasks import read_classification

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("merge", [(2**32, 1), (1, 2**40), (300, 1)])
def test_bpe_merges_with_ids_not_defined_before_them_are_value_errors(
    merge: tuple[int, int], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"merge 0 \(.*\) uses an id not defined before it"):
        rnnrs.BPETokenizer([merge])
    path = tmp_path / "bpe.json"
    rnnrs.BPETokenizer([(97, 98)]).save(path)
    document = json.loads(path.read_text())
    document["merges"] = [list(merge)]
    path.write_text(json.dumps(document))
    with pytest.raises(rnnrs.FormatError, match="uses an id not defined before it"):
        rnnrs.load_tokenizer(path)


def test_json_nested_100000_deep_is_a_format_error_in_every_reader(tmp_path: Path) -> None:
    tokenizer = tmp_path / "tok.json"
    tokenizer.write_text(DEEP)
    with pytest.raises(rnnrs.FormatError, match="JSON nested too deeply"):
        rnnrs.load_tokenizer(tokenizer)

    rnnrs.RNNLM(5, hidden_size=4).save(tmp_path / "run")
    (checkpoint_folder(tmp_path / "run") / MODEL_JSON).write_text(DEEP)
    with pytest.raises(rnnrs.CheckpointError, match="JSON nested too deeply"):
        rnnrs.load(tmp_path / "run")

    tensors = tmp_path / "deep.safetensors"
    header = DEEP.encode()
    tensors.write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(ValueError, match="JSON nested too deeply"):
        load_safetensors(tensors)

    lines = tmp_path / "data.jsonl"
    lines.write_text('{"text": "a", "label": "x"}\n' + DEEP + "\n")
    with pytest.raises(rnnrs.FormatError, match=r"data\.jsonl.*line 2.*nested too deep"):
        read_classification(lines)


@pytest.mark.parametrize("make", [rnnrs.CharTokenizer.fit, rnnrs.WordTokenizer.fit])
def test_a_lone_surrogate_is_refused_when_the_vocabulary_is_built(make: object) -> None:
    with pytest.raises(ValueError, match=r"lone surrogate \(U\+DC80\), which UTF-8 cannot hold"):
        make("ab \udc80c")  # type: ignore[operator]


@pytest.mark.parametrize(
    "kind, field, tokens",
    [
        ("char", "chars", ["a", "\ud800"]),
        ("word", "words", ["<unk>", "<s>", "</s>", "<pad>", "x\udfff"]),
    ],
)
def test_a_lone_surrogate_in_a_saved_vocabulary_is_refused_on_load(
    tmp_path: Path, kind: str, field: str, tokens: list[str]
) -> None:
    path = tmp_path / "tok.json"
    path.write_text(json.dumps({"kind": kind, "version": 1, field: tokens}))
    with pytest.raises(rnnrs.FormatError, match="lone surrogate"):
        rnnrs.load_tokenizer(path)


def test_huge_but_finite_weights_give_an_infinite_perplexity_not_an_overflow() -> None:
    model = rnnrs.RNNLM(10, hidden_size=8)
    signs = {
        k: np.sign(np.arange(v.size).reshape(v.shape) % 3 - 1)
        for k, v in model.parameters().items()
    }
    model.set_parameters({k: (1e30 * s).astype(np.float32) for k, s in signs.items()})
    with np.errstate(over="ignore", invalid="ignore"):
        assert model.perplexity([1, 2, 3, 4, 5, 6]) == float("inf")


def test_a_loss_that_is_not_a_number_is_a_value_error() -> None:
    from rnnrs.models.rnnlm import perplexity_from_loss

    assert perplexity_from_loss(709.0) == pytest.approx(np.exp(709.0))
    assert perplexity_from_loss(710.0) == float("inf")
    with pytest.raises(ValueError, match="loss on this text is NaN"):
        perplexity_from_loss(float("nan"))


PROGRAM = """
import sys, rnnrs
from rnnrs import NGramLM
kind = sys.argv[1]
if kind == "ngram":
    model, prompt = NGramLM(2, "witten_bell").fit(["a b c", "b c a"] * 3), "a"
else:
    model, prompt = rnnrs.RNNLM(10, hidden_size=8), [1, 2]
print("started", flush=True)
try:
    if kind == "generate":
        model.generate(prompt, 10**12, stop_at_end=False)
    else:
        model.beam_search(prompt, 3, 10**12, stop_at_end=False)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.parametrize("kind", ["ngram", "rnn", "generate"])
def test_generation_asked_for_10_to_the_12_tokens_stops_at_ctrl_c(kind: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, kind], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert out.strip() == "interrupted"
