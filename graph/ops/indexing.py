"""Integer-array indexing: take (numpy's np.take, a gather along one axis) and its adjoint
scatter_add (np.add.at: values at repeated indices add up); and ``node[index]``, which
sends basic indices to getitem and one integer array to take.

The indices are constants, kept as a param: an int, or nested tuples of ints (the form
graph files save), made non-negative and checked against the axis when the node is built.
"""

import math

import numpy as np
import sympy

from ..backends import device, zeros
from ..domains import REALS, Example
from ..errors import NotInvertibleError, OutOfBoundsError, ShapeError
from ..node import Node
from ..op import define_op
from ..shapes import PARAM_DEPTH, normalize_axis, object_array
from .structure import getitem, reshape, transpose


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _indices_param(opname, indices, axis, length):
    """``indices`` as an int or nested tuples of ints in ``0..length-1``, or an error naming
    the op, the offending index and the axis."""
    if isinstance(indices, Node):
        raise TypeError(f"{opname}: indices must be a constant integer array (a list or a "
                        f"numpy array), not a graph node")
    array = np.asarray(indices)
    if array.dtype == np.bool_:
        raise TypeError(f"{opname}: indices are integers; boolean masks are not supported "
                        f"(np.flatnonzero(mask) gives the integer indices of a mask)")
    if array.size == 0:
        array = array.astype(np.intp)  # np.asarray([]) is a float array
    if array.dtype.kind not in "iu":
        raise TypeError(f"{opname}: indices must be integers, got {array.dtype} values")
    if array.ndim > PARAM_DEPTH or 0 in array.shape[:-1]:
        raise ShapeError(f"{opname}: indices of shape {array.shape} cannot be saved in a graph "
                         f"file (at most {PARAM_DEPTH} axes, only the last one empty)")
    outside = (array < -length) | (array >= length)
    if np.any(outside):
        where = "the flattened operand" if axis is None else f"axis {axis}"
        raise OutOfBoundsError(f"{opname}: index {int(array[outside].flat[0])} is out of "
                               f"bounds for {where} of length {length}")
    return _tuples((array % max(length, 1)).tolist())


def _index_array(indices):
    return np.asarray(indices, dtype=np.intp)


def _axis_length(s, axis):
    return int(np.prod(s)) if axis is None else s[axis]


def _gathered_shape(s, index_shape, axis):
    """The shape of np.take of an operand of shape ``s``; scatter_add's values have it."""
    return index_shape if axis is None else s[:axis] + index_shape + s[axis + 1:]


def _counts(indices, axis, s):
    """How many times each entry along the axis is selected."""
    return np.bincount(_index_array(indices).ravel(), minlength=_axis_length(s, axis))


def _axis_name(axis):
    return "the flattened operand" if axis is None else f"axis {axis}"


# -- take ---------------------------------------------------------------------------------
def _take_params(s, indices, axis=None):
    axis = None if axis is None else normalize_axis(axis, len(s), "take")
    return {"indices": _indices_param("take", indices, axis, _axis_length(s, axis)),
            "axis": axis}


def _take_inverse(out, x, *, indices, axis):
    """x = scatter_add(out) when take selects every entry exactly once (a permutation)."""
    counts = _counts(indices, axis, x.shape)
    if np.any(counts != 1):
        j = int(np.flatnonzero(counts != 1)[0])
        raise NotInvertibleError(f"take selects entry {j} of {_axis_name(axis)} (length "
                                 f"{counts.size}) {counts[j]} times: only a permutation "
                                 f"(every entry selected exactly once) is undone")
    return scatter_add_op(out, indices=indices, shape=x.shape, axis=axis)


def _batch_take(x, *, batched, indices, axis):
    if axis is not None:
        return take_op(x, indices=indices, axis=axis + 1)
    rows = reshape(x, shape=(x.shape[0], int(np.prod(x.shape[1:]))))  # flattened per entry
    return take_op(rows, indices=indices, axis=1)


def _flat_indices(xp, index, like):
    return xp.asarray(index.reshape(-1), dtype=xp.int64, device=device(like))


def _take_xp(xp, x, indices, axis):
    """take in namespace xp, whose take reads a 1-D index array along an axis."""
    index = _index_array(indices)
    if axis is None:
        x, axis = xp.reshape(x, (-1,)), 0
    out = xp.take(x, _flat_indices(xp, index, x), axis=axis)
    return xp.reshape(out, tuple(x.shape[:axis]) + index.shape + tuple(x.shape[axis + 1:]))


def _take_axis_map(i, a, s, indices, axis):
    # the axes around the indexed one are kept; the index array's axes replace it
    if axis is None or a == axis:
        return None
    return a if a < axis else a + np.ndim(indices) - 1


