"""Fused solves: linear patterns that node-by-node inversion cannot undo but a direct solve
can. ``A^T (D * (A @ U)) = out`` is a weighted Gram system (least squares with more rows
than columns becomes exact); a linear reduction of ``D * U`` over the axes U is broadcast
along is a diagonal one; a linear elementwise combination of embeddings (scatters) with
disjoint supports gives each its part of the output.

Fusion reads the solver only through its interface and the ops only through their
properties, except for the Gram pattern: no property says "matrix product", so it is
recognised by the identity of ``matmul`` and ``transpose``.
"""

from __future__ import annotations

import functools

import numpy as np

from graph import ops
from graph.leaves import const


def fuse(solver, node, out, prefer_rule=False):
    """{unknown node: value} from a fused solve at ``node``, or None when no pattern fits.

    With ``prefer_rule``, patterns the op's own inverse rule can undo node by node (a square
    known matrix) are left to it.
    """
    if node.op is ops.matmul:
        return _gram(solver, node, out, prefer_rule)
    if prefer_rule:
        return None
    if node.op.reduces and node.op.is_linear_in(0):
        return _weighted_reduction(solver, node, out)
    if node.op.elementwise and node.op.linear:
        return _disjoint_embeddings(solver, node, out) or _regularized_gram(solver, node, out)
    return None


def _affine_step(solver, q):
    """(D, E, r) with q = D * r + E elementwise, r q's one unknown operand (possibly in
    several slots), D and E known (E None when zero), read from the op's R-op rule: for an
    op affine in r, the slope is the R-op with tangent 1 (summed over r's slots), and the
    offset is the R-op of the other operands along their own values (an op jointly linear
    in them); None when q is not of that form."""
    op = q.op
    slots = [i for i, x in enumerate(q.inputs) if solver.is_unknown(x)]
    if not op.elementwise or not slots or len({q.inputs[i] for i in slots}) != 1:
        return None
    if not (op.affine_in(slots) and (len(slots) == 1 or op.linear)):
        return None
    r, known = q.inputs[slots[0]], _at_known(solver, q)
    ones = const(np.ones(r.shape, r.dtype))
    slope = functools.reduce(ops.add, [op.apply_rop(i, ones, known) for i in slots])
    offset = None
    if op.linear and all(op.is_linear_in(i) for i in slots):  # the other operands add on
        terms = [op.apply_rop(j, solver.value(x), known) for j, x in enumerate(q.inputs)
                 if j not in slots and op.is_linear_in(j)]
        terms = [t for t in terms if t is not None]
        offset = functools.reduce(ops.add, terms) if terms else None
    return slope, offset, r


def _at_known(solver, q):
    """q rebuilt on the known values of its operands (its unknown one kept), so that rules
    reading operands read values."""
    return q.op.make(tuple(x if solver.is_unknown(x) else solver.value(x) for x in q.inputs),
                     q.params, q.shape)


def _strip_affine(solver, q):
    """(D, E, r) with q = D * r + E elementwise down a chain of affine steps; D and E None
    when 1 and 0; r the first node that is not an affine function of one unknown."""
    factor = offset = None
    while True:
        step = _affine_step(solver, q)
        if step is None:
            return factor, offset, q
        slope, shift, q = step
        if shift is not None:
            shift = shift if factor is None else factor * shift
            offset = shift if offset is None else offset + shift
        factor = _uniform(slope if factor is None else factor * slope)


def _uniform(factor):
    """A constant factor with one value throughout as a scalar, and 1 as None."""
    if not factor.is_const or factor.size == 0 or np.any(factor.value != factor.value.flat[0]):
        return factor
    value = factor.value.flat[0]
    return None if value == 1 else const(np.asarray(value, factor.dtype))


def _gram(solver, node, out, prefer_rule):
    if prefer_rule and node.inputs[0].ndim == 2 and node.inputs[0].shape[0] == \
            node.inputs[0].shape[1]:
        return None
    system = _gram_system(solver, node)
    if system is None:
        return None
    u, a, factor, offset = system
    if offset is not None:  # A^T (D * (A U) + E) = out  =>  A^T (D * (A U)) = out - A^T E
        out = out - offset
    solver.note(f"fused weighted Gram solve A^T (D * (A U)) = out at {solver.line(node)}")
    if factor is None or factor.ndim == 0 or (u.ndim == 2 and factor.shape[-1] == 1):
        weighted = a if factor is None else _rows_weighted(factor, a, (a.shape[0],) + u.shape[1:])
        gram = ops.full_rank(a.T @ weighted, need="columns")
        return {u: ops.solve(gram, out)}
    if factor.ndim == 2 and factor.shape[0] == 1 and u.ndim == 2:  # one weight per column
        gram = ops.full_rank(a.T @ a, need="columns")
        return {u: ops.solve(gram, out) / factor}
    return {u: _per_column_solve(a, ops.expand_to(factor, (a.shape[0],) + u.shape[1:]), out)}


def _gram_system(solver, node):
    """(U, A, D, c) with node = A^T (D * (A U)) + c, A known, U unknown, c known (None when
    zero), when ``node`` is a matrix product of that form; else None."""
    if node.op is not ops.matmul:
        return None
    p, q = node.inputs
    if not solver.is_unknown(q) or solver.is_unknown(p) or p.ndim != 2 or q.ndim > 2:
        return None
    factor, offset, r = _strip_affine(solver, q)
    if r.op is not ops.matmul or not solver.is_unknown(r.inputs[1]) or r.inputs[0].ndim != 2:
        return None
    a = r.inputs[0]
    if solver.is_unknown(a) or not _is_transpose_of(p, a):
        return None
    shift = None if offset is None else solver.value(p) @ ops.expand_to(offset, q.shape)
    return r.inputs[1], solver.value(a), factor, shift


