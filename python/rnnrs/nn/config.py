"""Configuration checks, the one place where a model's config is validated and made
canonical: the engines take it as given (the Rust core's own ``validate`` is only the last
guard).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Optional

import numpy as np

from ..reference.cells import GATES

CELL_ALIASES = {"rnn": "rnn_tanh", "tanh": "rnn_tanh", "relu": "rnn_relu"}
CONFIG_KEYS = (
    "vocab_size",
    "cell",
    "hidden_size",
    "num_layers",
    "embed_size",
    "dropout",
    "tie_weights",
    "seed",
    "softmax",
    "classes",
    "freeze_embeddings",
)


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int > 0 (and below 2**63, what the engines take as a size), else
    TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected a positive int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name}: expected a positive int, got {value}")
    if value >= 2**63:
        raise ValueError(f"{name}: expected a positive int below 2**63, got {value}")
    return int(value)


def normalize_cell(cell: Any) -> str:
    """Canonical cell name ("rnn" -> "rnn_tanh"); ValueError for an unknown name."""
    if not isinstance(cell, str):
        raise TypeError(f"cell: expected a string, got {type(cell).__name__}")
    name = CELL_ALIASES.get(cell.lower(), cell.lower())
    if name not in GATES:
        choices = ", ".join([*GATES, *CELL_ALIASES])
        raise ValueError(f"cell: expected one of {choices}, got {cell!r}")
    return name


def check_seed(seed: Any) -> int:
    """``seed`` as an int in [0, 2**64) (the engines keep it as 64 bits)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise ValueError(f"seed: expected a non-negative int below 2**64, got {seed!r}")
    return int(seed)


