"""Exactness against KenLM: lmplz's ARPA files for PTB (../shared/data/kenlm) are the oracle."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import rnnrs
from rnnrs import NGramLM

# KenLM's perplexities on the prepared ptb.test.txt (data/README.md).
KENLM_PPL = {3: (271.96, 215.05), 5: (268.05, 211.94)}
SLOW_ON_NUMPY = pytest.mark.skipif(
    rnnrs.backend() == "numpy", reason="order 5 in pure Python: covered on the rust backend"
)


def prepare(path: Path) -> list[str]:
    """data/README.md: split on whitespace, drop empty lines, <unk> -> _unk_."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        tokens = ["_unk_" if t == "<unk>" else t for t in line.split()]
        if tokens:
            out.append(" ".join(tokens))
    return out


def arpa_entries(path: Path) -> dict[str, tuple[float, float]]:
    """Every n-gram line of an ARPA file: words -> (log10 prob, log10 backoff)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) >= 2:
            out[fields[1]] = (float(fields[0]), float(fields[2]) if len(fields) > 2 else 0.0)
    return out


def check_perplexity(stats: dict, order: int) -> None:
    incl, excl = KENLM_PPL[order]
    assert stats["tokens"] == 82430
    assert stats["oovs"] == 3368
    assert stats["perplexity"] == pytest.approx(incl, rel=1e-4)
    assert stats["perplexity_excluding_oovs"] == pytest.approx(excl, rel=1e-4)


@pytest.mark.parametrize("order", [3, pytest.param(5, marks=SLOW_ON_NUMPY)])
def test_modified_kneser_ney_matches_lmplz(order: int, shared_data: Path, tmp_path: Path) -> None:
    oracle = shared_data / "kenlm" / f"ptb.o{order}.arpa"
    if not oracle.exists():
        pytest.skip(f"{oracle} is absent")
    lm = NGramLM(order).fit(prepare(shared_data / "ptb.valid.txt"))
    lm.to_arpa(tmp_path / "mine.arpa")
    mine, theirs = arpa_entries(tmp_path / "mine.arpa"), arpa_entries(oracle)
    assert mine.keys() == theirs.keys()
    probs = np.array([[mine[g][0], theirs[g][0]] for g in theirs])
    bows = np.array([[mine[g][1], theirs[g][1]] for g in theirs])
    assert np.abs(probs[:, 0] - probs[:, 1]).max() < 1e-5
    assert np.abs(bows[:, 0] - bows[:, 1]).max() < 1e-5
    check_perplexity(lm.stats(prepare(shared_data / "ptb.test.txt")), order)


@pytest.mark.parametrize("order", [3, pytest.param(5, marks=SLOW_ON_NUMPY)])
def test_kenlm_arpa_scores_to_kenlm_perplexity(
    order: int, shared_data: Path, tmp_path: Path
) -> None:
    oracle = shared_data / "kenlm" / f"ptb.o{order}.arpa"
    if not oracle.exists():
        pytest.skip(f"{oracle} is absent")
    lm = NGramLM.from_arpa(oracle)
    assert lm.num_ngrams[0] == 6024 and lm.order == order
    test = prepare(shared_data / "ptb.test.txt")
    check_perplexity(lm.stats(test), order)
    # Written back by rnnrs, read again: identical scores (binary form too).
    lm.to_arpa(tmp_path / "again.arpa")
    lm.save(tmp_path / "again.bin")
    ids = lm.encode(test)
    first = lm.score_ids(ids, per_token=True)
    for again in (NGramLM.from_arpa(tmp_path / "again.arpa"), NGramLM.load(tmp_path / "again.bin")):
        np.testing.assert_array_equal(again.score_ids(ids, per_token=True), first)


def test_rnnrs_arpa_reads_in_kenlm(shared_data: Path, tmp_path: Path) -> None:
    kenlm = pytest.importorskip("kenlm")
    train = prepare(shared_data / "ptb.valid.txt")
    lm = NGramLM(3).fit(train)
    lm.to_arpa(tmp_path / "mine.arpa")
    theirs = kenlm.Model(str(tmp_path / "mine.arpa"))
    test = prepare(shared_data / "ptb.test.txt")[:300]
    for sentence in test:
        assert theirs.score(sentence, bos=True, eos=True) == pytest.approx(
            lm.score(sentence), abs=1e-4
        )
    full = [s for sentence in test for s, _, _ in theirs.full_scores(sentence)]
    mine = lm.score_ids(lm.encode(test), per_token=True)
    np.testing.assert_allclose(mine, full, atol=1e-5)
    assert math.isfinite(float(mine.sum()))
