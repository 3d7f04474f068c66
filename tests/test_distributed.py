"""rnnrs.distributed on a real Dask cluster: worker processes on loopback count shards,
which travel as bytes and merge in a tree into the counts of one process: the ARPA file
is byte for byte the single-process model's, with 1, 2 and 4 workers and uneven splits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rnnrs import NGramLM
from rnnrs.backends.selection import resolve_backend

distributed = pytest.importorskip("dask.distributed", reason="dask is not installed")
dask_bag = pytest.importorskip("dask.bag")

from rnnrs import distributed as rd  # noqa: E402

# Uneven files: 1 line, 40 lines, a few, many; words recurring across them.
SIZES = [1, 40, 3, 150, 7, 60]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=4,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=40,
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def corpus_lines(size: int, seed: int) -> list[str]:
    lines = []
    for i in range(size):
        n = (i * 7 + seed) % 9 + 1
        lines.append(" ".join(f"w{(i * 13 + j * seed) % 23}" for j in range(n)))
    return lines


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("shards")
    paths = []
    for k, size in enumerate(SIZES):
        path = folder / f"part-{k:03}.txt"
        path.write_text("\n".join(corpus_lines(size, k + 2)) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def arpa_bytes(lm: NGramLM, path: Path) -> bytes:
    lm.to_arpa(path)
    return path.read_bytes()


def single_process(files: list[Path], tmp_path: Path) -> bytes:
    lines = [line for p in files for line in p.read_text(encoding="utf-8").split("\n")]
    return arpa_bytes(NGramLM(4, discount_fallback=True).fit(lines), tmp_path / "one.arpa")


@pytest.mark.parametrize("n_workers", [1, 2, 4])
def test_files_on_1_2_4_workers_give_the_single_process_arpa(
    client: Any, files: list[Path], tmp_path: Path, n_workers: int
) -> None:
    addresses = sorted(client.scheduler_info()["workers"])[:n_workers]
    lm = rd.fit(
        files, 4, client=client, workers=addresses, split_every=2, discount_fallback=True
    )
    assert lm.backend == resolve_backend(None)
    assert arpa_bytes(lm, tmp_path / "dask.arpa") == single_process(files, tmp_path)


def test_a_bag_of_uneven_partitions_and_bounded_workers(
    client: Any, files: list[Path], tmp_path: Path
) -> None:
    # One partition per file (uneven sizes), merged three at a time.
    bag = dask_bag.read_text([str(p) for p in files])
    counts = rd.count(bag, 4, client=client, split_every=3)
    expected = single_process(files, tmp_path)
    lm = NGramLM.from_counts(counts, discount_fallback=True)
    assert arpa_bytes(lm, tmp_path / "bag.arpa") == expected
    # Files counted within a memory budget on the workers: the same counts.
    bounded = rd.count(files, 4, client=client, memory="1M", temp_dir=tmp_path)
    assert bounded.to_bytes() == counts.to_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bag.arpa", "one.arpa"]


def test_bad_arguments(client: Any, files: list[Path]) -> None:
    with pytest.raises(TypeError, match="single path"):
        rd.count(files[0], 3, client=client)
    with pytest.raises(ValueError, match="split_every"):
        rd.count(files, 3, client=client, split_every=1)
    with pytest.raises(FileNotFoundError):
        rd.count([files[0].with_name("missing.txt")], 3, client=client)
