"""The binary n-gram form is checked on load (docs/ngram.md, "The binary form"): a CRC-32
over the whole file catches changed bytes, and every value is checked (no NaN, no positive
log10 probability), the same on both backends; ``verify=False`` trusts the file."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import rnnrs
from rnnrs import NGramLM
from rnnrs.backends.ngram_binary import PROB_BOW, SLOT

BACKENDS = ["numpy", "rust"] if rnnrs.rust_available() else ["numpy"]
TEXT = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the end"] * 3


def slot_tables(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    """Where the unigrams start, and (offset, slot count) of each higher order's table."""
    # After the magic: version, byte-order mark, order, vocab size, has alpha, method length.
    _, _, order, vsize, _, mlen = struct.unpack_from("<6I", data, 8)
    at = 40
    capacities = []
    for _ in range(2, order + 1):
        capacities.append(struct.unpack_from("<Q", data, at)[0])
        at += 16
    at += mlen + (8 - mlen % 8) % 8
    total = struct.unpack_from("<Q", data, at)[0]
    at += 8 + total + (8 - total % 8) % 8
    unigrams = at
    at += vsize * PROB_BOW.itemsize
    tables = []
    for capacity in capacities:
        tables.append((at, capacity))
        at += capacity * SLOT.itemsize
    return unigrams, tables


def resealed(data: bytearray) -> bytes:
    """The bytes with a checksum that matches them again (a deliberate, consistent edit)."""
    data[-8:] = struct.pack("<Q", zlib.crc32(bytes(data[:-8])))
    return bytes(data)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "model.ngram"
    NGramLM(3, "witten_bell").fit(TEXT).save(path)
    return path


def occupied(data: bytes, table: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    at, capacity = table
    slots = np.frombuffer(data, dtype=SLOT, count=capacity, offset=at)
    return slots, np.flatnonzero(slots["key"] != np.iinfo(np.uint64).max)


@pytest.mark.parametrize("backend", BACKENDS)
def test_probabilities_changed_in_slots_are_caught_by_the_checksum(
    saved: Path, backend: str
) -> None:
    reference = NGramLM.load(saved, backend=backend).perplexity(TEXT)
    data = bytearray(saved.read_bytes())
    _, tables = slot_tables(data)
    slots, used = occupied(bytes(data), tables[-1])
    changed = slots.copy()
    changed["prob"][used] = -1e-9  # every trigram made near certain
    data[tables[-1][0] : tables[-1][0] + changed.nbytes] = changed.tobytes()
    saved.write_bytes(data)
    with pytest.raises(rnnrs.FormatError, match="the checksum does not match"):
        NGramLM.load(saved, backend=backend)
    # Trusted without verification, the changed model loads and scores differently.
    trusted = NGramLM.load(saved, backend=backend, verify=False)
    assert trusted.perplexity(TEXT) < reference


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "field, value",
    [("prob", float("nan")), ("prob", 0.5), ("bow", float("nan")), ("bow", float("inf"))],
)
def test_bad_values_are_refused_even_under_a_matching_checksum(
    saved: Path, backend: str, field: str, value: float
) -> None:
    data = bytearray(saved.read_bytes())
    _, tables = slot_tables(data)
    slots, used = occupied(bytes(data), tables[0])
    changed = slots.copy()
    changed[field][used[3]] = value
    data[tables[0][0] : tables[0][0] + changed.nbytes] = changed.tobytes()
    saved.write_bytes(resealed(data))
    with pytest.raises(rnnrs.FormatError, match=f"slot {used[3]} of order 2 .*not a valid entry"):
        NGramLM.load(saved, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_positive_unigram_log_probability_is_refused(saved: Path, backend: str) -> None:
    data = bytearray(saved.read_bytes())
    unigrams, _ = slot_tables(data)
    data[unigrams + 3 * 16 : unigrams + 3 * 16 + 8] = struct.pack("<d", 2.5)
    saved.write_bytes(resealed(data))
    with pytest.raises(rnnrs.FormatError, match=r"word 3 has log10 probability 2\.5 "):
        NGramLM.load(saved, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_version_1_file_loads_only_unverified(saved: Path, backend: str) -> None:
    reference = NGramLM.load(saved, backend=backend).perplexity(TEXT)
    data = bytearray(saved.read_bytes()[:-8])  # version 1 had no checksum
    data[8:12] = struct.pack("<I", 1)
    saved.write_bytes(data)
    with pytest.raises(rnnrs.FormatError, match=r"version 1, .* load it with verify=False"):
        NGramLM.load(saved, backend=backend)
    assert NGramLM.load(saved, backend=backend, verify=False).perplexity(TEXT) == pytest.approx(
        reference, rel=1e-12
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_truncated_file_is_refused(saved: Path, backend: str) -> None:
    saved.write_bytes(saved.read_bytes()[:-3])
    with pytest.raises(rnnrs.FormatError):
        NGramLM.load(saved, backend=backend)
    with pytest.raises(rnnrs.FormatError):
        NGramLM.load(saved, backend=backend, verify=False)


def test_files_cross_the_backends_with_their_checksum(tmp_path: Path) -> None:
    if len(BACKENDS) < 2:
        pytest.skip("needs both backends")
    paths = {}
    for backend in BACKENDS:
        paths[backend] = tmp_path / f"{backend}.ngram"
        NGramLM(3, "witten_bell", backend=backend).fit(TEXT).save(paths[backend])
    for writer in BACKENDS:
        for reader in BACKENDS:
            assert NGramLM.load(paths[writer], backend=reader).perplexity(TEXT) > 1


def test_the_command_line_trusts_a_file_only_with_no_verify(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rnnrs.cli import main

    text = tmp_path / "text.txt"
    text.write_text("\n".join(TEXT), encoding="utf-8")
    data = bytearray(saved.read_bytes())
    data[-1] ^= 0xFF  # the checksum itself damaged: the model is intact
    saved.write_bytes(data)
    assert main(["ngram", "query", str(saved), str(text)]) == 1
    assert "the checksum does not match" in capsys.readouterr().err
    assert main(["ngram", "query", str(saved), str(text), "--no-verify"]) == 0
    assert "Perplexity including OOVs" in capsys.readouterr().out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("slots", [2**63, 2**62])
def test_a_table_size_beyond_the_file_is_refused(saved: Path, backend: str, slots: int) -> None:
    """Found by the fuzzer (tests/fuzzing.py): a slot count too large for an index."""
    data = bytearray(saved.read_bytes())
    data[40:48] = struct.pack("<Q", slots)  # the bigram table's slot count
    saved.write_bytes(resealed(data))
    with pytest.raises(rnnrs.FormatError):
        NGramLM.load(saved, backend=backend)
