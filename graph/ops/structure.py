"""Ops that move entries without arithmetic: transpose, reshape, broadcast_to, getitem,
scatter (getitem's adjoint) and concatenate. All are linear, so each rule applies the op
itself (or its adjoint) to the tangent or cotangent."""

import weakref

import numpy as np
import sympy

from ..backends import zeros
from ..domains import REALS, Example, NoInverse
from ..errors import AxisError, OutOfBoundsError, ShapeError
from ..op import define_op
from ..shapes import aligned_axis, broadcast_shape, normalize_axes, normalize_axis, object_array


# -- batching helpers shared by every family ----------------------------------------------
def batch_size(inputs, batched) -> int:
    """The length of the batch axis the flagged inputs carry."""
    return next(x.shape[0] for x, b in zip(inputs, batched) if b)


def with_batch(x, k: int, flagged: bool):
    """``x`` with a leading batch axis of length ``k`` (broadcast when it has none)."""
    return x if flagged else broadcast_to(x, shape=(k,) + x.shape)


def pad_batched(x, ndim: int):
    """A batched (k, *s) node reshaped to rank 1 + ndim, (k, 1, ..., 1, *s), so that numpy
    broadcasting lines its axes up with unbatched operands of rank up to ndim."""
    missing = 1 + ndim - x.ndim
    return x if missing <= 0 else reshape(x, shape=x.shape[:1] + (1,) * missing + x.shape[1:])


# -- transpose ----------------------------------------------------------------------------
def _transpose_axes(s, axes=None):
    if axes is None:
        return {"axes": tuple(reversed(range(len(s))))}
    normalized = normalize_axes(axes, len(s), "transpose")
    if len(normalized) != len(s):
        raise AxisError(f"transpose: axes {tuple(axes)} are not a permutation of the {len(s)} "
                        f"axes of an operand of shape {s}")
    return {"axes": normalized}


def _simplify_transpose(x, *, out_shape, axes):
    if axes == tuple(range(len(axes))):
        return x
    if x.op is transpose:  # transpose(transpose(y, a), b) = transpose(y, a[b])
        inner = x.inputs[0]
        return transpose(inner, axes=tuple(x.params["axes"][a] for a in axes))
    return None


transpose = define_op(
    "transpose", arity=1, normalize=_transpose_axes,
    shape=lambda s, axes: tuple(s[a] for a in axes),
    numpy=lambda x, axes: np.transpose(x, axes), sympy=lambda x, axes: np.transpose(x, axes),
    array_api=lambda xp, x, axes: xp.permute_dims(x, axes),
    rop=lambda dx, x, *, out, axes: transpose(dx, axes=axes),
    vjp=lambda g, x, *, out, axes: transpose(g, axes=tuple(np.argsort(axes))),
    inverse=lambda out, x, axes: transpose(out, axes=tuple(np.argsort(axes))),
    batch=lambda x, *, batched, axes: transpose(x, axes=(0,) + tuple(a + 1 for a in axes)),
    linear=True, axis_map=lambda i, axis, s, axes: axes.index(axis),
    domain=REALS, simplify=_simplify_transpose,
    examples=[Example(((2, 3),)), Example(((2, 3, 2),), {"axes": (1, 0, 2)})],
    code=lambda x, axes: f"{x}.transpose({axes!r})",
    doc="out = x with its axes permuted (reversed by default); bijective",
)


