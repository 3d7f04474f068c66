"""rnnrs.WordVectors: GloVe / word2vec text / word2vec binary files (gensim-compatible),
similarity, analogies, and embeddings seeded from vectors."""

from __future__ import annotations

import gc
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnrs
from rnnrs.errors import FormatError
from rnnrs.io.word_vectors import WordVectors

FORMATS = ("glove", "word2vec", "word2vec_binary")

WORDS = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=8
).filter(lambda w: not any(c.isspace() for c in w))


def save(wv: WordVectors, path: Path, fmt: str) -> None:
    if fmt == "glove":
        wv.save_glove(path)
    else:
        wv.save_word2vec_format(path, binary=fmt == "word2vec_binary")


def load(path: Path, fmt: str) -> WordVectors:
    if fmt == "glove":
        return WordVectors.load_glove(path)
    return WordVectors.load_word2vec_format(path, binary=fmt == "word2vec_binary")


@pytest.fixture
def small() -> WordVectors:
    rng = np.random.default_rng(0)
    words = ["king", "queen", "man", "woman", "apple", "héllo", "日本"]
    return WordVectors(words, rng.normal(size=(len(words), 5)).astype(np.float32))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(WORDS, min_size=1, max_size=6, unique=True),
    st.integers(1, 4),
    st.sampled_from(FORMATS),
    st.data(),
)
def test_round_trip(words: list[str], dim: int, fmt: str, data: st.DataObject) -> None:
    values = data.draw(
        st.lists(
            st.floats(allow_nan=False, allow_infinity=False, width=32),
            min_size=len(words) * dim,
            max_size=len(words) * dim,
        )
    )
    wv = WordVectors(words, np.array(values, dtype=np.float32).reshape(len(words), dim))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v"
        save(wv, path, fmt)
        back = load(path, fmt)
    assert back.words == words and np.array_equal(back.vectors, wv.vectors)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(1, 4), st.data())
def test_a_bad_value_names_its_line(rows: int, dim: int, data: st.DataObject) -> None:
    bad_row = data.draw(st.integers(0, rows - 1))
    bad_col = data.draw(st.integers(0, dim - 1))
    token = data.draw(st.sampled_from(["x", "1..2", "--1", "0x1g", "1,5"]))
    header = data.draw(st.booleans())
    lines = [[f"w{i}", *(str(0.5 * j) for j in range(dim))] for i in range(rows)]
    lines[bad_row][1 + bad_col] = token
    text = "".join(" ".join(line) + "\n" for line in lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.txt"
        path.write_text((f"{rows} {dim}\n" if header else "") + text, encoding="utf-8")
        number = bad_row + 1 + int(header)
        with pytest.raises(FormatError, match=rf"v\.txt:{number}: expected {dim} numbers"):
            if header:
                WordVectors.load_word2vec_format(path)
            else:
                WordVectors.load_glove(path)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(2, 4), st.data())
def test_a_short_or_long_line_names_its_line(rows: int, dim: int, data: st.DataObject) -> None:
    bad_row = data.draw(st.integers(1, rows - 1))  # the first line fixes GloVe's dimension
    values = data.draw(st.sampled_from([dim - 1, dim + 1]))
    lines = [" ".join([f"w{i}", *(["1.0"] * dim)]) for i in range(rows)]
    lines[bad_row] = " ".join([f"w{bad_row}", *(["1.0"] * values)])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        message = rf"v\.txt:{bad_row + 1}: expected a word and {dim} values, got {values}"
        with pytest.raises(FormatError, match=message):
            WordVectors.load_glove(path)


def test_broken_files(tmp_path: Path, small: WordVectors) -> None:
    path = tmp_path / "v.txt"
    for header in ("3\n", "three 5\n", "3 5 7\n", "-1 5\n", "3 0\n"):
        path.write_text(header + "a 1 2 3 4 5\n", encoding="utf-8")
        with pytest.raises(FormatError, match=r"v\.txt:1: expected the header"):
            WordVectors.load_word2vec_format(path)
    path.write_text("2 2\na 1 2\n", encoding="utf-8")
    with pytest.raises(FormatError, match="announces 2 vectors, the file has 1"):
        WordVectors.load_word2vec_format(path)
    binary = tmp_path / "v.bin"
    small.save_word2vec_format(binary, binary=True)
    data = binary.read_bytes()
    binary.write_bytes(data[:-3])
    with pytest.raises(FormatError, match="entry 7 of 7 is cut short"):
        WordVectors.load_word2vec_format(binary, binary=True)
    binary.write_bytes(data.replace(b"7 5\n", b"7 4\n", 1))
    with pytest.raises(FormatError, match=r"v\.bin"):
        WordVectors.load_word2vec_format(binary, binary=True)
    path.write_bytes(b"\xff\xfe 1 2\n")
    with pytest.raises(FormatError, match=r"v\.txt:1: the word is not UTF-8"):
        WordVectors.load_glove(path)
    with pytest.raises(FileNotFoundError):
        WordVectors.load_glove(tmp_path / "absent.txt")


