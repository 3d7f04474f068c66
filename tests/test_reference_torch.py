"""The NumPy reference against PyTorch (skipped when torch is not installed): layers,
optimizers and the whole language model, with the same weights, in float64."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import rnnrs
from rnnrs.backends.numpy_rnnlm import NumpyEngine
from rnnrs.nn.config import normalize_config
from rnnrs.reference.cells import CELLS

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-5, 1e-10


def close(a: Any, b: Any) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL, atol=ATOL)


def torch_layer(cell: str, layer: Any) -> Any:
    kwargs = dict(
        input_size=layer.input_size,
        hidden_size=layer.hidden_size,
        num_layers=layer.num_layers,
        bidirectional=layer.bidirectional,
        batch_first=True,
    )
    if cell == "lstm":
        mod = torch.nn.LSTM(**kwargs)
    elif cell == "gru":
        mod = torch.nn.GRU(**kwargs)
    else:
        mod = torch.nn.RNN(nonlinearity=cell[4:], **kwargs)
    mod = mod.double()
    mod.load_state_dict({k: torch.from_numpy(v) for k, v in layer.parameters().items()})
    return mod


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_layers_match_torch(cell: str, bidirectional: bool) -> None:
    rng = np.random.default_rng(0)
    kwargs = {"nonlinearity": cell[4:]} if cell.startswith("rnn") else {}
    cls = {"lstm": rnnrs.LSTM, "gru": rnnrs.GRU}.get(cell, rnnrs.RNN)
    layer = cls(5, 6, num_layers=2, bidirectional=bidirectional, dtype="float64", **kwargs)
    mod = torch_layer(cell, layer)
    dirs = 2 if bidirectional else 1
    x = rng.normal(size=(3, 7, 5))
    state = tuple(rng.normal(size=(2 * dirs, 3, 6)) for _ in range(2 if cell == "lstm" else 1))
    w_out = rng.normal(size=(3, 7, 6 * dirs))
    w_state = tuple(rng.normal(size=s.shape) for s in state)

    out, final = layer.forward(x, state)
    d_x, d_state0, grads = layer.backward(w_out, w_state)

    tx = torch.tensor(x, requires_grad=True)
    ts = tuple(torch.tensor(s, requires_grad=True) for s in state)
    t_out, t_final = mod(tx, ts if cell == "lstm" else ts[0])
    t_final = t_final if cell == "lstm" else (t_final,)
    loss = (t_out * torch.from_numpy(w_out)).sum() + sum(
        (f * torch.from_numpy(w)).sum() for f, w in zip(t_final, w_state)
    )
    loss.backward()

    close(out, t_out.detach())
    for a, b in zip(final, t_final):
        close(a, b.detach())
    close(d_x, tx.grad)
    for a, b in zip(d_state0, ts):
        close(a, b.grad)
    for name, p in mod.named_parameters():
        close(grads[name], p.grad)


def grad_sequence(shapes: dict[str, tuple[int, ...]], steps: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    return [{n: rng.normal(size=s) for n, s in shapes.items()} for _ in range(steps)]


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: rnnrs.SGD(lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
        (
            lambda: rnnrs.SGD(lr=0.05, momentum=0.9, weight_decay=0.01),
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01),
        ),
        (
            lambda: rnnrs.SGD(lr=0.05, momentum=0.8, nesterov=True),
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
        ),
        (
            lambda: rnnrs.Adam(lr=0.01, weight_decay=0.1),
            lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
        ),
        (
            lambda: rnnrs.Adam(lr=0.02, betas=(0.8, 0.99), eps=1e-6),
            lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6),
        ),
        (lambda: rnnrs.AdamW(lr=0.01), lambda p: torch.optim.AdamW(p, lr=0.01)),
    ],
    ids=["sgd", "sgd-momentum-wd", "sgd-nesterov", "adam-wd", "adam-betas", "adamw"],
)
def test_optimizers_match_torch_for_20_steps(ours: Any, theirs: Any) -> None:
    shapes = {"a": (4, 3), "b": (5,)}
    rng = np.random.default_rng(1)
    params = {n: rng.normal(size=s) for n, s in shapes.items()}
    t_params = {n: torch.tensor(v, requires_grad=True) for n, v in params.items()}
    opt, t_opt = ours(), theirs(list(t_params.values()))
    for grads in grad_sequence(shapes, 20):
        opt.step(params, grads)
        for n, p in t_params.items():
            p.grad = torch.from_numpy(grads[n])
        t_opt.step()
    for n in shapes:
        close(params[n], t_params[n].detach())


class TorchLM(torch.nn.Module):  # type: ignore[misc]
    """Embedding + recurrent stack + Linear, as PyTorch's word_language_model."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        v, e, h, n = cfg["vocab_size"], cfg["embed_size"], cfg["hidden_size"], cfg["num_layers"]
        self.embedding = torch.nn.Embedding(v, e)
        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(cfg["cell"])
        self.rnn = (
            cls(e, h, n, batch_first=True)
            if cls
            else torch.nn.RNN(e, h, n, nonlinearity=cfg["cell"][4:], batch_first=True)
        )
        self.output = torch.nn.Linear(h, v)
        if cfg["tie_weights"]:
            self.output.weight = self.embedding.weight

    def forward(self, x: Any, state: Any) -> tuple[Any, Any]:
        out, final = self.rnn(self.embedding(x), state)
        return self.output(out), final


