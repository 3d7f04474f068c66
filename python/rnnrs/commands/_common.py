"""Helpers shared by the language-model sub-commands (train, generate, eval)."""

from __future__ import annotations

import argparse
import re

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(h|m|s)?", re.IGNORECASE)
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90``, ``90s``, ``5m``, ``1.5h`` or ``1h30m``
    (a bare number is seconds). An argparse ``type=``: bad text is a usage error.

    Example:
        >>> parse_duration("1h30m"), parse_duration("5m"), parse_duration("45")
        (5400.0, 300.0, 45.0)
    """
    spec = text.strip().replace(" ", "")
    total, position = 0.0, 0
    while position < len(spec):
        match = _DURATION.match(spec, position)
        if match is None:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
        position = match.end()
    if not spec or position != len(spec) or total <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a duration > 0 such as 90s, 5m, 1.5h or 1h30m, got {text!r}"
        )
    return total


def positive_int(text: str) -> int:
    """An argparse ``type=`` for integers > 0.

    Example:
        >>> positive_int("32")
        32
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An argparse ``type=`` for numbers > 0.

    Example:
        >>> positive_float("0.8")
        0.8
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value
