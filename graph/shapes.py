"""Shape helpers shared by ops: numpy's broadcasting and axis rules, object arrays."""

from __future__ import annotations

import numpy as np

from .errors import AxisError, ShapeError

PARAM_DEPTH = 8  # nesting of tuples an op's params may have, so that files can hold them


def broadcast_shape(opname: str, *shapes) -> tuple:
    """numpy's broadcast of ``shapes``, or a ShapeError naming the op and every shape."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ShapeError(f"{opname}: operand shapes {listed} do not broadcast") from None


def first_index(mask) -> tuple:
    """The index of ``mask``'s first True entry, as a tuple of ints (``()`` for a 0-d mask),
    so that an error can name the entry it found."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def normalize_axis(axis, ndim: int, opname: str) -> int:
    """``axis`` in ``0..ndim-1`` (negative axes count from the end, as in numpy); an
    AxisError naming the op, the axis and the rank when it is out of range."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{opname}: an axis must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        span = f"axes run from {-ndim} to {ndim - 1}" if ndim else "it has no axes"
        raise AxisError(f"{opname}: axis {axis} is out of bounds for an operand of rank "
                        f"{ndim} ({span})")
    return int(axis) % ndim


def normalize_axes(axes, ndim: int, opname: str) -> tuple:
    """A tuple of axes, each normalized; repeated axes are refused."""
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, (bool, np.bool_)):
        axes = (axes,)
    if not isinstance(axes, (tuple, list)):
        raise TypeError(f"{opname}: axes must be an integer or a tuple of integers, got "
                        f"{axes!r}")
    normalized = tuple(normalize_axis(a, ndim, opname) for a in axes)
    if len(set(normalized)) != len(normalized):
        raise AxisError(f"{opname}: repeated axis in {tuple(axes)}")
    return normalized


def aligned_axis(axis: int, shape: tuple, out_shape: tuple) -> int | None:
    """The output axis an operand axis lines up with under broadcasting, if it is not
    stretched (a length-1 axis broadcast to more mixes one entry into many)."""
    out_axis = axis + len(out_shape) - len(shape)
    return out_axis if shape[axis] == out_shape[out_axis] else None


def object_array(value) -> np.ndarray:
    """An object array; a bare sympy expression becomes a 0-d one."""
    if isinstance(value, np.ndarray):
        return value.astype(object, copy=False)
    out = np.empty((), dtype=object)
    out[()] = value
    return out
