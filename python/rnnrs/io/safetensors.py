"""safetensors files in pure Python + NumPy.

The safetensors layout (https://github.com/huggingface/safetensors) is: an 8-byte
little-endian unsigned header length N, then N bytes of JSON mapping each tensor name to
``{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}`` (offsets relative to the
byte buffer after the header) plus an optional ``"__metadata__"`` of string pairs, then the
raw little-endian tensor bytes. Files written here load with the ``safetensors`` package
(and ``safetensors.torch.load_file``), and its files load here. They are written
atomically (``rnnrs.io.atomic``).

Example:
    >>> import numpy as np, tempfile, os
    >>> from rnnrs.io.safetensors import save_safetensors, load_safetensors
    >>> path = os.path.join(tempfile.mkdtemp(), "t.safetensors")
    >>> save_safetensors(path, {"w": np.arange(6, dtype=np.float32).reshape(2, 3)})
    >>> load_safetensors(path)["w"].tolist()
    [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import CheckpointError
from .atomic import PathLike, atomic_open

# safetensors dtype name -> little-endian NumPy dtype.
_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F64": np.dtype("<f8"),
}
# dtype kind + size without the byte-order mark ("f4") -> safetensors name ("F32").
_NAMES: dict[str, str] = {dt.str[1:]: name for name, dt in _DTYPES.items()}
_BF16 = "BF16"  # read (widened to float32, exactly); NumPy has no bfloat16 to write from
_MAX_HEADER = 100_000_000  # the safetensors package's own limit


def _dtype_name(array: np.ndarray, name: str) -> str:
    key = array.dtype.str[1:]
    if key not in _NAMES:
        raise TypeError(
            f"tensors[{name!r}]: dtype {array.dtype} is not storable in safetensors "
            f"(expected one of {', '.join(sorted(_DTYPES))})"
        )
    return _NAMES[key]


def save_safetensors(
    path: PathLike,
    tensors: Mapping[str, np.ndarray],
    metadata: Optional[Mapping[str, str]] = None,
) -> None:
    """Write ``tensors`` (name -> array) to ``path`` in the safetensors format, atomically.

    ``metadata`` is an optional mapping of strings stored as ``__metadata__``.

    Example:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "m.safetensors")
        >>> save_safetensors(p, {"b": np.zeros(3, np.float64)}, {"format": "np"})
        >>> read_safetensors_metadata(p)
        {'format': 'np'}
    """
    if not isinstance(tensors, Mapping):
        raise TypeError(f"tensors: expected a mapping of name -> array, got {type(tensors)}")
    header: dict[str, object] = {}
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("metadata: expected a mapping of str -> str")
        header["__metadata__"] = dict(metadata)
    arrays: list[np.ndarray] = []
    offset = 0
    # Sorted by name: deterministic bytes for the same tensors (checksums are stable).
    for name in sorted(tensors):
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"tensors: invalid tensor name {name!r}")
        array = np.asarray(tensors[name])
        dtype_name = _dtype_name(array, name)
        data = array.astype(_DTYPES[dtype_name], order="C", copy=False)
        header[name] = {
            "dtype": dtype_name,
            "shape": list(data.shape),
            "data_offsets": [offset, offset + data.nbytes],
        }
        arrays.append(data)
        offset += data.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # pad so the data starts 8-byte aligned
    with atomic_open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for data in arrays:
            f.write(data.tobytes())


def _read_header(path: Path, blob: bytes) -> tuple[dict, int]:
    def bad(message: str) -> CheckpointError:
        return CheckpointError(f"{path}: not a valid safetensors file: {message}")

    if len(blob) < 8:
        raise bad(f"{len(blob)} bytes is too short for the 8-byte header length (truncated?)")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > _MAX_HEADER or 8 + n > len(blob):
        raise bad(f"header length {n} exceeds the file size {len(blob)} (truncated?)")
    try:
        header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"header is not valid JSON ({exc})") from None
    except RecursionError:
        raise bad("header is not a safetensors header (JSON nested too deeply)") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    return header, 8 + n


def read_safetensors_metadata(path: PathLike) -> dict[str, str]:
    """The ``__metadata__`` string pairs of a safetensors file ({} when there are none).

    Example:
        >>> read_safetensors_metadata("model.safetensors")  # doctest: +SKIP
        {'format': 'pt'}
    """
    p = _existing(path)
    with open(p, "rb") as f:
        head = f.read(8)
        size = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
        blob = head + f.read(min(size, _MAX_HEADER))
    header, _ = _read_header(p, blob)
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{p}: __metadata__ must map strings to strings")
    return dict(meta)


def _existing(path: PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    return p


def load_safetensors(path: PathLike) -> dict[str, np.ndarray]:
    """Read every tensor of a safetensors file as a NumPy array (native byte order).

    Validates the file: a truncated file, a malformed header, an unknown dtype, offsets
    that do not match the shape, ranges that overlap, leave gaps or run past the end all
    raise :class:`rnnrs.CheckpointError` naming the file. BF16 tensors come back as
    float32 (exactly).

    Example:
        >>> weights = load_safetensors("model.safetensors")  # doctest: +SKIP
    """
    p = _existing(path)
    blob = p.read_bytes()
    header, start = _read_header(p, blob)
    buffer_len = len(blob) - start

    def bad(message: str) -> CheckpointError:
        return CheckpointError(f"{p}: not a valid safetensors file: {message}")

    entries: list[tuple[int, int, str, str, tuple[int, ...]]] = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise bad(f"tensor {name!r}: entry is not an object")
        dtype_name, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype_name not in _DTYPES and dtype_name != _BF16:
            raise bad(f"tensor {name!r}: unsupported dtype {dtype_name!r}")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise bad(f"tensor {name!r}: shape must be a list of non-negative ints, got {shape}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise bad(f"tensor {name!r}: data_offsets must be two ints, got {offsets}")
        begin, end = offsets
        itemsize = 2 if dtype_name == _BF16 else _DTYPES[dtype_name].itemsize
        expected = math.prod(shape) * itemsize
        if not 0 <= begin <= end or end - begin != expected:
            raise bad(
                f"tensor {name!r}: data_offsets {offsets} do not hold {expected} bytes "
                f"for shape {shape} {dtype_name}"
            )
        if end > buffer_len:
            raise bad(
                f"tensor {name!r}: data_offsets {offsets} run past the end of the data "
                f"({buffer_len} bytes; truncated?)"
            )
        entries.append((begin, end, name, dtype_name, tuple(shape)))
    entries.sort()
    position = 0
    for begin, end, name, _, _ in entries:
        if begin < position:
            raise bad(f"tensor {name!r}: data_offsets overlap the previous tensor")
        if begin > position:
            raise bad(f"tensor {name!r}: a gap of {begin - position} bytes precedes it")
        position = end
    if position != buffer_len:
        raise bad(f"{buffer_len - position} bytes after the last tensor")
    out: dict[str, np.ndarray] = {}
    for begin, end, name, dtype_name, shape in entries:
        raw = blob[start + begin : start + end]
        if dtype_name == _BF16:
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            out[name] = bits.view(np.float32).reshape(shape)
        else:
            dt = _DTYPES[dtype_name]
            out[name] = np.frombuffer(raw, dtype=dt).astype(dt.newbyteorder("=")).reshape(shape)
    return out
