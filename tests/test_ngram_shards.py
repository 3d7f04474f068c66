"""Counts that travel: the counts file (save/load, bytes, pickling; the same bytes on both
backends; bad data refused), exact merges (any split of a corpus, any tree of merges: the
single-process model), estimation from counts for every method, the count / merge /
build --from-counts commands, and counting within a memory budget."""

from __future__ import annotations

import os
import pickle
import random
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnrs
from rnnrs import FormatError, NGramCounts, NGramLM
from rnnrs.cli import main
from rnnrs.ngram.inputs import parse_memory, physical_memory
from rnnrs.ngram.lm import build_arpa
from rnnrs.reference.ngram import METHODS

needs_rust = pytest.mark.skipif(not rnnrs.rust_available(), reason="the Rust extension is absent")

LINES = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat saw a dog",
    "the end",
    "a dog sat on a cat",
]


def arpa(lm: NGramLM, path: Path) -> bytes:
    lm.to_arpa(path)
    return path.read_bytes()


def sorted_sections(data: bytes) -> list[list[str]]:
    """The ARPA file's sections, each with its lines sorted."""
    sections: list[list[str]] = [[]]
    for line in data.decode().split("\n"):
        if line.startswith("\\"):
            sections.append([])
        sections[-1].append(line)
    return [sorted(s) for s in sections]


def test_round_trips_and_pickles(tmp_path: Path) -> None:
    counts = NGramCounts(3).add(LINES)
    data = counts.to_bytes()
    assert data[:8] == b"RNNRSCNT" and struct.unpack_from("<II", data, 8) == (1, 3)
    assert struct.unpack("<I", data[-4:])[0] == zlib.crc32(data[:-4])
    again = NGramCounts.from_bytes(data, order=3)
    assert again.to_bytes() == data and again["the cat"] == 1 and again.sentences == 5
    counts.save(tmp_path / "c.counts")
    assert (tmp_path / "c.counts").read_bytes() == data
    assert NGramCounts.load(tmp_path / "c.counts").num_ngrams == counts.num_ngrams
    unpickled = pickle.loads(pickle.dumps(counts))
    assert isinstance(unpickled, NGramCounts) and unpickled.to_bytes() == data
    # Counts with nothing in them travel too.
    assert NGramCounts.from_bytes(NGramCounts(2).to_bytes()).tokens == 0


@needs_rust
@settings(max_examples=40, deadline=None)
@given(
    lines=st.lists(
        st.lists(st.sampled_from(["a", "b", "c", "dé", "e", "<unk>"]), max_size=8).map(" ".join),
        max_size=20,
    ),
    order=st.integers(1, 5),
)
def test_both_backends_write_and_read_the_same_bytes(lines: list[str], order: int) -> None:
    rust = NGramCounts(order, backend="rust").add(lines)
    numpy = NGramCounts(order, backend="numpy").add(lines)
    assert rust.to_bytes() == numpy.to_bytes()
    assert NGramCounts.from_bytes(rust.to_bytes(), backend="numpy").to_bytes() == rust.to_bytes()
    assert NGramCounts.from_bytes(numpy.to_bytes(), backend="rust").to_bytes() == rust.to_bytes()


def resealed(data: bytearray) -> bytes:
    """``data`` with its checksum made right again (to reach the checks behind it)."""
    data[-4:] = struct.pack("<I", zlib.crc32(bytes(data[:-4])))
    return bytes(data)


def test_bad_counts_are_format_errors(tmp_path: Path) -> None:
    good = NGramCounts(3).add(LINES).to_bytes()
    cases = {
        "bad magic": b"RNNRSNGM" + good[8:],
        "truncated": good[:30],
        "checksum mismatch": good[:-1] + bytes([good[-1] ^ 1]),
        "corrupt": good[:60] + bytes([good[60] ^ 4]) + good[61:],
        "version 2; this rnnrs reads version 1": good[:8] + b"\x02" + good[9:],
        "sentence-boundary convention 2": resealed(bytearray(good[:16] + b"\x02" + good[17:])),
        "totals do not match": resealed(bytearray(good[:24] + b"\x09" + good[25:])),
    }
    for expected, data in cases.items():
        with pytest.raises(FormatError, match=expected):
            NGramCounts.from_bytes(data)
    with pytest.raises(FormatError, match="counts of order 3, expected order 5"):
        NGramCounts.from_bytes(good, order=5)
    path = tmp_path / "cut.counts"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(FormatError, match=r"cut\.counts.*(truncated|checksum)"):
        NGramCounts.load(path)
    with pytest.raises(TypeError, match="bytes"):
        NGramCounts.from_bytes("RNNRSCNT")  # type: ignore[arg-type]


def test_merging_another_order_is_an_error() -> None:
    with pytest.raises(ValueError, match="order 2 cannot merge into order 3"):
        NGramCounts(3).add(LINES).merge(NGramCounts(2).add(LINES))


