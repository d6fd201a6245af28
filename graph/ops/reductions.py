"""More reductions, named and behaving as in numpy: max, min, prod and cumsum (ops, each one
block with every rule), and variance, std (composites of ops: they need no rules)."""

import math

import numpy as np
import sympy

from ..domains import REALS, Example, NoInverse
from ..errors import ShapeError
from ..leaves import as_node
from ..op import define_op
from ..shapes import normalize_axes, normalize_axis, object_array
from .elementwise import sqrt, square, step
from .reduce import _axis_params, _batch_reduction, _reduced_axis, _reduced_shape, mean, sum
from .structure import broadcast_to, concatenate, reshape, scatter, transpose


# -- helpers shared by the reductions -------------------------------------------------------
def _kept(ndim, axis):
    return tuple(a for a in range(ndim) if a not in axis)


def _grouped(x, axis):
    """A numpy array with its reduced axes moved last and merged: one row per group."""
    kept = _kept(x.ndim, axis)
    return np.transpose(x, kept + axis).reshape(
        tuple(x.shape[a] for a in kept) + (math.prod(x.shape[a] for a in axis),))


def _object_reduce(fn):
    """A sympy form: ``fn`` of the entries of each reduction group, on object arrays."""
    def reduce(x, axis, keepdims):
        groups = _grouped(x, axis)
        out = np.empty(groups.shape[:-1], dtype=object)
        for index in np.ndindex(*out.shape):
            out[index] = fn(*groups[index])
        return object_array(out.reshape(_reduced_shape(x.shape, axis, keepdims)))
    return reduce


def _nonempty_shape(opname):
    """The reduced shape; numpy refuses to reduce an empty axis when there is no identity."""
    def shape(s, axis, keepdims):
        if any(s[a] == 0 for a in axis):
            raise ShapeError(f"{opname}: cannot reduce shape {s} over axis {axis}: the {opname} "
                             f"of no entries is undefined")
        return _reduced_shape(s, axis, keepdims)
    return shape


def _keep_when_no_axes(x, *, out_shape, axis, keepdims):
    return x if not axis else None  # reducing over no axes is the identity, as in numpy


def _keepdims_shape(x, axis):
    return _reduced_shape(x.shape, axis, True)


# -- max and min ----------------------------------------------------------------------------
def _runner_up_gap(x, axis, largest):
    """How far each group's extreme is from the next entry (inf for single entries): the
    distance from a tie, where the derivative jumps."""
    groups = np.sort(_grouped(x, axis), axis=-1)
    if groups.shape[-1] < 2:
        return np.full(groups.shape[:-1], np.inf)
    return groups[..., -1] - groups[..., -2] if largest else groups[..., 1] - groups[..., 0]


def _extremum(name, numpy_fn, sympy_fn, largest):
    """max or min over axes. The derivative flows to the entries equal to the extreme; at a
    tie it is split equally among them (the mean of the tangent over the tied entries), so
    the R-op and the VJP stay adjoint everywhere."""
    def gap(top, x):
        return top - x if largest else x - top  # >= 0, and exactly 0 where x equals out

    def weights(x, out, axis):
        tied = 1 - step(gap(reshape(out, shape=_keepdims_shape(x, axis)), x))
        return tied / sum(tied, axis=axis, keepdims=True)  # 1 / (count of ties) at each

    word = "largest" if largest else "smallest"
    op = define_op(
        name, arity=1, normalize=_axis_params(name), shape=_nonempty_shape(name),
        numpy=lambda x, axis, keepdims: numpy_fn(x, axis=axis, keepdims=keepdims),
        array_api=lambda xp, x, axis, keepdims: getattr(xp, name)(x, axis=axis,
                                                                  keepdims=keepdims),
        sympy=_object_reduce(sympy_fn),
        rop=lambda dx, x, *, out, axis, keepdims: sum(weights(x, out, axis) * dx, axis=axis,
                                                      keepdims=keepdims),
        vjp=lambda g, x, *, out, axis, keepdims: reshape(g, shape=_keepdims_shape(x, axis))
        * weights(x, out, axis),
        inverse=NoInverse(f"{name} discards every entry but the {word} of each group"),
        batch=_batch_reduction(lambda *a, **p: op(*a, **p)), axis_map=_reduced_axis,
        kink_distance=lambda x, axis, keepdims: _runner_up_gap(x, axis, largest),
        domain=REALS, simplify=_keep_when_no_axes,
        # small: sympy's simplify spends about 0.25 s failing on each Max/Heaviside identity
        examples=[Example(((2,),)), Example(((2, 2),), {"axis": -1, "keepdims": True})],
        code=lambda x, axis, keepdims: f"{x}.{name}(axis={axis!r}, keepdims={keepdims!r})",
        doc=f"out = the {word} entry of x over `axis` (all axes by default); keepdims as in "
            f"numpy; an empty axis is refused. Kinks at ties, where the derivative is split "
            f"equally among the tied entries (the R-op is the mean of the tangent over them, "
            f"the VJP gives each g / count); not invertible",
    )
    return op


