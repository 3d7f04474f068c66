"""NGramCounts and NGramLM: behaviour with real numbers, files, generation, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import rnnrs
from rnnrs import ArpaError, FormatError, NGramCounts, NGramLM

CORPUS = ["a b c", "a b d", "b c d", "c d a", "a b c d"]


def test_counts_lookups_merge_and_counts_of_counts() -> None:
    c = NGramCounts(3).add(["the cat sat", ["the", "cat", "ran"]])
    assert c["the cat"] == 2 and c[["<s>", "the", "cat"]] == 2 and c["cat sat </s>"] == 1
    assert c["sat"] == 1 and c["dog"] == 0 and c["a b c d"] == 0
    assert c.num_ngrams == [6, 6, 5]
    assert c.counts_of_counts(2) == [4, 2, 0, 0]
    assert c.tokens == 8 and c.memory_bytes > 0
    other = NGramCounts(3).add(["the dog sat"])
    together = NGramCounts(3).add(["the cat sat", "the cat ran", "the dog sat"])
    c.merge(other)
    assert c.num_ngrams == together.num_ngrams
    for gram in ("the", "the dog", "<s> the dog", "dog sat </s>", "cat"):
        assert c[gram] == together[gram]
    with pytest.raises(ValueError, match="out of range"):
        NGramCounts(3).add_ids(together.encode(["the cat sat"]))  # ids of another vocabulary
    together.add_ids(together.encode(["the cat sat"]))
    assert together["the cat sat"] == 2


def test_fit_from_path_equals_fit_from_sentences(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join([*CORPUS, "", "   "]) + "\n", encoding="utf-8")
    a = NGramLM(3, "witten_bell").fit(path)
    b = NGramLM(3, "witten_bell").fit(CORPUS)
    c = NGramLM(3, "witten_bell").fit("\n".join(CORPUS))  # a string is text
    with pytest.raises(TypeError, match=r"pathlib\.Path"):
        NGramLM(3, "witten_bell").fit(str(path))  # ...so a file's name is refused as text
    ids = a.encode(CORPUS)
    for other in (b, c):
        np.testing.assert_array_equal(
            a.score_ids(ids, per_token=True), other.score_ids(ids, per_token=True)
        )


def test_witten_bell_bigram_by_hand() -> None:
    lm = NGramLM(2, "witten_bell").fit(["a b", "a a"])
    # Unigrams over V = {<unk>, </s>, a, b} (|V| = 4): counts a=3, b=1, </s>=2; N=6, T=3.
    p_b = 1 / 9 + (3 / 9) * 0.25
    # After a: followers b (1), a (1), </s> (1): N=3, T=3.
    assert 10 ** lm.logprob("b", "a") == pytest.approx(1 / 6 + 0.5 * p_b, abs=1e-12)
    assert 10 ** lm.logprob("zzz") == pytest.approx((3 / 9) * 0.25, abs=1e-12)  # <unk>
    scores = lm.score("a b", per_token=True)
    assert [w for w, _ in scores] == ["a", "b", "</s>"]
    assert sum(s for _, s in scores) == pytest.approx(lm.score("a b"), abs=1e-12)


def test_perplexity_takes_text_sentences_or_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lm = NGramLM(2, "add_k", k=0.5).fit(CORPUS)
    sentence = lm.perplexity(["the cat sat"])
    assert lm.perplexity("the cat sat") == sentence  # a string is a sentence, not a path
    path = tmp_path / "test.txt"
    path.write_text("the cat sat\n\nthe dog\n", encoding="utf-8")
    both = lm.perplexity(["the cat sat", "the dog"])
    assert both != sentence
    assert lm.perplexity(path) == both == lm.perplexity("the cat sat\nthe dog")
    assert lm.stats(path) == lm.stats(["the cat sat", "the dog"])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match=r"pathlib.Path\('test.txt'\)"):
        lm.perplexity("test.txt")
    with pytest.raises(FileNotFoundError, match="text: no such file"):
        lm.perplexity(tmp_path / "missing.txt")


def test_perplexity_definitions() -> None:
    lm = NGramLM(2, "add_k", k=0.5).fit(CORPUS)
    test = ["a b zz c", "d qq"]
    per = lm.score_ids(lm.encode(test), per_token=True)
    assert per.size == 8
    assert lm.perplexity(test) == pytest.approx(10 ** (-per.sum() / 8), rel=1e-12)
    known = np.array(
        [True, True, False, True, True, True, False, True][:0] or [1, 1, 0, 1, 1, 1, 0], bool
    )
    known = lm.encode(test) != 0
    assert lm.perplexity(test, include_oov=False) == pytest.approx(
        10 ** (-per[known].sum() / known.sum()), rel=1e-12
    )
    stats = lm.stats(test)
    assert stats["tokens"] == 8 and stats["oovs"] == 2


def test_stupid_backoff_scores_are_not_probabilities(tmp_path: Path) -> None:
    lm = NGramLM(3, "stupid_backoff", alpha=0.4).fit(CORPUS)
    # Seen trigram: relative frequency. "<s> a b": a is followed by b in 3 of 3 sentences.
    assert lm.logprob("b", "a", bos=True) == pytest.approx(0.0, abs=1e-12)
    # "a d" unseen, "d" seen 4 times in 21 tokens: 0.4 * 0.4 * 4/21 from a 2-word context.
    assert 10 ** lm.logprob("d", ["c", "a"]) == pytest.approx(0.16 * 4 / 21, rel=1e-12)
    with pytest.raises(ValueError, match="stupid_backoff"):
        lm.perplexity(CORPUS)
    with pytest.raises(ValueError, match="scores, not probabilities"):
        lm.to_arpa(tmp_path / "x.arpa")
    assert not (tmp_path / "x.arpa").exists()
    lm.save(tmp_path / "s.bin")
    back = NGramLM.load(tmp_path / "s.bin")
    assert back.smoothing == "stupid_backoff"
    assert back.logprob("d", ["c", "a"]) == lm.logprob("d", ["c", "a"])


def test_binary_round_trip_and_cross_backend(tmp_path: Path) -> None:
    lm = NGramLM(4, "kneser_ney", discount_fallback=True).fit(CORPUS)
    lm.save(tmp_path / "m.bin")
    ids = lm.encode([*CORPUS, "d c b a zz"])
    want = lm.score_ids(ids, per_token=True)
    backends = ["numpy", "rust"] if rnnrs.rust_available() else ["numpy"]
    for backend in backends:
        back = NGramLM.load(tmp_path / "m.bin", backend=backend)
        assert back.vocab == lm.vocab and back.num_ngrams == lm.num_ngrams
        np.testing.assert_allclose(back.score_ids(ids, per_token=True), want, atol=1e-12)
        back.save(tmp_path / f"again-{backend}.bin")
        again = NGramLM.load(tmp_path / f"again-{backend}.bin")
        np.testing.assert_allclose(again.score_ids(ids, per_token=True), want, atol=1e-12)


def test_generation_protocol() -> None:
    lm = NGramLM(3, "witten_bell").fit(CORPUS)
    state = lm.gen_start(lm.encode_prompt("a b"))
    logp = lm.gen_logprobs(state)
    assert logp.shape == (lm.vocab_size,) and logp[1] == -math.inf
    assert np.exp(logp).sum() == pytest.approx(1.0, abs=1e-12)
    assert logp[lm.word_id("c")] == pytest.approx(lm.logprob("c", "a b", bos=True) * math.log(10))
    nxt = lm.gen_advance(state, lm.word_id("c"))
    assert nxt != state and state == tuple(lm.encode_prompt("a b"))
    assert lm.gen_end_ids() == frozenset({2})
    assert lm.encode_prompt("a zz") == [lm.word_id("a"), 0]
    assert lm.decode_ids([3, 4]) == "a b"
    text = lm.generate("a", 10, seed=1)
    assert text == lm.generate("a", 10, seed=1) and all(w in lm.vocab for w in text.split())
    assert lm.generate("a b", 5, greedy=True) == "c d"  # then </s> is the likeliest
    assert lm.beam_search("a", beam_width=3, max_new_tokens=5) == "b c d"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"order": 0}, "order"),
        ({"order": 17}, "order"),
        ({"order": 2.5}, "order"),
        ({"smoothing": "good_turing"}, "smoothing"),
        ({"smoothing": "add_k", "k": 0}, "k"),
        ({"smoothing": "absolute", "discount": 1.5}, "discount"),
        ({"smoothing": "stupid_backoff", "alpha": 2}, "alpha"),
        ({"min_counts": [0, 2]}, "min_counts"),
        ({"min_counts": [0, 3, 2]}, "min_counts"),
        ({"min_counts": [2, 2, 2]}, "min_counts"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"order": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        NGramLM(**args)


def test_bad_data(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        NGramLM(2).fit(["", "   "])
    with pytest.raises(FileNotFoundError):
        NGramLM(2).fit(tmp_path / "missing.txt")
    with pytest.raises(TypeError, match="sentence 1"):
        NGramLM(2).fit(["a b", 3])
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(ValueError, match="UTF-8"):
        NGramLM(2, "mle").fit(tmp_path / "latin1.txt")
    with pytest.raises(ValueError, match="Kneser-Ney discounts"):
        NGramLM(3).fit(["a b c"])
    fallback = NGramLM(3, discount_fallback=True).fit(["a b c"])
    assert fallback.logprob("b", "a") < 0
    lm = NGramLM(2, "mle").fit(["a b"])
    with pytest.raises(ValueError, match="out of range"):
        lm.score_ids(np.array([3, 99], dtype=np.uint32))
    with pytest.raises(ValueError, match="<s>"):
        lm.score_ids([3, 1, 2])
    with pytest.raises(ValueError, match="1-D"):
        lm.score_ids(np.zeros((2, 2), dtype=np.uint32))
    with pytest.raises(ValueError, match="2\\*\\*32"):
        lm.score_ids([-1])
    with pytest.raises(rnnrs.NotFittedError, match="not trained"):
        NGramLM(2).perplexity(["a"])


ARPA_OK = """\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-1.0\t<unk>\t0
0\t<s>\t-0.3
-0.5\t</s>\t0
-0.4\ta\t-0.2

