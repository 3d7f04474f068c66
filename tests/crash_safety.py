"""Crash-safety harness: a child process saves a checkpoint over and over, the parent kills
it with SIGKILL at a random moment (seeded), then loads the directory; it must hold either
the last checkpoint the child reported saved or the next one, whole. Every few kills (and
after the last) a child saves once and exits: what the killed writers left behind must be
gone, the folder holding exactly the new checkpoint.

    python tests/crash_safety.py --kills 200 --seed 1     # (scripts/crash_test.sh 200)

The pytest test in test_crash_safety.py runs a short version. Every save writes version k:
each parameter filled with k and ``k`` in the training state, so a load shows which save it
got and that its tensors and JSON belong together.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def _model_and_trainer() -> tuple:
    import rnnrs

    model = rnnrs.RNNLM(50, hidden_size=64, num_layers=2, embed_size=32, seed=0)
    trainer = rnnrs.Trainer(model, rnnrs.Adam(lr=0.01), bptt=5, batch_size=2, progress=False)
    return model, trainer


def child(directory: str, first: int, once: bool = False) -> None:
    """Save versions first, first+1, ... into ``directory``, printing each k once saved
    (only ``first`` with ``once``)."""
    from rnnrs.io.checkpoint import save_model

    model, trainer = _model_and_trainer()
    shapes = {name: value.shape for name, value in model.parameters().items()}
    k = first
    while True:
        model.set_parameters({n: np.full(s, k, np.float32) for n, s in shapes.items()})
        save_model(model, directory, trainer=trainer, extra={"k": k})
        print(k, flush=True)
        if once:
            return
        k += 1


def version_on_disk(directory: Path) -> int:
    """The k of the checkpoint in ``directory``, checking tensors and JSON agree."""
    import rnnrs

    model = rnnrs.load(directory)
    k = int(rnnrs.load_training_state(directory)["k"])
    for name, value in model.parameters().items():
        if not np.array_equal(value, np.full(value.shape, k, np.float32)):
            raise AssertionError(f"{name} is not version {k}'s")
    return k


@dataclass
class Tally:
    kills: int = 0
    loads_ok: int = 0
    old: int = 0
    new: int = 0
    leftovers: int = 0  # entries other than the checkpoint's own after a kill
    clean_saves: int = 0  # saves after kills that left exactly their own checkpoint

    def __str__(self) -> str:
        return (
            f"{self.kills} kills, {self.loads_ok} loads OK ({self.old} old, {self.new} new), "
            f"{self.leftovers} kills left leftovers, all removed by the next save "
            f"({self.clean_saves} saves checked)"
        )


def leftovers(directory: Path) -> set[str]:
    """The entries of ``directory`` that are not its checkpoint's own."""
    from rnnrs.io.checkpoint import checkpoint_folder

    own = {"CURRENT", "model.safetensors", checkpoint_folder(directory).name}
    return {p.name for p in directory.iterdir()} - own


def save_once(directory: Path, k: int, env: dict[str, str]) -> None:
    """Save version k in a child that is left to finish."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(directory), "--first", str(k), "--once"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"a save after the kills failed: {done.stderr}")


def run(
    kills: int, seed: int, directory: Path, max_delay: float = 0.05, clean_every: int = 10
) -> Tally:
    """Kill ``kills`` saving children; raise AssertionError at the first bad checkpoint, or
    at the first save (one every ``clean_every`` kills, and one at the end) that leaves
    anything of the killed writers behind."""
    rng = random.Random(seed)
    tally = Tally()
    last = -1
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for i in range(kills):
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", str(directory), "--first", str(last + 1)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the first save finished: the loop is running
        if not line:
            raise AssertionError(f"kill {i}: the child died before saving (exit {proc.wait()})")
        time.sleep(rng.uniform(0.0, max_delay))
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
        proc.stdout.close()
        reported = int((line + rest).split()[-1])
        tally.kills += 1
        try:
            k = version_on_disk(directory)
        except Exception as exc:
            raise AssertionError(f"kill {i}: the checkpoint does not load: {exc}") from exc
        if k not in (reported, reported + 1):
            raise AssertionError(f"kill {i}: loaded version {k}, last reported {reported}")
        tally.loads_ok += 1
        tally.old += k == reported
        tally.new += k == reported + 1
        tally.leftovers += bool(leftovers(directory))
        last = k
        if (i + 1) % clean_every == 0 or i + 1 == kills:
            save_once(directory, last + 1, env)
            left = leftovers(directory)
            if left or version_on_disk(directory) != last + 1:
                raise AssertionError(f"kill {i}: the next save left {sorted(left)} behind")
            tally.clean_saves += 1
            last += 1
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.first, args.once)
        return
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        tally = run(args.kills, args.seed, Path(tmp) / "ck")
        print(f"{tally} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