max = _extremum("max", np.max, sympy.Max, largest=True)
min = _extremum("min", np.min, sympy.Min, largest=False)


# -- prod -----------------------------------------------------------------------------------
def _ones_like_axis(x, length):
    """Ones of x's shape with its last axis ``length`` long, of x's dtype."""
    return broadcast_to(as_node(1.0, like=x.dtype), shape=x.shape[:-1] + (length,))


def _shifted(x, s, ahead):
    """x moved ``s`` places along its last axis, towards its end (``ahead``) or its start,
    with ones in the places left empty."""
    n = x.shape[-1]
    if s >= n:
        return _ones_like_axis(x, n)
    if ahead:
        return concatenate([_ones_like_axis(x, s), x[..., :n - s]], axis=-1)
    return concatenate([x[..., s:], _ones_like_axis(x, s)], axis=-1)


def _running_products(x, ahead):
    """Inclusive running products along the last axis, from the start (``ahead``) or from
    the end, by doubling: after the step of shift s each entry holds the product of the 2 s
    entries ending at it, so log2(n) steps of products suffice."""
    s = 1
    while s < x.shape[-1]:
        x = x * _shifted(x, s, ahead)
        s *= 2
    return x


def _product_of_others(x, axis):
    """d prod / dx_i: the product of the other entries of x_i's group, as (the product of
    the entries before it) * (the product of those after it). Never out / x, so it is right
    where entries are 0, and a polynomial of x, so its own derivatives are right too."""
    kept = _kept(x.ndim, axis)
    groups_shape = tuple(x.shape[a] for a in kept) + tuple(x.shape[a] for a in axis)
    groups = reshape(transpose(x, axes=kept + axis),
                     shape=groups_shape[:len(kept)] + (math.prod(groups_shape[len(kept):]),))
    before = _running_products(_shifted(groups, 1, ahead=True), ahead=True)
    after = _running_products(_shifted(groups, 1, ahead=False), ahead=False)
    others = reshape(before * after, shape=groups_shape)
    return transpose(others, axes=tuple(int(a) for a in np.argsort(kept + axis)))


prod = define_op(
    "prod", arity=1, normalize=_axis_params("prod"), shape=_reduced_shape,
    numpy=lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
    array_api=lambda xp, x, axis, keepdims: xp.prod(x, axis=axis, keepdims=keepdims),
    sympy=_object_reduce(sympy.Mul),
    # d prod(x) = sum_i (prod_{j != i} x_j) dx_i
    rop=lambda dx, x, *, out, axis, keepdims: sum(_product_of_others(x, axis) * dx,
                                                  axis=axis, keepdims=keepdims),
    vjp=lambda g, x, *, out, axis, keepdims: reshape(g, shape=_keepdims_shape(x, axis))
    * _product_of_others(x, axis),
    # a group of one entry would invert (as a reshape), but sum and mean, which could do the
    # same, refuse too: reshape is the op that reads an entry back
    inverse=NoInverse("prod keeps only the product of the entries it multiplies"),
    batch=_batch_reduction(lambda *a, **p: prod(*a, **p)), axis_map=_reduced_axis,
    domain=REALS, simplify=_keep_when_no_axes,
    examples=[Example(((2, 3),)), Example(((2, 3),), {"axis": 0}),
              Example(((2, 2, 2),), {"axis": (0, 2), "keepdims": True})],
    code=lambda x, axis, keepdims: f"{x}.prod(axis={axis!r}, keepdims={keepdims!r})",
    doc="out = the product of x over `axis` (all axes by default, 1 over none); keepdims as "
        "in numpy. Derivatives are products of the other entries, exact where entries are 0; "
        "not invertible",
)


# -- cumsum ---------------------------------------------------------------------------------
def _cumsum_params(s, axis=None):
    return {"axis": None if axis is None else normalize_axis(axis, len(s), "cumsum")}


def _along(axis, entry):
    """An index applying ``entry`` along ``axis`` (axis 0 of the flattened array if None)."""
    return (slice(None),) * (axis or 0) + (entry,)