\\2-grams:
-0.2\t<s> a
-0.1\ta </s>

\\end\\
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("ngram 2=2", "ngram 2=3", 14, "announces 3 2-grams"),
        ("-0.4\ta\t-0.2", "-0.x\ta\t-0.2", 9, "bad log10 probability"),
        ("-0.4\ta\t-0.2", "0.4\ta\t-0.2", 9, "positive"),
        ("-0.1\ta </s>", "-0.1\ta </s>\t-0.5", 13, "expected 2 word"),
        ("-0.1\ta </s>", "-0.1\ta zz", 13, "not in the"),
        ("\\2-grams:", "\\3-grams:", 11, "expected \\\\2-grams:"),
        ("\\end\\\n", "", 14, "without \\\\end\\\\"),
        ("0\t<s>\t-0.3\n", "", 9, "announces 4 1-grams"),
        ("-0.1\ta </s>", "-0.2\t<s> a", 13, "duplicate"),
        ("-0.4\ta\t-0.2", "-0.4\ta\tnan", 9, "bad log10 backoff"),
    ],
)
def test_malformed_arpa_names_the_line(
    old: str, new: str, line: int, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.arpa"
    text = ARPA_OK.replace(old, new)
    assert text != ARPA_OK
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ArpaError, match=message) as info:
        NGramLM.from_arpa(path)
    assert f"line {line}" in str(info.value)