def torch_lm(cfg: dict[str, Any], params: dict[str, np.ndarray]) -> Any:
    lm = TorchLM(cfg).double()
    sd = {k: torch.from_numpy(v.astype(np.float64)) for k, v in params.items()}
    if cfg["tie_weights"]:
        sd["output.weight"] = sd["embedding.weight"]
    lm.load_state_dict(sd)
    return lm


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("tie", [False, True])
def test_language_model_matches_torch(cell: str, tie: bool) -> None:
    cfg = normalize_config(
        {"vocab_size": 11, "cell": cell, "hidden_size": 6, "num_layers": 2, "tie_weights": tie}
    )
    params = rnnrs.RNNLM(**cfg, backend="numpy").parameters()
    engine = NumpyEngine(cfg, dtype=np.float64)
    engine.set_parameters(params)
    lm = torch_lm(cfg, params)
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 11, size=(4, 9)), rng.integers(0, 11, size=(4, 9))
    state = tuple(rng.normal(size=(2, 4, 6)) for _ in range(2 if cell == "lstm" else 1))

    loss, grads, final = engine.loss_and_grads(x, y, state, train=False)
    t_state = tuple(torch.from_numpy(s) for s in state)
    logits, t_final = lm(torch.from_numpy(x), t_state if cell == "lstm" else t_state[0])
    t_loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 11), torch.from_numpy(y).reshape(-1)
    )
    t_loss.backward()

    close(loss, t_loss.item())
    for a, b in zip(final, t_final if cell == "lstm" else (t_final,)):
        close(a, b.detach())
    t_grads = dict(lm.named_parameters())  # a tied weight appears once, as embedding.weight
    assert set(grads) == set(t_grads)
    for name, g in grads.items():
        close(g, t_grads[name].grad)
    close(engine.logits(x, state)[0], logits.detach().float())


def test_train_steps_match_torch_with_clipping_and_adam() -> None:
    """Five steps of truncated BPTT (state carried, reset at step 3), clipping and Adam."""
    cfg = normalize_config({"vocab_size": 9, "cell": "lstm", "hidden_size": 5, "num_layers": 2})
    params = rnnrs.RNNLM(**cfg, backend="numpy").parameters()
    engine = NumpyEngine(cfg, dtype=np.float64)
    engine.set_parameters(params)
    engine.configure_optimizer(**rnnrs.Adam(lr=0.05, weight_decay=0.01).spec())
    lm = torch_lm(cfg, params)
    opt = torch.optim.Adam(lm.parameters(), lr=0.05, weight_decay=0.01)
    stream = np.random.default_rng(4).integers(0, 9, size=(3, 40)).astype(np.uint32)
    starts = np.array([0, 6, 12, 0, 6])
    reset = np.array([True, False, False, True, False])
    lrs = np.array([0.05, 0.04, 0.03, 0.02, 0.01])
    losses, norms, final = engine.train_steps(stream, starts, 6, lrs, reset, None, 0.5, None)

    data = torch.from_numpy(stream.astype(np.int64))
    state = None
    for k, s in enumerate(starts):
        if reset[k]:
            state = None
        for group in opt.param_groups:
            group["lr"] = lrs[k]
        opt.zero_grad()
        logits, state = lm(data[:, s : s + 6], state)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, 9), data[:, s + 1 : s + 7].reshape(-1)
        )
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(lm.parameters(), 0.5)
        opt.step()
        state = tuple(t.detach() for t in state)
        close(losses[k], loss.item())
        close(norms[k], norm.item())
    for name, p in lm.named_parameters():
        close(engine.get_parameters()[name], p.detach())
    for a, b in zip(final, state):
        close(a, b)
    opt_state = engine.optimizer_state()
    assert int(opt_state["step"]) == 5
    t_moments = opt.state[lm.rnn.weight_hh_l1]
    close(opt_state["exp_avg.rnn.weight_hh_l1"], t_moments["exp_avg"])
    close(opt_state["exp_avg_sq.rnn.weight_hh_l1"], t_moments["exp_avg_sq"])
