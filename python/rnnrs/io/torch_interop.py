"""PyTorch state_dict names for RNNLM and SequenceClassifier, without importing torch (the
equivalent torch modules are built on demand by :func:`torch_module` and
:func:`torch_classifier`).

An RNNLM's parameters already carry the names of this torch module (docs/checkpoints.md
shows it in full)::

    class TorchRNNLM(torch.nn.Module):
        def __init__(self, vocab_size, embed_size, hidden_size, num_layers, cell="lstm"):
            super().__init__()
            self.embedding = torch.nn.Embedding(vocab_size, embed_size)
            self.rnn = torch.nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
            self.output = torch.nn.Linear(hidden_size, vocab_size)

so converting is a matter of the tied output weight (torch's state_dict lists it under both
names) and of reading the configuration back from the shapes.

Example:
    >>> import numpy as np
    >>> sd = {"embedding.weight": np.zeros((7, 3)), "rnn.weight_ih_l0": np.zeros((16, 3)),
    ...       "rnn.weight_hh_l0": np.zeros((16, 4)), "rnn.bias_ih_l0": np.zeros(16),
    ...       "rnn.bias_hh_l0": np.zeros(16), "output.weight": np.zeros((7, 4)),
    ...       "output.bias": np.zeros(7)}
    >>> cfg = config_from_state_dict(sd)
    >>> cfg["cell"], cfg["hidden_size"], cfg["embed_size"], cfg["tie_weights"]
    ('lstm', 4, 3, False)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Optional

import numpy as np

# Gate blocks per cell in weight_hh (gates * H, H).
_CELL_BY_GATES = {4: "lstm", 3: "gru", 1: "rnn_tanh"}
_GATES_BY_CELL = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
_RNN_KEY = re.compile(r"rnn\.(weight|bias)_(ih|hh)_l(\d+)$")


def as_numpy_state_dict(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Copy a state_dict of numpy arrays or torch tensors into float32 numpy arrays.

    Example:
        >>> as_numpy_state_dict({"output.bias": [0.5, 1.0]})["output.bias"].dtype
        dtype('float32')
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"state_dict: expected a mapping of name -> array, got {type(state_dict).__name__}"
        )
    out: dict[str, np.ndarray] = {}
    for name, value in state_dict.items():
        if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
            value = value.detach().cpu().float().numpy()
        array = np.asarray(value)
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise TypeError(f"state_dict[{name!r}]: expected a numeric array, got {array.dtype}")
        out[str(name)] = np.array(array, dtype=np.float32)
    return out


def config_from_state_dict(
    state_dict: Mapping[str, np.ndarray], cell: Optional[str] = None
) -> dict[str, Any]:
    """The RNNLM configuration (sizes, cell, layers, tying) a torch state_dict describes.

    The cell is read from the gate count of ``rnn.weight_hh_l0`` (4 lstm, 3 gru, 1 rnn);
    an Elman RNN is taken as tanh unless ``cell="rnn_relu"`` is given. The output layer
    counts as tied when ``output.weight`` is absent or equal to ``embedding.weight``.
    """
    sd = state_dict
    for required in ("embedding.weight", "rnn.weight_hh_l0", "output.bias"):
        if required not in sd:
            raise ValueError(
                f"state_dict: missing {required!r}; expected the names of torch.nn.Embedding "
                "'embedding', torch.nn.LSTM/GRU/RNN 'rnn' and torch.nn.Linear 'output'"
            )
    extra = sorted(
        k
        for k in sd
        if not (_RNN_KEY.match(k) or k in ("embedding.weight", "output.weight", "output.bias"))
    )
    if extra:
        hint = ""
        if any(k.endswith("_reverse") for k in extra):
            hint = " (a language model is one-directional: bidirectional weights cannot load)"
        elif any("weight_hr" in k for k in extra):
            hint = " (LSTM projections, proj_size > 0, are not supported)"
        raise ValueError(f"state_dict: unexpected tensors {extra}{hint}")
    embedding = np.asarray(sd["embedding.weight"])
    hh = np.asarray(sd["rnn.weight_hh_l0"])
    if embedding.ndim != 2 or hh.ndim != 2 or hh.shape[1] == 0 or hh.shape[0] % hh.shape[1]:
        raise ValueError(
            f"state_dict: embedding.weight {embedding.shape} and rnn.weight_hh_l0 {hh.shape} "
            "must be 2-D, the latter (gates * hidden, hidden)"
        )
    hidden = hh.shape[1]
    gates = hh.shape[0] // hidden
    if gates not in _CELL_BY_GATES:
        raise ValueError(
            f"state_dict: rnn.weight_hh_l0 {hh.shape} has {gates} gate blocks; "
            "expected 4 (LSTM), 3 (GRU) or 1 (RNN)"
        )
    if cell is None:
        cell = _CELL_BY_GATES[gates]
    elif _GATES_BY_CELL.get(cell, -1) != gates:
        raise ValueError(
            f"cell: {cell!r} does not match the state_dict, whose rnn.weight_hh_l0 {hh.shape} "
            f"has {gates} gate blocks ({_CELL_BY_GATES[gates]})"
        )
    layers = 0
    while f"rnn.weight_hh_l{layers}" in sd:
        layers += 1
    output = sd.get("output.weight")
    tied = output is None or (
        np.shape(output) == embedding.shape and np.array_equal(output, embedding)
    )
    return {
        "vocab_size": int(embedding.shape[0]),
        "cell": cell,
        "hidden_size": int(hidden),
        "num_layers": layers,
        "embed_size": int(embedding.shape[1]),
        "tie_weights": bool(tied),
    }


def parameters_from_state_dict(
    state_dict: Mapping[str, np.ndarray], tie_weights: bool
) -> dict[str, np.ndarray]:
    """The RNNLM parameter dict for a (numpy) torch state_dict: drops the duplicate
    ``output.weight`` of a tied model; everything else is named alike."""
    params = dict(state_dict)
    if tie_weights:
        params.pop("output.weight", None)
    return params


def state_dict_from_parameters(
    params: Mapping[str, np.ndarray], tie_weights: bool
) -> dict[str, np.ndarray]:
    """A torch state_dict (numpy arrays) for RNNLM parameters: a tied model's embedding
    also appears as ``output.weight``, as torch lists shared parameters under both names."""
    sd = {name: np.array(value, dtype=np.float32) for name, value in params.items()}
    if tie_weights:
        sd["output.weight"] = sd["embedding.weight"].copy()
    return sd


def torch_module(config: Mapping[str, Any]) -> Any:
    """A ``torch.nn.Module`` equivalent to an RNNLM of ``config`` (requires torch).

    Its submodules are ``embedding`` (Embedding), ``rnn`` (LSTM/GRU/RNN, batch_first)
    and ``output`` (Linear), so ``module.load_state_dict(model.to_torch_state_dict())``
    (converted with ``torch.from_numpy``) loads an rnnrs model; ``module(x, state)`` returns
    (logits (B, T, V), final state). The source is shown in docs/checkpoints.md.

    Example:
        >>> m = torch_module(model.config)  # doctest: +SKIP
        >>> m.load_state_dict({k: torch.from_numpy(v)
        ...                    for k, v in model.to_torch_state_dict().items()})  # doctest: +SKIP
    """
    if config.get("softmax", "full") != "full":
        raise ValueError(
            "torch_module: the class-factored softmax has no torch.nn equivalent here; the "
            "state_dict still holds every tensor (output_class.* besides output.*)"
        )
    try:
        import torch
    except ImportError:
        raise ImportError("torch_module needs PyTorch (pip install torch)") from None

    class TorchRNNLM(torch.nn.Module):
        def __init__(self, cfg: Mapping[str, Any]) -> None:
            super().__init__()
            vocab, embed, hidden = cfg["vocab_size"], cfg["embed_size"], cfg["hidden_size"]
            layers, dropout, cell = cfg["num_layers"], cfg.get("dropout", 0.0), cfg["cell"]
            self.embedding = torch.nn.Embedding(vocab, embed)
            self.rnn: torch.nn.RNNBase
            if cell in ("lstm", "gru"):
                rnn_class = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
                self.rnn = rnn_class(embed, hidden, layers, batch_first=True, dropout=dropout)
            else:
                nonlinearity = "relu" if cell == "rnn_relu" else "tanh"
                self.rnn = torch.nn.RNN(
                    embed,
                    hidden,
                    layers,
                    nonlinearity=nonlinearity,
                    batch_first=True,
                    dropout=dropout,
                )
            self.drop = torch.nn.Dropout(dropout)
            self.output = torch.nn.Linear(hidden, vocab)
            if cfg.get("tie_weights", False):
                self.output.weight = self.embedding.weight

        def forward(self, x: Any, state: Any = None) -> tuple[Any, Any]:
            out, state = self.rnn(self.embedding(x), state)
            return self.output(self.drop(out)), state

    return TorchRNNLM(config)


def torch_classifier(config: Mapping[str, Any], vocab_size: int) -> Any:
    """A ``torch.nn.Module`` equivalent to a ``SequenceClassifier`` of ``config``
    (``model.config``) over ``vocab_size`` tokens (requires torch).

    Its submodules are ``embedding`` (Embedding), ``rnn`` (LSTM/GRU/RNN, bidirectional as
    configured, fed a ``pack_padded_sequence``), ``pool`` (the attention scorer's
    ``weight``, ``bias`` and ``v``; attention pooling only) and ``classifier`` (Linear), so
    ``module.load_state_dict(model.to_torch_state_dict())`` (converted with
    ``torch.from_numpy``) loads an rnnrs classifier. ``module(ids, lengths)`` takes padded
    ids (B, T) and lengths (B,) and returns the logits (B, C); padding never changes them.
    The source is shown in docs/classification.md.

    Example:
        >>> m = torch_classifier(model.config, model.tokenizer.vocab_size)  # doctest: +SKIP
        >>> m.load_state_dict({k: torch.from_numpy(v)
        ...                    for k, v in model.to_torch_state_dict().items()})  # doctest: +SKIP
    """
    try:
        import torch
    except ImportError:
        raise ImportError("torch_classifier needs PyTorch (pip install torch)") from None
    nn, pack = torch.nn, torch.nn.utils.rnn

    class TorchSequenceClassifier(nn.Module):
        def __init__(self, cfg: Mapping[str, Any]) -> None:
            super().__init__()
            embed, hidden, cell = cfg["embed_size"], cfg["hidden_size"], cfg["cell"]
            self.pooling, self.cell = cfg["pooling"], cell
            self.dirs = 2 if cfg["bidirectional"] else 1
            feat = self.dirs * hidden
            self.embedding = nn.Embedding(vocab_size, embed)
            # Between layers only, as rnnrs's (torch warns when there is no second layer).
            between = cfg["dropout"] if cfg["num_layers"] > 1 else 0.0
            options = {"bidirectional": cfg["bidirectional"], "dropout": between}
            self.rnn: torch.nn.RNNBase
            if cell in ("lstm", "gru"):
                rnn_class = nn.LSTM if cell == "lstm" else nn.GRU
                self.rnn = rnn_class(embed, hidden, cfg["num_layers"], **options)
            else:
                nonlinearity = "relu" if cell == "rnn_relu" else "tanh"
                self.rnn = nn.RNN(
                    embed, hidden, cfg["num_layers"], nonlinearity=nonlinearity, **options
                )
            if self.pooling == "attention":
                att = cfg["attention_size"]
                self.pool = nn.ParameterDict(
                    {
                        "weight": nn.Parameter(torch.zeros(att, feat)),
                        "bias": nn.Parameter(torch.zeros(att)),
                        "v": nn.Parameter(torch.zeros(att)),
                    }
                )
            self.drop = nn.Dropout(cfg["dropout"])
            self.embedding_drop = nn.Dropout(cfg.get("embedding_dropout", 0.0))
            self.classifier = nn.Linear(feat, len(cfg["labels"]))

        def forward(self, ids: Any, lengths: Any) -> Any:
            emb = self.embedding_drop(self.embedding(ids.T))  # (T, B, E), time-major
            packed = pack.pack_padded_sequence(emb, lengths.cpu(), enforce_sorted=False)
            out_packed, final = self.rnn(packed)
            out, _ = pack.pad_packed_sequence(out_packed, total_length=ids.shape[1])
            h_n = final[0] if self.cell == "lstm" else final
            valid = torch.arange(ids.shape[1])[:, None] < lengths[None, :]
            if self.pooling == "last":
                pooled = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.dirs == 2 else h_n[-1]
            elif self.pooling == "mean":
                pooled = out.sum(dim=0) / lengths[:, None].to(out.dtype)
            elif self.pooling == "max":
                pooled = out.masked_fill(~valid[:, :, None], float("-inf")).max(dim=0).values
            else:
                u = torch.tanh(out @ self.pool["weight"].T + self.pool["bias"])
                scores = (u @ self.pool["v"]).masked_fill(~valid, float("-inf"))
                pooled = (torch.softmax(scores, dim=0)[:, :, None] * out).sum(dim=0)
            return self.classifier(self.drop(pooled))

    return TorchSequenceClassifier(config)
