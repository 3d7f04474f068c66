"""Checkpoint directories: round trip, and every way a checkpoint can be bad."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnrs import CheckpointError
from rnnrs.io.checkpoint import (
    MODEL_JSON,
    MODEL_TENSORS,
    TRAINING_TENSORS,
    VERSION,
    read_checkpoint,
    write_checkpoint,
)


def parts() -> dict:
    rng = np.random.default_rng(1)
    return {
        "kind": "RNNLM",
        "config": {"vocab_size": 5, "cell": "lstm", "hidden_size": 3},
        "tensors": {
            "embedding.weight": rng.standard_normal((5, 2)).astype(np.float32),
            "output.bias": np.zeros(5, np.float32),
        },
        "tokenizer": {"type": "char", "vocab": list("abcde")},
        "training": {"step": 12, "history": [{"step": 10, "train_loss": 1.25}]},
        "training_tensors": {
            "exp_avg.output.bias": rng.standard_normal(5).astype(np.float32),
            "rng_state": np.array([2**63 + 5, 7], dtype=np.uint64),
        },
    }


def test_round_trip(tmp_path: Path) -> None:
    p = parts()
    write_checkpoint(tmp_path / "ck", **p)
    ck = read_checkpoint(tmp_path / "ck")
    assert ck.kind == "RNNLM"
    assert ck.config == p["config"]
    assert ck.tokenizer == p["tokenizer"]
    assert ck.training == p["training"]
    for group in ("tensors", "training_tensors"):
        got = getattr(ck, group)
        assert sorted(got) == sorted(p[group])
        for name, value in p[group].items():
            np.testing.assert_array_equal(got[name], value)
            assert got[name].dtype == value.dtype
    assert sorted(x.name for x in (tmp_path / "ck").iterdir()) == [
        MODEL_JSON,
        MODEL_TENSORS,
        TRAINING_TENSORS,
    ]


def test_saving_without_training_state_removes_a_stale_one(tmp_path: Path) -> None:
    p = parts()
    write_checkpoint(tmp_path, **p)
    p.pop("training")
    p.pop("training_tensors")
    write_checkpoint(tmp_path, **p)
    ck = read_checkpoint(tmp_path)
    assert ck.training is None and ck.training_tensors == {}
    assert not (tmp_path / TRAINING_TENSORS).exists()


def test_missing_directory_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_checkpoint(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match=f"no {MODEL_JSON}"):
        read_checkpoint(tmp_path)
    write_checkpoint(tmp_path, **parts())
    (tmp_path / TRAINING_TENSORS).unlink()
    with pytest.raises(CheckpointError, match=f"{TRAINING_TENSORS} is missing"):
        read_checkpoint(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="directory"):
        read_checkpoint(tmp_path / "file")


def test_a_save_interrupted_before_the_json_is_detected(tmp_path: Path) -> None:
    p = parts()
    write_checkpoint(tmp_path, **p)
    old_json = (tmp_path / MODEL_JSON).read_text()
    p["tensors"]["output.bias"] = np.ones(5, np.float32)
    write_checkpoint(tmp_path, **p)
    # As if the process died after the new tensors were written, before the new json.
    (tmp_path / MODEL_JSON).write_text(old_json)
    with pytest.raises(CheckpointError, match="half-written"):
        read_checkpoint(tmp_path)


def test_damaged_tensor_file_is_detected(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, **parts())
    blob = bytearray((tmp_path / MODEL_TENSORS).read_bytes())
    blob[-1] ^= 0xFF
    (tmp_path / MODEL_TENSORS).write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match=MODEL_TENSORS):
        read_checkpoint(tmp_path)


def edit_json(folder: Path, **changes: object) -> None:
    doc = json.loads((folder / MODEL_JSON).read_text())
    doc.update(changes)
    (folder / MODEL_JSON).write_text(json.dumps(doc))


def test_newer_format_version_says_upgrade(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, **parts())
    edit_json(tmp_path, version=VERSION + 1)
    with pytest.raises(CheckpointError, match=rf"newer rnnrs.*version {VERSION + 1}.*upgrade"):
        read_checkpoint(tmp_path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "something-else"}, "not an rnnrs checkpoint"),
        ({"version": "1"}, "invalid format version"),
        ({"config": None}, "'config'"),
        ({"files": {}}, f"names no {MODEL_TENSORS}"),
        ({"tokenizer": [1]}, "'tokenizer'"),
    ],
)
def test_malformed_json_fields(tmp_path: Path, changes: dict, message: str) -> None:
    write_checkpoint(tmp_path, **parts())
    edit_json(tmp_path, **changes)
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(tmp_path)


def test_json_that_is_not_json(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, **parts())
    (tmp_path / MODEL_JSON).write_text('{"format": ')
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_checkpoint(tmp_path)


def test_unserialisable_config_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, **parts())
    before = (tmp_path / MODEL_JSON).read_text()
    p = parts()
    p["config"] = {"bad": object()}
    p["tensors"]["output.bias"] = np.ones(5, np.float32)
    with pytest.raises(TypeError, match="JSON"):
        write_checkpoint(tmp_path, **p)
    assert (tmp_path / MODEL_JSON).read_text() == before
    assert read_checkpoint(tmp_path).config == parts()["config"]
