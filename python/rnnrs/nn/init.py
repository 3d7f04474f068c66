"""Weight initialisation: the one place the package draws initial weights. Every model and
layer draws here and hands the weights to its engine (``set_parameters``) whatever the
backend, so both backends start from the same numbers for the same seed.

The rule follows from a tensor's name, as PyTorch initialises the same modules:

- recurrent weights and biases (``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
  ``bias_hh_l{k}``, also ``..._reverse``, under any prefix such as ``rnn.``):
  U(-1/sqrt(H), 1/sqrt(H)), as ``torch.nn.RNN`` / ``LSTM`` / ``GRU``;
- every other bias (``output.bias``, ``classifier.bias``, ``pool.bias``): 0; every other
  tensor (``embedding.weight``, ``output.weight``, ``classifier.weight``, the attention
  pooling's ``pool.weight`` and ``pool.v``): U(-0.1, 0.1), as PyTorch's word_language_model.

Every model kind (``RNNLM``, ``SequenceClassifier``) and layer draws through
:func:`init_parameters` with its own shapes, seeded by its ``seed``.

Values are drawn in float64 from the generator in the order of ``shapes``, then stored in
``dtype``.

Example:
    >>> import numpy as np
    >>> shapes = {"rnn.weight_hh_l0": (4, 4), "output.weight": (3, 4), "output.bias": (3,)}
    >>> p = init_parameters(shapes, np.random.default_rng(0), hidden_size=4)
    >>> bool(np.abs(p["rnn.weight_hh_l0"]).max() <= 0.5), p["output.bias"].tolist()
    (True, [0.0, 0.0, 0.0])
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

_RECURRENT = re.compile(r"(?:^|\.)(?:weight|bias)_(?:ih|hh)_l\d+(?:_reverse)?$")


def init_parameters(
    shapes: Mapping[str, tuple[int, ...]],
    rng: np.random.Generator,
    *,
    hidden_size: int,
    dtype: Any = np.float32,
) -> dict[str, np.ndarray]:
    """Initial weights for the tensors of ``shapes`` (name -> shape), drawn from ``rng`` by
    the rules above; ``hidden_size`` is the H of the recurrent bound."""
    bound = 1.0 / math.sqrt(hidden_size)
    params: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        if _RECURRENT.search(name):
            values = rng.uniform(-bound, bound, shape)
        elif name.rpartition(".")[2] == "bias":
            values = np.zeros(shape)
        else:
            values = rng.uniform(-0.1, 0.1, shape)
        params[name] = values.astype(dtype)
    return params
