"""Corpus reading (whole and streamed), the stdlib corpus, splits and batching."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnrs import FormatError
from rnnrs.text.batching import batchify, bptt_batches, length_buckets, pad_batch, random_chunks
from rnnrs.text.corpus import (
    iter_blocks,
    iter_lines,
    read_text,
    split_corpus,
    stdlib_corpus,
    stdlib_files,
)

# --- reading ------------------------------------------------------------------------------


def test_read_text_keeps_crlf_nul_and_unicode(tmp_path: Path) -> None:
    text = "a\r\nb\x00c\n日本 👋\u0301\n"
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode("utf-8"))
    assert read_text(path) == text
    assert list(iter_lines(path)) == ["a\r\n", "b\x00c\n", "日本 👋\u0301\n"]


def test_invalid_utf8_names_file_line_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok line\nsecond\nthi\xffrd\n")
    with pytest.raises(FormatError) as info:
        read_text(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 3" in message and "byte offset 18" in message and "0xff" in message
    assert "errors='replace'" in message
    assert read_text(path, errors="replace") == "ok line\nsecond\nthi\ufffdrd\n"


@settings(max_examples=60, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("ab\n日👋é"), max_size=300),
    st.integers(4, 40),
    st.data(),
)
def test_streamed_blocks_rebuild_the_file_and_locate_errors(
    tmp_path_factory: pytest.TempPathFactory, text: str, block_size: int, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("blocks") / "t.txt"
    raw = text.encode("utf-8")
    path.write_bytes(raw)
    blocks = list(iter_blocks(path, block_size=block_size))
    assert "".join(blocks) == text
    assert all(len(b.encode("utf-8")) <= 2 * block_size for b in blocks)
    # Break the file at one byte: the error names the absolute offset and line of the first
    # bad byte, which is the start of the character the 0xff lands in.
    pos = data.draw(st.integers(0, len(raw)))
    path.write_bytes(raw[:pos] + b"\xff" + raw[pos:])
    first_bad = len(raw[:pos].decode("utf-8", errors="ignore").encode("utf-8"))
    line = raw[:first_bad].count(b"\n") + 1
    for read in (lambda: list(iter_blocks(path, block_size=block_size)), lambda: read_text(path)):
        with pytest.raises(FormatError) as info:
            read()
        assert f"line {line}, byte offset {first_bad} " in str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(IsADirectoryError, match="directory"):
        read_text(tmp_path)
    with pytest.raises(ValueError, match="errors: expected 'strict' or 'replace'"):
        read_text(tmp_path / "x", errors="ignore")


def test_stdlib_files_are_the_standard_library_in_order() -> None:
    files = stdlib_files()
    root = Path(sysconfig.get_paths()["stdlib"])
    assert len(files) > 100
    assert files == stdlib_files()
    rel = [f.relative_to(root).as_posix() for f in files]
    assert rel == sorted(rel)
    assert "os.py" in rel and "json/__init__.py" in rel
    assert not any("site-packages" in r for r in rel)
    text = stdlib_corpus(max_files=3)
    assert text == "".join(read_text(f, errors="replace") for f in files[:3])


# --- splits -------------------------------------------------------------------------------


def test_split_corpus_fractions() -> None:
    data = np.arange(1000)
    train, valid, test = split_corpus(data, valid=0.1, test=0.05)
    assert (len(train), len(valid), len(test)) == (850, 100, 50)
    assert np.array_equal(np.concatenate([train, valid, test]), data)
    assert split_corpus("abcdefghij", valid=0.1, test=0) == ("abcdefghi", "j", "")


def test_split_tinyshakespeare_first_90_percent(shared_data: Path) -> None:
    text = read_text(shared_data / "tinyshakespeare.txt")
    train, valid, test = split_corpus(text, valid=0.1, test=0.0)
    assert len(train) == int(len(text) * 0.9) and test == ""
    assert train + valid == text


@pytest.mark.parametrize("valid, test", [(-0.1, 0.1), (1.0, 0.0), (0.5, 0.5), ("a", 0.1)])
def test_split_corpus_bad_fractions(valid: float, test: float) -> None:
    with pytest.raises(ValueError, match=r"valid|test"):
        split_corpus("abc", valid=valid, test=test)


# --- batching -----------------------------------------------------------------------------


def test_batchify_rows_are_contiguous_streams() -> None:
    ids = np.arange(26)
    stream = batchify(ids, 4)
    assert stream.shape == (4, 6) and stream.dtype == np.uint32
    assert stream.flags["C_CONTIGUOUS"]
    assert stream[1].tolist() == list(range(6, 12))
    assert stream[:, 0].tolist() == [0, 6, 12, 18]  # 24, 25 dropped


def test_batchify_matches_pytorch_word_language_model() -> None:
    torch = pytest.importorskip("torch")
    ids = np.random.default_rng(0).integers(0, 1000, size=1003)
    data = torch.tensor(ids)
    nbatch = data.size(0) // 7
    expected = data.narrow(0, 0, nbatch * 7).view(7, -1).t().contiguous()  # (N, B)
    assert np.array_equal(batchify(ids, 7), expected.t().numpy())


@pytest.mark.parametrize(
    "ids, batch_size, exc, message",
    [
        ([1, 2], 3, ValueError, "3 streams need at least 3 ids"),
        ([1, 2], 0, ValueError, "batch_size: expected a positive int"),
        ([[1, 2]], 1, ValueError, "1-D"),
        ([1, -2], 1, ValueError, "token ids must be in"),
        ([1.0, 2.0], 1, TypeError, "integer token ids"),
    ],
)
def test_batchify_bad_input(ids, batch_size, exc, message) -> None:
    with pytest.raises(exc, match=message):
        batchify(ids, batch_size)


@pytest.mark.parametrize("n, bptt", [(11, 3), (10, 3), (2, 5), (35, 35)])
def test_bptt_chunks_cover_every_target_once(n: int, bptt: int) -> None:
    stream = batchify(np.arange(3 * n), 3)
    chunks = list(bptt_batches(stream, bptt))
    assert [x.shape[1] for x, _ in chunks] == [min(bptt, n - 1 - s) for s in range(0, n - 1, bptt)]
    xs = np.concatenate([x for x, _ in chunks], axis=1)
    ys = np.concatenate([y for _, y in chunks], axis=1)
    assert np.array_equal(xs, stream[:, :-1]) and np.array_equal(ys, stream[:, 1:])


def test_bptt_bad_input() -> None:
    with pytest.raises(ValueError, match="stream: expected a \\(batch, N\\) array"):
        next(bptt_batches(np.arange(5), 2))
    with pytest.raises(ValueError, match="bptt"):
        next(bptt_batches(np.zeros((2, 5)), 0))


def test_random_chunks_are_seeded_shifted_and_in_range() -> None:
    ids = np.arange(1000, 1500)
    a = list(random_chunks(ids, 16, 4, seed=3, num_batches=5))
    b = list(random_chunks(ids, 16, 4, seed=3, num_batches=5))
    c = list(random_chunks(ids, 16, 4, seed=4, num_batches=5))
    assert len(a) == 5
    for (x, y), (x2, y2) in zip(a, b):
        assert np.array_equal(x, x2) and np.array_equal(y, y2)
        assert x.shape == (4, 16) and x.dtype == np.uint32
        assert np.array_equal(y, x + 1)
        assert np.array_equal(np.diff(x, axis=1), np.ones((4, 15)))
        assert x.min() >= 1000 and y.max() <= 1499
    assert any(not np.array_equal(x, x3) for (x, _), (x3, _) in zip(a, c))


def test_random_chunks_reach_both_ends() -> None:
    starts = {int(x[0, 0]) for x, _ in random_chunks(np.arange(10), 4, 8, num_batches=20)}
    assert starts == set(range(6))  # s in 0..len-seq_len-1: y still fits


def test_random_chunks_bad_input() -> None:
    with pytest.raises(ValueError, match="seq_len: chunks of 10 need at least 11 ids"):
        next(random_chunks(np.arange(10), 10, 2))
    with pytest.raises(ValueError, match="num_batches"):
        next(random_chunks(np.arange(10), 2, 2, num_batches=0))


def test_length_buckets_partition_the_texts_into_similar_lengths() -> None:
    lengths = np.random.default_rng(0).integers(1, 60, size=1000)
    first = length_buckets(lengths, 16, np.random.default_rng(5))
    again = length_buckets(lengths, 16, np.random.default_rng(5))
    other = length_buckets(lengths, 16, np.random.default_rng(6))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    assert sorted(np.concatenate(first).tolist()) == list(range(1000))
    assert sum(len(b) < 16 for b in first) <= 2  # one short batch per pool of 50
    padding = sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in first)
    assert padding < 0.05 * lengths.sum()  # bucketing keeps padding small
    ids, lens = pad_batch([np.array([4, 5]), np.array([6])], pad_id=3)
    assert ids.tolist() == [[4, 5], [6, 3]] and lens.tolist() == [2, 1]
    with pytest.raises(ValueError, match="at least one token"):
        pad_batch([np.array([], dtype=np.uint32)])