take_op = define_op(
    "take", arity=1, normalize=_take_params,
    shape=lambda s, indices, axis: _gathered_shape(s, np.shape(indices), axis),
    numpy=lambda x, indices, axis: np.take(x, _index_array(indices), axis=axis),
    array_api=lambda xp, x, indices, axis: _take_xp(xp, x, indices, axis),
    dask="blocks",  # dask's take needs an axis
    sympy=lambda x, indices, axis: object_array(np.take(x, _index_array(indices), axis=axis)),
    rop=lambda dx, x, *, out, indices, axis: take_op(dx, indices=indices, axis=axis),
    # the adjoint of a gather adds each cotangent entry back where it was read from
    vjp=lambda g, x, *, out, indices, axis: scatter_add_op(g, indices=indices, shape=x.shape,
                                                           axis=axis),
    inverse=_take_inverse, batch=_batch_take, linear=True, axis_map=_take_axis_map,
    domain=REALS,
    examples=[Example(((3,),), {"indices": (2, 0, 2)}),
              Example(((3, 2),), {"indices": ((1, 0), (2, 1)), "axis": 0}),
              Example(((2, 3),), {"indices": (2, 0, 1), "axis": -1}),
              Example(((2, 2),), {"indices": ((3, 0), (1, 2))}),
              Example(((2, 3),), {"indices": 1, "axis": 1})],
    doc="out = np.take(x, indices, axis): the entries of x at the integer `indices` along "
        "`axis` (of x flattened when None); indices may repeat; invertible when they "
        "select every entry exactly once (a permutation)",
)


def take(x, indices, axis=None):
    """``np.take(x, indices, axis)`` as a node: the entries of ``x`` at the constant integer
    ``indices`` along ``axis`` (of ``x`` flattened when None). Negative indices count from
    the end; an index out of range raises OutOfBoundsError.

    >>> import graph as G, numpy as np
    >>> G.evaluate(G.take(G.const([10.0, 20.0, 30.0]), [2, 0, 2]))
    array([30., 10., 30.])
    """
    return take_op(x, indices=indices, axis=axis)


# -- scatter_add --------------------------------------------------------------------------
def _scatter_add_params(s, indices, shape, axis=None):
    shape = tuple(int(d) for d in shape)
    axis = None if axis is None else normalize_axis(axis, len(shape), "scatter_add")
    indices = _indices_param("scatter_add", indices, axis, _axis_length(shape, axis))
    expected = _gathered_shape(shape, np.shape(indices), axis)
    if s != expected:
        raise ShapeError(f"scatter_add: values of shape {s} do not fit indices of shape "
                         f"{np.shape(indices)} along {_axis_name(axis)} of shape {shape} "
                         f"(expected values of shape {expected})")
    return {"indices": indices, "shape": shape, "axis": axis}


def _scatter_add(values, indices, shape, axis, zeros, add_at):
    out = zeros(shape)
    target = out.reshape(-1) if axis is None else out  # a view: out fills in
    add_at(target, (slice(None),) * (axis or 0), _index_array(indices), values)
    return out


def _numpy_add_at(target, lead, index, values):
    np.add.at(target, lead + (index,), values)


def _add_one_by_one(target, lead, index, values):
    """np.add.at written out: each value added in turn where its index points."""
    for at in np.ndindex(*index.shape):
        place = lead + (index[at],)
        target[place] = target[place] + values[lead + at]


def _scatter_add_xp(xp, values, indices, shape, axis):
    """scatter_add in namespace xp, which has no add.at: the values gathered per distinct
    index are summed (one take and one sum per distinct index)."""
    index = _index_array(indices).reshape(-1)
    flat = (math.prod(shape),) if axis is None else shape
    a = axis or 0
    values = xp.reshape(values, flat[:a] + (index.size,) + flat[a + 1:])
    out = zeros(xp, flat, values)
    for u in np.unique(index):
        picked = xp.take(values, _flat_indices(xp, np.flatnonzero(index == u), values), axis=a)
        out[(slice(None),) * a + (int(u), Ellipsis)] = xp.sum(picked, axis=a)
    return xp.reshape(out, shape)


def _scatter_add_inverse(out, values, *, indices, shape, axis):
    """values = take(out) when no index repeats (no two values were added together)."""
    counts = _counts(indices, axis, shape)
    if np.any(counts > 1):
        j = int(np.flatnonzero(counts > 1)[0])
        raise NotInvertibleError(f"scatter_add adds {counts[j]} values at index {j} of "
                                 f"{_axis_name(axis)}: their sum does not tell them apart")
    return take_op(out, indices=indices, axis=axis)


def _batch_scatter_add(values, *, batched, indices, shape, axis):
    k = values.shape[0]
    if axis is not None:
        return scatter_add_op(values, indices=indices, shape=(k,) + shape, axis=axis + 1)
    flat = scatter_add_op(values, indices=indices, shape=(k, int(np.prod(shape))), axis=1)
    return reshape(flat, shape=(k,) + shape)


