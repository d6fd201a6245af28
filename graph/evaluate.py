"""Evaluating graphs with numpy: topological order, feeds, and the finite-value check."""

from __future__ import annotations

import numpy as np

from .errors import DomainError, FeedError, ShapeError
from .node import Node


def topo_order(outputs) -> list[Node]:
    """Every node the outputs depend on, each after its inputs (iterative: no recursion)."""
    order, seen = [], set()
    for root in outputs:
        stack = [(root, False)]
        while stack:
            node, inputs_done = stack.pop()
            if inputs_done:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((x, False) for x in reversed(node.inputs) if x not in seen)
    return order


def as_list(nodes) -> tuple[list[Node], bool]:
    """(list of nodes, whether a single node was given)."""
    if isinstance(nodes, Node):
        return [nodes], True
    nodes = list(nodes)
    bad = [x for x in nodes if not isinstance(x, Node)]
    if bad:
        raise TypeError(f"expected graph nodes, got {type(bad[0]).__name__}: {bad[0]!r}")
    return nodes, False


def variables(outputs) -> list[Node]:
    """The variables the outputs depend on, in topological order (names are unique)."""
    found = [n for n in topo_order(as_list(outputs)[0]) if n.is_var]
    by_name = {}
    for v in found:
        if by_name.setdefault(v.name, v) is not v:
            raise FeedError(f"two different variables are named {v.name!r} in one graph: "
                            f"{by_name[v.name]!r} and {v!r}; give them distinct names")
    return found


def resolve_feed(needed: list[Node], feed) -> list[np.ndarray]:
    """Arrays for the ``needed`` variables from a feed keyed by variable node or name."""
    feed = {} if feed is None else feed
    try:  # the common case, checked cheaply: keyed by name, arrays of the right kind
        arrays = [feed[v.name] for v in needed]
        if all(type(a) is np.ndarray and a.dtype == v.dtype and a.shape == v.shape
               for a, v in zip(arrays, needed)):
            return arrays
    except (KeyError, TypeError):
        pass
    by_name = {}
    for key, value in feed.items():
        name = key.name if isinstance(key, Node) else key
        if isinstance(key, Node) and not key.is_var:
            raise FeedError(f"feed keys must be variables or their names, got {key!r}")
        by_name[name] = value
    missing = [v.name for v in needed if v.name not in by_name]
    if missing:
        raise FeedError(f"evaluate: no value fed for variable(s) {', '.join(missing)} "
                        f"(feed has: {', '.join(map(str, by_name)) or 'nothing'})")
    arrays = []
    for v in needed:
        array = np.asarray(by_name[v.name], dtype=v.dtype)
        if array.shape != v.shape:
            raise ShapeError(f"evaluate: variable {v.name!r} expects shape {v.shape}, "
                             f"got an array of shape {array.shape}")
        arrays.append(array)
    return arrays


def evaluate(outputs, feed=None, *, check_finite: bool = False):
    """Compute the value of one node (or a list of nodes) with numpy.

    Args:
        outputs: a node or a list of nodes.
        feed: values of the variables, keyed by variable node or by name. Variables the
            outputs do not use are ignored.
        check_finite: raise DomainError naming the first node whose value has a NaN or Inf.

    >>> import graph as G
    >>> x = G.var("x", (2,))
    >>> G.evaluate(G.sum(x * x), {"x": [1.0, 2.0]})
    array(5.)
    """
    from .compile import compile

    nodes, single = as_list(outputs)
    values = compile(nodes)(feed, check_finite=check_finite)
    return values[0] if single else values


def check_value(node: Node, value: np.ndarray, pretty_line: str):
    """Raise DomainError if ``value`` (the value of ``node``) has a NaN or Inf entry."""
    finite = np.isfinite(value)
    if not np.all(finite):
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        what = "a NaN" if np.isnan(value[where]) else "an Inf"
        raise DomainError(f"evaluate: {pretty_line} produced {what} at index {where}"
                          + ("" if node.is_var else " (check_finite=True)"))