def merge_tree(parts: list[NGramCounts], rng: random.Random) -> NGramCounts:
    """Merge neighbours at random until one is left; half the merges go through bytes,
    as shards crossing machines."""
    parts = list(parts)
    while len(parts) > 1:
        i = rng.randrange(len(parts) - 1)
        left, right = parts[i], parts[i + 1]
        if rng.random() < 0.5:
            right = NGramCounts.from_bytes(right.to_bytes())
        parts[i : i + 2] = [left.merge(right)]
    return parts[0]


sentences = st.lists(
    st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=8).map(" ".join),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    lines=sentences,
    cuts=st.lists(st.integers(0, 40), max_size=5),
    seed=st.integers(0, 2**32 - 1),
    order=st.integers(2, 4),
    method=st.sampled_from(["modified_kneser_ney", "kneser_ney", "witten_bell", "add_k", "mle"]),
    prune=st.booleans(),
)
def test_any_split_and_merge_tree_gives_the_single_process_model(
    tmp_path: Path,
    lines: list[str],
    cuts: list[int],
    seed: int,
    order: int,
    method: str,
    prune: bool,
) -> None:
    rng = random.Random(seed)
    bounds = [0, *sorted(min(c, len(lines)) for c in cuts), len(lines)]
    shards = [NGramCounts(order).add(lines[a:b]) for a, b in zip(bounds, bounds[1:])]
    options: dict[str, Any] = {"discount_fallback": True}
    if prune:
        options["min_counts"] = [0, *([2] * (order - 1))]
    one = arpa(NGramLM(order, method, **options).fit(lines), tmp_path / "one.arpa")
    in_order = merge_tree(shards, rng)
    got = arpa(NGramLM.from_counts(in_order, method, **options), tmp_path / "tree.arpa")
    assert got == one
    # Shards merged in any order: other word ids, the same lines in each section.
    shuffled = [NGramCounts(order).add(lines[a:b]) for a, b in zip(bounds, bounds[1:])]
    rng.shuffle(shuffled)
    anyhow = arpa(
        NGramLM.from_counts(merge_tree(shuffled, rng), method, **options), tmp_path / "any.arpa"
    )
    assert sorted_sections(anyhow) == sorted_sections(one)


@pytest.mark.parametrize("method", METHODS)
def test_from_counts_estimates_every_method_as_fit(tmp_path: Path, method: str) -> None:
    # Kneser-Ney's continuation counts come from the merged counts, not from the shards.
    shards = [NGramCounts(3).add(LINES[i : i + 2]) for i in range(0, len(LINES), 2)]
    merged = shards[0]
    for s in shards[1:]:
        merged.merge(NGramCounts.from_bytes(s.to_bytes()))
    direct = NGramLM(3, method, discount_fallback=True).fit(LINES)
    lm = NGramLM.from_counts(merged, method, discount_fallback=True)
    if method == "stupid_backoff":
        assert lm.score("the cat sat") == direct.score("the cat sat")
        return
    assert arpa(lm, tmp_path / "a.arpa") == arpa(direct, tmp_path / "b.arpa")


def test_count_merge_build_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = []
    for k in range(3):
        path = tmp_path / f"part{k}.txt"
        path.write_text("\n".join(LINES[k:] * 2) + "\n", encoding="utf-8")
        texts.append(path)
    shards = [tmp_path / f"part{k}.counts" for k in range(3)]
    for text, shard in zip(texts, shards):
        assert main(["ngram", "count", str(text), "-o", "3", "--output", str(shard)]) == 0
    assert "counted 1 file(s)" in capsys.readouterr().out
    merged = tmp_path / "all.counts"
    assert main(["ngram", "merge", *map(str, shards), "--output", str(merged)]) == 0
    model = tmp_path / "m.arpa"
    args = ["--smoothing", "witten_bell", "--output", str(model)]
    assert main(["ngram", "build", "--from-counts", str(merged), *args]) == 0
    direct = tmp_path / "direct.arpa"
    options = ["-o", "3", "--smoothing", "witten_bell", "--output", str(direct)]
    assert main(["ngram", "build", *map(str, texts), *options]) == 0
    assert model.read_bytes() == direct.read_bytes()
    capsys.readouterr()
    # Another order, corrupt data, conflicting arguments: one line, no traceback.
    other = tmp_path / "o2.counts"
    assert main(["ngram", "count", str(texts[0]), "-o", "2", "--output", str(other)]) == 0
    assert main(["ngram", "merge", str(merged), str(other), "--output", str(tmp_path / "x")]) == 1
    assert "only counts of one order merge" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["ngram", "build", "--from-counts", str(merged), "-o", "4", *args]) == 1
    assert "expected order 4" in capsys.readouterr().err
    bad = tmp_path / "bad.counts"
    bad.write_bytes(merged.read_bytes()[:-2])
    assert main(["ngram", "build", "--from-counts", str(bad), *args]) == 1
    err = capsys.readouterr().err
    assert "checksum" in err and "Traceback" not in err
    assert main(["ngram", "build", str(texts[0]), "--from-counts", str(merged), *args]) == 2
    assert main(["ngram", "count", str(texts[0]), "-o", "3", "--temp-dir", str(tmp_path),
                 "--output", str(shards[0])]) == 2  # fmt: skip
    assert "give --memory too" in capsys.readouterr().err


