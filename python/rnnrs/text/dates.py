"""A built-in sequence-to-sequence task: dates written in many formats -> ISO 8601.

Drawn from a seeded generator, so every machine gets the same pairs with no download; the
README's seq2seq example trains on it. Dates are uniform over 1950-01-01 .. 2049-12-31 and
the format is one of :data:`FORMATS`, chosen uniformly.

Example:
    >>> dates_task(3, seed=0)
    (['Jan 24 2035', 'Sep 12 2013', '11 February 2001'], ['2035-01-24', '2013-09-12', '2001-02-11'])
"""

from __future__ import annotations

import datetime as dt

import numpy as np

MONTHS = (
    "January February March April May June July August September October November December"
).split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_FIRST = dt.date(1950, 1, 1).toordinal()
_LAST = dt.date(2049, 12, 31).toordinal()


def _formats(d: dt.date) -> list[str]:
    month, day = MONTHS[d.month - 1], DAYS[d.weekday()]
    return [
        f"{d.day} {month} {d.year}",
        f"{month} {d.day}, {d.year}",
        f"{d.day} {month[:3]} {d.year}",
        f"{month[:3]} {d.day} {d.year}",
        f"{day}, {d.day} {month} {d.year}",
        f"{day[:3].lower()} {d.day} {month[:3].lower()} {d.year}",
        f"{d.day:02d}/{d.month:02d}/{d.year}",
        f"{d.day}.{d.month}.{d.year}",
        f"{d.year}/{d.month}/{d.day}",
        f"{month.upper()} {d.day} {d.year}",
        f"{d.day}-{month[:3]}-{d.year % 100:02d}",
        f"{month} {d.day} {d.year}".lower(),
    ]


FORMATS = len(_formats(dt.date(2000, 1, 1)))


def dates_task(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` pairs (written date, ISO 8601 date) drawn from ``seed``.

    Two-digit years (format ``5-May-21``) are read as 1950-2049, the range of the dates.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")
    rng = np.random.default_rng(seed)
    ordinals = rng.integers(_FIRST, _LAST + 1, size=n)
    styles = rng.integers(0, FORMATS, size=n)
    sources, targets = [], []
    for o, s in zip(ordinals, styles):
        d = dt.date.fromordinal(int(o))
        sources.append(_formats(d)[int(s)])
        targets.append(d.isoformat())
    return sources, targets


__all__ = ["FORMATS", "MONTHS", "dates_task"]