def _reversed(x, axis):
    return x[_along(axis, slice(None, None, -1))]


def _cumsum_vjp(g, x, *, out, axis):
    # out_i = sum_{j <= i} x_j  =>  cotangent of x_j = sum_{i >= j} g_i: a cumsum from the end
    return reshape(_reversed(cumsum(_reversed(g, axis), axis=axis or 0), axis), shape=x.shape)


def _differences(out, x, axis):
    """x from out = cumsum(x): each entry of out minus the one before it (0 before the
    first)."""
    n = out.shape[axis or 0]
    earlier = scatter(out[_along(axis, slice(0, n - 1))], index=_along(axis, slice(1, n)),
                      shape=out.shape)
    return reshape(out - earlier, shape=x.shape)


def _batch_cumsum(x, *, batched, axis):
    if axis is None:  # flatten each batch entry on its own
        return cumsum(reshape(x, shape=(x.shape[0], math.prod(x.shape[1:]))), axis=1)
    return cumsum(x, axis=axis + 1)


cumsum = define_op(
    "cumsum", arity=1, normalize=_cumsum_params,
    shape=lambda s, axis: (math.prod(s),) if axis is None else s,
    numpy=lambda x, axis: np.cumsum(x, axis=axis),
    array_api=lambda xp, x, axis: xp.cumulative_sum(xp.reshape(x, (-1,)) if axis is None
                                                    else x, axis=axis or 0),
    sympy=lambda x, axis: object_array(np.cumsum(x, axis=axis)),
    rop=lambda dx, x, *, out, axis: cumsum(dx, axis=axis),
    vjp=_cumsum_vjp, inverse=_differences, batch=_batch_cumsum, linear=True,
    axis_map=lambda i, a, s, axis: None if axis is None or a == axis else a,
    domain=REALS,
    examples=[Example(((2, 3),), {"axis": 1}), Example(((3, 2),), {"axis": 0}),
              Example(((2, 2),))],
    code=lambda x, axis: f"np.cumsum({x}, axis={axis!r})",
    doc="out = the running sums of x along `axis` (of x flattened when axis is None, as in "
        "numpy); linear and bijective: the inverse takes differences",
)


# -- variance and std (composites) ----------------------------------------------------------
def _moment_axes(x, axis, ddof, opname):
    """(axes, the divisor count - ddof), refusing bad axes and a divisor <= 0."""
    axes = tuple(range(x.ndim)) if axis is None else normalize_axes(axis, x.ndim, opname)
    if isinstance(ddof, (bool, np.bool_)) or not isinstance(ddof, (int, float, np.integer,
                                                                   np.floating)):
        raise TypeError(f"{opname}: ddof must be a number, got {ddof!r}")
    count = math.prod(x.shape[a] for a in axes)
    if not count - ddof > 0:
        raise ShapeError(f"{opname}: ddof={ddof} leaves no degrees of freedom: axis {axes} of "
                         f"shape {x.shape} holds {count} entries per group")
    return axes, count - ddof


def variance(x, axis=None, ddof=0, keepdims=False):
    """numpy's ``var``: sum((x - mean(x))**2) / (N - ddof) over ``axis`` (all axes by
    default), N the number of entries reduced; ``ddof=1`` gives the unbiased estimate.

    Named ``variance`` because ``graph.var`` makes variables. Axes as in numpy (an int, a
    tuple, negative); N - ddof <= 0 is refused (ShapeError), where numpy returns NaN or Inf.
    Differentiable everywhere: d variance / dx_i = 2 (x_i - mean) / (N - ddof).

    >>> import graph as G
    >>> float(G.evaluate(G.variance(G.const([1.0, 2.0, 3.0, 4.0]), ddof=1)))
    1.6666666666666667
    """
    x = as_node(x)
    axes, divisor = _moment_axes(x, axis, ddof, "variance")
    centered = x - mean(x, axis=axes, keepdims=True)
    return sum(square(centered), axis=axes, keepdims=keepdims) / float(divisor)


def std(x, axis=None, ddof=0, keepdims=False):
    """numpy's ``std``: sqrt(variance(x, axis, ddof, keepdims)).

    Where the variance is 0 (all entries of a group equal) std is 0 but not differentiable:
    sqrt's slope there is infinite, so the derivatives (grad, jvp, hvp) of that group are
    NaN (Inf times a zero slope of the variance), not a subgradient.
    """
    x = as_node(x)
    _moment_axes(x, axis, ddof, "std")  # refuse naming std, not variance
    return sqrt(variance(x, axis=axis, ddof=ddof, keepdims=keepdims))
