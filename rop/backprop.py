"""Reverse mode: vjp (cotangents pulled back through each op's VJP rule) and grad."""

from __future__ import annotations

import functools

import numpy as np

from graph import ops
from graph.errors import ShapeError
from graph.leaves import as_node, const
from graph.traverse import as_list, depends_on, match_variables, topo_order


def _merge_scatters(contributions):
    """Cotangents scattered into the same entries are added before scattering once."""
    merged, by_index = [], {}
    for c in contributions:
        if c.op is ops.scatter:
            key = (repr(c.params["index"]), c.params["shape"])
            if key in by_index:
                first = by_index[key]
                merged[first] = ops.scatter(merged[first].inputs[0] + c.inputs[0], **c.params)
                continue
            by_index[key] = len(merged)
        merged.append(c)
    return merged


def vjp(y, wrt, cotangent):
    """The vector-Jacobian product (dy/dwrt)^T cotangent, as graph nodes.

    Args:
        y: a node, or a list of nodes.
        wrt: a node or a list of nodes (usually variables); each is treated as independent.
        cotangent: an array or node shaped like ``y`` (a list of them if ``y`` is a list).

    Returns:
        A node shaped like ``wrt`` (a list if ``wrt`` is a list). Inputs ``y`` does not
        depend on get zeros.

    >>> import graph as G, rop
    >>> x = G.var("x", (2,))
    >>> G.evaluate(rop.vjp(x * x, x, [1.0, 1.0]), {"x": [3.0, 4.0]})
    array([6., 8.])
    """
    ys, single_y = as_list(y)
    cotangents = [cotangent] if single_y else list(cotangent)
    targets, single = as_list(wrt)
    targets = match_variables(ys, targets, "vjp")
    if len(cotangents) != len(ys):
        raise ValueError(f"vjp: {len(ys)} outputs but {len(cotangents)} cotangents")
    on_path = depends_on(ys, targets)
    pending = {}
    for yi, ci in zip(ys, cotangents):
        ci = as_node(ci)
        if ci.shape != yi.shape:
            raise ShapeError(f"vjp: cotangent of shape {ci.shape} given for an output of "
                             f"shape {yi.shape}")
        if yi in on_path:
            pending.setdefault(yi, []).append(ci)
    stop = set(targets)
    results = {}
    for node in reversed(topo_order(ys)):
        contributions = pending.pop(node, None)
        if not contributions:
            continue
        g = functools.reduce(ops.add, _merge_scatters(contributions))
        if node in stop:
            results[node] = g
            continue
        for i, x in enumerate(node.inputs):
            if x in on_path:
                gx = node.op.apply_vjp(i, g, node)
                if gx is not None:
                    pending.setdefault(x, []).append(ops.sum_to(gx, x.shape))
    out = [results[t] if t in results else const(np.zeros(t.shape, t.dtype)) for t in targets]
    return out[0] if single else out


def grad(f, wrt):
    """The gradient of a scalar node ``f`` with respect to ``wrt`` (a node or a list).

    Returns graph nodes (not numbers), shaped like ``wrt``; evaluate them with
    ``graph.evaluate``. Variables ``f`` does not depend on get zeros.

    >>> import graph as G, rop
    >>> x = G.var("x", (2,))
    >>> G.evaluate(rop.grad(G.sum(x ** 3), x), {"x": [1.0, 2.0]})
    array([ 3., 12.])
    """
    if f.shape != ():
        raise ShapeError(f"grad needs a scalar output, but f has shape {f.shape}; for a "
                         f"non-scalar output use rop.vjp(f, wrt, cotangent) (or grad of "
                         f"G.sum(f) for the sum of its entries)")
    return vjp(f, wrt, const(np.ones((), f.dtype)))