def test_parse_memory() -> None:
    assert parse_memory("1G") == 1 << 30 and parse_memory("500M") == 500 << 20
    assert parse_memory("2.5k") == 2560 and parse_memory("100") == 100
    assert parse_memory("80%") == int(physical_memory() * 0.8)
    for bad in ("", "1X", "-1G", "0", "150%", "G"):
        with pytest.raises(ValueError, match="memory"):
            parse_memory(bad)
    with pytest.raises(TypeError):
        parse_memory(1.5)  # type: ignore[arg-type]


def big_corpus(path: Path, lines: int, repeat: int = 1) -> Path:
    """``lines`` random sentences of 12 words (frequent words more likely), ``repeat`` times."""
    rng = random.Random(5)
    words = [f"w{i}" for i in range(3000)]
    text = "".join(
        " ".join(rng.choice(words[: rng.randrange(10, 3000)]) for _ in range(12)) + "\n"
        for _ in range(lines)
    )
    path.write_text(text * repeat, encoding="utf-8")
    return path


def test_bounded_memory_gives_the_same_model(tmp_path: Path) -> None:
    # About 2 MB of text whose counts take several times the 1 MB budget: many runs (the
    # NumPy backend counts in memory whatever the budget: a smaller text will do).
    text = big_corpus(tmp_path / "big.txt", 30_000 if rnnrs.backend() == "rust" else 2_000)
    runs = tmp_path / "runs"
    runs.mkdir()
    for method, options in [
        ("modified_kneser_ney", {}),
        ("witten_bell", {"min_counts": [0, 1, 2, 2]}),
        ("add_k", {"k": 0.5}),  # counted within the budget, estimated in memory
    ]:
        free = NGramLM(4, method, discount_fallback=True, **options).fit(text)
        expected = arpa(free, tmp_path / "f.arpa")
        bounded = NGramLM(4, method, discount_fallback=True, **options)
        bounded.fit(text, memory="1M", temp_dir=runs)
        assert arpa(bounded, tmp_path / "b.arpa") == expected, method
        written = build_arpa(
            [text], tmp_path / "s.arpa", 4, method, memory="1M", temp_dir=runs,
            discount_fallback=True, **options,
        )  # fmt: skip
        assert (tmp_path / "s.arpa").read_bytes() == expected, method
        assert written == free.num_ngrams
        assert list(runs.iterdir()) == []
    out = tmp_path / "cli.arpa"
    command = ["ngram", "build", str(text), "-o", "4", "--smoothing", "modified_kneser_ney"]
    options_cli = ["--discount-fallback", "--memory", "1M", "--temp-dir", str(runs)]
    assert main([*command, *options_cli, "--output", str(out)]) == 0
    expected = arpa(NGramLM(4, discount_fallback=True).fit(text), tmp_path / "f.arpa")
    assert out.read_bytes() == expected
    with pytest.raises(NotADirectoryError, match="temp_dir"):
        NGramLM(4).fit(text, memory="1M", temp_dir=text)
    with pytest.raises(TypeError, match="memory"):
        NGramLM(4).fit(LINES, memory="1M")
    if rnnrs.backend() == "rust":
        with pytest.raises(ValueError, match="at least 1M"):
            NGramLM(4).fit(text, memory="100K", temp_dir=runs)
    assert list(runs.iterdir()) == []


@needs_rust
def test_ctrl_c_stops_bounded_counting_and_removes_the_runs(tmp_path: Path) -> None:
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT does not raise KeyboardInterrupt here")
    text = big_corpus(tmp_path / "big.txt", 20_000, repeat=20)
    runs = tmp_path / "runs"
    runs.mkdir()
    main_thread = threading.get_ident()
    timer = threading.Timer(0.3, lambda: signal.pthread_kill(main_thread, signal.SIGINT))
    finished = False
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        NGramCounts.count_files([text], 5, memory="1M", temp_dir=runs, backend="rust")
        finished = True
        time.sleep(10)
    timer.cancel()
    assert not finished, "counting ended before the signal: make the corpus larger"
    assert time.perf_counter() - start < 5
    assert list(runs.iterdir()) == []


FULL_DISK = """
import resource, signal, sys
from rnnrs.ngram.lm import build_arpa
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))  # writes past 200 kB fail
try:
    build_arpa([sys.argv[1]], sys.argv[2], 4, memory="1M", temp_dir=sys.argv[3],
               discount_fallback=True)
except OSError as exc:
    print("OSError:", exc)
"""


@needs_rust
def test_a_temp_dir_that_fills_up_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    # A file-size limit makes the temporary files' writes fail as on a full disk.
    text = big_corpus(tmp_path / "big.txt", 30_000)
    runs, out = tmp_path / "runs", tmp_path / "out.arpa"
    runs.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(text), str(out), str(runs)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "RNNRS_BACKEND": "rust"},
    )
    assert done.stdout.startswith("OSError:") and "temporary file" in done.stdout, done.stdout
    assert str(runs) in done.stdout
    assert list(runs.iterdir()) == [] and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.txt", "runs"]
