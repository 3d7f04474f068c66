"""The tagger's reference kernels: the CRF against brute-force enumeration of all tag paths,
float64 finite-difference checks of every gradient (character encoders, CRF, the whole
tagger on ragged batches), and decoding."""

from __future__ import annotations

import itertools
from typing import Any, Optional

import numpy as np
import pytest

from finite_differences import numeric_grad, rel_error
from rnnrs.reference.char_encoder import (
    char_encoder_backward,
    char_encoder_forward,
    char_encoder_shapes,
)
from rnnrs.reference.crf import (
    Constraints,
    allowed_transitions,
    crf_forward,
    crf_nll_and_grads,
    crf_score,
    viterbi,
)
from rnnrs.reference.tagger import tagger_decode, tagger_loss_and_grads, tagger_shapes


def _crf_params(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return rng.normal(size=(k, k)), rng.normal(size=k), rng.normal(size=k)


def _paths(n: int, k: int) -> list[tuple[int, ...]]:
    return list(itertools.product(range(k), repeat=n))


def _path_score(
    e: np.ndarray, path: tuple[int, ...], trans: np.ndarray, start: np.ndarray, end: np.ndarray
) -> float:
    # e (n, K) one row's emissions
    s = start[path[0]] + end[path[-1]] + sum(e[t, y] for t, y in enumerate(path))
    return float(s + sum(trans[a, b] for a, b in zip(path, path[1:])))


def test_log_partition_and_score_equal_brute_force_enumeration() -> None:
    rng = np.random.default_rng(0)
    k, t_len = 3, 4
    lengths = np.array([4, 1, 3])
    e = rng.normal(size=(t_len, 3, k))
    trans, start, end = _crf_params(rng, k)
    log_z, _ = crf_forward(e, lengths, trans, start, end)
    tags = rng.integers(0, k, size=(t_len, 3))
    score = crf_score(e, tags, lengths, trans, start, end)
    for b, n in enumerate(lengths):
        scores = [_path_score(e[:n, b], p, trans, start, end) for p in _paths(int(n), k)]
        assert log_z[b] == pytest.approx(np.logaddexp.reduce(scores), rel=1e-12)
        gold = tuple(int(v) for v in tags[:n, b])
        assert score[b] == pytest.approx(_path_score(e[:n, b], gold, trans, start, end), rel=1e-12)


def test_viterbi_finds_the_best_path_and_respects_constraints() -> None:
    rng = np.random.default_rng(1)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    k = len(tags)
    lengths = np.array([4, 2, 3])
    e = rng.normal(size=(4, 3, k)) * 3
    trans, start, end = _crf_params(rng, k)
    cons = allowed_transitions(tags)
    assert cons is not None
    plain = viterbi(e, lengths, trans, start, end)
    constrained = viterbi(e, lengths, trans, start, end, cons)
    for b, n in enumerate(lengths):
        paths = _paths(int(n), k)
        best = max(paths, key=lambda p: _path_score(e[:n, b], p, trans, start, end))
        assert tuple(plain[b].tolist()) == best
        ok = [
            p
            for p in paths
            if cons.allowed_start[p[0]]
            and cons.allowed_end[p[-1]]
            and all(cons.allowed[a, c] for a, c in zip(p, p[1:]))
        ]
        best_ok = max(ok, key=lambda p: _path_score(e[:n, b], p, trans, start, end))
        assert tuple(constrained[b].tolist()) == best_ok


def test_allowed_transitions_for_bio_bioes_and_plain_tags() -> None:
    bio = allowed_transitions(["O", "B-X", "I-X", "B-Y", "I-Y"])
    assert bio is not None
    assert not bio.allowed[0, 2] and bio.allowed[1, 2] and bio.allowed[2, 2]
    assert not bio.allowed[1, 4] and not bio.allowed_start[2] and bio.allowed_end.all()
    bioes = allowed_transitions(["O", "B-X", "I-X", "E-X", "S-X"])
    assert bioes is not None
    assert bioes.allowed[1].tolist() == [False, False, True, True, False]
    assert bioes.allowed[3].tolist() == [True, True, False, False, True]
    assert bioes.allowed_end.tolist() == [True, False, False, True, True]
    assert allowed_transitions(["NOUN", "VERB"]) is None


def test_crf_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(2)
    k, t_len = 3, 5
    lengths = np.array([5, 2, 1, 4])
    e = rng.normal(size=(t_len, 4, k))
    trans, start, end = _crf_params(rng, k)
    tags = rng.integers(0, k, size=(t_len, 4))
    w = rng.normal(size=4)

    def loss() -> float:
        nll, _, _ = crf_nll_and_grads(e, tags, lengths, trans, start, end)
        return float(nll @ w)

    # the gradient of sum_b w_b nll_b: scale each row's gradient of sum(nll) by w_b
    per_row = [
        crf_nll_and_grads(e[:, [b]], tags[:, [b]], lengths[[b]], trans, start, end)
        for b in range(4)
    ]
    d_e = np.concatenate([r[1] for r in per_row], axis=1) * w[None, :, None]
    for name, arr in (
        ("transitions", trans),
        ("start_transitions", start),
        ("end_transitions", end),
    ):
        analytic = sum(wb * r[2][name] for wb, r in zip(w, per_row))
        assert rel_error(analytic, numeric_grad(loss, arr)) < 1e-7, name
    assert rel_error(d_e, numeric_grad(loss, e)) < 1e-7
    assert np.all(d_e[~(np.arange(t_len)[:, None] < lengths)] == 0)


@pytest.mark.parametrize("kind", ["lstm", "cnn"])
def test_char_encoder_gradients_match_finite_differences(kind: str) -> None:
    rng = np.random.default_rng(3)
    ec, hc, vc = 3, 4, 6
    params = {n: rng.normal(size=s) * 0.5 for n, s in char_encoder_shapes(kind, ec, hc).items()}
    table = rng.normal(size=(vc, ec))
    chars = rng.integers(0, vc, size=(4, 5))
    lens = np.array([5, 1, 3, 2])
    out, _ = char_encoder_forward(kind, params, table, chars, lens)
    w = rng.normal(size=out.shape)

    def loss() -> float:
        return float((char_encoder_forward(kind, params, table, chars, lens)[0] * w).sum())

    _, cache = char_encoder_forward(kind, params, table, chars, lens)
    grads, d_table = char_encoder_backward(kind, w, params, cache)
    assert rel_error(d_table, numeric_grad(loss, table)) < 1e-6
    for name, arr in params.items():
        assert rel_error(grads[name], numeric_grad(loss, arr)) < 1e-6, name
    # padding is never read: other ids and other table rows past each length change nothing
    noisy = np.where(
        np.arange(5)[None] < lens[:, None], chars, rng.integers(0, vc, size=chars.shape)
    )
    np.testing.assert_array_equal(char_encoder_forward(kind, params, table, noisy, lens)[0], out)


def tiny_config(char_encoder: Optional[str], output: str, **kw: Any) -> dict[str, Any]:
    cfg = {
        "vocab_size": 7,
        "num_tags": 4,
        "cell": "lstm",
        "embed_size": 3,
        "hidden_size": 4,
        "num_layers": 2,
        "bidirectional": True,
        "char_encoder": char_encoder,
        "char_vocab_size": 6,
        "char_embed_size": 2,
        "char_hidden_size": 3,
        "output": output,
        "dropout": 0.0,
    }
    cfg.update(kw)
    return cfg


def tiny_batch(rng: np.random.Generator) -> dict[str, np.ndarray]:
    b, t, w = 3, 5, 4
    lengths = np.array([5, 2, 3])
    return {
        "ids": rng.integers(0, 7, size=(b, t)).astype(np.uint32),
        "lengths": lengths,
        "tags": rng.integers(0, 4, size=(b, t)),
        "chars": rng.integers(0, 6, size=(b, t, w)).astype(np.uint32),
        "char_lengths": rng.integers(1, w + 1, size=(b, t)),
    }


@pytest.mark.parametrize(
    "char_encoder,output,cell",
    [
        (None, "softmax", "gru"),
        ("lstm", "softmax", "lstm"),
        ("cnn", "crf", "lstm"),
        ("lstm", "crf", "rnn_tanh"),
    ],
)
def test_tagger_gradients_match_finite_differences(
    char_encoder: Optional[str], output: str, cell: str
) -> None:
    rng = np.random.default_rng(4)
    cfg = tiny_config(char_encoder, output, cell=cell)
    params = {n: rng.normal(size=s) * 0.5 for n, s in tagger_shapes(cfg).items()}
    batch = tiny_batch(rng)

    def loss() -> float:
        return tagger_loss_and_grads(params, cfg, **batch)[0]

    _, grads, _ = tagger_loss_and_grads(params, cfg, **batch)
    assert sorted(grads) == sorted(params)
    for name, arr in params.items():
        assert rel_error(grads[name], numeric_grad(loss, arr)) < 1e-6, name


@pytest.mark.parametrize("output", ["softmax", "crf"])
def test_a_sentence_scores_the_same_alone_or_in_a_padded_batch(output: str) -> None:
    rng = np.random.default_rng(5)
    cfg = tiny_config("lstm", output)
    params = {n: rng.normal(size=s) for n, s in tagger_shapes(cfg).items()}
    batch = tiny_batch(rng)
    together = tagger_decode(
        params, cfg, batch["ids"], batch["lengths"], batch["chars"], batch["char_lengths"]
    )
    for b, n in enumerate(batch["lengths"]):
        alone = tagger_decode(
            params,
            cfg,
            batch["ids"][b : b + 1, :n],
            batch["lengths"][b : b + 1],
            batch["chars"][b : b + 1, :n],
            batch["char_lengths"][b : b + 1, :n],
        )
        np.testing.assert_array_equal(alone[0], together[b])
        loss_alone, _, _ = tagger_loss_and_grads(
            params,
            cfg,
            batch["ids"][b : b + 1, :n],
            batch["lengths"][b : b + 1],
            batch["tags"][b : b + 1, :n],
            batch["chars"][b : b + 1, :n],
            batch["char_lengths"][b : b + 1, :n],
        )
        assert np.isfinite(loss_alone)


def test_softmax_decoding_is_the_argmax_and_the_loss_is_per_token() -> None:
    rng = np.random.default_rng(6)
    cfg = tiny_config(None, "softmax", num_layers=1)
    params = {n: rng.normal(size=s) for n, s in tagger_shapes(cfg).items()}
    batch = tiny_batch(rng)
    del batch["chars"], batch["char_lengths"]
    # a uniform output layer gives log(K) nats per token whatever the lengths
    params["emission.weight"][:] = 0
    params["emission.bias"][:] = 0
    loss, _, _ = tagger_loss_and_grads(params, cfg, **batch)
    assert loss == pytest.approx(np.log(4))
    params["emission.bias"][:] = [0, 0, 1, 0]
    decoded = tagger_decode(params, cfg, batch["ids"], batch["lengths"])
    assert [d.tolist() for d in decoded] == [[2] * int(n) for n in batch["lengths"]]


def test_constraints_change_the_crf_decoding() -> None:
    cfg = tiny_config(None, "crf", num_tags=3, num_layers=1)
    rng = np.random.default_rng(7)
    params = {n: rng.normal(size=s) for n, s in tagger_shapes(cfg).items()}
    params["emission.weight"][:] = 0
    params["emission.bias"][:] = [0, 0, 5]  # I-X everywhere, unless forbidden
    params["crf.transitions"][:] = 0
    params["crf.start_transitions"][:] = 0
    params["crf.end_transitions"][:] = 0
    ids = np.zeros((1, 3), dtype=np.uint32)
    lengths = np.array([3])
    cons = allowed_transitions(["O", "B-X", "I-X"])
    assert isinstance(cons, Constraints)
    assert tagger_decode(params, cfg, ids, lengths)[0].tolist() == [2, 2, 2]
    assert tagger_decode(params, cfg, ids, lengths, constraints=cons)[0].tolist() == [1, 2, 2]
