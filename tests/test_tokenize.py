"""Tokenizers: round-trips, vocabularies, lookups, JSON files and bad input. Runs on the
default backend, so the BPE path is the Rust core on one run and the Python reference on the
other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnrs
from rnnrs import BPETokenizer, CharTokenizer, FormatError, WordTokenizer, load_tokenizer

HARD_TEXTS = [
    "emoji 👨\u200d👩\u200d👧\u200d👦 🇫🇷 👋🏽 done",
    "combining e\u0301 a\u0308\u0323 Z\u0351\u0352\u0353",
    "CJK 日本語のテキスト、中文文本。한국어",
    "CRLF line\r\nnext\r\n\r\n",
    "NUL \x00 bytes \x00\x00 and \x7f DEL",
    "tabs\tand\u00a0nbsp\u3000ideographic space",
    "",
]


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    corpus = " ".join(HARD_TEXTS) * 3 + "the theme then there these those " * 20
    return BPETokenizer.train(corpus, vocab_size=400)


# --- CharTokenizer -----------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1))
def test_char_round_trip(text: str) -> None:
    tok = CharTokenizer.fit(text)
    ids = tok.encode(text)
    assert ids.dtype == np.uint32 and ids.shape == (len(text),)
    assert tok.decode(ids) == text


@pytest.mark.parametrize("text", [t for t in HARD_TEXTS if t])
def test_char_round_trip_hard_texts(text: str) -> None:
    tok = CharTokenizer.fit(text)
    assert tok.decode(tok.encode(text)) == text


def test_char_vocabulary_and_unknowns() -> None:
    tok = CharTokenizer.fit("banana!")
    assert tok.vocab_size == 5
    assert tok.vocab == {"<unk>": 0, "!": 1, "a": 2, "b": 3, "n": 4}
    assert tok.encode("nab?").tolist() == [4, 2, 3, 0]
    assert tok.decode([4, 2, 0]) == "na\ufffd"
    assert tok.token_to_id("b") == 3 and tok.id_to_token(3) == "b"
    with pytest.raises(KeyError, match="'z' is not in the vocabulary"):
        tok.token_to_id("z")


def test_char_min_freq_max_size_and_iterables() -> None:
    assert CharTokenizer.fit("aaabbc", min_freq=2).vocab == {"<unk>": 0, "a": 1, "b": 2}
    assert CharTokenizer.fit("aaabbc", max_size=2).vocab == {"<unk>": 0, "a": 1}
    lines = ["ab\n", "cd\n"]
    assert CharTokenizer.fit(iter(lines)).vocab == CharTokenizer.fit("".join(lines)).vocab


def test_char_lone_surrogate_is_unknown() -> None:
    tok = CharTokenizer.fit("ab")
    assert tok.encode("a\ud800b").tolist() == [1, 0, 2]


# --- WordTokenizer -----------------------------------------------------------------------


def test_word_specials_and_frequency_order() -> None:
    tok = WordTokenizer.fit(["b a c a", "b a"])
    assert tok.vocab == {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3, "a": 4, "b": 5, "c": 6}
    assert (tok.unk_id, tok.bos_id, tok.eos_id, tok.pad_id) == (0, 1, 2, 3)
    assert tok.encode("a z c", bos=True, eos=True).tolist() == [1, 4, 0, 6, 2]
    assert tok.decode([1, 4, 0, 6, 2]) == "<s> a <unk> c </s>"
    assert tok.decode([1, 4, 0, 6, 2], skip_specials=True) == "a c"


def test_word_text_spelling_a_special_maps_to_it() -> None:
    tok = WordTokenizer.fit("the <unk> sat </s>")
    assert tok.vocab == {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3, "sat": 4, "the": 5}
    assert tok.encode("<unk> sat </s>").tolist() == [0, 4, 2]


def test_word_min_freq_max_size_lowercase_pattern() -> None:
    texts = ["The cat. The DOG!", "the cat"]
    tok = WordTokenizer.fit(texts, lowercase=True, pattern=r"\w+|[^\w\s]")
    assert tok.split("The DOG!") == ["the", "dog", "!"]
    assert tok.vocab_size == 4 + 5  # the cat . dog !
    assert tok.id_to_token(4) == "the" and tok.id_to_token(5) == "cat"
    pattern = r"\w+|[^\w\s]"
    assert WordTokenizer.fit(texts, lowercase=True, pattern=pattern, min_freq=2).vocab_size == 6
    assert WordTokenizer.fit(texts, lowercase=True, min_freq=2).vocab == {
        "<unk>": 0,
        "<s>": 1,
        "</s>": 2,
        "<pad>": 3,
        "the": 4,
    }
    assert WordTokenizer.fit(texts, max_size=5).vocab_size == 5


def test_word_strict_unknowns_raise() -> None:
    tok = WordTokenizer.fit("a b")
    with pytest.raises(ValueError, match="unknown word 'zz' \\(word 1\\)"):
        tok.encode("a zz", strict=True)


def test_word_encode_lines_like_word_language_model() -> None:
    tok = WordTokenizer.fit("a b\nb c\n")
    ids = tok.encode_lines("a b\nb c\n")
    assert tok.decode(ids) == "a b </s> b c </s>"
    assert tok.encode_lines([]).dtype == np.uint32


def test_word_ptb_vocabulary(shared_data: Path) -> None:
    lines = (shared_data / "ptb.valid.txt").read_text(encoding="utf-8").splitlines()
    tok = WordTokenizer.fit(lines)
    ids = tok.encode_lines(lines)
    # PTB's own "<unk>" is our <unk>; every other word is in the vocabulary.
    assert int((ids == tok.unk_id).sum()) == sum(line.split().count("<unk>") for line in lines)
    assert int((ids == tok.eos_id).sum()) == len(lines)
    words = {w for line in lines for w in line.split()}
    assert tok.vocab_size == len(words - {"<unk>"}) + 4


# --- BPETokenizer ------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_bpe_round_trip_any_text(bpe: BPETokenizer, text: str) -> None:
    ids = bpe.encode(text)
    assert ids.dtype == np.uint32
    assert bpe.decode(ids) == text
    assert bpe.decode_bytes(ids) == text.encode("utf-8")


@pytest.mark.parametrize("text", HARD_TEXTS)
def test_bpe_round_trip_hard_texts(bpe: BPETokenizer, text: str) -> None:
    assert bpe.decode(bpe.encode(text), errors="strict") == text


def test_bpe_compresses_and_exposes_tokens(bpe: BPETokenizer) -> None:
    text = "the theme then there"
    ids = bpe.encode(text)
    assert len(ids) < len(text.encode("utf-8")) / 2
    assert bpe.vocab_size == 400 and len(bpe.merges) == 144
    assert bpe.id_to_token(32) == "Ġ" and bpe.id_to_token(10) == "Ċ"
    assert bpe.encode(" the").tolist() == [bpe.token_to_id("Ġthe")]
    assert bpe.encode_batch([text, "x"])[0].tolist() == ids.tolist()


def test_bpe_decode_of_a_cut_character(bpe: BPETokenizer) -> None:
    ids = bpe.encode("ж")  # two bytes, never seen in training: no merge
    assert ids.tolist() == [0xD0, 0xB6]
    assert bpe.decode(ids[:1]) == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        bpe.decode(ids[:1], errors="strict")


def test_bpe_vocab_smaller_than_asked_when_pairs_run_out() -> None:
    tok = BPETokenizer.train("abab", vocab_size=1000)
    assert tok.vocab_size < 1000 and tok.merges[0] == (97, 98)


def test_bpe_training_from_an_iterable_equals_joined_lines() -> None:
    lines = [f"line {i} of the text\n" for i in range(50)]
    a = BPETokenizer.train(iter(lines), vocab_size=300)
    b = BPETokenizer.train(lines, vocab_size=300)
    assert a.merges == b.merges


def test_bpe_both_backends_agree() -> None:
    if not rnnrs.rust_available():
        pytest.skip("Rust core not built")
    text = " ".join(HARD_TEXTS) * 4
    rust = BPETokenizer.train(text, vocab_size=350, backend="rust")
    numpy = BPETokenizer.train(text, vocab_size=350, backend="numpy")
    assert rust.merges == numpy.merges
    assert rust.encode(text).tolist() == numpy.encode(text).tolist()


# --- files --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_save_load_round_trip(tmp_path: Path, kind: str, bpe: BPETokenizer) -> None:
    text = "Some text, some more text. 日本 👋"
    tok: rnnrs.text.tokenizers.Tokenizer = {
        "char": lambda: CharTokenizer.fit(text),
        "word": lambda: WordTokenizer.fit(text, lowercase=True, pattern=r"\w+|\S"),
        "bpe": lambda: bpe,
    }[kind]()
    path = tmp_path / f"{kind}.json"
    tok.save(path)
    obj = json.loads(path.read_text(encoding="utf-8"))
    assert obj["kind"] == kind and obj["version"] == 1
    again = load_tokenizer(path)
    assert type(again) is type(tok)
    assert again.vocab == tok.vocab
    assert again.encode(text).tolist() == tok.encode(text).tolist()
    assert type(tok).load(path).vocab_size == tok.vocab_size
    assert [p.name for p in tmp_path.iterdir()] == [f"{kind}.json"]  # no temp file left


def test_load_wrong_kind_names_both(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    WordTokenizer.fit("a b").save(path)
    with pytest.raises(FormatError, match="expected a tokenizer of kind 'char', found kind 'word'"):
        CharTokenizer.load(path)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"kind": "char", "version": 99, "chars": []}', "unsupported tokenizer version 99"),
        ('{"kind": "ngram", "version": 1}', "found kind 'ngram'"),
        ('{"chars": []}', 'no "kind" and "version"'),
        ("not json", "not a valid tokenizer JSON"),
        ('{"kind": "char", "version": 1, "chars": ["ab"]}', "single characters"),
        ('{"kind": "bpe", "version": 1, "pretokenizer": "x", "merges": []}', "pre-tokenizer"),
        (
            '{"kind": "bpe", "version": 1, "pretokenizer": "rnnrs-gpt2-v1", "merges": [[300, 1]]}',
            "not defined before it",
        ),
    ],
)
def test_load_bad_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FormatError, match=message) as info:
        load_tokenizer(path)
    assert str(path) in str(info.value)


def test_load_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        load_tokenizer(tmp_path / "nope.json")


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fit, exc, message",
    [
        (lambda: CharTokenizer.fit(""), ValueError, "text: empty"),
        (lambda: WordTokenizer.fit(["", "  "]), ValueError, "texts: no words"),
        (lambda: BPETokenizer.train("", vocab_size=300), ValueError, "texts: empty"),
        (
            lambda: BPETokenizer.train("abc", vocab_size=0),
            ValueError,
            "vocab_size: must be at least 256",
        ),
        (
            lambda: BPETokenizer.train("abc", vocab_size=100),
            ValueError,
            "vocab_size: must be at least 256",
        ),
        (
            lambda: BPETokenizer.train("abc", vocab_size=300.0),
            TypeError,
            "vocab_size: expected an int",
        ),
        (lambda: BPETokenizer.train(b"abc", vocab_size=300), TypeError, "bytes"),
        (lambda: WordTokenizer.fit("a", max_size=2), ValueError, "max_size: must be at least 4"),
        (lambda: WordTokenizer.fit("a", pattern="("), ValueError, "pattern: not a valid"),
        (lambda: CharTokenizer.fit("a", min_freq=0), ValueError, "min_freq"),
        (lambda: WordTokenizer.fit(["a", 3]), TypeError, "item 1 is int"),
    ],
)
def test_fitting_bad_input(fit, exc: type[Exception], message: str) -> None:
    with pytest.raises(exc, match=message):
        fit()


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_decode_bad_ids(kind: str, bpe: BPETokenizer) -> None:
    tok = {"char": CharTokenizer.fit("abc"), "word": WordTokenizer.fit("a b"), "bpe": bpe}[kind]
    n = tok.vocab_size
    with pytest.raises(ValueError, match=f"id {n} at position 1 is out of range .* size {n}"):
        tok.decode([0, n])
    with pytest.raises(ValueError, match="id -1 at position 0"):
        tok.decode([-1])
    with pytest.raises(TypeError, match="integer token ids"):
        tok.decode(np.array([1.5]))
    with pytest.raises(ValueError, match="1-D"):
        tok.decode([[1, 2]])
    with pytest.raises(ValueError, match="out of range"):
        tok.id_to_token(n)
    with pytest.raises(TypeError, match="text: expected str"):
        tok.encode(b"abc")  # type: ignore[arg-type]
    assert tok.decode([]) == ""


def test_bpe_lone_surrogate_is_a_clear_error(bpe: BPETokenizer) -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        bpe.encode("a\ud800b")
