"""RustEngine (the Rust neural core) against PyTorch: same weights into torch.nn.Embedding +
RNN/LSTM/GRU + Linear; loss, logits, final states and every gradient must agree (fp32,
rtol 1e-4, atol 1e-5), and so must the parameters after 20 optimizer steps."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any, Optional

import numpy as np
import pytest

import rnnrs
from rnnrs.backends.selection import rust_available

pytestmark = pytest.mark.skipif(not rust_available(), reason="the Rust extension is not built")

RTOL, ATOL = 1e-4, 1e-5
V, E, H, B, T = 13, 8, 8, 3, 7
CELLS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def engine(cell: str, layers: int, tie: bool = False, seed: int = 0, **extra: Any) -> Any:
    from rnnrs import _core

    cfg = {
        "vocab_size": V,
        "cell": cell,
        "embed_size": E,
        "hidden_size": H,
        "num_layers": layers,
        "dropout": 0.0,
        "tie_weights": tie,
        "seed": seed,
        **extra,
    }
    eng = _core.RustEngine(**cfg)
    rng = np.random.default_rng(seed + 100)
    params = {
        k: rng.uniform(-0.4, 0.4, v.shape).astype(np.float32)
        for k, v in eng.get_parameters().items()
    }
    eng.set_parameters(params)
    return eng


def torch_model(cell: str, layers: int, tie: bool, params: dict[str, np.ndarray]) -> Any:
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class LM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(V, E)
            if cell == "lstm":
                self.rnn: nn.Module = nn.LSTM(E, H, layers, batch_first=True)
            elif cell == "gru":
                self.rnn = nn.GRU(E, H, layers, batch_first=True)
            else:
                nl = "tanh" if cell == "rnn_tanh" else "relu"
                self.rnn = nn.RNN(E, H, layers, nonlinearity=nl, batch_first=True)
            self.output = nn.Linear(H, V)
            if tie:
                self.output.weight = self.embedding.weight

        def forward(self, x: Any, state: Any) -> Any:
            out, final = self.rnn(self.embedding(x), state)
            return self.output(out), final

    m = LM()
    sd = {k: torch.from_numpy(v.copy()) for k, v in params.items()}
    if tie:
        sd["output.weight"] = sd["embedding.weight"]
    m.load_state_dict(sd)
    return m


def torch_state(cell: str, state: Optional[tuple[np.ndarray, ...]]) -> Any:
    import torch

    if state is None:
        return None
    ts = tuple(torch.from_numpy(s.copy()) for s in state)
    return ts if cell == "lstm" else ts[0]


def as_tuple(cell: str, final: Any) -> tuple[np.ndarray, ...]:
    if cell == "lstm":
        return tuple(f.detach().numpy() for f in final)
    return (final.detach().numpy(),)


def data(seed: int = 1, b: int = B, t: int = T) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, V, (b, t)).astype(np.uint32)
    y = rng.integers(0, V, (b, t)).astype(np.uint32)
    return x, y


def random_state(cell: str, layers: int, seed: int = 2) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n = 2 if cell == "lstm" else 1
    return tuple(rng.uniform(-0.5, 0.5, (layers, B, H)).astype(np.float32) for _ in range(n))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("carried", [False, True])
def test_loss_logits_state_and_grads_match_torch(cell: str, layers: int, carried: bool) -> None:
    torch = pytest.importorskip("torch")
    eng = engine(cell, layers)
    x, y = data()
    state = random_state(cell, layers) if carried else None
    loss, grads, final = eng.loss_and_grads(x, y, state, False)

    m = torch_model(cell, layers, False, eng.get_parameters())
    logits_t, final_t = m(torch.from_numpy(x.astype(np.int64)), torch_state(cell, state))
    loss_t = torch.nn.functional.cross_entropy(
        logits_t.reshape(-1, V), torch.from_numpy(y.astype(np.int64)).reshape(-1)
    )
    loss_t.backward()

    assert loss == pytest.approx(loss_t.item(), rel=1e-5)
    logits, final2 = eng.logits(x, state)
    assert logits.dtype == np.float32 and logits.shape == (B, T, V)
    np.testing.assert_allclose(logits, logits_t.detach().numpy(), rtol=RTOL, atol=ATOL)
    for got, want in zip(final, as_tuple(cell, final_t)):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    for got, again in zip(final, final2):
        np.testing.assert_array_equal(got, again)
    named = dict(m.named_parameters())
    assert sorted(grads) == sorted(eng.param_names())
    for name, g in grads.items():
        want_g = named[name].grad.numpy()
        np.testing.assert_allclose(g, want_g, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_tied_weights_match_torch(cell: str) -> None:
    torch = pytest.importorskip("torch")
    eng = engine(cell, 2, tie=True)
    assert "output.weight" not in eng.param_names()
    x, y = data(3)
    state = random_state(cell, 2, 4)
    loss, grads, _ = eng.loss_and_grads(x, y, state, False)
    m = torch_model(cell, 2, True, eng.get_parameters())
    logits_t, _ = m(torch.from_numpy(x.astype(np.int64)), torch_state(cell, state))
    loss_t = torch.nn.functional.cross_entropy(
        logits_t.reshape(-1, V), torch.from_numpy(y.astype(np.int64)).reshape(-1)
    )
    loss_t.backward()
    assert loss == pytest.approx(loss_t.item(), rel=1e-5)
    named = dict(m.named_parameters())
    for name, g in grads.items():
        np.testing.assert_allclose(g, named[name].grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)


def test_step_logits_is_one_step_of_logits() -> None:
    eng = engine("gru", 2)
    x, _ = data(5)
    logits, state = eng.logits(np.ascontiguousarray(x[:, :1]), None)
    step, state2 = eng.step_logits(np.ascontiguousarray(x[:, 0]), None)
    assert step.shape == (B, V)
    np.testing.assert_array_equal(step, logits[:, 0, :])
    np.testing.assert_array_equal(state[0], state2[0])


def test_evaluate_matches_chunked_loss() -> None:
    eng = engine("lstm", 1)
    rng = np.random.default_rng(9)
    stream = rng.integers(0, V, (B, 20)).astype(np.uint32)
    total, count = eng.evaluate(stream, 6)
    assert count == B * 19
    want, state = 0.0, None
    for s in range(0, 19, 6):
        t = min(6, 19 - s)
        x = np.ascontiguousarray(stream[:, s : s + t])
        y = np.ascontiguousarray(stream[:, s + 1 : s + 1 + t])
        loss, state = eng.loss(x, y, state)
        want += loss * B * t
    assert total == pytest.approx(want, rel=1e-12)


OPTIMIZERS = [
    {"name": "adam", "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
    {"name": "adam", "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.01},
    {"name": "adamw", "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1},
    {"name": "sgd", "momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
    {"name": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
]


def torch_optimizer(spec: dict[str, Any], params: Any, lr: float) -> Any:
    import torch

    if spec["name"] == "sgd":
        return torch.optim.SGD(
            params,
            lr=lr,
            momentum=spec["momentum"],
            nesterov=spec["nesterov"],
            weight_decay=spec["weight_decay"],
        )
    cls = torch.optim.Adam if spec["name"] == "adam" else torch.optim.AdamW
    return cls(
        params, lr=lr, betas=spec["betas"], eps=spec["eps"], weight_decay=spec["weight_decay"]
    )


@pytest.mark.parametrize("spec", OPTIMIZERS, ids=lambda s: f"{s['name']}-{s.get('momentum', '')}")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_twenty_train_steps_match_torch(spec: dict[str, Any], cell: str) -> None:
    torch = pytest.importorskip("torch")
    eng = engine(cell, 2, tie=cell == "gru")
    m = torch_model(cell, 2, cell == "gru", eng.get_parameters())
    rng = np.random.default_rng(11)
    stream = rng.integers(0, V, (B, 41)).astype(np.uint32)
    starts = np.array([(5 * k) % 35 for k in range(20)], dtype=np.int64)
    lrs = np.array([0.02 * (1 - k / 40) for k in range(20)])
    reset = np.array([s == 0 for s in starts])
    bptt = 6

    eng.configure_optimizer(**spec)
    losses, norms, final = eng.train_steps(stream, starts, bptt, lrs, reset, None, 1.0, 0.05)
    assert losses.dtype == np.float64 and losses.shape == (20,) and norms.shape == (20,)

    opt = torch_optimizer(spec, m.parameters(), float(lrs[0]))
    state: Any = None
    want_losses, want_norms = [], []
    for k in range(20):
        s = int(starts[k])
        t = min(bptt, 40 - s)
        if reset[k]:
            state = None
        x = torch.from_numpy(stream[:, s : s + t].astype(np.int64))
        y = torch.from_numpy(stream[:, s + 1 : s + 1 + t].astype(np.int64))
        for group in opt.param_groups:
            group["lr"] = float(lrs[k])
        opt.zero_grad()
        logits, state = m(x, state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        loss.backward()
        want_norms.append(float(torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)))
        torch.nn.utils.clip_grad_value_(m.parameters(), 0.05)
        opt.step()
        want_losses.append(loss.item())
        state = tuple(s_.detach() for s_ in state) if cell == "lstm" else state.detach()

    np.testing.assert_allclose(losses, want_losses, rtol=1e-4)
    np.testing.assert_allclose(norms, want_norms, rtol=1e-4)
    named = dict(m.named_parameters())
    for name, p in eng.get_parameters().items():
        np.testing.assert_allclose(
            p, named[name].detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=name
        )
    for got, want in zip(final, as_tuple(cell, state)):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)

    ostate = eng.optimizer_state()
    assert int(ostate["step"]) == 20 and ostate["step"].dtype == np.int64
    tstate = opt.state_dict()["state"]
    names = [n for n, _ in m.named_parameters()]
    for i, name in enumerate(names):
        for key in ("exp_avg", "exp_avg_sq", "momentum_buffer"):
            if key in tstate.get(i, {}):
                np.testing.assert_allclose(
                    ostate[f"{key}.{name}"], tstate[i][key].numpy(), rtol=1e-3, atol=1e-6
                )


def test_optimizer_state_round_trip_resumes_exactly() -> None:
    x_stream = np.random.default_rng(3).integers(0, V, (B, 30)).astype(np.uint32)
    spec = {"name": "adam", "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
    starts = np.arange(0, 24, 6)
    a = engine("lstm", 1)
    a.configure_optimizer(**spec)
    a.train_steps(x_stream, starts[:2], 6, [0.01, 0.01], [True, False], None, 5.0, None)
    saved = (a.get_parameters(), a.optimizer_state())
    a.train_steps(x_stream, starts[2:], 6, [0.01, 0.01], [False, False], None, 5.0, None)
    b = engine("lstm", 1, seed=7)
    b.configure_optimizer(**spec)
    b.set_parameters(saved[0])
    b.load_optimizer_state(saved[1])
    b.train_steps(x_stream, starts[2:], 6, [0.01, 0.01], [False, False], None, 5.0, None)
    for name, p in a.get_parameters().items():
        np.testing.assert_array_equal(p, b.get_parameters()[name], err_msg=name)
    with pytest.raises(ValueError, match="missing"):
        b.load_optimizer_state({"step": np.int64(1)})


def test_threads_one_and_two_agree_and_repeat_bit_identically() -> None:
    eng = engine("lstm", 2)
    x, y = data(8, b=16, t=12)
    before = rnnrs.get_num_threads()
    try:
        rnnrs.set_num_threads(1)
        l1, g1, _ = eng.loss_and_grads(x, y, None, False)
        rnnrs.set_num_threads(2)
        l2, g2, _ = eng.loss_and_grads(x, y, None, False)
        l2b, g2b, _ = eng.loss_and_grads(x, y, None, False)
        assert rnnrs.get_num_threads() == 2
    finally:
        rnnrs.set_num_threads(before)
    assert l2 == l2b
    for name in g1:
        np.testing.assert_array_equal(g2[name], g2b[name])
        np.testing.assert_allclose(g1[name], g2[name], rtol=1e-5, atol=1e-7, err_msg=name)
    assert l1 == pytest.approx(l2, rel=1e-6)


def test_dropout_is_reproducible_from_the_rng_state() -> None:
    eng = engine("gru", 2, dropout=0.5)
    x, y = data(4)
    s = eng.rng_state()
    assert s.dtype == np.uint64
    l1, g1, _ = eng.loss_and_grads(x, y, None, True)
    l2, _, _ = eng.loss_and_grads(x, y, None, True)
    assert l1 != l2  # fresh masks each call
    eng.set_rng_state(s)
    l3, g3, _ = eng.loss_and_grads(x, y, None, True)
    assert l3 == l1
    np.testing.assert_array_equal(g1["rnn.weight_hh_l1"], g3["rnn.weight_hh_l1"])
    no_drop, _ = eng.loss(x, y, None)
    l4, _, _ = eng.loss_and_grads(x, y, None, False)
    assert l4 == pytest.approx(no_drop, rel=1e-7)


def test_bad_input_raises_clear_errors() -> None:
    from rnnrs import _core

    eng = engine("lstm", 2)
    x, y = data()
    with pytest.raises(ValueError, match=r"x: token id 13 .* vocab_size 13"):
        eng.loss(np.full((B, T), V, dtype=np.uint32), y, None)
    with pytest.raises(TypeError, match=r"x: .*uint32.*int64"):
        eng.loss(x.astype(np.int64), y, None)
    with pytest.raises(ValueError, match="contiguous"):
        eng.loss(np.asfortranarray(np.repeat(x, 2, axis=0)), np.repeat(y, 2, axis=0), None)
    with pytest.raises(ValueError, match="y: expected the shape of x"):
        eng.loss(x, y[:, :3].copy(), None)
    with pytest.raises(ValueError, match="2-D"):
        eng.loss(x[0].copy(), y[0].copy(), None)
    with pytest.raises(ValueError, match=r"state\[0\]: expected shape"):
        eng.loss(x, y, (np.zeros((2, B + 1, H), np.float32), np.zeros((2, B + 1, H), np.float32)))
    with pytest.raises(ValueError, match="state: expected"):
        eng.loss(x, y, (np.zeros((2, B, H), np.float32),))
    with pytest.raises(TypeError, match="state"):
        eng.loss(x, y, np.zeros((2, B, H), np.float32))
    params = eng.get_parameters()
    params["rnn.weight_hh_l1"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match=r"rnn.weight_hh_l1.*\(32, 8\)"):
        eng.set_parameters(params)
    del params["rnn.weight_hh_l1"]
    with pytest.raises(ValueError, match="missing"):
        eng.set_parameters(params)
    with pytest.raises(ValueError, match="optimizer"):
        eng.train_steps(x, [0], 3, [0.1], [True], None, None, None)
    eng.configure_optimizer(name="adam")
    with pytest.raises(ValueError, match="starts"):
        eng.train_steps(x, [T - 1], 3, [0.1], [True], None, None, None)
    with pytest.raises(ValueError, match="lrs"):
        eng.train_steps(x, [0, 1], 3, [0.1], [True, False], None, None, None)
    with pytest.raises(ValueError, match="name"):
        eng.configure_optimizer(name="lbfgs")
    with pytest.raises(ValueError, match="betas"):
        eng.configure_optimizer(name="sgd", betas=(0.9, 0.99))
    with pytest.raises(TypeError):
        eng.configure_optimizer({"name": "adam"})
    cfg = {"vocab_size": 5, "cell": "lstm", "embed_size": 4, "hidden_size": 4, "num_layers": 1}
    cfg.update(dropout=0.0, tie_weights=False, seed=0)
    with pytest.raises(ValueError, match="tie_weights"):
        _core.RustEngine(**{**cfg, "embed_size": 3, "tie_weights": True})
    with pytest.raises(ValueError, match="cell"):
        _core.RustEngine(**{**cfg, "cell": "transformer"})
    with pytest.raises(ValueError, match="dropout"):
        _core.RustEngine(**{**cfg, "dropout": 1.0})
    with pytest.raises(ValueError, match="num_layers"):
        _core.RustEngine(**{**cfg, "num_layers": 0})
    with pytest.raises(TypeError):
        _core.RustEngine(vocab_size=5)
    with pytest.raises(ValueError, match=r"n: expected a number of threads in 1\.\.=1024, got 0"):
        rnnrs.set_num_threads(0)
    with pytest.raises(ValueError, match="shape \\(4,\\)"):
        eng.set_rng_state(np.zeros(3, np.uint64))


def test_non_finite_loss_stops_before_the_update() -> None:
    eng = engine("gru", 1)
    params = eng.get_parameters()
    params["output.bias"][0] = np.nan
    eng.set_parameters(params)
    eng.configure_optimizer(name="sgd", momentum=0.0)
    stream = np.random.default_rng(0).integers(0, V, (B, 20)).astype(np.uint32)
    with pytest.raises(rnnrs.TrainingDivergedError, match="step 0"):
        eng.train_steps(stream, [0, 5], 5, [0.1, 0.1], [True, False], None, 5.0, None)
    after = eng.get_parameters()
    for name, p in params.items():
        np.testing.assert_array_equal(p, after[name])
    assert int(eng.optimizer_state()["step"]) == 0


def run_script(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "RNNRS_NUM_THREADS": "2"},
        check=False,
    )


def test_ctrl_c_stops_at_a_step_boundary() -> None:
    out = run_script(
        """
        import os, signal, threading
        import numpy as np
        import rnnrs
        eng = rnnrs.RNNLM(50, hidden_size=64, backend="rust").engine
        eng.configure_optimizer(name="adam")
        stream = np.random.default_rng(0).integers(0, 50, (8, 200)).astype(np.uint32)
        n = 100000
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            eng.train_steps(stream, np.zeros(n, np.int64), 32, np.full(n, 1e-3), np.ones(n, bool),
                            None, 5.0, None)
            print("finished")
        except KeyboardInterrupt:
            step = int(eng.optimizer_state()["step"])
            loss, _ = eng.loss(stream[:, :10].copy(), stream[:, 1:11].copy(), None)
            print("interrupted", 0 < step < n, np.isfinite(loss))
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["interrupted", "True", "True"]


def test_forked_child_does_not_deadlock() -> None:
    out = run_script(
        """
        import os, warnings
        import numpy as np
        import rnnrs
        warnings.simplefilter("ignore")
        eng = rnnrs.RNNLM(20, cell="gru", hidden_size=256, backend="rust").engine
        x = np.random.default_rng(0).integers(0, 20, (32, 16)).astype(np.uint32)
        before, _ = eng.loss(x, x, None)
        pid = os.fork()
        if pid == 0:
            loss, _ = eng.loss(x, x, None)
            os._exit(0 if loss == before else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
        """,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"
