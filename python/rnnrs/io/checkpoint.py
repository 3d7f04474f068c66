"""Checkpoint directories: what ``model.save(dir)`` writes and ``rnnrs.load(dir)`` reads.

A checkpoint is a folder holding one complete version of the checkpoint in a subfolder
(``v1``, ``v2``, ...) and ``CURRENT``, a one-line file naming that subfolder. A version holds

- ``model.safetensors``: the parameters under their PyTorch names (``embedding.weight``,
  ``rnn.weight_ih_l0``, ..., ``output.weight``), loadable by ``safetensors.torch.load_file``
  straight into the equivalent torch module (docs/checkpoints.md); the folder's own
  ``model.safetensors`` is a symbolic link to the current one where links are supported;
- ``training.safetensors`` (only when training state was saved): optimizer moments under
  the torch.optim names (``exp_avg.<param>``, ...), the dropout RNG state, and other arrays
  the trainer needs to resume exactly;
- ``model.json``: format name and version, the model kind and config, the tokenizer's JSON,
  the JSON part of the training state (step, epoch, stream position, history), and the
  SHA-256 and size of each tensor file.

A save writes a new version folder completely (each file fsync'ed), then switches
``CURRENT`` to it with one atomic rename, and only then removes the old version. A crash at
any point leaves the old or the new checkpoint, whole; the leftovers of a writer that died
are removed by the next save. A folder written before versions existed (the files at its
top level, no ``CURRENT``) still loads.

Example:
    >>> import numpy as np, tempfile
    >>> from rnnrs.io.checkpoint import write_checkpoint, read_checkpoint
    >>> d = tempfile.mkdtemp()
    >>> write_checkpoint(d, kind="demo", config={"n": 2}, tensors={"w": np.ones(2, np.float32)})
    >>> read_checkpoint(d).tensors["w"].tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..errors import CheckpointError
from .atomic import atomic_open, fsync_dir, remove_dead_writers_files
from .safetensors import load_safetensors, save_safetensors

FORMAT = "rnnrs.checkpoint"
VERSION = 1
MODEL_JSON = "model.json"
MODEL_TENSORS = "model.safetensors"
TRAINING_TENSORS = "training.safetensors"
CURRENT = "CURRENT"
_VERSION_DIR = re.compile(r"v([0-9]{1,18})")


@dataclass
class Checkpoint:
    """The parts of a checkpoint directory, as read by :func:`read_checkpoint`."""

    path: Path
    kind: str
    config: dict[str, Any]
    tensors: dict[str, np.ndarray]
    tokenizer: Optional[dict[str, Any]] = None
    training: Optional[dict[str, Any]] = None
    training_tensors: dict[str, np.ndarray] = field(default_factory=dict)


def _digest(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"sha256": h.hexdigest(), "bytes": path.stat().st_size}


def _finite_or_raise(tensors: Mapping[str, np.ndarray], what: str) -> None:
    """A checkpoint holding NaN or infinity could never be used: refuse it, naming the tensor."""
    for name, array in tensors.items():
        arr = np.asarray(array)
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            raise ValueError(
                f"{what} {name!r} holds NaN or infinite values; not saving a checkpoint that "
                "could never be used (did training diverge?)"
            )


def _version_dirs(folder: Path) -> dict[int, Path]:
    """The version subfolders (``v<number>``) in ``folder``, by number."""
    found = {}
    for entry in folder.iterdir():
        match = _VERSION_DIR.fullmatch(entry.name)
        if match and entry.is_dir() and not entry.is_symlink():
            found[int(match.group(1))] = entry
    return found


def _current_version(folder: Path) -> Optional[str]:
    """The version folder ``CURRENT`` names, or None for a folder without one."""
    pointer = folder / CURRENT
    if not pointer.is_file():
        return None
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{pointer}: unreadable ({exc})") from None
    if not _VERSION_DIR.fullmatch(name):
        raise CheckpointError(f"{pointer}: does not name a checkpoint version ({name[:40]!r})")
    return name


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _clean(folder: Path, keep: Optional[str]) -> None:
    """Remove every version but ``keep`` (earlier versions, and versions a writer that died
    left half-written) and the files of the format without versions."""
    for entry in _version_dirs(folder).values():
        if entry.name != keep:
            _remove(entry)
    if keep is not None:
        for name in (MODEL_JSON, TRAINING_TENSORS):
            _remove(folder / name)
        tensors = folder / MODEL_TENSORS
        if tensors.exists() and not tensors.is_symlink():
            _remove(tensors)


def _link_current_tensors(folder: Path, version: str) -> None:
    """Point ``folder/model.safetensors`` at the current version's file (a convenience for
    tools that read the weights by path; checkpoints load through ``CURRENT``)."""
    link = folder / MODEL_TENSORS
    tmp = folder / f".{MODEL_TENSORS}.{os.getpid()}.link.tmp"
    remove_dead_writers_files(link)  # the temporary links of writers killed here
    try:
        _remove(tmp)
        os.symlink(f"{version}/{MODEL_TENSORS}", tmp)
        os.replace(tmp, link)
    except OSError:  # no symbolic links here (some Windows setups, some file systems)
        _remove(tmp)


def write_checkpoint(
    directory: Union[str, os.PathLike],
    *,
    kind: str,
    config: Mapping[str, Any],
    tensors: Mapping[str, np.ndarray],
    tokenizer: Optional[Mapping[str, Any]] = None,
    training: Optional[Mapping[str, Any]] = None,
    training_tensors: Optional[Mapping[str, np.ndarray]] = None,
) -> None:
    """Write a checkpoint into ``directory`` (created if needed), replacing the one it holds
    in one atomic step: the new version is written completely into a fresh subfolder, then
    ``CURRENT`` is switched to it by a rename. One writer per directory at a time.

    ``config``, ``tokenizer`` and ``training`` must be JSON-serialisable; arrays go in
    ``tensors`` (the model) and ``training_tensors`` (optimizer state, RNG state, ...).
    Non-finite model tensors are refused (ValueError naming the tensor).

    Example:
        >>> write_checkpoint("run1", kind="RNNLM", config=cfg, tensors=params)  # doctest: +SKIP
    """
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"directory: {folder} exists and is not a directory")
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "config": dict(config),
        "tokenizer": None if tokenizer is None else dict(tokenizer),
        "training": None if training is None else dict(training),
        "files": {},
    }
    try:  # before any file is touched: bad metadata must not damage an earlier checkpoint
        json.dumps(document)
    except (TypeError, ValueError) as exc:
        message = f"checkpoint: config, tokenizer and training must be JSON data ({exc})"
        raise TypeError(message) from None
    _finite_or_raise(tensors, "tensor")
    folder.mkdir(parents=True, exist_ok=True)
    current = _current_version(folder)
    _clean(folder, current)  # a dead writer's half-written version goes before we start
    numbers = _version_dirs(folder)
    version = f"v{max(numbers, default=0) + 1}"
    staging = folder / version
    staging.mkdir()
    files = document["files"]
    save_safetensors(staging / MODEL_TENSORS, tensors, {"format": "pt"})
    files[MODEL_TENSORS] = _digest(staging / MODEL_TENSORS)
    if training is not None or training_tensors:
        save_safetensors(staging / TRAINING_TENSORS, training_tensors or {})
        files[TRAINING_TENSORS] = _digest(staging / TRAINING_TENSORS)
    text = json.dumps(document, indent=1, sort_keys=True)
    with atomic_open(staging / MODEL_JSON, "w") as f:
        f.write(text + "\n")
    fsync_dir(folder)  # the version folder's entry is durable before CURRENT names it
    with atomic_open(folder / CURRENT, "w") as f:  # the switch: one rename
        f.write(version + "\n")
    _clean(folder, version)
    _link_current_tensors(folder, version)


def holds_checkpoint(directory: Union[str, os.PathLike]) -> bool:
    """Whether ``directory`` holds a checkpoint (of this layout or the one without versions)."""
    folder = Path(directory)
    return (folder / CURRENT).is_file() or (folder / MODEL_JSON).is_file()


def checkpoint_folder(directory: Union[str, os.PathLike]) -> Path:
    """The folder holding the files of the checkpoint in ``directory``: the version
    ``CURRENT`` names, or ``directory`` itself for a checkpoint written without versions.

    Example:
        >>> checkpoint_folder("run1") / "model.json"  # doctest: +SKIP
        PosixPath('run1/v3/model.json')
    """
    folder = Path(directory)
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such checkpoint directory")
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: a checkpoint is a directory, got a file")
    version = _current_version(folder)
    if version is None:
        return folder
    if not (folder / version).is_dir():
        raise CheckpointError(f"{folder / CURRENT}: names {version}, which is missing")
    return folder / version


def _read_document(folder: Path) -> dict[str, Any]:
    meta = folder / MODEL_JSON
    if not meta.is_file():
        raise CheckpointError(
            f"{folder}: no {MODEL_JSON} — not an rnnrs checkpoint, or a save that did not finish"
        )
    try:
        document = json.loads(meta.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{meta}: not valid JSON ({exc})") from None
    except RecursionError:
        raise CheckpointError(f"{meta}: not an rnnrs checkpoint (JSON nested too deeply)") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CheckpointError(f"{meta}: not an rnnrs checkpoint (format is not {FORMAT!r})")
    version = document.get("version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{meta}: invalid format version {version!r}")
    if version > VERSION:
        raise CheckpointError(
            f"{meta}: written by a newer rnnrs (checkpoint format version {version}; this "
            f"rnnrs reads up to version {VERSION}) — upgrade rnnrs to load it"
        )
    for key, kind in (("kind", str), ("config", dict), ("files", dict)):
        if not isinstance(document.get(key), kind):
            raise CheckpointError(f"{meta}: missing or invalid {key!r}")
    return document


def _verified(folder: Path, name: str, expected: Any) -> dict[str, np.ndarray]:
    path = folder / name
    if not path.is_file():
        raise CheckpointError(f"{folder}: {name} is missing (the checkpoint is incomplete)")
    if not isinstance(expected, dict) or _digest(path) != {
        "sha256": expected.get("sha256"),
        "bytes": expected.get("bytes"),
    }:
        raise CheckpointError(
            f"{path}: does not match the checksum in {MODEL_JSON} — the checkpoint is "
            "half-written (a save was interrupted) or was modified"
        )
    return load_safetensors(path)


def read_checkpoint(directory: Union[str, os.PathLike]) -> Checkpoint:
    """Read and verify a checkpoint directory written by :func:`write_checkpoint`.

    Raises FileNotFoundError when the directory does not exist and
    :class:`rnnrs.CheckpointError` when it is incomplete, half-written, damaged, or of a
    newer format version.

    Example:
        >>> ckpt = read_checkpoint("run1")  # doctest: +SKIP
        >>> ckpt.config["hidden_size"]  # doctest: +SKIP
        256
    """
    # A save may switch versions while this reads (and remove the one being read): then
    # read the version CURRENT names now. A failure that is not such a race is raised.
    attempts_left = 3
    while True:
        version = _current_version(Path(directory)) if Path(directory).is_dir() else None
        try:
            return _read_version(checkpoint_folder(directory))
        except (CheckpointError, FileNotFoundError):
            attempts_left -= 1
            if not attempts_left or _current_version(Path(directory)) == version:
                raise


def _read_version(folder: Path) -> Checkpoint:
    document = _read_document(folder)
    files = document["files"]
    if MODEL_TENSORS not in files:
        raise CheckpointError(f"{folder / MODEL_JSON}: names no {MODEL_TENSORS}")
    tensors = _verified(folder, MODEL_TENSORS, files[MODEL_TENSORS])
    training_tensors = (
        _verified(folder, TRAINING_TENSORS, files[TRAINING_TENSORS])
        if TRAINING_TENSORS in files
        else {}
    )
    tokenizer, training = document.get("tokenizer"), document.get("training")
    for key, value in (("tokenizer", tokenizer), ("training", training)):
        if value is not None and not isinstance(value, dict):
            raise CheckpointError(f"{folder / MODEL_JSON}: {key!r} must be an object or null")
    return Checkpoint(
        path=folder,
        kind=document["kind"],
        config=document["config"],
        tensors=tensors,
        tokenizer=tokenizer,
        training=training,
        training_tensors=training_tensors,
    )


# ---------------------------------------------------------------------- nested state


def split_arrays(state: Any, prefix: str = "") -> tuple[Any, dict[str, np.ndarray]]:
    """Separate the NumPy arrays of a nested dict/list ``state`` from its JSON part.

    Each array is replaced by ``{"__tensor__": "<path>"}`` and returned under that path, so
    the JSON part goes in model.json and the arrays in a safetensors file.

    Example:
        >>> import numpy as np
        >>> meta, arrays = split_arrays({"step": 3, "moments": [np.zeros(2)]})
        >>> meta, list(arrays)
        ({'step': 3, 'moments': [{'__tensor__': 'moments.0'}]}, ['moments.0'])
    """
    arrays: dict[str, np.ndarray] = {}

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, np.ndarray):
            arrays[path] = value
            return {"__tensor__": path}
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, Mapping):
            return {str(k): walk(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(value)]
        return value

    return walk(state, prefix), arrays


def join_arrays(meta: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """The inverse of :func:`split_arrays` (lists stay lists).

    Example:
        >>> import numpy as np
        >>> join_arrays({"m": {"__tensor__": "m"}}, {"m": np.ones(1)})["m"].tolist()
        [1.0]
    """
    if isinstance(meta, dict):
        if set(meta) == {"__tensor__"}:
            name = meta["__tensor__"]
            if name not in arrays:
                raise CheckpointError(f"training state: tensor {name!r} is missing")
            return arrays[name]
        return {k: join_arrays(v, arrays) for k, v in meta.items()}
    if isinstance(meta, list):
        return [join_arrays(v, arrays) for v in meta]
    return meta


# ---------------------------------------------------------------------- tokenizers


def tokenizer_to_json(tokenizer: Any) -> Optional[dict[str, Any]]:
    """The JSON document of an rnnrs tokenizer (what its ``save`` writes), or None."""
    if tokenizer is None:
        return None
    if not callable(getattr(tokenizer, "save", None)) or not hasattr(tokenizer, "kind"):
        raise TypeError(
            f"tokenizer: a {type(tokenizer).__name__} cannot be saved in a checkpoint "
            "(expected an rnnrs CharTokenizer, WordTokenizer or BPETokenizer)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        tokenizer.save(path)
        document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise TypeError("tokenizer: save() did not write a JSON object")
    return document


# ---------------------------------------------------------------------- models


def save_model(
    model: Any,
    directory: Union[str, os.PathLike],
    trainer: Any = None,
    extra: Optional[Mapping[str, Any]] = None,
) -> None:
    """Write ``model`` to a checkpoint directory: its ``kind`` (the name it is registered
    under in ``rnnrs.models.registry``, e.g. "RNNLM"), ``config``, ``parameters()`` and
    ``tokenizer``; with ``trainer``, also its training state (``trainer.state_dict()``:
    optimizer moments, step, stream position, carried state, RNG) for exact resume.
    ``extra`` (JSON data and arrays) is saved beside it; :func:`load_training_state`
    returns ``{"trainer": ..., **extra}``.

    Example:
        >>> save_model(model, "run1", trainer=trainer)  # doctest: +SKIP
    """
    training = training_tensors = None
    if trainer is not None:
        if getattr(trainer, "model", None) is not model:
            raise ValueError("trainer: is training a different model than the one being saved")
        state = {**(extra or {}), "trainer": trainer.state_dict()}
        training, training_tensors = split_arrays(state)
    elif extra is not None:
        raise ValueError("extra: is saved with the training state; pass trainer= too")
    write_checkpoint(
        directory,
        kind=model.kind,
        config=model.config,
        tensors=model.parameters(),
        tokenizer=tokenizer_to_json(model.tokenizer),
        training=training,
        training_tensors=training_tensors,
    )


def load_training_state(directory: Union[str, os.PathLike]) -> dict[str, Any]:
    """The training state saved with ``model.save(dir, trainer=...)``: a dict whose
    ``"trainer"`` entry goes to ``trainer.load_state_dict``; CheckpointError when the
    checkpoint has none.

    Example:
        >>> trainer.load_state_dict(load_training_state("run1")["trainer"])  # doctest: +SKIP
    """
    ckpt = read_checkpoint(directory)
    if ckpt.training is None:
        raise CheckpointError(
            f"{ckpt.path}: holds no training state (saved without a trainer); it can be "
            "loaded and fine-tuned, not resumed"
        )
    state: dict[str, Any] = join_arrays(ckpt.training, ckpt.training_tensors)
    return state
