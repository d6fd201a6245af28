"""Forward mode: Pearlmutter's R-operator, R_v{y} = d/dr y(w + r v) at r = 0 (a JVP)."""

from __future__ import annotations

import functools

import numpy as np

from graph import ops
from graph.errors import ShapeError
from graph.leaves import as_node, const
from graph.traverse import as_list, match_variables, topo_order


def jvp(y, tangents: dict):
    """The directional derivative R{y} of ``y`` along ``tangents``, as graph nodes.

    Args:
        y: a node, or a list of nodes.
        tangents: maps nodes (usually variables) to their directions: arrays or nodes of the
            same shape. Nodes not in the map do not move.

    Returns:
        A node shaped like ``y`` (a list if ``y`` is a list); zeros where ``y`` does not
        depend on the moving nodes. ``rop.R`` is the same function.

    >>> import graph as G, rop
    >>> x = G.var("x", (2,))
    >>> G.evaluate(rop.jvp(G.sum(x * x), {x: [1.0, 0.0]}), {"x": [3.0, 4.0]})
    array(6.)
    """
    ys, single = as_list(y)
    if not isinstance(tangents, dict):
        raise TypeError(f"jvp: tangents must be a dict {{node: direction}}, got "
                        f"{type(tangents).__name__}")
    moving = match_variables(ys, list(tangents), "jvp")
    tangent = {}
    for node, direction in zip(moving, tangents.values()):
        direction = as_node(direction)
        if direction.shape != node.shape:
            raise ShapeError(f"jvp: tangent of shape {direction.shape} given for "
                             f"{node!r} of shape {node.shape}")
        tangent[node] = direction
    for node in topo_order(ys):
        if node in tangent or not node.inputs:
            continue
        contributions = []
        for i, x in enumerate(node.inputs):
            if x in tangent:
                c = node.op.apply_rop(i, tangent[x], node)
                if c is not None:
                    contributions.append(c)
        if contributions:
            tangent[node] = ops.expand_to(functools.reduce(ops.add, contributions), node.shape)
    out = [tangent[n] if n in tangent else const(np.zeros(n.shape, n.dtype)) for n in ys]
    return out[0] if single else out


R = jvp