def _regularized_gram(solver, node, out):
    """An L2 term added to a Gram system: with node = l0 x0 + l1 x1 (jointly linear),
    x_g = s (A^T (D * (A U)) + h) + e_g and x_u = c U + e_u, the system
    (l_g s A^T D A + l_u c I) U = out - l_g (s h + e_g) - l_u e_u is solved at once
    (s, c, l scalars; D a scalar or one weight per row)."""
    if len(node.inputs) != 2 or not all(solver.is_unknown(x) for x in node.inputs):
        return None
    slopes = [node.op.apply_rop(i, const(np.ones((), x.dtype)), node)
              for i, x in enumerate(node.inputs)]
    if not all(sl is not None and sl.is_const and sl.size == 1 for sl in slopes):
        return None
    sides = [_strip_affine(solver, x) for x in node.inputs]
    for g, w in ((0, 1), (1, 0)):
        (s, e_g, gram_node), (c, e_u, u) = sides[g], sides[w]
        system = _gram_system(solver, gram_node)
        if system is None or system[0] is not u or not (_scalar(s) and _scalar(c)):
            continue
        _, a, factor, shift = system
        if factor is not None and not (factor.ndim == 0 or (u.ndim == 2
                                                            and factor.shape[-1] == 1)):
            continue
        l_s, l_c = _times(slopes[g], s), _times(slopes[w], c)
        rhs = out
        for term, scale in ((shift, l_s), (e_g, slopes[g]), (e_u, slopes[w])):
            if term is not None:
                rhs = rhs - scale * ops.expand_to(term, out.shape)
        weighted = a if factor is None else _rows_weighted(factor, a,
                                                           (a.shape[0],) + u.shape[1:])
        identity = const(np.eye(a.shape[1], dtype=a.dtype))
        matrix = ops.full_rank(l_s * (a.T @ weighted) + l_c * identity, need="columns")
        solver.note(f"fused regularized Gram solve (s A^T D A + c I) U = out at "
                    f"{solver.line(node)}")
        return {u: ops.solve(matrix, rhs)}
    return None


def _scalar(factor) -> bool:
    return factor is None or (factor.is_const and factor.size == 1)


def _times(slope, factor):
    """slope * factor for scalar constants (None is 1)."""
    if factor is None:
        return slope
    return const(np.asarray(slope.value * factor.value).reshape(()))


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
    return ops.transpose(ops.solve(ops.full_rank(grams, need="columns"), ops.transpose(out)))


def _weighted_reduction(solver, node, out):
    """reduce(D * U) = out over the axes along which U is broadcast: reduce(D) * U = out,
    a diagonal solve (the reduction applied to the weights, so sum and mean alike)."""
    q = node.inputs[0]
    if not solver.is_unknown(q):
        return None
    factor, offset, u = _strip_affine(solver, q)
    if not solver.is_unknown(u) or offset is not None:
        return None
    axes = node.params["axis"]
    padded = (1,) * (q.ndim - u.ndim) + u.shape
    if any((padded[i] == 1) != (i in axes) and q.shape[i] != 1 for i in range(q.ndim)):
        return None  # u is not broadcast along exactly the reduced axes
    kept = tuple(1 if i in axes else d for i, d in enumerate(q.shape))
    ones = const(np.ones(q.shape, q.dtype))
    weights = node.op(ones if factor is None else ops.expand_to(factor, q.shape),
                      axis=axes, keepdims=True)
    solver.note(f"fused diagonal solve of a weighted reduction at {solver.line(node)}")
    value = ops.reshape(out, shape=kept) / ops.nonzero(weights)
    return {u: ops.reshape(value, shape=u.shape)}


def _disjoint_embeddings(solver, node, out):
    """op(E1, E2, ...) = out for a linear elementwise op whose unknown operands are
    embeddings (scatters) of disjoint supports: on each support the others are zero, so
    each is solved by the op's inverse rule with the other unknowns set to zero."""
    unknown = [i for i, x in enumerate(node.inputs) if solver.is_unknown(x)]
    leaves = [node.inputs[i] for i in unknown]
    if len(leaves) < 2 or not all(leaf.op.embeds and node.op.is_linear_in(i)
                                  for i, leaf in zip(unknown, leaves)):
        return None
    covered = np.zeros(node.shape, dtype=int)
    for leaf in leaves:
        written = leaf.op.numpy(np.ones(leaf.inputs[0].shape, leaf.dtype), **leaf.params)
        covered = covered + np.broadcast_to(written != 0, node.shape)
    if np.any(covered > 1):
        return None
    zeros = [const(np.zeros(x.shape, x.dtype)) if solver.is_unknown(x) else solver.value(x)
             for x in node.inputs]
    solved = {}
    for i, leaf in zip(unknown, leaves):
        part = node.op.apply_inverse(i, out, zeros, node.params)
        inner = leaf.op.apply_inverse(0, ops.expand_to(part, leaf.shape), leaf.inputs,
                                      leaf.params)
        solved[leaf] = leaf.op(inner, **leaf.params)
    return solved