# -- reshape ------------------------------------------------------------------------------
def _reshape_params(s, shape):
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    size, known = int(np.prod(s)), int(np.prod([d for d in shape if d != -1]))
    if shape.count(-1) == 1 and known > 0 and size % known == 0:
        shape = tuple(size // known if d == -1 else d for d in shape)
    if shape.count(-1) or int(np.prod(shape)) != size or min(shape, default=0) < 0:
        raise ShapeError(f"reshape: cannot reshape {s} (size {size}) into {shape}")
    return {"shape": shape}


def _simplify_reshape(x, *, out_shape, shape):
    if x.shape == shape:
        return x
    if x.op is reshape:
        return reshape(x.inputs[0], shape=shape)
    if x.op is broadcast_to and x.inputs[0].size == 1:  # one value repeated, in any shape:
        # kept a broadcast, which a broadcasting op then drops (no array of the full shape)
        return broadcast_to(reshape(x.inputs[0], shape=(1,) * len(shape)), shape=shape)
    return None


def _reshape_axis_map(i, axis, s, shape):
    # C order keeps the leading axis whole when its length is kept: row k stays row k
    return 0 if axis == 0 and shape and s[0] == shape[0] else None


reshape = define_op(
    "reshape", arity=1, normalize=_reshape_params, shape=lambda s, shape: shape,
    numpy=lambda x, shape: np.reshape(x, shape), sympy=lambda x, shape: np.reshape(x, shape),
    array_api=lambda xp, x, shape: xp.reshape(x, shape),
    dask="blocks",  # dask reshapes only by merging or splitting axes; rows kept run unmixed
    rop=lambda dx, x, *, out, shape: reshape(dx, shape=shape),
    vjp=lambda g, x, *, out, shape: reshape(g, shape=x.shape),
    inverse=lambda out, x, shape: reshape(out, shape=x.shape),
    batch=lambda x, *, batched, shape: reshape(x, shape=x.shape[:1] + shape),
    linear=True, axis_map=_reshape_axis_map,
    domain=REALS, simplify=_simplify_reshape,
    examples=[Example(((2, 3),), {"shape": (3, 2)}), Example(((2,),), {"shape": (1, 2)}),
              Example(((2, 3),), {"shape": (2, 3, 1)})],
    code=lambda x, shape: f"{x}.reshape({shape!r})",
    doc="out = x with a new shape of the same size (C order); bijective",
)


# -- broadcast_to -------------------------------------------------------------------------
def _broadcast_shape_check(s, shape):
    if broadcast_shape("broadcast_to", s, shape) != shape:
        raise ShapeError(f"broadcast_to: cannot broadcast {s} to {shape}")
    return shape


def _simplify_broadcast(x, *, out_shape, shape):
    if x.shape == shape:
        return x
    if x.op is broadcast_to:
        return broadcast_to(x.inputs[0], shape=shape)
    return None


broadcast_to = define_op(
    "broadcast_to", arity=1,
    normalize=lambda s, shape: {"shape": tuple(int(d) for d in shape)},
    shape=_broadcast_shape_check,
    numpy=lambda x, shape: np.broadcast_to(x, shape),
    array_api=lambda xp, x, shape: xp.broadcast_to(x, shape),
    sympy=lambda x, shape: np.broadcast_to(x, shape).copy(),
    # the transformations broadcast tangents up and sum cotangents down, so both rules are
    # the identity here
    rop=lambda dx, x, *, out, shape: dx,
    vjp=lambda g, x, *, out, shape: g,
    inverse=NoInverse("broadcast_to repeats entries: an arbitrary output has no preimage"),
    batch=lambda x, *, batched, shape: broadcast_to(pad_batched(x, len(shape)),
                                                    shape=x.shape[:1] + shape),
    linear=True, axis_map=lambda i, axis, s, shape: aligned_axis(axis, s, shape),
    domain=REALS, simplify=_simplify_broadcast,
    examples=[Example(((3,),), {"shape": (2, 3)}), Example(((2, 1),), {"shape": (2, 3)})],
    code=lambda x, shape: f"np.broadcast_to({x}, {shape!r})",
    doc="out = x repeated along new or length-1 axes (numpy broadcasting)",
)


# -- getitem and its adjoint scatter ------------------------------------------------------
def normalize_index(s, index):
    """A basic index as a tuple of ints, concrete slices (start, stop, step all ints) and
    None (a new axis of length 1), with ``...`` expanded, checked against shape ``s``."""
    index = index if isinstance(index, tuple) else (index,)
    ellipses = sum(entry is Ellipsis for entry in index)
    if ellipses > 1:
        raise ShapeError(f"getitem: an index can only have one ellipsis (...), got {index}")
    consumed = sum(entry is not None and entry is not Ellipsis for entry in index)
    if consumed > len(s):
        raise OutOfBoundsError(f"getitem: index {index} indexes {consumed} axes, but shape {s} "
                               f"has {len(s)}")
    if ellipses:
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (len(s) - consumed) + index[at + 1:]
    out, axis = [], 0
    for entry in index:
        if entry is None:
            out.append(None)
            continue
        dim = s[axis]
        axis += 1
        if isinstance(entry, (int, np.integer)) and not isinstance(entry, (bool, np.bool_)):
            if not -dim <= entry < dim:
                raise OutOfBoundsError(f"getitem: index {entry} is out of bounds for axis "
                                       f"{axis - 1} of length {dim} in shape {s}")
            out.append(int(entry) % dim)
        elif isinstance(entry, slice):
            start, stop, step = entry.indices(dim)
            # a stop of -1 from indices() means "before index 0" for a negative step, but
            # as a slice bound it would mean the last entry: None keeps the meaning
            out.append(slice(start, None if step < 0 and stop < 0 else stop, step))
        else:
            raise TypeError(f"getitem supports ints, slices, ... and None (basic indexing), "
                            f"got {entry!r}")
    return tuple(out)


def _indexed_shape(s, index):
    return np.broadcast_to(np.empty((), np.bool_), s)[index].shape


def _kept_axes(s, index) -> dict:
    """{operand axis: output axis} for the axes an index keeps whole and in order."""
    kept, axis, out_axis = {}, 0, 0
    for entry in index + (slice(None),) * (len(s) - sum(e is not None for e in index)):
        if entry is None:
            out_axis += 1
            continue
        if isinstance(entry, slice):
            if entry.indices(s[axis]) == (0, s[axis], 1):
                kept[axis] = out_axis
            out_axis += 1
        axis += 1
    return kept


getitem = define_op(
    "getitem", arity=1,
    normalize=lambda s, index: {"index": normalize_index(s, index)},
    shape=_indexed_shape,
    numpy=lambda x, index: x[index],
    # the standard indexes every axis: a trailing ... where numpy implies one
    array_api=lambda xp, x, index: x[index + (Ellipsis,)],
    sympy=lambda x, index: object_array(x[index]),
    rop=lambda dx, x, *, out, index: getitem(dx, index=index),
    vjp=lambda g, x, *, out, index: scatter(g, index=index, shape=x.shape),
    inverse=NoInverse("getitem drops the entries it does not select"),
    batch=lambda x, *, batched, index: getitem(x, index=(slice(None),) + index),
    linear=True, selects=True,
    axis_map=lambda i, axis, s, index: _kept_axes(s, index).get(axis),
    domain=REALS,
    examples=[Example(((3, 2),), {"index": 1}), Example(((3, 2),), {"index": (slice(0, 2), 1)}),
              Example(((3, 2),), {"index": (Ellipsis, None, 0)})],
    code=lambda x, index: f"{x}[{index!r}]",
    doc="out = x[index] for basic indices (ints, slices, ... and None)",
)


def _scatter_params(s, index, shape):
    shape = tuple(int(d) for d in shape)
    index = normalize_index(shape, index)
    if _indexed_shape(shape, index) != s:
        raise ShapeError(f"scatter: a value of shape {s} does not fit index {index} of "
                         f"shape {shape}")
    return {"index": index, "shape": shape}


def _scatter(x, index, shape, zeros):
    out = zeros(shape)
    out[index] = x
    return out


def _scatter_xp(xp, x, index, shape):
    """scatter in namespace xp, whose assignments take no None (new axes): those are the
    length-1 axes of x, dropped."""
    kept = tuple(entry for entry in index if entry is not None)
    out = zeros(xp, shape, x)
    out[kept + (Ellipsis,)] = xp.reshape(x, _indexed_shape(shape, kept))
    return out


def _scatter_axis_map(i, axis, s, index, shape):
    by_output = {out_axis: axis for axis, out_axis in _kept_axes(shape, index).items()}
    return by_output.get(axis)


scatter = define_op(
    "scatter", arity=1, normalize=_scatter_params, shape=lambda s, index, shape: shape,
    numpy=lambda x, index, shape: _scatter(x, index, shape, lambda s: np.zeros(s, x.dtype)),
    array_api=lambda xp, x, index, shape: _scatter_xp(xp, x, index, shape),
    dask="blocks",  # a write into numpy zeros
    sympy=lambda x, index, shape: _scatter(x, index, shape,
                                           lambda s: np.full(s, sympy.Integer(0), object)),
    rop=lambda dx, x, *, out, index, shape: scatter(dx, index=index, shape=shape),
    vjp=lambda g, x, *, out, index, shape: getitem(g, index=index),
    inverse=lambda out, x, index, shape: getitem(out, index=index),
    batch=lambda x, *, batched, index, shape: scatter(x, index=(slice(None),) + index,
                                                      shape=x.shape[:1] + shape),
    linear=True, embeds=True, axis_map=_scatter_axis_map,
    domain=REALS,
    examples=[Example(((2,),), {"index": 1, "shape": (3, 2)}),
              Example(((3, 1),), {"index": (slice(None), slice(1, 2)), "shape": (3, 2)})],
    doc="out = zeros(shape) with out[index] = x; the adjoint of getitem; injective",
)


# -- concatenate --------------------------------------------------------------------------
def _concat_params(*shapes, axis=0):
    ndim = len(shapes[0])
    if ndim == 0:
        raise ShapeError("concatenate: operands must have at least one axis, got shape ()")
    return {"axis": normalize_axis(axis, ndim, "concatenate")}


def _concat_shape(*shapes, axis):
    first = shapes[0]
    for s in shapes[1:]:
        if len(s) != len(first) or any(a != b for i, (a, b) in enumerate(zip(s, first))
                                        if i != axis):
            listed = ", ".join(str(t) for t in shapes)
            raise ShapeError(f"concatenate: shapes {listed} differ off axis {axis}")
    return first[:axis] + (sum(s[axis] for s in shapes),) + first[axis + 1:]


_STARTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _part(i, inputs, axis, out):
    """The index selecting operand ``i``'s entries in the concatenated output. The offsets
    are computed once per node (``out``), not once per operand: linear, not quadratic."""
    starts = _STARTS.get(out)
    if starts is None or len(starts) != len(inputs) + 1:
        starts = np.concatenate([[0], np.cumsum([x.shape[axis] for x in inputs])])
        _STARTS[out] = starts
    return (slice(None),) * axis + (slice(int(starts[i]), int(starts[i + 1])),)


def _batch_concatenate(*xs, batched, axis):
    k = batch_size(xs, batched)
    return concatenate([with_batch(x, k, b) for x, b in zip(xs, batched)], axis=axis + 1)


concatenate = define_op(
    "concatenate", arity=None, normalize=_concat_params, shape=_concat_shape,
    numpy=lambda *xs, axis: np.concatenate(xs, axis=axis),
    array_api=lambda xp, *xs, axis: xp.concat(xs, axis=axis),
    sympy=lambda *xs, axis: np.concatenate(xs, axis=axis),
    rop=lambda dx, *xs, out, axis, index: scatter(dx, index=_part(index, xs, axis, out),
                                                  shape=out.shape),
    vjp=lambda g, *xs, out, axis, index: getitem(g, index=_part(index, xs, axis, out)),
    inverse=lambda out, *xs, axis, index: getitem(out, index=_part(index, xs, axis, out)),
    batch=_batch_concatenate,
    linear=True, disjoint_operands=True,
    axis_map=lambda i, a, *shapes, axis: a if a != axis else None,
    domain=REALS,
    examples=[Example(((2,), (3,))), Example(((2, 1), (2, 2)), {"axis": 1})],
    doc="out = the operands joined along an existing axis; injective in each operand",
)
