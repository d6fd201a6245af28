"""Fused solves: linear patterns that node-by-node inversion cannot undo but a direct solve
can. ``A^T (D * (A @ U)) = out`` is a weighted Gram system (least squares with more rows
than columns becomes exact), and ``sum(D * U)`` over the axes U is broadcast along is a
diagonal one."""

from __future__ import annotations

import numpy as np

from graph import ops


def fuse(solver, node, out, prefer_rule=False):
    """{unknown node: value} from a fused solve at ``node``, or None when no pattern fits.

    With ``prefer_rule``, patterns the op's own inverse rule can undo node by node (a square
    known matrix) are left to it.
    """
    if node.op is ops.matmul:
        return _gram(solver, node, out, prefer_rule)
    if node.op in (ops.sum, ops.mean) and not prefer_rule:
        return _weighted_sum(solver, node, out)
    return None


def _unknown(solver, x):
    return x in solver.dep and x not in solver.values


def _strip_affine(solver, q):
    """(D, E, r) with q = D * r + E elementwise, D and E known (None when absent), r the
    first node down the chain that is not an affine function of a single unknown."""
    factor = offset = None

    def scaled(x, k):
        return k if x is None else x * k

    while True:
        unknown = [_unknown(solver, x) for x in q.inputs]
        if q.op is ops.neg and unknown[0]:
            factor, offset, q = scaled(factor, -1.0), offset, q.inputs[0]
            continue
        if q.op not in (ops.mul, ops.div, ops.add, ops.sub) or sum(unknown) != 1:
            return factor, offset, q
        a, b = q.inputs
        inner, known = (a, solver.values[b]) if unknown[0] else (b, solver.values[a])
        if q.op is ops.mul:
            factor = scaled(factor, known)
        elif q.op is ops.div and unknown[0]:
            factor = scaled(factor, 1.0 / known)
        elif q.op is ops.add or (q.op is ops.sub and unknown[0]):
            sign = -1.0 if q.op is ops.sub else 1.0
            term = scaled(factor, known * sign)
            offset = term if offset is None else offset + term
        elif q.op is ops.sub:  # known - inner
            term = scaled(factor, known)
            offset = term if offset is None else offset + term
            factor = scaled(factor, -1.0)
        else:
            return factor, offset, q
        q = inner


def _gram(solver, node, out, prefer_rule):
    p, q = node.inputs
    if not _unknown(solver, q) or p in solver.dep or p.ndim != 2:
        return None
    if prefer_rule and p.shape[0] == p.shape[1]:
        return None
    factor, offset, r = _strip_affine(solver, q)
    if r.op is not ops.matmul or not _unknown(solver, r.inputs[1]):
        return None
    a = r.inputs[0]
    if not _is_transpose_of(p, a):
        return None
    if offset is not None:  # A^T (D * (A U) + E) = out  =>  A^T (D * (A U)) = out - A^T E
        out = out - p @ ops.expand_to(offset, q.shape)
    u = r.inputs[1]
    solver.notes.append(f"fused weighted Gram solve A^T (D * (A U)) = out at {solver.line(node)}")
    a = solver.values[a]
    if factor is None or factor.ndim == 0 or (u.ndim == 2 and factor.shape[-1] == 1):
        weighted = a if factor is None else _rows_weighted(factor, a, q.shape)
        gram = ops.full_rank(a.T @ weighted, need="columns")
        return {u: ops.solve(gram, out)}
    if factor.ndim == 2 and factor.shape[0] == 1 and u.ndim == 2:  # one weight per column
        gram = ops.full_rank(a.T @ a, need="columns")
        return {u: ops.solve(gram, out) / factor}
    return {u: _per_column_solve(a, ops.expand_to(factor, q.shape), out)}


def _is_transpose_of(p, a):
    if p.op is ops.transpose and p.inputs[0] is a:
        return True
    return p.is_const and a.is_const and np.array_equal(p.value, a.value.T)


def _rows_weighted(factor, a, q_shape):
    """D * A for a weight that is a scalar or one per row of A."""
    if factor.ndim == 0:
        return factor * a
    return ops.reshape(factor, shape=(q_shape[0], 1)) * a if factor.ndim == 1 else factor * a


def _per_column_solve(a, weights, out):
    """U[:, j] = (A^T diag(D[:, j]) A)^-1 out[:, j], all columns in one batched solve."""
    if out.ndim == 1:
        gram = a.T @ (ops.reshape(weights, shape=(weights.shape[0], 1)) * a)
        return ops.solve(ops.full_rank(gram, need="columns"), out)
    rows, cols = a.shape
    m = out.shape[1]
    grams = ops.sum(ops.reshape(ops.transpose(weights), shape=(m, rows, 1, 1))
                    * ops.reshape(a, shape=(1, rows, cols, 1))
                    * ops.reshape(a, shape=(1, rows, 1, cols)), axis=1)
    return ops.transpose(ops.solve(grams, ops.transpose(out)))


def _weighted_sum(solver, node, out):
    q = node.inputs[0]
    if not _unknown(solver, q):
        return None
    factor, offset, u = _strip_affine(solver, q)
    if not _unknown(solver, u) or offset is not None:
        return None
    axes = node.params["axis"]
    padded = (1,) * (q.ndim - u.ndim) + u.shape
    if any((padded[i] == 1) != (i in axes) and q.shape[i] != 1 for i in range(q.ndim)):
        return None  # u is not broadcast along exactly the reduced axes
    kept = tuple(1 if i in axes else d for i, d in enumerate(q.shape))
    weights = ops.sum(ops.expand_to(1.0 if factor is None else factor, q.shape), axis=axes,
                      keepdims=True)
    if node.op is ops.mean:
        weights = weights / int(np.prod([q.shape[a] for a in axes]))
    solver.notes.append(f"fused diagonal solve sum(D * U) = out at {solver.line(node)}")
    value = ops.reshape(out, shape=kept) / ops.nonzero(weights)
    return {u: ops.reshape(value, shape=u.shape)}

