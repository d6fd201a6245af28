"""Reductions over axes: sum, mean, logsumexp; and sum_to, which undoes broadcasting."""

import math

import numpy as np
import sympy

from ..domains import REALS, Example, NoInverse
from ..op import define_op
from ..shapes import normalize_axes, object_array
from .elementwise import exp
from .families import sympy_elementwise
from .structure import broadcast_to, reshape


def _axis_params(opname):
    def normalize(s, axis=None, keepdims=False):
        axes = tuple(range(len(s))) if axis is None else normalize_axes(axis, len(s), opname)
        return {"axis": tuple(sorted(axes)), "keepdims": bool(keepdims)}
    return normalize


def _reduced_axis(i, a, s, axis, keepdims):
    """Where a kept operand axis lands in the output (a reduced one mixes its entries)."""
    if a in axis:
        return None
    return a if keepdims else a - len([r for r in axis if r < a])


def _batch_reduction(op):
    return lambda x, *, batched, axis, keepdims: op(x, axis=tuple(a + 1 for a in axis),
                                                     keepdims=keepdims)


def _reduced_shape(s, axis, keepdims):
    if keepdims:
        return tuple(1 if i in axis else d for i, d in enumerate(s))
    return tuple(d for i, d in enumerate(s) if i not in axis)


def _count(s, axis):
    return int(np.prod([s[a] for a in axis]))


def _spread(g, x, axis):
    """``g`` (the reduced shape) broadcast back over the reduced axes of ``x``."""
    return broadcast_to(reshape(g, shape=_reduced_shape(x.shape, axis, True)), shape=x.shape)


def _simplify_reduce(x, *, out_shape, axis, keepdims):
    if not axis:
        return x
    if x.op.name == "broadcast_to":  # summing copies: sum(broadcast(y)) = count * y
        inner = x.inputs[0]
        padded = (1,) * (x.ndim - inner.ndim) + inner.shape
        stretched = {i for i in range(x.ndim) if padded[i] != x.shape[i]}
        if stretched == set(axis) and not any(padded[i] != 1 for i in stretched):
            scale = int(np.prod([x.shape[i] for i in axis]))
            # numpy's sum starts from +0.0: the sum of copies of -0.0 is +0.0, so is this
            return reshape(inner, shape=out_shape) * float(scale) + 0.0
    return None


def _object_sum(x, axis, keepdims):
    return object_array(np.sum(x, axis=axis, keepdims=keepdims))


sum = define_op(
    "sum", arity=1, normalize=_axis_params("sum"), shape=_reduced_shape,
    numpy=lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
    array_api=lambda xp, x, axis, keepdims: xp.sum(x, axis=axis, keepdims=keepdims),
    sympy=_object_sum,
    rop=lambda dx, x, *, out, axis, keepdims: sum(dx, axis=axis, keepdims=keepdims),
    vjp=lambda g, x, *, out, axis, keepdims: _spread(g, x, axis),
    inverse=NoInverse("sum keeps only the total of the entries it adds"),
    batch=_batch_reduction(lambda *a, **p: sum(*a, **p)), linear=True, reduces=True,
    axis_map=_reduced_axis, domain=REALS, simplify=_simplify_reduce,
    examples=[Example(((2, 3),)), Example(((2, 3),), {"axis": 0}),
              Example(((2, 3),), {"axis": 1, "keepdims": True})],
    code=lambda x, axis, keepdims: f"{x}.sum(axis={axis!r}, keepdims={keepdims!r})",
    doc="out = the sum of x over `axis` (all axes by default); keepdims as in numpy",
)

mean = define_op(
    "mean", arity=1, normalize=_axis_params("mean"), shape=_reduced_shape,
    numpy=lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
    array_api=lambda xp, x, axis, keepdims: xp.mean(x, axis=axis, keepdims=keepdims),
    sympy=lambda x, axis, keepdims: _object_sum(x, axis, keepdims) / _count(x.shape, axis),
    rop=lambda dx, x, *, out, axis, keepdims: mean(dx, axis=axis, keepdims=keepdims),
    # divided before it is spread: a constant g folds, and no operand-sized array is made
    vjp=lambda g, x, *, out, axis, keepdims: _spread(g / _count(x.shape, axis), x, axis),
    inverse=NoInverse("mean keeps only the average of the entries it reduces"),
    batch=_batch_reduction(lambda *a, **p: mean(*a, **p)), linear=True, reduces=True,
    axis_map=_reduced_axis,
    # no mean(broadcast(y)) -> y: numpy's sum of the copies overflows where y does not
    domain=REALS, simplify=lambda x, *, out_shape, axis, keepdims: x if not axis else None,
    examples=[Example(((2, 3),)), Example(((2, 3),), {"axis": 1})],
    code=lambda x, axis, keepdims: f"{x}.mean(axis={axis!r}, keepdims={keepdims!r})",
    doc="out = the mean of x over `axis` (all axes by default); keepdims as in numpy",
)


def _logsumexp(x, axis, keepdims, xp=np):
    empty = not math.prod(x.shape)
    top = xp.zeros((), dtype=x.dtype) if empty else xp.max(x, axis=axis, keepdims=True)
    top = xp.where(xp.isfinite(top), top, xp.zeros_like(top))  # shift by the max: no overflow
    out = xp.log(xp.sum(xp.exp(x - top), axis=axis, keepdims=True)) + top
    return out if keepdims else xp.squeeze(out, axis=axis)


def _softmax(x, out, axis):
    """exp(x - logsumexp(x)): the derivative of logsumexp, read from its forward value."""
    return exp(x - reshape(out, shape=_reduced_shape(x.shape, axis, True)))


logsumexp = define_op(
    "logsumexp", arity=1, normalize=_axis_params("logsumexp"), shape=_reduced_shape,
    numpy=_logsumexp,
    array_api=lambda xp, x, axis, keepdims: _logsumexp(x, axis, keepdims, xp),
    sympy=lambda x, axis, keepdims: sympy_elementwise(sympy.log, 1)(
        _object_sum(sympy_elementwise(sympy.exp, 1)(x), axis, keepdims)),
    # d/dx_i log sum_j exp(x_j) = softmax(x)_i
    rop=lambda dx, x, *, out, axis, keepdims: sum(_softmax(x, out, axis) * dx, axis=axis,
                                                  keepdims=keepdims),
    vjp=lambda g, x, *, out, axis, keepdims: _spread(g, x, axis)
    * _softmax(x, out, axis),
    inverse=NoInverse("logsumexp reduces several entries to one"),
    batch=_batch_reduction(lambda *a, **p: logsumexp(*a, **p)), axis_map=_reduced_axis,
    domain=REALS, simplify=None,
    examples=[Example(((3,),)), Example(((2, 3),), {"axis": 1})],
    doc="out = log(sum(exp(x), axis)), computed without overflow",
)


def sum_to(x, shape):
    """Sum ``x`` down to ``shape`` over the axes numpy broadcasting added or stretched.

    This undoes broadcasting: it is the adjoint of ``broadcast_to(., x.shape)``.
    """
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape)
                                      if d == 1 and x.shape[lead + i] != 1)
    return reshape(sum(x, axis=axes), shape=shape)


def expand_to(x, shape):
    """Broadcast ``x`` up to ``shape`` (no node when it already has that shape)."""
    return x if x.shape == tuple(shape) else broadcast_to(x, shape=shape)
