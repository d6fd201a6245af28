"""Batching: a graph evaluated for k values of some of its inputs at once, along a new
leading axis (JAX's vmap, restricted to what rop needs), by each op's batching rule; and
what it buys: dense Jacobians (and, in hessian.py, Hessians and HVPs for many directions)
in batched passes."""

from __future__ import annotations

import numpy as np

from graph import ops
from graph.errors import ShapeError
from graph.leaves import as_node, const
from graph.traverse import as_list, depends_on, match_variables, restore, topo_order

from .backprop import vjp
from .forward import jvp
from .layout import Layout

CHUNK_BYTES = 64 * 2**20  # largest batched intermediate a dense pass builds at once


def vmap(outputs, batched: dict):
    """The outputs with each key of ``batched`` (a node of shape s) replaced by its value (a
    node of shape (k, *s): k values at once); every node that depends on them gains the
    leading axis k through its op's batching rule. Other nodes are shared, not repeated.

    >>> import graph as G, rop
    >>> x, v = G.var("x", (2,)), G.var("v", (2,))
    >>> V = G.const([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])     # three directions
    >>> G.evaluate(rop.vmap(rop.hvp(G.sum(x ** 3), x, v), {v: V}), {"x": [1.0, 2.0]})
    array([[ 6.,  0.],
           [ 0., 12.],
           [ 6., 12.]])
    """
    nodes, single = as_list(outputs)
    keys = match_variables(nodes, list(batched), "vmap")
    values = [as_node(b) for b in batched.values()]
    sizes = {b.shape[0] if b.ndim else None for b in values}
    for key, value in zip(keys, values):
        if value.shape[1:] != key.shape or len(sizes) != 1:
            raise ShapeError(f"vmap: {key!r} of shape {key.shape} needs a batched value of "
                             f"shape (k, *{key.shape}) with one k for all; got {value.shape}")
    new = dict(zip(keys, values))
    moving = depends_on(nodes, keys)
    for node in topo_order(nodes):
        if node in new or node not in moving:
            continue
        inputs = [new.get(x, x) for x in node.inputs]
        flags = [x in new for x in node.inputs]
        new[node] = node.op.apply_batch(inputs, flags, node.params)
    k = sizes.pop()
    out = [new[n] if n in new else ops.broadcast_to(n, shape=(k,) + n.shape) for n in nodes]
    return restore(out, single)


def jacobian(y, wrt):
    """The dense Jacobian dy/dwrt as a node of shape y.shape + wrt.shape (a list for a list
    of wrt), in batched passes: forward mode (one JVP per input entry) when wrt is the
    smaller, reverse mode (one VJP per output entry) otherwise.

    >>> import graph as G, rop
    >>> x = G.var("x", (2,))
    >>> G.evaluate(rop.jacobian(x * x[0], x), {"x": [2.0, 3.0]})
    array([[4., 0.],
           [3., 2.]])
    """
    targets, single = as_list(wrt)
    targets = match_variables([y], targets, "jacobian")
    layout = Layout(targets)
    if layout.size <= y.size:  # columns: R{y} along each basis direction of wrt
        directions = layout.variables("jacobian_direction", [y])
        columns = dense_map(flatten([jvp(y, dict(zip(targets, directions)))]), directions,
                            layout)
        flat = ops.transpose(columns)  # (y.size, n)
    else:  # rows: the cotangent of each entry of y pulled back
        outputs = Layout([y])
        row = outputs.variables("jacobian_cotangent", [y])
        flat = dense_map(flatten(vjp(y, targets, row[0])), row, outputs)
    start, blocks = 0, []
    for t in targets:
        block = flat if len(targets) == 1 else flat[:, start:start + t.size]
        blocks.append(ops.reshape(block, shape=y.shape + t.shape))
        start += t.size
    return restore(blocks, single)


def dense_map(node, directions, layout):
    """The linear map directions -> ``node`` (1-D) applied to every basis vector of
    ``layout``, as rows (n, node.size): batched passes over chunks of the basis, joined."""
    n = layout.size
    if n == 0:
        return const(np.zeros((0, node.size), node.dtype))
    chunk = _chunk([node], directions, n)
    parts = []
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        basis = np.zeros((k, n), layout.dtype)
        basis[np.arange(k), start + np.arange(k)] = 1
        batched = {d: const(b.reshape((k,) + d.shape))
                   for d, b in zip(directions, _split_columns(basis, layout))}
        parts.append(vmap(node, batched))
    return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=0)


def flatten(nodes, shape=(-1,)):
    """The nodes' entries concatenated into one node, reshaped to ``shape``."""
    flat = [ops.reshape(x, shape=(x.size,)) for x in nodes]
    return ops.reshape(flat[0] if len(flat) == 1 else ops.concatenate(flat), shape=shape)


def _split_columns(basis, layout):
    """The rows of ``basis`` (k, n) split into the layout's tensors, each (k, size)."""
    return np.split(basis, layout.offsets, axis=1)


def _chunk(nodes, directions, n) -> int:
    """How many basis directions one pass takes: the largest intermediate that depends on
    the directions, times the chunk, stays under CHUNK_BYTES."""
    moving = depends_on(nodes, directions)
    largest = max((x.size * x.dtype.itemsize for x in topo_order(nodes) if x in moving),
                  default=8)
    return int(max(1, min(n, CHUNK_BYTES // max(largest, 1))))