def test_arpa_conventions(tmp_path: Path) -> None:
    path = tmp_path / "ok.arpa"
    path.write_text(
        "a comment before the data\n"
        + ARPA_OK.replace("-1.0\t<unk>\t0\n", "").replace("ngram 1=4", "ngram 1=3")
    )
    lm = NGramLM.from_arpa(path)
    assert lm.logprob("zz") == -100.0  # a missing <unk> gets KenLM's -100
    assert lm.logprob("a", bos=True) == pytest.approx(-0.2)
    assert lm.logprob("a", "a") == pytest.approx(-0.2 - 0.4)  # backoff(a) + p(a)
    assert lm.logprob("</s>", "a") == pytest.approx(-0.1)
    (tmp_path / "empty.arpa").write_text("")
    with pytest.raises(ArpaError, match="no \\\\data"):
        NGramLM.from_arpa(tmp_path / "empty.arpa")
    (tmp_path / "junk.bin").write_bytes(b"RNNRSNGM" + b"\x01\x00")
    with pytest.raises(FormatError, match="truncated"):
        NGramLM.load(tmp_path / "junk.bin")
    (tmp_path / "other.bin").write_bytes(b"not a model at all")
    with pytest.raises(FormatError, match="magic"):
        NGramLM.load(tmp_path / "other.bin")