def test_duplicates_keep_the_first(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("a 1 2\nb 3 4\na 5 6\n", encoding="utf-8")
    wv = WordVectors.load_glove(path)
    assert wv.words == ["a", "b"] and wv["a"].tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="appears twice"):
        WordVectors(["a", "a"], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="whitespace"):
        WordVectors(["a b"], np.zeros((1, 2))).save_glove(tmp_path / "w.txt")


def test_similarity_and_analogy() -> None:
    # Gender along axis 2, royalty along axis 1.
    words = ["king", "queen", "man", "woman", "prince", "apple"]
    vectors = np.array(
        [[1, 1, 0], [1, 1, 1], [1, 0, 0], [1, 0, 1], [1, 1, -0.2], [-1, 0.1, 0]], np.float32
    )
    wv = WordVectors(words, vectors)
    assert wv.analogy("man", "king", "woman")[0][0] == "queen"
    assert math.isclose(wv.similarity("king", "man"), 1 / math.sqrt(2), rel_tol=1e-6)
    # 3CosAdd by hand: unit(king) - unit(man) + unit(woman), averaged and normalised.
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    query = (unit[0] - unit[2] + unit[3]) / 3
    query /= np.linalg.norm(query)
    got = dict(wv.most_similar(positive=["king", "woman"], negative=["man"], topn=3))
    assert set(got) == {"queen", "prince", "apple"}
    for w, score in got.items():
        assert math.isclose(score, float(unit[words.index(w)] @ query), rel_tol=1e-5)
    assert [w for w, _ in wv.most_similar("king", topn=2)] == ["prince", "queen"]
    with pytest.raises(KeyError, match="'pear' has no vector"):
        wv.most_similar("pear")
    with pytest.raises(ValueError, match="topn"):
        wv.most_similar("king", topn=0)


# gensim's no_header reading leaves a file for the garbage collector to close.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_equal_to_gensim(tmp_path: Path, small: WordVectors) -> None:
    gensim_models = pytest.importorskip("gensim.models")
    keyed = gensim_models.KeyedVectors
    for fmt in FORMATS:
        ours = tmp_path / f"ours.{fmt}"
        save(small, ours, fmt)
        kv = keyed.load_word2vec_format(
            ours, binary=fmt == "word2vec_binary", no_header=fmt == "glove"
        )
        assert kv.index_to_key == small.words and np.array_equal(kv.vectors, small.vectors)
        theirs = tmp_path / f"theirs.{fmt}"
        kv.save_word2vec_format(
            theirs, binary=fmt == "word2vec_binary", write_header=fmt != "glove"
        )
        assert theirs.read_bytes() == ours.read_bytes()
        back = load(theirs, fmt)
        assert back.words == small.words and np.array_equal(back.vectors, small.vectors)
    expected = kv.most_similar(positive=["king", "woman"], negative=["man"], topn=3)
    got = small.most_similar(positive=["king", "woman"], negative=["man"], topn=3)
    assert [w for w, _ in got] == [w for w, _ in expected]
    assert np.allclose([s for _, s in got], [s for _, s in expected], atol=1e-6)
    assert math.isclose(
        small.similarity("king", "apple"), float(kv.similarity("king", "apple")), abs_tol=1e-6
    )
    gc.collect()  # here, where the warning about gensim's file is ignored


def test_rnnlm_embeddings_from_vectors(small: WordVectors) -> None:
    tok = rnnrs.WordTokenizer.fit(["king queen man", "woman pear plum"])
    model = rnnrs.RNNLM(tok.vocab_size, hidden_size=8, tokenizer=tok, embeddings=small, seed=4)
    assert model.config["embed_size"] == small.dim
    overlap = model.embedding_overlap
    assert overlap is not None and overlap.found == 4 and overlap.total == tok.vocab_size
    assert set(overlap.missing) == {"<unk>", "<s>", "</s>", "<pad>", "pear", "plum"}
    assert "4 of 10 tokens" in str(overlap)
    table = model.parameters()["embedding.weight"]
    plain = rnnrs.RNNLM(tok.vocab_size, hidden_size=8, embed_size=5, tokenizer=tok, seed=4)
    drawn = plain.parameters()["embedding.weight"]
    for word, i in tok.vocab.items():
        expected = small[word] if word in small else drawn[i]  # missing: the usual draw
        assert np.array_equal(table[i], expected)
    with pytest.raises(ValueError, match=r"dimension 5.*embedding 8"):
        rnnrs.RNNLM(tok.vocab_size, hidden_size=8, embed_size=8, tokenizer=tok, embeddings=small)
    with pytest.raises(TypeError, match="needs a tokenizer"):
        rnnrs.RNNLM(tok.vocab_size, hidden_size=8, embeddings=small)
    with pytest.raises(TypeError, match="WordVectors"):
        rnnrs.RNNLM(tok.vocab_size, hidden_size=8, embed_size=5, tokenizer=tok, embeddings={})


