"""Feeds: the values given for a graph's variables, keyed by variable or name, checked."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import backends
from .errors import FeedError, ShapeError
from .node import Node

NUMERIC_KINDS = "biuf"  # bool, integers, floats: what a real-valued variable can be fed


def feed_by_name(feed) -> dict:
    """{variable name: value} from a feed keyed by variable nodes or by names.

    Refuses a feed that is not a mapping, keys that are not variables or names, and two
    keys for one variable (a name and a node, or two nodes of one name).
    """
    if feed is None:
        return {}
    if not isinstance(feed, Mapping):
        raise FeedError(f"a feed must be a dict mapping variables (or their names) to values, "
                        f"got {type(feed).__name__}: {_short(feed)}")
    by_name: dict = {}
    for key, value in feed.items():
        if isinstance(key, Node) and key.is_var:
            name = key.name
        elif isinstance(key, str):
            name = key
        else:
            raise FeedError(f"feed keys must be variables or their names, got {_short(key)}")
        if name in by_name:
            raise FeedError(f"variable {name!r} is fed twice (under its name and as a node, or "
                            f"as two nodes of that name): give one value")
        by_name[name] = value
    return by_name


def as_feed_array(variable: Node, value):
    """``value`` as an array of ``variable``'s dtype and shape; values that would lose
    information or mean nothing (complex, text, None, 1.7 for an integer) are refused.

    Dask arrays and arrays of other Array API namespaces pass through unconverted (cast to
    the variable's dtype when they have another, lazily for dask), checked the same way.

    >>> import graph as G
    >>> as_feed_array(G.var("x", (2,)), [1, 2])
    array([1., 2.])
    """
    name = variable.name
    if value is None or isinstance(value, (str, bytes)):
        raise FeedError(f"variable {name!r} was fed {_short(value)}: feed numbers or an array")
    foreign = backends.is_dask(value) or backends.is_foreign(value)
    try:
        array = value if foreign else np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise ShapeError(f"variable {name!r} was fed a value that is not a rectangular array "
                         f"({error})") from None
    dtype = backends.numpy_dtype(array) if foreign else array.dtype
    if dtype.kind not in NUMERIC_KINDS:
        raise FeedError(f"variable {name!r} ({variable.dtype}) was fed values of dtype "
                        f"{dtype}: only real numbers (bool, int, float) can be fed")
    if not np.can_cast(dtype, variable.dtype, casting="same_kind"):
        raise FeedError(f"variable {name!r} has dtype {variable.dtype}; values of dtype "
                        f"{dtype} would be truncated: round them first")
    if tuple(array.shape) != variable.shape:
        raise ShapeError(f"variable {name!r} expects shape {variable.shape}, got an array of "
                         f"shape {tuple(array.shape)}")
    if foreign:
        return backends.cast(array, variable.dtype)
    return array.astype(variable.dtype, copy=False)


def resolve_feed(needed: list[Node], feed) -> list:
    """Arrays for the ``needed`` variables from a feed keyed by variable node or name (numpy
    arrays, or dask or Array API arrays as fed)."""
    if type(feed) is dict and all(type(k) is str for k in feed):
        try:  # the common case, checked cheaply: keyed by name, arrays of the right kind
            arrays = [feed[v.name] for v in needed]
            if all(type(a) is np.ndarray and a.dtype == v.dtype and a.shape == v.shape
                   for a, v in zip(arrays, needed)):
                return arrays
        except KeyError:
            pass
    by_name = feed_by_name(feed)
    missing = [v.name for v in needed if v.name not in by_name]
    if missing:
        raise FeedError(f"no value fed for variable(s) {', '.join(missing)} "
                        f"(feed has: {', '.join(map(str, by_name)) or 'nothing'})")
    return [as_feed_array(v, by_name[v.name]) for v in needed]


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
