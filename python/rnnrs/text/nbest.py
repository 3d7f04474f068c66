"""n-best lists: reading them, and re-ranking them with language-model scores.

The file format is one hypothesis per line, three tab-separated fields::

    ID<TAB>SCORE<TAB>HYPOTHESIS

``ID`` names the input the hypothesis belongs to (any text without a tab; the hypotheses
of one id need not be adjacent), ``SCORE`` is the score the first pass gave it (a number,
higher is better: e.g. a decoder's log-probability), ``HYPOTHESIS`` the words, separated by
spaces. Blank lines are skipped.

Re-ranking gives each hypothesis the score ``feature_weight * SCORE + sum_k w_k * log10
P_k(HYPOTHESIS)``, its sentence log10-probability under each language model (words and
``</s>``, as ARPA files and KenLM count), and keeps the best per id.

Example:
    >>> entries = parse_nbest(["1\\t-2.0\\tthe cat", "1\\t-1.5\\ta cat", "2\\t-3\\tdog"])
    >>> best = rerank(entries, np.array([[-1.0, -4.0, -2.0]]), [1.0], feature_weight=1.0)
    >>> [(b.id, b.hypothesis, b.score) for b in best]
    [('1', 'the cat', -3.0), ('2', 'dog', -5.0)]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from ..errors import FormatError
from .tasks import numbered_lines


@dataclass(frozen=True)
class NBestEntry:
    """One hypothesis of an n-best list: its id, first-pass score and words; ``line`` is
    where it was read (1-based)."""

    id: str
    score: float
    hypothesis: str
    line: int


@dataclass(frozen=True)
class Reranked:
    """The new best hypothesis of an id: its new score, and its entry's place in the
    input (``entry``, 0-based) and in its own list (``rank_before``, 0 = the first-pass
    best)."""

    id: str
    hypothesis: str
    score: float
    entry: int
    rank_before: int


def parse_nbest(lines: Iterable[str], source: str = "nbest") -> list[NBestEntry]:
    """The hypotheses of n-best ``lines``; FormatError naming ``source`` and the line when
    one does not have the three fields or its score is not a finite number."""
    entries = []
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        fields = line.split("\t", 2)
        if len(fields) != 3:
            raise FormatError(
                f"{source}:{number}: expected ID<TAB>SCORE<TAB>HYPOTHESIS, got {line[:60]!r}"
            )
        try:
            score = float(fields[1])
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            raise FormatError(f"{source}:{number}: the score {fields[1]!r} is not a finite number")
        entries.append(NBestEntry(fields[0], score, " ".join(fields[2].split()), number))
    return entries


def read_nbest(path: Union[str, Path]) -> list[NBestEntry]:
    """The hypotheses of an n-best file (UTF-8; format in the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"nbest: no such file: {path}")
    return parse_nbest((line for _, line in numbered_lines(p)), str(path))


def rerank(
    entries: Sequence[NBestEntry],
    lm_log10: np.ndarray,
    weights: Sequence[float],
    *,
    feature_weight: float = 1.0,
) -> list[Reranked]:
    """The best hypothesis of each id (in order of first appearance) by ``feature_weight *
    score + sum_k weights[k] * lm_log10[k, i]``; ties keep the earlier hypothesis.
    ``lm_log10`` is (models, hypotheses)."""
    lm = np.asarray(lm_log10, dtype=np.float64).reshape(len(weights), len(entries))
    total = feature_weight * np.array([e.score for e in entries]) + np.asarray(weights) @ lm
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        groups.setdefault(e.id, []).append(i)
    best = []
    for key, members in groups.items():
        winner = max(members, key=lambda i: (total[i], -i))
        first_pass = sorted(members, key=lambda i: (-entries[i].score, i))
        best.append(
            Reranked(
                key,
                entries[winner].hypothesis,
                float(total[winner]),
                winner,
                first_pass.index(winner),
            )
        )
    return best
