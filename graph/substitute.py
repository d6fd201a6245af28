"""substitute: a graph -> graph map replacing some nodes by others, rebuilding their users."""

from __future__ import annotations

from .errors import ShapeError
from .traverse import as_list, topo_order


def substitute(outputs, mapping: dict):
    """The outputs rebuilt with each key of ``mapping`` replaced by its value.

    Nodes that do not depend on a replaced node are shared with the original graph, which is
    never modified. Rebuilt nodes go through their op again, so constants fold and identities
    such as ``x * 1`` simplify.

    >>> import graph as G
    >>> x, y = G.var("x"), G.var("y")
    >>> G.evaluate(substitute(x * x, {x: y + 1}), {"y": 2.0})
    array(9.)
    """
    nodes, single = as_list(outputs)
    for old, new in mapping.items():
        if old.shape != new.shape:
            raise ShapeError(f"substitute: {old!r} and its replacement {new!r} differ in shape")
    new = dict(mapping)
    for node in topo_order(nodes):
        if node in new or not node.inputs:
            continue
        inputs = [new.get(x, x) for x in node.inputs]
        if any(a is not b for a, b in zip(inputs, node.inputs)):
            new[node] = node.op(*inputs, **node.params)
    result = [new.get(n, n) for n in nodes]
    return result[0] if single else result
