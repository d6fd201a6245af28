"""The leaves of a graph: variables (named inputs) and constants (arrays baked in)."""

from __future__ import annotations

import numpy as np

from .errors import ShapeError
from .node import Node


class Leaf:
    """Marker op of variables and constants (no operands, no rules, no properties)."""

    piecewise_constant = elementwise = selects = embeds = reduces = disjoint_operands = False
    linear: tuple = ()
    multilinear: tuple = ()
    axis_map = kink_distance = code = None

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<{self.name}>"


VAR = Leaf("var")
CONST = Leaf("const")
FLOAT_KINDS = "fb"  # constants are real floating point (or bool masks)


def var(name: str, shape=(), dtype=np.float64) -> Node:
    """A named input of a graph; its value is given to :func:`graph.evaluate` by name.

    >>> import graph as G
    >>> G.var("W", (3, 2))
    <Node var W (3, 2)>
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"a variable needs a non-empty string name, got {name!r}")
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if any(int(d) < 0 for d in shape):
        raise ShapeError(f"var {name!r}: negative dimension in shape {tuple(shape)}")
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"var {name!r}: unsupported dtype {dtype} (use a real number type)")
    return Node(VAR, (), {}, shape, dtype, name=name)


def const(value, dtype=None) -> Node:
    """A constant array baked into the graph (copied and made read-only).

    >>> import graph as G
    >>> G.const([1.0, 2.0]).shape
    (2,)
    """
    # C order whatever the source's layout (a folded transpose is a Fortran-ordered view):
    # matmul's rounding depends on the layout, and a loaded graph's constants are C-ordered
    array = np.array(value, dtype=dtype, order="C")
    if dtype is None and array.dtype.kind in "biu":
        array = array.astype(np.float64)
    if array.dtype.kind not in FLOAT_KINDS:
        raise TypeError(f"const: unsupported dtype {array.dtype} (use real floating point)")
    array.setflags(write=False)
    return Node(CONST, (), {}, array.shape, array.dtype, value=array)


def as_node(x, like=None) -> Node:
    """A node unchanged; a number or array as a constant. A Python scalar next to nodes of
    dtype ``like`` takes that dtype (numpy 2's rule: Python scalars do not promote)."""
    if isinstance(x, Node):
        return x
    if like is not None and is_python_scalar(x):
        return const(x, dtype=np.result_type(like, np.float16, x))
    return const(x)


def is_python_scalar(x) -> bool:
    return type(x) in (int, float, bool)  # np.float64 subclasses float but is a strong type


def as_nodes(operands) -> tuple:
    """Operands as nodes; Python scalars take the dtype the other operands give."""
    strong = [x.dtype if isinstance(x, Node) else np.asarray(x).dtype
              for x in operands if not is_python_scalar(x)]
    like = np.result_type(*strong) if strong else None
    return tuple(as_node(x, like) for x in operands)


def is_zero(node: Node) -> bool:
    return node.is_const and not np.any(node.value)


def is_one(node: Node) -> bool:
    return node.is_const and bool(np.all(node.value == 1))
