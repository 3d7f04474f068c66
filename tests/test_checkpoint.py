"""Checkpoint directories: round trip, and every way a checkpoint can be bad."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rnnrs import CheckpointError
from rnnrs.io.checkpoint import (
    CURRENT,
    MODEL_JSON,
    MODEL_TENSORS,
    TRAINING_TENSORS,
    VERSION,
    checkpoint_folder,
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
    assert sorted(x.name for x in (tmp_path / "ck").iterdir()) == [CURRENT, MODEL_TENSORS, "v1"]
    assert sorted(x.name for x in (tmp_path / "ck" / "v1").iterdir()) == [
        MODEL_JSON,
        MODEL_TENSORS,
        TRAINING_TENSORS,
    ]
    # the top-level model.safetensors is a link to the current version's weights
    assert (tmp_path / "ck" / MODEL_TENSORS).read_bytes() == (
        tmp_path / "ck" / "v1" / MODEL_TENSORS
    ).read_bytes()


def test_saving_without_training_state_removes_a_stale_one(tmp_path: Path) -> None:
    p = parts()
    write_checkpoint(tmp_path, **p)
    p.pop("training")
    p.pop("training_tensors")
    write_checkpoint(tmp_path, **p)
    ck = read_checkpoint(tmp_path)
    assert ck.training is None and ck.training_tensors == {}
    assert not (checkpoint_folder(tmp_path) / TRAINING_TENSORS).exists()


def test_missing_directory_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_checkpoint(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match=f"no {MODEL_JSON}"):
        read_checkpoint(tmp_path)
    write_checkpoint(tmp_path, **parts())
    (checkpoint_folder(tmp_path) / TRAINING_TENSORS).unlink()
    with pytest.raises(CheckpointError, match=f"{TRAINING_TENSORS} is missing"):
        read_checkpoint(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="directory"):
        read_checkpoint(tmp_path / "file")


def test_tensors_that_do_not_match_the_json_are_detected(tmp_path: Path) -> None:
    p = parts()
    write_checkpoint(tmp_path, **p)
    old_json = (checkpoint_folder(tmp_path) / MODEL_JSON).read_text()
    p["tensors"]["output.bias"] = np.ones(5, np.float32)
    write_checkpoint(tmp_path, **p)
    (checkpoint_folder(tmp_path) / MODEL_JSON).write_text(old_json)
    with pytest.raises(CheckpointError, match="half-written"):
        read_checkpoint(tmp_path)


def test_damaged_tensor_file_is_detected(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, **parts())
    path = checkpoint_folder(tmp_path) / MODEL_TENSORS
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match=MODEL_TENSORS):
        read_checkpoint(tmp_path)


def edit_json(folder: Path, **changes: object) -> None:
    path = checkpoint_folder(folder) / MODEL_JSON
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


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
    (checkpoint_folder(tmp_path) / MODEL_JSON).write_text('{"format": ')
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_checkpoint(tmp_path)


def test_unserialisable_config_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, **parts())
    before = (checkpoint_folder(tmp_path) / MODEL_JSON).read_text()
    p = parts()
    p["config"] = {"bad": object()}
    p["tensors"]["output.bias"] = np.ones(5, np.float32)
    with pytest.raises(TypeError, match="JSON"):
        write_checkpoint(tmp_path, **p)
    assert (checkpoint_folder(tmp_path) / MODEL_JSON).read_text() == before
    assert read_checkpoint(tmp_path).config == parts()["config"]


def test_a_save_switches_versions_and_keeps_only_the_current_one(tmp_path: Path) -> None:
    p = parts()
    write_checkpoint(tmp_path, **p)
    p["tensors"]["output.bias"] = np.full(5, 2.0, np.float32)
    write_checkpoint(tmp_path, **p)
    assert (tmp_path / CURRENT).read_text() == "v2\n"
    assert not (tmp_path / "v1").exists()
    assert read_checkpoint(tmp_path).tensors["output.bias"].tolist() == [2.0] * 5


def test_a_dead_writers_leftovers_are_removed_and_the_old_version_loads(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, **parts())
    # A writer killed mid-save: a half-written next version and a temporary file.
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / MODEL_TENSORS).write_bytes(b"\0" * 7)
    dead = tmp_path / "v2" / f".{MODEL_JSON}.999999999.abc.tmp"
    dead.write_text("{")
    stale_pointer = tmp_path / f".{CURRENT}.999999999.xyz.tmp"
    stale_pointer.write_text("v2\n")
    assert read_checkpoint(tmp_path).tensors["output.bias"].tolist() == [0.0] * 5
    p = parts()
    p["tensors"]["output.bias"] = np.ones(5, np.float32)
    write_checkpoint(tmp_path, **p)
    assert sorted(x.name for x in tmp_path.iterdir()) == [CURRENT, MODEL_TENSORS, "v2"]
    assert sorted(x.name for x in (tmp_path / "v2").iterdir()) == [
        MODEL_JSON,
        MODEL_TENSORS,
        TRAINING_TENSORS,
    ]
    assert read_checkpoint(tmp_path).tensors["output.bias"].tolist() == [1.0] * 5


def test_a_checkpoint_without_versions_loads_and_is_replaced_cleanly(tmp_path: Path) -> None:
    # The layout of earlier rnnrs: the files at the folder's top level, no CURRENT.
    p = parts()
    write_checkpoint(tmp_path / "new", **p)
    for name in (MODEL_JSON, MODEL_TENSORS, TRAINING_TENSORS):
        (tmp_path / name).write_bytes((tmp_path / "new" / "v1" / name).read_bytes())
    assert read_checkpoint(tmp_path).training == p["training"]
    p["tensors"]["output.bias"] = np.ones(5, np.float32)
    write_checkpoint(tmp_path, **p)
    assert sorted(x.name for x in tmp_path.iterdir()) == [CURRENT, MODEL_TENSORS, "new", "v1"]
    assert read_checkpoint(tmp_path).tensors["output.bias"].tolist() == [1.0] * 5


def test_a_pointer_to_nothing_is_an_error(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, **parts())
    (tmp_path / CURRENT).write_text("v9\n")
    with pytest.raises(CheckpointError, match="names v9, which is missing"):
        read_checkpoint(tmp_path)
    (tmp_path / CURRENT).write_text("../elsewhere\n")
    with pytest.raises(CheckpointError, match="does not name a checkpoint version"):
        read_checkpoint(tmp_path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_tensors_are_refused_and_the_old_checkpoint_stays(
    tmp_path: Path, bad: float
) -> None:
    write_checkpoint(tmp_path, **parts())
    p = parts()
    p["tensors"]["output.bias"] = np.array([0, 1, bad, 3, 4], np.float32)
    with pytest.raises(ValueError, match=r"'output\.bias' holds NaN or infinite"):
        write_checkpoint(tmp_path, **p)
    assert read_checkpoint(tmp_path).tensors["output.bias"].tolist() == [0.0] * 5


def test_reading_while_another_thread_saves_sees_whole_checkpoints(tmp_path: Path) -> None:
    p = parts()
    write_checkpoint(tmp_path, **p)
    stop = threading.Event()

    def save_forever() -> None:
        k = 0
        while not stop.is_set():
            k += 1
            p["tensors"]["output.bias"] = np.full(5, k, np.float32)
            p["training"] = {"k": k}
            write_checkpoint(tmp_path, **p)

    writer = threading.Thread(target=save_forever)
    writer.start()
    seen = set()
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            ck = read_checkpoint(tmp_path)
            k = ck.training.get("k", 0) if ck.training else 0
            assert ck.tensors["output.bias"].tolist() == [float(k)] * 5
            seen.add(k)
    finally:
        stop.set()
        writer.join()
    assert len(seen) > 1
