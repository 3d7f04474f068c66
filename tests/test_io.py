"""safetensors read/write: round trips, validation of damaged files, interop with the
`safetensors` package (both directions, when installed), atomic writes."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rnnrs import CheckpointError
from rnnrs.io.atomic import atomic_open
from rnnrs.io.safetensors import load_safetensors, read_safetensors_metadata, save_safetensors

DTYPES = ["f4", "f8", "f2", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "?"]


def sample_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "embedding.weight": rng.standard_normal((5, 3)).astype(np.float32),
        "rnn.bias_ih_l0": rng.standard_normal(12),
        "step": np.array(7, dtype=np.int64),
        "ids": np.arange(10, dtype=np.uint32),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "mask": np.array([True, False, True]),
    }


def test_round_trip_keeps_values_dtypes_shapes_and_metadata(tmp_path: Path) -> None:
    tensors = sample_tensors()
    path = tmp_path / "m.safetensors"
    save_safetensors(path, tensors, {"format": "pt", "note": "é"})
    back = load_safetensors(path)
    assert sorted(back) == sorted(tensors)
    for name, value in tensors.items():
        assert back[name].dtype == value.dtype, name
        assert back[name].shape == value.shape, name
        np.testing.assert_array_equal(back[name], value)
        assert back[name].flags.writeable
    assert read_safetensors_metadata(path) == {"format": "pt", "note": "é"}


def test_layout_is_the_published_one(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_safetensors(path, {"a": np.array([1.5, -2.0], dtype=np.float32)})
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    assert n % 8 == 0
    header = json.loads(blob[8 : 8 + n])
    assert header == {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    assert blob[8 + n :] == np.array([1.5, -2.0], dtype="<f4").tobytes()


def test_big_endian_and_strided_input_is_stored_little_endian(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    big = np.arange(6, dtype=">f8").reshape(2, 3)
    save_safetensors(path, {"big": big, "strided": np.arange(10, dtype=np.int32)[::3]})
    back = load_safetensors(path)
    np.testing.assert_array_equal(back["big"], big)
    np.testing.assert_array_equal(back["strided"], [0, 3, 6, 9])
    assert back["big"].dtype == np.float64


@settings(max_examples=40, deadline=None)
@given(
    arrays=st.dictionaries(
        st.text(alphabet="abcdefghij._0123456789", min_size=1, max_size=12),
        st.sampled_from(DTYPES).flatmap(
            lambda d: hnp.arrays(np.dtype(d), hnp.array_shapes(min_dims=0, max_side=4))
        ),
        max_size=5,
    )
)
def test_round_trip_property(tmp_path_factory: pytest.TempPathFactory, arrays: dict) -> None:
    path = tmp_path_factory.mktemp("h") / "x.safetensors"
    save_safetensors(path, arrays)
    back = load_safetensors(path)
    assert sorted(back) == sorted(arrays)
    for name, value in arrays.items():
        assert back[name].dtype == value.dtype
        np.testing.assert_array_equal(back[name], value)


def test_unstorable_input_is_refused_naming_the_tensor(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"tensors\['s'\].*dtype"):
        save_safetensors(tmp_path / "x", {"s": np.array(["a"])})
    with pytest.raises(ValueError, match="tensor name"):
        save_safetensors(tmp_path / "x", {"__metadata__": np.zeros(1)})
    with pytest.raises(TypeError, match="metadata"):
        save_safetensors(tmp_path / "x", {"a": np.zeros(1)}, {"k": 1})  # type: ignore[dict-item]
    assert not (tmp_path / "x").exists()


def write_raw(path: Path, header: dict, data: bytes) -> Path:
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)
    return path


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, "run past"),
        ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, "12 bytes"),
        ({"a": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, "dtype"),
        ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "shape"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, b"\0" * 4, "two ints"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, b"\0" * 4, "offsets"),
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
            },
            b"\0" * 8,
            "overlap",
        ),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, "gap"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 9, "after the"),
        ({"a": [1, 2]}, b"", "not an object"),
    ],
)
def test_damaged_files_raise_checkpoint_error_naming_the_file(
    tmp_path: Path, header: dict, data: bytes, message: str
) -> None:
    path = write_raw(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(CheckpointError, match=message) as info:
        load_safetensors(path)
    assert "bad.safetensors" in str(info.value)


def test_truncated_and_garbage_files(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    save_safetensors(good, sample_tensors())
    blob = good.read_bytes()
    for cut in (0, 5, 8, 20, len(blob) - 1):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(blob[:cut])
        with pytest.raises(CheckpointError, match=f"cut{cut}.safetensors"):
            load_safetensors(bad)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(struct.pack("<Q", 4) + b"\xff{}x")
    with pytest.raises(CheckpointError, match="JSON"):
        load_safetensors(garbage)
    with pytest.raises(FileNotFoundError, match="nope"):
        load_safetensors(tmp_path / "nope.safetensors")


def test_bf16_is_widened_to_float32(tmp_path: Path) -> None:
    values = np.array([1.0, -2.5, 3.140625], dtype=np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    header = {"x": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}
    path = write_raw(tmp_path / "b.safetensors", header, bf16)
    np.testing.assert_array_equal(load_safetensors(path)["x"], values)


def test_files_written_here_load_in_the_safetensors_package(tmp_path: Path) -> None:
    st_numpy = pytest.importorskip("safetensors.numpy")
    safetensors = pytest.importorskip("safetensors")
    tensors = sample_tensors()
    path = tmp_path / "ours.safetensors"
    save_safetensors(path, tensors, {"format": "np"})
    theirs = st_numpy.load_file(str(path))
    for name, value in tensors.items():
        np.testing.assert_array_equal(theirs[name], value)
        assert theirs[name].dtype == value.dtype
    with safetensors.safe_open(str(path), framework="np") as f:
        assert f.metadata() == {"format": "np"}


def test_files_of_the_safetensors_package_load_here(tmp_path: Path) -> None:
    st_numpy = pytest.importorskip("safetensors.numpy")
    tensors = sample_tensors()
    path = tmp_path / "theirs.safetensors"
    st_numpy.save_file(tensors, str(path), metadata={"k": "v"})
    back = load_safetensors(path)
    for name, value in tensors.items():
        np.testing.assert_array_equal(back[name], value)
        assert back[name].dtype == value.dtype
    assert read_safetensors_metadata(path) == {"k": "v"}


def test_torch_bf16_file_loads_here(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    t = torch.tensor([[0.5, -1.25], [3.0, 7.5]], dtype=torch.bfloat16)
    path = tmp_path / "bf.safetensors"
    st_torch.save_file({"w": t}, str(path))
    np.testing.assert_array_equal(load_safetensors(path)["w"], t.float().numpy())


def test_atomic_open_leaves_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as f:
            f.write("new, half written")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["keep.txt"]
    with atomic_open(target, "w") as f:
        f.write("new")
    assert target.read_text() == "new"
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(target, "a"):
            pass