def check_dropout(dropout: Any, name: str = "dropout") -> float:
    """``dropout`` as a float in [0, 1); errors name ``name``."""
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.floating)):
        raise TypeError(f"{name}: expected a float in [0, 1), got {type(dropout).__name__}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"{name}: expected a float in [0, 1), got {dropout}")
    return float(dropout)


def check_probability(value: Any, name: str) -> float:
    """``value`` as a float in [0, 1]; TypeError or ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise TypeError(f"{name}: expected a probability in [0, 1], got {type(value).__name__}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1], got {value!r}")
    return float(value)


def normalize_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate an RNNLM configuration and return it complete and canonical.

    Example:
        >>> normalize_config({"vocab_size": 10, "cell": "rnn", "hidden_size": 8})["cell"]
        'rnn_tanh'
    """
    unknown = set(config) - set(CONFIG_KEYS)
    if unknown:
        raise ValueError(f"config: unknown keys {sorted(unknown)}; expected {CONFIG_KEYS}")
    if "vocab_size" not in config:
        raise ValueError("config: 'vocab_size' is required")
    hidden = check_positive_int(config.get("hidden_size", 256), "hidden_size")
    embed = config.get("embed_size")
    embed = hidden if embed is None else check_positive_int(embed, "embed_size")
    tie = config.get("tie_weights", False)
    if not isinstance(tie, (bool, np.bool_)):
        raise TypeError(f"tie_weights: expected a bool, got {type(tie).__name__}")
    if tie and embed != hidden:
        raise ValueError(
            f"tie_weights: requires embed_size == hidden_size, got embed_size={embed} "
            f"and hidden_size={hidden}"
        )
    seed = check_seed(config.get("seed", 0))
    vocab = check_positive_int(config["vocab_size"], "vocab_size")
    softmax, classes = check_softmax(config.get("softmax", "full"), config.get("classes"), vocab)
    out = {
        "vocab_size": vocab,
        "cell": normalize_cell(config.get("cell", "lstm")),
        "hidden_size": hidden,
        "num_layers": check_positive_int(config.get("num_layers", 1), "num_layers"),
        "embed_size": embed,
        "dropout": check_dropout(config.get("dropout", 0.0)),
        "tie_weights": bool(tie),
        "seed": int(seed),
    }
    if softmax == "class":  # a full-softmax config keeps the keys it always had
        out.update(softmax=softmax, classes=classes)
    freeze = config.get("freeze_embeddings", False)
    if not isinstance(freeze, (bool, np.bool_)):
        raise TypeError(f"freeze_embeddings: expected a bool, got {type(freeze).__name__}")
    if freeze:  # likewise: only a frozen embedding adds the key
        out["freeze_embeddings"] = True
    return out


def check_softmax(softmax: Any, classes: Any, vocab_size: int) -> tuple[str, Any]:
    """("full", None) or ("class", the class of every token id as a list of ints, dense
    0..K-1 with every class used); ValueError for anything else.

    Example:
        >>> check_softmax("class", [1, 1, 0], 3)
        ('class', [1, 1, 0])
    """
    if softmax not in ("full", "class"):
        raise ValueError(f"softmax: expected 'full' or 'class', got {softmax!r}")
    if softmax == "full":
        if classes is not None:
            raise ValueError("classes: only meaningful with softmax='class'")
        return "full", None
    if classes is None:
        raise ValueError(
            "classes: softmax='class' needs the class of every token id; compute them from "
            "training ids with rnnrs.frequency_classes(ids, vocab_size) or read a file"
        )
    arr = np.asarray(classes)
    if arr.shape != (vocab_size,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"classes: expected {vocab_size} integer class ids (one per token id), got "
            f"{arr.dtype} of shape {arr.shape}"
        )
    if arr.min() < 0 or set(np.unique(arr).tolist()) != set(range(int(arr.max()) + 1)):
        raise ValueError("classes: expected dense class ids 0..K-1 with every class used")
    return "class", [int(c) for c in arr]


# While a checkpoint is being loaded: how many scalars its tensors hold. A model built from it
# must ask for exactly that many, which is checked before anything is allocated (a 1 KB
# model.json asking for 10**9 layers is refused, not attempted).
_CHECKPOINT_SCALARS: ContextVar[Optional[int]] = ContextVar("_CHECKPOINT_SCALARS", default=None)


@contextmanager
def building_from_tensors(tensors: dict[str, np.ndarray]) -> Iterator[None]:
    """Within this block, :func:`check_model_size` also requires a model to have exactly as
    many parameters as ``tensors`` hold (how ``rnnrs.load`` builds a model)."""
    token = _CHECKPOINT_SCALARS.set(sum(int(t.size) for t in tensors.values()))
    try:
        yield
    finally:
        _CHECKPOINT_SCALARS.reset(token)


def parameter_count(
    shapes_of: Callable[[dict[str, Any]], dict[str, tuple[int, ...]]],
    config: dict[str, Any],
    layer_keys: tuple[str, ...] = ("num_layers",),
) -> int:
    """Number of scalars of the model ``shapes_of(config)`` describes, computed from the
    shapes of its versions with one layer and with two layers in each stack named by
    ``layer_keys`` (every layer above the first has the same size), so that a config asking
    for 10**9 layers costs no more to check than one asking for two.

    Example:
        >>> from rnnrs.reference.lm import parameter_shapes
        >>> cfg = {"vocab_size": 5, "cell": "gru", "hidden_size": 4, "num_layers": 3,
        ...        "embed_size": 4, "tie_weights": False}
        >>> parameter_count(parameter_shapes, cfg)
        405
    """

    def count(layers: dict[str, int]) -> int:
        shapes = shapes_of({**config, **layers})
        return sum(math.prod(shape) for shape in shapes.values())

    single = {key: 1 for key in layer_keys}
    one = count(single)
    total = one
    for key in layer_keys:
        layers = int(config[key])
        if layers > 1:
            total += (layers - 1) * (count({**single, key: 2}) - one)
    return total


def physical_memory() -> Optional[int]:
    """Bytes of physical memory of this machine (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def check_model_size(
    kind: str,
    shapes_of: Callable[[dict[str, Any]], dict[str, tuple[int, ...]]],
    config: dict[str, Any],
    layer_keys: tuple[str, ...] = ("num_layers",),
) -> int:
    """The model's number of parameters (``layer_keys`` as :func:`parameter_count`), after
    checking that its weights and gradients (8 bytes a parameter) fit in this machine's
    physical memory (else MemoryError naming the size asked for) and, inside
    :func:`building_from_tensors`, that the tensors hold exactly that many (else
    ValueError). Called before an engine allocates anything.

    Example:
        >>> from rnnrs.reference.lm import parameter_shapes
        >>> cfg = {"vocab_size": 5, "cell": "gru", "hidden_size": 4, "num_layers": 10**9,
        ...        "embed_size": 4, "tie_weights": False}
        >>> check_model_size("RNNLM", parameter_shapes, cfg)
        Traceback (most recent call last):
        ...
        MemoryError: RNNLM: 120,000,000,045 parameters need 9.6e+11 bytes for weights and ...
    """
    count = parameter_count(shapes_of, config, layer_keys)
    expected = _CHECKPOINT_SCALARS.get()
    if expected is not None and count != expected:
        raise ValueError(
            f"the config asks for {count:,} parameters but the tensors hold {expected:,}"
        )
    need, have = 8 * count, physical_memory()
    if have is not None and need > have:
        raise MemoryError(
            f"{kind}: {count:,} parameters need {need:.3g} bytes for weights and gradients, "
            f"more than this machine's {have:.3g} bytes of memory"
        )
    return count