def _scatter_add_axis_map(i, a, s, indices, shape, axis):
    if axis is None:
        return None
    ndim = np.ndim(indices)  # the values' axes axis .. axis + ndim - 1 are scattered
    if a < axis:
        return a
    return a - ndim + 1 if a >= axis + ndim else None


scatter_add_op = define_op(
    "scatter_add", arity=1, normalize=_scatter_add_params,
    shape=lambda s, indices, shape, axis: shape,
    numpy=lambda values, indices, shape, axis: _scatter_add(
        values, indices, shape, axis, lambda s: np.zeros(s, values.dtype), _numpy_add_at),
    array_api=lambda xp, values, indices, shape, axis: _scatter_add_xp(xp, values, indices,
                                                                       shape, axis),
    dask="blocks",  # np.add.at
    sympy=lambda values, indices, shape, axis: _scatter_add(
        values, indices, shape, axis, lambda s: np.full(s, sympy.Integer(0), object),
        _add_one_by_one),
    rop=lambda dx, values, *, out, indices, shape, axis: scatter_add_op(
        dx, indices=indices, shape=shape, axis=axis),
    # the adjoint of adding values into place reads each cotangent entry back: a gather
    vjp=lambda g, values, *, out, indices, shape, axis: take_op(g, indices=indices, axis=axis),
    inverse=_scatter_add_inverse, batch=_batch_scatter_add, linear=True,
    axis_map=_scatter_add_axis_map, domain=REALS,
    examples=[Example(((3,),), {"indices": (2, 0, 2), "shape": (3,)}),
              Example(((2, 2, 2),), {"indices": ((1, 0), (2, 1)), "shape": (3, 2), "axis": 0}),
              Example(((2, 2),), {"indices": (2, 0), "shape": (2, 3), "axis": 1}),
              Example(((2,),), {"indices": (3, 0), "shape": (2, 2)})],
    doc="out = zeros(shape) with the values added at the integer `indices` along `axis` "
        "(np.add.at; of the output flattened when None): values at repeated indices add up; "
        "the adjoint of take; invertible when no index repeats",
)


def scatter_add(values, indices, shape, axis=None):
    """The adjoint of ``take(x, indices, axis)`` for ``x`` of shape ``shape``: zeros with
    ``values`` added at ``indices`` along ``axis``, as ``np.add.at`` (repeated indices add
    up). ``values`` has the shape take would give.

    >>> import graph as G, numpy as np
    >>> G.evaluate(G.scatter_add(G.const([1.0, 2.0, 3.0]), [2, 0, 2], shape=(3,)))
    array([2., 0., 4.])
    """
    return scatter_add_op(values, indices=indices, shape=shape, axis=axis)


# -- node[index] --------------------------------------------------------------------------
def _is_array(entry) -> bool:
    return isinstance(entry, (list, tuple, range, np.ndarray))


def _is_int(entry) -> bool:
    return isinstance(entry, (int, np.integer)) and not isinstance(entry, (bool, np.bool_))


def subscript(x, index):
    """``x[index]``: basic indices (ints, slices, ``...``, None) by getitem; one integer
    array (a list or numpy array) among them by getitem of the rest, then take along the
    axis the array indexes, with numpy's placement of the array's axes. Boolean masks and
    several arrays at once raise TypeError."""
    entries = index if isinstance(index, tuple) else (index,)
    if any(isinstance(e, Node) for e in entries):
        raise TypeError("a node is indexed by constants (ints, slices, integer arrays), not "
                        "by graph nodes")
    arrays = [i for i, e in enumerate(entries) if _is_array(e)]
    if not arrays:
        return getitem(x, index=index)
    if len(arrays) > 1:
        raise TypeError(f"indexing with several integer arrays at once ({len(arrays)} in "
                        f"{index!r}) is not supported: index one axis at a time, "
                        f"x[a][:, b], or use graph.take")
    at = arrays[0]
    array = np.asarray(entries[at])
    if array.dtype == np.bool_:
        raise TypeError("boolean mask indexing is not supported: use the integer indices "
                        "np.flatnonzero(mask) with graph.take, or graph.where")
    rest = entries[:at] + (slice(None),) + entries[at + 1:]
    spanned = x.ndim - sum(e is not None and e is not Ellipsis for e in rest)  # by ...
    # the array's axis in getitem's output: one axis per slice or None before it, none
    # per int, and those ... spans
    axis = sum(spanned if e is Ellipsis else int(e is None or isinstance(e, slice))
               for e in entries[:at])
    out = take_op(getitem(x, index=rest), indices=array, axis=axis)
    # ints are array indices too: when a slice, None or ... separates one from the array,
    # numpy puts the array's axes first
    advanced = [i for i, e in enumerate(entries) if i == at or _is_int(e)]
    if advanced == list(range(advanced[0], advanced[-1] + 1)) or axis == 0:
        return out
    moved = tuple(range(axis, axis + array.ndim))
    return transpose(out, axes=moved + tuple(i for i in range(out.ndim) if i not in moved))
