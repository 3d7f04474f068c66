"""The reference recurrent stack over padded batches of sequences of different lengths.

Finite-difference gradient checks in float64 (every cell, one and two directions, one and
two layers, ragged lengths with a length-1 and a full-length row), padding invariance (a row
alone and in a padded batch), ``lengths`` all equal to T against the unmasked stack, and
PyTorch's pack_padded_sequence through nn.RNN / LSTM / GRU (skipped without torch).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finite_differences import numeric_grad, rel_error
from rnnrs.reference.cells import CELLS, GATES, state_size
from rnnrs.reference.lengths import check_lengths, reverse_index, valid_steps
from rnnrs.reference.stack import layer_names, stack_backward, stack_forward

TOL = 1e-6


def make_params(
    cell: str, input_size: int, hidden: int, num_layers: int, dirs: int, seed: int
) -> dict[str, np.ndarray]:
    """Random float64 weights by PyTorch name, larger than the init so gradients are not tiny."""
    rng = np.random.default_rng(seed)
    g = GATES[cell] * hidden
    params = {}
    for k in range(num_layers):
        fan_in = input_size if k == 0 else dirs * hidden
        for d in range(dirs):
            w_ih, w_hh, b_ih, b_hh = layer_names(k, d == 1)
            params[w_ih] = rng.normal(scale=0.6, size=(g, fan_in))
            params[w_hh] = rng.normal(scale=0.6, size=(g, hidden))
            params[b_ih] = rng.normal(scale=0.3, size=(g,))
            params[b_hh] = rng.normal(scale=0.3, size=(g,))
    return params


class Problem:
    """A padded batch, weights, and the loss sum(w_out * out) + sum(w_state * final)."""

    def __init__(
        self,
        cell: str,
        lengths: list[int],
        t_len: int,
        bidirectional: bool,
        num_layers: int,
        input_size: int = 2,
        hidden: int = 2,
        seed: int = 0,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.cell, self.num_layers, self.bidirectional = cell, num_layers, bidirectional
        dirs = 2 if bidirectional else 1
        batch = len(lengths)
        self.lengths = np.array(lengths)
        self.params = make_params(cell, input_size, hidden, num_layers, dirs, seed + 1)
        self.x = rng.normal(size=(t_len, batch, input_size))
        # Padding holds large values: any leak of it into a result shows.
        pad = ~valid_steps(self.lengths, t_len)
        self.x[pad] = rng.normal(scale=100.0, size=(int(pad.sum()), input_size))
        shape = (num_layers * dirs, batch, hidden)
        self.state0 = tuple(rng.normal(scale=0.5, size=shape) for _ in range(state_size(cell)))
        self.w_out = rng.normal(size=(t_len, batch, dirs * hidden))
        self.w_state = tuple(rng.normal(size=shape) for _ in self.state0)

    def forward(
        self, rng: Optional[np.random.Generator] = None, dropout: float = 0.0
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...], dict[str, Any]]:
        return stack_forward(
            self.cell,
            self.x,
            self.state0,
            self.params,
            self.num_layers,
            self.bidirectional,
            dropout,
            rng,
            self.lengths,
        )

    def loss(self, out: np.ndarray, final: tuple[np.ndarray, ...]) -> float:
        return float(
            np.sum(self.w_out * out) + sum(np.sum(w * s) for w, s in zip(self.w_state, final))
        )


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", CELLS)
def test_masked_stack_gradients_match_finite_differences(
    cell: str, bidirectional: bool, num_layers: int
) -> None:
    pb = Problem(cell, [5, 1, 3, 2], 5, bidirectional, num_layers)

    def loss() -> float:
        return pb.loss(*pb.forward()[:2])

    _, _, cache = pb.forward()
    dx, d_state0, grads, _ = stack_backward(pb.w_out, pb.w_state, cache)
    errors = {"x": rel_error(dx, numeric_grad(loss, pb.x))}
    for j, s in enumerate(pb.state0):
        errors[f"state0[{j}]"] = rel_error(d_state0[j], numeric_grad(loss, s))
    for name, value in pb.params.items():
        errors[name] = rel_error(grads[name], numeric_grad(loss, value))
    assert set(grads) == set(pb.params)
    assert max(errors.values()) < TOL, errors
    # Padding is read by nothing: its gradient is exactly zero.
    assert not dx[~valid_steps(pb.lengths, 5)].any()


def test_masked_stack_with_dropout_gradients_match_finite_differences() -> None:
    pb = Problem("lstm", [4, 1, 3], 4, True, 2, hidden=3)

    def run() -> tuple[np.ndarray, tuple[np.ndarray, ...], dict[str, Any]]:
        return pb.forward(np.random.default_rng(7), dropout=0.4)  # the same masks every call

    def loss() -> float:
        return pb.loss(*run()[:2])

    _, _, cache = run()
    assert all(m is not None and (m == 0).any() for m in cache["masks"][1:])
    dx, _, grads, _ = stack_backward(pb.w_out, pb.w_state, cache)
    errors = {"x": rel_error(dx, numeric_grad(loss, pb.x))}
    for name, value in pb.params.items():
        errors[name] = rel_error(grads[name], numeric_grad(loss, value))
    assert max(errors.values()) < TOL, errors


def run_row_alone(pb: Problem, b: int) -> tuple[Any, ...]:
    """Row b of the batch as a batch of one with no padding (T = its length)."""
    n = int(pb.lengths[b])
    x = pb.x[:n, b : b + 1].copy()
    state0 = tuple(s[:, b : b + 1].copy() for s in pb.state0)
    out, final, cache = stack_forward(
        pb.cell, x, state0, pb.params, pb.num_layers, pb.bidirectional
    )
    w_state = tuple(w[:, b : b + 1] for w in pb.w_state)
    dx, d_state0, grads, dh = stack_backward(pb.w_out[:n, b : b + 1], w_state, cache, True)
    return out, final, dx, d_state0, grads, dh


@pytest.mark.parametrize("cell", CELLS)
def test_padding_never_changes_a_result(cell: str) -> None:
    # T = 8 exceeds the longest row (6): extra padding beyond every row changes nothing either.
    pb = Problem(cell, [6, 1, 4, 3, 6], 8, True, 2, input_size=3, hidden=4, seed=3)
    out, final, cache = pb.forward()
    dx, d_state0, grads, dh = stack_backward(pb.w_out, pb.w_state, cache, True)
    assert dh is not None
    summed = {name: np.zeros_like(g) for name, g in grads.items()}

    def same(a: np.ndarray, b: np.ndarray) -> None:
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)

    for b, n in enumerate(pb.lengths):
        a_out, a_final, a_dx, a_d_state0, a_grads, a_dh = run_row_alone(pb, b)
        same(out[:n, b], a_out[:, 0])
        same(dx[:n, b], a_dx[:, 0])
        same(dh[:n, b], a_dh[:, 0])
        for s, a_s in zip(final, a_final):
            same(s[:, b], a_s[:, 0])
        for s, a_s in zip(d_state0, a_d_state0):
            same(s[:, b], a_s[:, 0])
        for name, g in a_grads.items():
            summed[name] += g
    pad = ~valid_steps(pb.lengths, 8)
    assert not out[pad].any() and not dx[pad].any() and not dh[pad].any()
    for name, g in grads.items():
        same(g, summed[name])


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(CELLS),
    st.booleans(),
    st.lists(st.integers(1, 6), min_size=1, max_size=5),
    st.integers(0, 2),
    st.integers(0, 2**16),
)
def test_a_row_scores_the_same_in_any_batch(
    cell: str, bidirectional: bool, lengths: list[int], extra: int, seed: int
) -> None:
    # Row 0 in a batch of any other rows, padded to any T >= the longest, vs row 0 alone.
    pb = Problem(cell, lengths, max(lengths) + extra, bidirectional, 2, seed=seed)
    out, final, cache = pb.forward()
    dx, d_state0, _, _ = stack_backward(pb.w_out, pb.w_state, cache)
    a_out, a_final, a_dx, a_d_state0, _, _ = run_row_alone(pb, 0)
    n = lengths[0]
    np.testing.assert_allclose(out[:n, 0], a_out[:, 0], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dx[:n, 0], a_dx[:, 0], rtol=1e-12, atol=1e-13)
    for a, b in [*zip(final, a_final), *zip(d_state0, a_d_state0)]:
        np.testing.assert_allclose(a[:, 0], b[:, 0], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("cell", CELLS)
def test_full_lengths_give_the_unmasked_stack_bit_for_bit(cell: str) -> None:
    pb = Problem(cell, [5, 5, 5], 5, True, 2, hidden=3, seed=5)
    runs: list[tuple[Any, ...]] = []
    for lengths in (None, pb.lengths):
        out, final, cache = stack_forward(
            cell, pb.x, pb.state0, pb.params, 2, True, 0.3, np.random.default_rng(1), lengths
        )
        runs.append((out, final, *stack_backward(pb.w_out, pb.w_state, cache, True)))
    (out0, final0, dx0, ds0, g0, dh0), (out1, final1, dx1, ds1, g1, dh1) = runs
    for a, b in [(out0, out1), (dx0, dx1), (dh0, dh1), *zip(final0, final1), *zip(ds0, ds1)]:
        assert np.array_equal(a, b)
    assert all(np.array_equal(g0[n], g1[n]) for n in g0)


def test_reverse_index_reverses_each_row_within_its_length() -> None:
    rev = reverse_index(np.array([3, 1, 4]), 4)
    assert rev[:, 0].tolist() == [2, 1, 0, 3]
    assert rev[:, 1].tolist() == [0, 1, 2, 3]
    assert rev[:, 2].tolist() == [3, 2, 1, 0]
    assert np.array_equal(np.take_along_axis(rev, rev, axis=0), np.tile(np.arange(4), (3, 1)).T)


@pytest.mark.parametrize(
    ("lengths", "message"),
    [([3, 0], "1..3"), ([4, 1], "1..3"), ([3], r"shape \(2,\)"), ([1.0, 2.0], "integers")],
)
def test_bad_lengths_are_refused(lengths: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_lengths(np.array(lengths), 3, 2)
    pb = Problem("gru", [3, 2], 3, True, 1)
    pb.lengths = np.array(lengths)
    with pytest.raises(ValueError, match=message):
        pb.forward()


# ----------------------------------------------------------------------------- PyTorch


def torch_stack(cell: str, params: dict[str, np.ndarray], input_size: int, hidden: int) -> Any:
    torch = pytest.importorskip("torch")
    kwargs: dict[str, Any] = dict(num_layers=2, bidirectional=True)
    if cell == "lstm":
        mod = torch.nn.LSTM(input_size, hidden, **kwargs)
    elif cell == "gru":
        mod = torch.nn.GRU(input_size, hidden, **kwargs)
    else:
        mod = torch.nn.RNN(input_size, hidden, nonlinearity=cell[4:], **kwargs)
    mod = mod.double()
    mod.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
    return mod


@pytest.mark.parametrize("cell", CELLS)
def test_masked_stack_matches_torch_packed_sequences(cell: str) -> None:
    torch = pytest.importorskip("torch")
    pack = torch.nn.utils.rnn
    t_len = 7
    pb = Problem(cell, [4, 7, 1, 5, 7, 2], t_len, True, 2, input_size=3, hidden=5, seed=11)
    out, final, cache = pb.forward()
    dx, d_state0, grads, _ = stack_backward(pb.w_out, pb.w_state, cache)

    mod = torch_stack(cell, pb.params, 3, 5)
    tx = torch.tensor(pb.x, requires_grad=True)
    ts = tuple(torch.tensor(s, requires_grad=True) for s in pb.state0)
    packed = pack.pack_padded_sequence(tx, torch.tensor(pb.lengths), enforce_sorted=False)
    t_packed, t_final = mod(packed, ts if cell == "lstm" else ts[0])
    t_out, t_lengths = pack.pad_packed_sequence(t_packed, total_length=t_len)
    t_final = t_final if cell == "lstm" else (t_final,)
    loss = (t_out * torch.from_numpy(pb.w_out)).sum() + sum(
        (f * torch.from_numpy(w)).sum() for f, w in zip(t_final, pb.w_state)
    )
    loss.backward()

    assert t_lengths.tolist() == pb.lengths.tolist()
    diffs = {"out": np.abs(out - t_out.detach().numpy()).max()}
    for j, (a, b) in enumerate(zip(final, t_final)):
        diffs[f"final[{j}]"] = np.abs(a - b.detach().numpy()).max()
    diffs["dx"] = np.abs(dx - tx.grad.numpy()).max()
    for j, (a, b) in enumerate(zip(d_state0, ts)):
        diffs[f"d_state0[{j}]"] = np.abs(a - b.grad.numpy()).max()
    for name, p in mod.named_parameters():
        diffs[name] = np.abs(grads[name] - p.grad.numpy()).max()
    print(cell, "max abs difference to torch", max(diffs.values()))
    assert max(diffs.values()) < 1e-10, diffs
