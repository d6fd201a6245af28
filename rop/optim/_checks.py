"""Argument checks shared by rop.optim. A mistake is refused where it is made (a constructor
or a call), by a message naming who refuses it, the parameter, the value and what is
accepted, rather than surfacing later as a numpy traceback or a silent NaN.

Each check returns the value as a plain Python number, so numpy scalars are welcome."""

from __future__ import annotations

import numbers

import numpy as np

# How some intervals read in a message; any other reads "a number in (0, 1]" and so on.
_WORDS = {"(0, inf)": "a positive finite number", "[0, inf)": "a non-negative finite number",
          "(-inf, inf)": "a finite number", "[-inf, inf]": "a number (not NaN)",
          "[0, inf]": "a non-negative number"}


def real(owner: str, name: str, value, interval: str, *, optional: bool = False):
    """``value`` as a float if it lies in ``interval``, written like "(0, 1]" or "[0, inf)":
    a bracket includes its end, a parenthesis excludes it (so "(0, inf)" excludes infinity,
    and NaN lies in no interval). None passes when ``optional``."""
    if value is None and optional:
        return None
    what = _WORDS.get(interval, f"a number in {interval}") + (" or None" if optional else "")
    # bool is an int to Python, but True for a learning rate is a slip, not a 1
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be {what}, got {shown(value)}")
    low, high = (float(end) for end in interval[1:-1].split(","))
    x = float(value)
    above = low <= x if interval[0] == "[" else low < x
    below = x <= high if interval[-1] == "]" else x < high
    if not (above and below):
        raise ValueError(f"{owner}: {name} must be {what}, got {shown(value)}")
    return x


def integer(owner: str, name: str, value, minimum: int, *, optional: bool = False):
    """``value`` as an int if it is an integer >= ``minimum``; None passes when ``optional``."""
    if value is None and optional:
        return None
    what = {0: "a non-negative integer", 1: "a positive integer"}.get(
        minimum, f"an integer >= {minimum}") + (" or None" if optional else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be {what}, got {shown(value)}")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be {what}, got {value}")
    return int(value)


def choice(owner: str, name: str, value, options: tuple):
    """``value`` if it is one of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{owner}: {name} must be one of {', '.join(map(repr, options))}; "
                         f"got {shown(value)}")
    return value


def flag(owner: str, name: str, value) -> bool:
    """``value`` as a bool if it is one (a string such as "no" would be silently true)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False, got {shown(value)}")
    return bool(value)


def shown(value) -> str:
    """Numbers as they read (nan, -1, 2.5, also for numpy scalars), anything else by repr
    with its type when that is not plain from the repr."""
    if isinstance(value, numbers.Number):
        return str(value)
    if isinstance(value, (str, type(None))):
        return repr(value)
    return f"{value!r} ({type(value).__name__})"