@pytest.mark.parametrize("optimizer", [rnnrs.AdamW(lr=1e-2, weight_decay=0.1), rnnrs.SGD(lr=0.5)])
def test_frozen_embeddings_stay(
    small: WordVectors, optimizer: Any, tmp_path: Path
) -> None:
    lines = ["king queen man woman", "woman man king queen apple"] * 10
    tok = rnnrs.WordTokenizer.fit(lines)
    ids = tok.encode_lines(lines)

    def trained(freeze: bool) -> rnnrs.RNNLM:
        model = rnnrs.RNNLM(
            tok.vocab_size,
            hidden_size=6,
            tokenizer=tok,
            embeddings=small,
            freeze_embeddings=freeze,
            seed=2,
        )
        trainer = rnnrs.Trainer(model, optimizer, bptt=5, batch_size=2, progress=False)
        trainer.fit(ids, max_steps=8)
        return model

    before = rnnrs.RNNLM(tok.vocab_size, hidden_size=6, tokenizer=tok, embeddings=small, seed=2)
    start = before.parameters()
    frozen, free = trained(True).parameters(), trained(False).parameters()
    # Weight decay and the gradients would move the table; frozen, it stays bit for bit
    # (the pretrained rows and the drawn ones), while the other weights train.
    assert np.array_equal(frozen["embedding.weight"], start["embedding.weight"])
    assert not np.array_equal(free["embedding.weight"], start["embedding.weight"])
    assert not np.array_equal(frozen["rnn.weight_hh_l0"], start["rnn.weight_hh_l0"])
    model = trained(True)
    assert model.config["freeze_embeddings"] is True
    model.save(tmp_path / "frozen")
    back = rnnrs.load(tmp_path / "frozen")
    assert back.frozen_parameters == ("embedding.weight",)
    assert "freeze_embeddings" not in before.config  # an unfrozen config is unchanged


def test_classifier_embeddings_from_vectors(small: WordVectors, tmp_path: Path) -> None:
    texts = ["king queen good", "man woman bad", "queen good", "woman bad"] * 4
    labels = ["pos", "neg", "pos", "neg"] * 4
    tok = rnnrs.WordTokenizer.fit(texts)
    clf = rnnrs.SequenceClassifier(
        tok, labels=["neg", "pos"], hidden_size=6, embeddings=small, freeze_embeddings=True
    )
    assert clf.config["embed_size"] == small.dim and clf.config["freeze_embeddings"] is True
    assert clf.embedding_overlap is not None and clf.embedding_overlap.found == 4
    start = clf.parameters()
    for word in ("king", "queen", "man", "woman"):
        assert np.array_equal(start["embedding.weight"][tok.vocab[word]], small[word])
    clf.fit(texts, labels, epochs=2, batch_size=4)
    after = clf.parameters()
    assert np.array_equal(after["embedding.weight"], start["embedding.weight"])
    assert not np.array_equal(after["classifier.weight"], start["classifier.weight"])
    clf.save(tmp_path / "clf")
    assert rnnrs.load(tmp_path / "clf").frozen_parameters == ("embedding.weight",)
    plain = rnnrs.SequenceClassifier(tok, labels=["neg", "pos"], hidden_size=6)
    assert plain.config["embed_size"] == 128 and "freeze_embeddings" not in plain.config


def test_an_empty_word_or_an_oversized_header_is_a_format_error(tmp_path: Path) -> None:
    glove = tmp_path / "g.txt"
    glove.write_bytes(b"a 1 2\n 1 2\n")  # the second line starts with the separator
    with pytest.raises(FormatError, match=r"g\.txt:2: the line starts with a space"):
        WordVectors.load_glove(glove)
    binary = tmp_path / "w.bin"
    one = np.ones(2, dtype="<f4").tobytes()
    binary.write_bytes(b"2 2\na " + one + b"\n " + one)
    with pytest.raises(FormatError, match=r"entry 2: an empty word"):
        WordVectors.load_word2vec_format(binary, binary=True)
    # A header announcing 2**60 vectors is refused before anything is allocated for them.
    binary.write_bytes(b"1152921504606846976 2\na " + one)
    with pytest.raises(FormatError, match=r"announces 1152921504606846976 vectors"):
        WordVectors.load_word2vec_format(binary, binary=True)
