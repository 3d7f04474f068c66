"""ARPA text read and write for the NumPy backend, with the conventions of the Rust engine's
src/ngram/arpa/ (read.rs, write.rs): KenLM/SRILM compatible; log10(0) written as -99 and
read back as -inf. Numbers are written as Python's shortest repr, where the Rust writer uses
up to 12 decimals (src/ngram/arpa/number.rs): the same values, not the same bytes.

Example:
    >>> import tempfile, pathlib
    >>> model = [{(0,): [-1.0, 0.0], (1,): [0.0, -0.5], (2,): [-0.2, 0.0]}, {(1, 2): [-0.1, 0.0]}]
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.arpa"
    >>> write_arpa(path, model, ["<unk>", "<s>", "</s>"])
    >>> read_arpa(path)[0][1]
    {(1, 2): [-0.1, 0.0]}
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import ArpaError
from ..io.atomic import atomic_open
from ..reference.ngram import BOS, EOS, SPECIAL_WORDS, UNK, Model

LOG10_ZERO_ARPA = -99.0
MISSING_UNK_LOG10 = -100.0


def _number(x: float) -> str:
    if x <= LOG10_ZERO_ARPA:
        return "-99"
    if x == 0.0:
        return "0"
    return repr(float(x))


def write_arpa(path: Path, model: Model, words: Sequence[str]) -> None:
    """Write ``model`` (word ids index ``words``) atomically; each order's n-grams sorted by
    their word ids."""
    order = len(model)
    with atomic_open(path, "w") as f:
        # Sorted by word ids, as the Rust writer: the file does not depend on the order
        # the n-grams were counted or merged in.
        real = [sorted(g for g, e in t.items() if e[0] != math.inf) for t in model]
        f.write("\\data\\\n")
        for n, grams in enumerate(real, 1):
            f.write(f"ngram {n}={len(grams) if n > 1 else len(words)}\n")
        for n, grams in enumerate(real, 1):
            f.write(f"\n\\{n}-grams:\n")
            if n == 1:
                grams = [(w,) for w in range(len(words))]
            for g in grams:
                prob, bow = model[n - 1].get(g, [-math.inf, 0.0])
                line = f"{_number(prob)}\t{' '.join(words[i] for i in g)}"
                if n < order:
                    line += f"\t{_number(bow)}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")


def _floor(x: float) -> float:
    return -math.inf if x <= LOG10_ZERO_ARPA else x


class _Lines:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.number = 0
        self._it: Iterator[str] = iter(path.read_text(encoding="utf-8").splitlines())

    def next(self) -> str | None:
        line = next(self._it, None)
        if line is not None:
            self.number += 1
        return line

    def error(self, message: str) -> ArpaError:
        return ArpaError(f"malformed ARPA file {self.path} at line {self.number}: {message}")

    def number_of(self, field: str, what: str) -> float:
        try:
            x = float(field)
        except ValueError:
            x = math.nan
        if math.isnan(x) or x == math.inf:
            raise self.error(f"bad {what} {field!r}: expected a number")
        return x


def read_arpa(path: Path) -> tuple[Model, list[str]]:
    """Read an ARPA file: the model (ids with the specials at 0, 1, 2) and its words."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        r = _Lines(path)
    except UnicodeDecodeError:
        raise ArpaError(f"malformed ARPA file {path}: not UTF-8 text") from None
    while True:
        line = r.next()
        if line is None:
            raise r.error("no \\data\\ section")
        if line.strip() == "\\data\\":
            break
    counts: list[int] = []
    while True:
        line = r.next()
        if line is None:
            raise r.error("the file ends inside \\data\\")
        t = line.strip()
        if not t:
            continue
        if not t.startswith("ngram "):
            break
        n_text, _, c_text = t[6:].partition("=")
        try:
            n, c = int(n_text), int(c_text)
        except ValueError:
            n, c = -1, -1
        if n != len(counts) + 1 or c < 0:
            raise r.error(f'bad count line {t!r}: expected "ngram {len(counts) + 1}=<count>"')
        counts.append(c)
    order = len(counts)
    if order == 0:
        raise r.error('\\data\\ lists no "ngram k=count" lines')
    words = list(SPECIAL_WORDS)
    index = {w: i for i, w in enumerate(words)}
    model: Model = [{} for _ in range(order)]
    for n in range(1, order + 1):
        while line is not None and not line.strip():
            line = r.next()
        if line is None:
            raise r.error(f"missing \\{n}-grams: section")
        if line.strip() != f"\\{n}-grams:":
            raise r.error(f"expected \\{n}-grams:, found {line.strip()!r}")
        found = 0
        while True:
            line = r.next()
            if line is None:
                raise r.error("the file ends without \\end\\")
            t = line.strip()
            if not t or t.startswith("\\"):
                break
            found += 1
            fields = t.split()
            prob = r.number_of(fields[0], "log10 probability")
            if prob > 0:
                raise r.error(f"positive log10 probability {prob}")
            rest = fields[1:]
            if len(rest) == n:
                bow = 0.0
            elif len(rest) == n + 1 and n < order:
                bow = r.number_of(rest[n], "log10 backoff")
            else:
                extra = " and an optional backoff" if n < order else ""
                raise r.error(
                    f"expected {n} word(s){extra} after the probability, got {len(rest)} field(s)"
                )
            if n == 1:
                if rest[0] not in index:
                    index[rest[0]] = len(words)
                    words.append(rest[0])
                gram: tuple[int, ...] = (index[rest[0]],)
            else:
                missing = [w for w in rest[:n] if w not in index]
                if missing:
                    raise r.error(f"word {missing[0]!r} is not in the \\1-grams: section")
                gram = tuple(index[w] for w in rest[:n])
            if gram in model[n - 1]:
                raise r.error(f"duplicate {n}-gram" if n > 1 else f"duplicate unigram {rest[0]!r}")
            model[n - 1][gram] = [_floor(prob), _floor(bow)]
        if found != counts[n - 1]:
            raise r.error(
                f"the \\data\\ header announces {counts[n - 1]} {n}-grams, the section holds "
                f"{found}"
            )
    while line is not None and not line.strip():
        line = r.next()
    if line is None:
        raise r.error("the file ends without \\end\\")
    if line.strip() != "\\end\\":
        raise r.error(f"expected \\end\\, found {line.strip()!r}")
    for i, name in ((BOS, "<s>"), (EOS, "</s>")):
        if (i,) not in model[0]:
            raise r.error(f"{name} is missing from the \\1-grams: section")
    model[0].setdefault((UNK,), [MISSING_UNK_LOG10, 0.0])
    return model, words
