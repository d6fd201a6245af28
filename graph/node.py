"""Graph nodes: immutable, hashed by identity; Python operators build new nodes."""

from __future__ import annotations

from typing import Any

import numpy as np


class Node:
    """One value in a graph: an op applied to input nodes, a variable or a constant.

    Nodes never change after construction; transformations build new ones. Equality is
    identity (``==`` is not overloaded), so nodes can key dictionaries.

    >>> import graph as G
    >>> x = G.var("x", (2,))
    >>> (2 * x).shape
    (2,)
    """

    __slots__ = ("op", "inputs", "params", "shape", "dtype", "name", "value", "__weakref__")
    op: Any  # an Op, or the Leaf marker of variables and constants
    inputs: tuple[Node, ...]
    params: dict
    shape: tuple[int, ...]
    dtype: np.dtype
    name: str  # a variable's name ("" for other nodes)
    value: np.ndarray | None
    __array_ufunc__ = None  # numpy defers to our reflected operators: array * node -> node

    def __init__(self, op, inputs, params, shape, dtype, name="", value=None):
        set_ = object.__setattr__
        set_(self, "op", op)
        set_(self, "inputs", tuple(inputs))
        set_(self, "params", dict(params))
        set_(self, "shape", tuple(int(d) for d in shape))
        set_(self, "dtype", np.dtype(dtype))
        set_(self, "name", name)
        set_(self, "value", value)

    def __setattr__(self, key, value):
        raise AttributeError(f"graph nodes are immutable (tried to set {key!r})")

    # -- introspection ------------------------------------------------------------------
    @property
    def is_var(self) -> bool:
        return self.op.name == "var"

    @property
    def is_const(self) -> bool:
        return self.op.name == "const"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def label(self) -> str:
        """Short description used in error messages: ``tanh (64, 5)`` or ``var x (3,)``."""
        if self.is_var:
            return f"var {self.name} {self.shape}"
        if self.is_const:
            return f"const {self.shape}"
        return f"{self.op.name} {self.shape}"

    def __repr__(self):
        return f"<Node {self.label()}>"

    def __str__(self):
        from .pretty import pretty

        return pretty(self)

    def __bool__(self):
        raise TypeError(
            "a graph node has no truth value: it is symbolic. Evaluate it with "
            "graph.evaluate(...) first, or use graph.where/maximum for graph-level choices."
        )

    # -- Python operators: each builds a node through the op registry -------------------
    def __add__(self, other):
        return _ops().add(self, other)

    def __radd__(self, other):
        return _ops().add(other, self)

    def __sub__(self, other):
        return _ops().sub(self, other)

    def __rsub__(self, other):
        return _ops().sub(other, self)

    def __mul__(self, other):
        return _ops().mul(self, other)

    def __rmul__(self, other):
        return _ops().mul(other, self)

    def __truediv__(self, other):
        return _ops().div(self, other)

    def __rtruediv__(self, other):
        return _ops().div(other, self)

    def __pow__(self, other):
        return _ops().pow(self, other)

    def __rpow__(self, other):
        return _ops().pow(other, self)

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def __rmatmul__(self, other):
        return _ops().matmul(other, self)

    def __neg__(self):
        return _ops().neg(self)

    def __pos__(self):
        return self

    def __getitem__(self, index):
        return _ops().indexing.subscript(self, index)  # basic indices, or one integer array

    @property
    def T(self):
        return _ops().transpose(self)

    def __iter__(self):
        raise TypeError("a graph node is not iterable; index it with node[i] instead")


def _ops():
    # the one import circle graph/ keeps: a node's Python operators build op nodes, and
    # print(node) shows its graph (pretty): both need the engine built on top of Node
    from . import ops

    return ops
