"""score_sentences for RNN, n-gram and interpolated models; `rnnrs score` and `rnnrs rescore`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rnnrs
from rnnrs.cli import main
from rnnrs.errors import FormatError
from rnnrs.models import rnn_scoring
from rnnrs.text.nbest import parse_nbest, read_nbest, rerank

# A bigram model small enough to score by hand: log10 p(w | v) is the bigram's entry when
# it is listed, else backoff(v) + log10 p(w).
ARPA = """\
\\data\\
ngram 1=5
ngram 2=3

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.5
-0.7\t</s>\t0
-0.4\ta\t-0.3
-0.6\tb\t-0.2

\\2-grams:
-0.2\t<s> a
-0.3\ta b
-0.1\tb </s>

\\end\\
"""
# "a b": -0.2 - 0.3 - 0.1; "b a": (-0.5 - 0.6) + (-0.2 - 0.4) + (-0.3 - 0.7);
# "c" is <unk>: (-0.5 - 1.0) + (0 - 0.7); "": </s> after <s>: -0.5 - 0.7.
SENTENCES = ["a b", "b a", "c", ""]
BY_HAND = [-0.6, -2.7, -2.2, -1.2]
LINES = ["the cat sat on the mat", "a dog sat", "the dog and the cat", "on the mat"] * 3


@pytest.fixture
def arpa(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.arpa"
    path.write_text(ARPA, encoding="utf-8")
    return path


@pytest.fixture
def rnn() -> rnnrs.RNNLM:
    tok = rnnrs.WordTokenizer.fit(LINES)
    return rnnrs.RNNLM(tok.vocab_size, cell="lstm", hidden_size=10, tokenizer=tok, seed=5)


def test_ngram_scores_are_the_arpa_log10_sums(arpa: Path) -> None:
    lm = rnnrs.NGramLM.from_arpa(arpa)
    scores = lm.score_sentences(SENTENCES)
    assert np.allclose(scores.log10, BY_HAND, atol=1e-9)
    assert np.allclose(scores.logprob, np.array(BY_HAND) * math.log(10), atol=1e-9)
    assert scores.tokens.tolist() == [3, 3, 2, 1]
    assert np.allclose(scores.token_logprobs[0] / math.log(10), [-0.2, -0.3, -0.1])
    assert [round(lm.score(s), 9) for s in SENTENCES[:3]] == BY_HAND[:3]
    assert math.isclose(scores.perplexity, 10 ** (-sum(BY_HAND) / 9), rel_tol=1e-9)


def test_ngram_scores_read_a_file(arpa: Path, tmp_path: Path) -> None:
    lm = rnnrs.NGramLM.from_arpa(arpa)
    text = tmp_path / "s.txt"
    text.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    assert np.allclose(lm.score_sentences(text).log10, BY_HAND, atol=1e-9)
    with pytest.raises(ValueError, match="stupid_backoff"):
        rnnrs.NGramLM(2, "stupid_backoff").fit(LINES).score_sentences(["a"])


def test_rnn_scores_are_sums_of_token_logprobs(
    rnn: rnnrs.RNNLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentences = ["the cat sat", "a dog sat on the mat", "zebra", "", "the mat"]
    eos = rnn.tokenizer.eos_id
    expected = []
    for s in sentences:
        ids = [eos, *rnn.tokenizer.encode(s).tolist(), eos]  # after </s>, then </s> scored
        expected.append(rnn.token_logprobs(ids))
    scores = rnn.score_sentences(sentences)
    assert np.allclose(scores.logprob, [e.sum() for e in expected], atol=1e-4)
    assert np.allclose(scores.log10, scores.logprob / math.log(10))
    assert scores.tokens.tolist() == [4, 7, 2, 1, 3]
    for got, want in zip(scores.token_logprobs, expected):
        assert np.allclose(got, want, atol=1e-4)
    # Batches of one sentence each (a tiny block) give the same scores.
    monkeypatch.setattr(rnn_scoring, "_BLOCK_ELEMENTS", 1)
    assert np.allclose(rnn.score_sentences(sentences).logprob, scores.logprob, atol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("share", [0.0, 0.75, 1.0])
def test_shared_prefixes_score_as_whole_sentences(
    cell: str, tied: bool, share: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sentences sharing 0-4 first words with others, empty, one- and two-word ones, a repeat:
    # every position of every sentence scores as when the sentence runs whole from the start,
    # whether only the start is shared (share 0), levels 0-4 (0.75) or every level (1).
    monkeypatch.setattr(rnn_scoring, "_PREFIX_SHARE", share)
    model = rnnrs.RNNLM(12, cell=cell, hidden_size=8, num_layers=2, tie_weights=tied, seed=3)
    rng = np.random.default_rng(0)
    params = model.engine.get_parameters()
    model.engine.set_parameters({k: rng.normal(0.0, 0.6, v.shape) for k, v in params.items()})
    words = [[], [4], [4, 5], [4, 5], [4, 5, 6], [4, 5, 6, 7, 8], [4, 5, 7], [4, 9, 3, 3],
             [5], [5, 4, 4, 4, 4, 4, 4], [6, 6], [4, 5, 6, 7, 9, 10, 11]]
    sentences = [np.array(w, dtype=np.uint32) for w in words]
    start, end = 2, 2
    got = rnn_scoring.rnn_sentence_logprobs(model, sentences, start, end)
    padded, lengths = rnn_scoring._padded(sentences, end)
    whole = rnn_scoring._batched_logprobs(
        model, padded, lengths, np.arange(len(words)), 0, start
    )
    for w, g, want in zip(words, got, whole):
        assert g.shape == (len(w) + 1,)
        assert np.allclose(g, want, rtol=0, atol=1e-5), (w, g - want)
    # The scores are log-probabilities that differ between targets (not one value copied).
    assert len({round(float(g[1]), 4) for g in got if len(g) > 1}) > 3


def test_rnn_scores_need_a_word_model() -> None:
    chars = rnnrs.CharTokenizer.fit("abc")
    model = rnnrs.RNNLM(chars.vocab_size, hidden_size=4, tokenizer=chars)
    with pytest.raises(ValueError, match="word-level"):
        model.score_sentences(["abc"])


def test_mixture_scores(rnn: rnnrs.RNNLM) -> None:
    lm = rnnrs.NGramLM(2, "witten_bell").fit(LINES)
    mix = rnnrs.interpolate([rnn, lm], weights=[0.3, 0.7])
    sentences = ["the cat sat", "", "a dog"]
    a, b, m = rnn.score_sentences(sentences), lm.score_sentences(sentences), None
    m = mix.score_sentences(sentences)
    for i in range(len(sentences)):
        p = 0.3 * np.exp(a.token_logprobs[i]) + 0.7 * np.exp(b.token_logprobs[i])
        assert np.allclose(m.token_logprobs[i], np.log(p), atol=1e-6)
    assert np.allclose(m.log10, m.logprob / math.log(10))


def test_cli_score(arpa: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "s.txt"
    text.write_text("\n".join(SENTENCES[:2]) + "\n", encoding="utf-8")
    assert main(["score", str(arpa), str(text)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["-0.6000\t3\ta b", "-2.7000\t3\tb a"]
    assert main(["score", str(arpa), str(arpa), str(text), "--per-token"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == lines[1] == "a=-0.2 b=-0.3 </s>=-0.1\tTotal: -0.6"
    assert main(["score", str(arpa), str(text), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[1]["sentence"] == "b a" and math.isclose(rows[1]["log10"][0], -2.7)
    assert math.isclose(rows[1]["logprob"][0], -2.7 * math.log(10))
    assert main(["score", str(text)]) == 2


def test_cli_rescore(arpa: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nbest = tmp_path / "nbest.tsv"
    nbest.write_text("u1\t-0.5\tb a\nu1\t-1.0\ta b\n\nu2\t-2\tc\n", encoding="utf-8")
    # u1: "b a" -0.5 - 2.7 = -3.2, "a b" -1.0 - 0.6 = -1.6: the LM overturns the first pass.
    assert main(["rescore", str(nbest), "--lm", str(arpa)]) == 0
    assert capsys.readouterr().out.splitlines() == ["u1\t-1.6000\ta b", "u2\t-4.2000\tc"]
    # A heavy first-pass weight keeps its choice: -5 - 2.7 = -7.7 beats -10 - 0.6.
    assert main(["rescore", str(nbest), "--lm", str(arpa), "--feature-weight", "10"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "u1\t-7.7000\tb a"
    args = ["rescore", str(nbest), "--lm", str(arpa), "--lm", str(arpa), "--weights", "0.5,0.5"]
    assert main([*args, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["hypothesis"] == "a b" and rows[0]["rank_before"] == 1
    assert math.isclose(rows[0]["score"], -1.6) and rows[0]["lm_log10"] == pytest.approx([-0.6] * 2)
    assert main(["rescore", str(nbest), "--lm", str(arpa), "--weights", "1,1"]) == 2
    assert "one per --lm" in capsys.readouterr().err
    bad = tmp_path / "bad.tsv"
    bad.write_text("u1\t-0.5\tb a\nu2 -1 a b\n", encoding="utf-8")
    assert main(["rescore", str(bad), "--lm", str(arpa)]) == 1
    assert f"{bad}:2: expected ID<TAB>SCORE<TAB>HYPOTHESIS" in capsys.readouterr().err


def test_parse_nbest_errors() -> None:
    with pytest.raises(FormatError, match=r"x\.txt:2: the score 'high' is not a finite number"):
        parse_nbest(["1\t-1\ta", "1\thigh\tb"], "x.txt")
    with pytest.raises(FormatError, match=r"x\.txt:1: the score 'nan'"):
        parse_nbest(["1\tnan\ta"], "x.txt")


@given(
    st.lists(
        st.tuples(
            st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1),
            st.floats(allow_nan=False, allow_infinity=False, width=32),
            st.lists(st.from_regex(r"[a-z']{1,6}", fullmatch=True), min_size=1, max_size=5),
        ),
        max_size=8,
    )
)
def test_nbest_round_trip(rows: list[tuple[str, float, list[str]]]) -> None:
    lines = [f"{i}\t{s!r}\t{' '.join(h)}" for i, s, h in rows]
    entries = parse_nbest(lines)
    assert [(e.id, e.score, e.hypothesis.split()) for e in entries] == [
        (i, s, h) for i, s, h in rows
    ]
    if entries:
        # With LM weight 0 the first-pass best of each id stays (the earliest on ties).
        best = rerank(entries, np.zeros((1, len(entries))), [0.0])
        for b in best:
            own = [e.score for e in entries if e.id == b.id]
            assert b.score == max(own) and b.rank_before == 0


def test_class_softmax_rnn_scores(rnn: rnnrs.RNNLM) -> None:
    tok = rnn.tokenizer
    classes = rnnrs.frequency_classes(tok.encode_lines(LINES), tok.vocab_size)
    model = rnnrs.RNNLM(
        tok.vocab_size, hidden_size=10, tokenizer=tok, softmax="class", classes=classes, seed=1
    )
    sentences = ["the cat sat on the mat", "a dog"]
    scores = model.score_sentences(sentences)
    for s, got in zip(sentences, scores.token_logprobs):
        ids = [tok.eos_id, *tok.encode(s).tolist(), tok.eos_id]
        assert np.allclose(got, model.token_logprobs(ids), atol=1e-5)


def test_an_nbest_file_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "n.tsv"
    path.write_bytes(b"1\t-1\tthe cat\n1\t-2\tthe \xf8at\n")
    with pytest.raises(FormatError, match=r"n\.tsv, line 2: expected UTF-8 text, got byte 0xf8"):
        read_nbest(path)


def test_token_nll_leaves_the_padding_unscored(rnn: rnnrs.RNNLM) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, rnn.vocab_size, size=(3, 5)).astype(np.uint32)
    y = rng.integers(0, rnn.vocab_size, size=(3, 5)).astype(np.uint32)
    full, _ = rnn.engine.token_nll(x, y, None)
    lengths = np.array([5, 2, 1], dtype=np.int64)
    part, _ = rnn.engine.token_nll(x, y, None, lengths)
    inside = np.arange(5)[None, :] < lengths[:, None]
    np.testing.assert_allclose(part[inside], full[inside], rtol=1e-6)
    assert (part[~inside] == 0).all() and (full > 0).all()
    for bad in ([5, 2], [5, 0, 1], [6, 1, 1]):
        with pytest.raises(ValueError, match="lengths"):
            rnn.engine.token_nll(x, y, None, np.array(bad, dtype=np.int64))