def test_prefix_holes_get_blank_contexts(tmp_path: Path) -> None:
    # An SRILM-style pruned file: "<s> a b" kept, its prefix "<s> a" pruned.
    text = """\\data\\
ngram 1=5
ngram 2=1
ngram 3=1

\\1-grams:
-1\t<unk>\t0
0\t<s>\t-0.1
-0.5\t</s>\t0
-0.6\ta\t-0.2
-0.7\tb\t0

\\2-grams:
-0.3\ta b\t-0.05

\\3-grams:
-0.01\t<s> a b

\\end\\
"""
    path = tmp_path / "holes.arpa"
    path.write_text(text)
    lm = NGramLM.from_arpa(path)
    assert lm.num_ngrams == [5, 1, 1]
    assert lm.logprob("b", "a", bos=True) == pytest.approx(-0.01)
    assert lm.logprob("a", bos=True) == pytest.approx(-0.1 - 0.6)
    lm.to_arpa(tmp_path / "back.arpa")
    assert NGramLM.from_arpa(tmp_path / "back.arpa").num_ngrams == [5, 1, 1]


def test_keep_counts_false_frees_the_counts() -> None:
    counts = NGramCounts(3).add(CORPUS)
    lm = NGramLM(3, "witten_bell").fit(counts, keep_counts=False)
    assert lm.counts is None and counts.tokens == 0 and counts.num_ngrams == [0, 0, 0]
    kept = NGramLM(3, "witten_bell").fit(CORPUS)
    assert kept.counts is not None and kept.counts["a b"] == 3
    ids = kept.encode(CORPUS)
    np.testing.assert_array_equal(
        lm.score_ids(ids, per_token=True), kept.score_ids(ids, per_token=True)
    )


def test_the_corpus_unk_is_the_model_unk_counted_once(tmp_path: Path) -> None:
    # PTB writes rare words as a literal <unk>: it is the model's <unk> (id 0), one entry of
    # the vocabulary with the count of its occurrences, and an OOV when queried, as KenLM's
    # query counts it; a word never seen is the same token.
    corpus = ["the <unk> sat", "the cat sat", "a <unk> <unk>", "the cat ran"]
    counts = NGramCounts(2).add(corpus)
    assert counts.vocab.count("<unk>") == 1 and counts["<unk>"] == 3 and counts.tokens == 16
    lm = NGramLM(2, "witten_bell").fit(corpus)
    assert lm.vocab.count("<unk>") == 1
    # Witten-Bell unigram: (c(w) + T/|V|) / (N + T) with N = 16 tokens (</s> included),
    # T = |V| = 7 words seen (<s> is never predicted): (3 + 1) / 23.
    assert 10 ** lm.logprob("<unk>") == pytest.approx(4 / 23, rel=1e-12)
    assert lm.logprob("zebra", "the") == lm.logprob("<unk>", "the")
    assert lm.score("the zebra sat") == lm.score("the <unk> sat")
    per = lm.score_ids(lm.encode(["the <unk> sat", "the zebra sat"]), per_token=True)
    known = np.array([1, 0, 1, 1, 1, 0, 1, 1], bool)
    stats = lm.stats(["the <unk> sat", "the zebra sat"])
    assert stats["tokens"] == 8 and stats["oovs"] == 2
    assert stats["perplexity"] == pytest.approx(10 ** (-per.sum() / 8), rel=1e-12)
    assert stats["perplexity_excluding_oovs"] == pytest.approx(
        10 ** (-per[known].sum() / 6), rel=1e-12
    )
    # Written as ARPA and read back, <unk> keeps its trained probability.
    lm.to_arpa(tmp_path / "m.arpa")
    again = NGramLM.from_arpa(tmp_path / "m.arpa")
    assert again.logprob("<unk>") == pytest.approx(lm.logprob("<unk>"), abs=1e-6)
    # The word tokenizer of the neural models: the same single <unk>, the same OOVs.
    tok = rnnrs.WordTokenizer.fit("\n".join(corpus))
    assert list(tok.vocab).count("<unk>") == 1
    assert tok.encode("the <unk> zebra").tolist() == [tok.token_to_id("the"), 0, 0]
