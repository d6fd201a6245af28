"""Op: one primitive with all of its rules in one place; the registry; family helpers.

Rule conventions (every rule builds graph nodes, never numbers, so transformations compose):

=========  ==========================================  ======================================
rule       entry i of the tuple is called as           and returns
=========  ==========================================  ======================================
``rop``    ``rule(dx, *inputs, out=node, **params)``    input i's contribution to R{out}
``vjp``    ``rule(g, *inputs, out=node, **params)``     the cotangent of input i, given the
                                                        output's cotangent ``g``
``inverse``  ``rule(out, *inputs, **params)``           input i solved from ``out`` and the
                                                        other inputs; ``inputs[i]`` is the
                                                        original node, a branch hint only
=========  ==========================================  ======================================

``None`` in ``rop``/``vjp`` means "this derivative is zero"; in ``inverse`` it means "cannot
solve for this input" and comes with a reason. A unary op may give a bare function instead
of a 1-tuple. Variadic ops (``arity=None``) give one function, called with ``index=i``.
Summing contributions, broadcasting tangents up to the output shape and summing cotangents
down to the input shape happen once, in the transformations (rop/), never inside rules.

An op may also give ``code(*argument_names, **params)``: the numpy expression compile()
writes for it (``"np.tanh(a)"``); without one, compile calls the ``numpy`` function.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .errors import AxisError, GraphError, ShapeError
from .node import Node

REGISTRY: dict[str, "Op"] = {}
_REWRITING = contextvars.ContextVar("rewriting", default=True)


@contextlib.contextmanager
def construction_rewrites(enabled: bool):
    """Turn the construction-time rewrites (constant folding, identities such as x * 1,
    dropped broadcasts) off or on inside a block. Off, graphs are built exactly as written:
    the tests compare those with rewritten ones."""
    token = _REWRITING.set(enabled)
    try:
        yield
    finally:
        _REWRITING.reset(token)


@dataclass(frozen=True)
class Interval:
    """Open interval where an op's input may be sampled (by check_op and property tests)."""

    lo: float
    hi: float

    def sample(self, rng, shape):
        return rng.uniform(self.lo, self.hi, size=shape)


REALS = Interval(-2.0, 2.0)
POSITIVE = Interval(0.3, 2.5)
UNIT = Interval(-0.9, 0.9)  # inside (-1, 1)


@dataclass(frozen=True)
class Example:
    """Operand shapes and params on which check_op proves an op's rules symbolically."""

    shapes: tuple
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class NoInverse:
    """An explicit statement that an op cannot be solved for an operand, and why."""

    reason: str


class Op:
    """A primitive: numpy forward, shape rule, sympy form, R-op, VJP (and inverse) rules.

    Ops are callable and build nodes: ``graph.ops.tanh(x)``. Use :func:`define_op` (or a
    family helper such as :func:`elementwise_op`) to create and register one.
    """

    def __init__(self, name, *, arity, numpy, shape, sympy, rop, vjp, inverse, domain,
                 examples, doc, normalize=None, simplify=None, kink_distance=None,
                 const_inputs=(), fold=True, broadcasts=False, piecewise_constant=False,
                 code=None):
        self.name = name
        self.arity = arity
        self.numpy = numpy
        self.shape = shape
        self.sympy = sympy
        self.rop = rop if isinstance(rop, tuple) or rop is None else (rop,)
        self.vjp = vjp if isinstance(vjp, tuple) or vjp is None else (vjp,)
        self.inverse = inverse if isinstance(inverse, (tuple, NoInverse)) else (inverse,)
        self.domain = domain if isinstance(domain, tuple) else (domain,) * (arity or 1)
        self.examples = tuple(examples)
        self.doc = doc
        self.normalize = normalize
        self.simplify = simplify
        self.kink_distance = kink_distance
        self.const_inputs = tuple(const_inputs)
        self.fold = fold
        self.broadcasts = broadcasts
        self.piecewise_constant = piecewise_constant  # zero derivative: a branch or a slope
        self.code = code  # (*argument names, **params) -> a numpy expression, for compile
        self.__doc__ = doc

    def __repr__(self):
        return f"<Op {self.name}>"

    def __call__(self, *inputs, **params) -> Node:
        if self.arity is None and len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])  # concatenate([a, b]) as in numpy
        if self.arity is not None and len(inputs) != self.arity:
            raise TypeError(f"{self.name} takes {self.arity} operand(s), got {len(inputs)}")
        if self.arity is None and not inputs:
            raise TypeError(f"{self.name} needs at least one operand")
        inputs = _nodes(inputs)
        for i in self.const_inputs:
            if not inputs[i].is_const:
                raise GraphError(f"{self.name}: operand {i} must be a constant, got {inputs[i]!r}")
        shapes = [x.shape for x in inputs]
        if self.normalize is not None:
            params = self.normalize(*shapes, **params)
        shape = self.shape(*shapes, **params)
        if not _REWRITING.get():
            return self.make(inputs, params, shape)
        if self.broadcasts:
            inputs = _drop_broadcasts(inputs, shape)
        if self.fold and all(x.is_const for x in inputs) and _folds_small(inputs, shape):
            return const(self.numpy(*(x.value for x in inputs), **params))
        if self.simplify is not None:
            simpler = self.simplify(*inputs, out_shape=shape, **params)
            if simpler is not None:
                return simpler
        return self.make(inputs, params, shape)

    def make(self, inputs, params, shape=None) -> Node:
        """The node ``self(*inputs, **params)`` exactly as given: params already normalized,
        no folding or simplification (check_op uses this to test the op itself)."""
        if shape is None:
            shape = self.shape(*(x.shape for x in inputs), **params)
        dtype = np.result_type(*(x.dtype for x in inputs), np.float16)
        return Node(self, inputs, params, shape, dtype)

    # -- rules, looked up by operand index ------------------------------------------------
    def _rule(self, rules, i):
        if rules is None:
            return None
        return rules[0] if self.arity is None else rules[i]

    def _call(self, rule, i, first, node):
        params = dict(node.params)
        if self.arity is None:
            params["index"] = i
        return rule(first, *node.inputs, out=node, **params)

    def apply_rop(self, i: int, dx: Node, node: Node):
        """Input ``i``'s contribution to R{node} given its tangent ``dx`` (None if zero)."""
        rule = self._rule(self.rop, i)
        return None if rule is None else self._call(rule, i, dx, node)

    def apply_vjp(self, i: int, g: Node, node: Node):
        """The cotangent of input ``i`` given the output cotangent ``g`` (None if zero)."""
        rule = self._rule(self.vjp, i)
        return None if rule is None else self._call(rule, i, g, node)

    def apply_inverse(self, i: int, out: Node, inputs, params):
        """Operand ``i`` solved from ``out`` and the other ``inputs`` (``inputs[i]`` is only a
        branch hint). Raises NotInvertibleError when the op has no inverse for it."""
        from .errors import NotInvertibleError

        rule = self.inverse_rule(i)
        if isinstance(rule, NoInverse) or rule is None:
            reason = rule.reason if isinstance(rule, NoInverse) else "no inverse rule"
            raise NotInvertibleError(reason)
        if self.broadcasts and inputs[i].shape != out.shape:
            raise NotInvertibleError(
                f"operand {i} is broadcast from {inputs[i].shape} to {out.shape}: its entries "
                f"are repeated, so a single value cannot be read back without a fused solve")
        params = dict(params)
        if self.arity is None:
            params["index"] = i
        return rule(out, *inputs, **params)

    def input_domain(self, i: int) -> Interval:
        """Where operand ``i`` is sampled by checks (variadic ops share one interval)."""
        return self.domain[min(i, len(self.domain) - 1)]

    def inverse_rule(self, i: int):
        """The rule solving for operand ``i``, or a NoInverse saying why there is none."""
        if isinstance(self.inverse, NoInverse):
            return self.inverse
        rule = self.inverse[0] if self.arity is None else self.inverse[i]
        return rule


def _drop_broadcasts(inputs, shape):
    """An operand ``broadcast_to(y)`` of a broadcasting op is replaced by ``y`` when the
    output keeps its shape: numpy broadcasts ``y`` itself, without the intermediate."""
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if x.op.name == "broadcast_to":
            shapes = [y.shape for y in inputs[:i]] + [x.inputs[0].shape] + \
                     [y.shape for y in inputs[i + 1:]]
            if tuple(np.broadcast_shapes(*shapes)) == shape:
                inputs[i] = x.inputs[0]
    return tuple(inputs)


def _folds_small(inputs, shape) -> bool:
    """Fold constants only when that does not materialize a broadcast (a bigger array)."""
    return int(np.prod(shape)) <= max([1] + [x.size for x in inputs])


def define_op(name: str, **spec) -> Op:
    """Create an op from its full specification and register it under ``name``.

    Every rule is a required keyword: an op cannot exist without its numpy forward, shape
    rule, sympy form, R-op and VJP rules and an inverse (or ``NoInverse(reason)``).
    """
    required = ("arity", "numpy", "shape", "sympy", "rop", "vjp", "inverse", "domain",
                "examples", "doc")
    missing = [k for k in required if k not in spec]
    if missing:
        raise TypeError(f"op {name!r} is missing {', '.join(missing)}: every op carries every rule")
    if name in REGISTRY:
        raise ValueError(f"an op named {name!r} is already registered")
    op = Op(name, **spec)
    _check_rule_arity(op)
    REGISTRY[name] = op
    return op


def _check_rule_arity(op):
    n = 1 if op.arity is None else op.arity
    for kind in ("rop", "vjp", "inverse"):
        rules = getattr(op, kind)
        if isinstance(rules, tuple) and len(rules) != n:
            raise TypeError(f"op {op.name!r}: {kind} gives {len(rules)} rule(s) for {n} operand(s)")


def all_ops() -> list[Op]:
    """Every registered op, in registration order."""
    return list(REGISTRY.values())


# -- leaves -------------------------------------------------------------------------------
class _Leaf:
    """Marker op of variables and constants (no operands, no rules)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<{self.name}>"


VAR = _Leaf("var")
CONST = _Leaf("const")


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
    return Node(VAR, (), {}, shape, dtype, name=name)


def const(value, dtype=None) -> Node:
    """A constant array baked into the graph (copied and made read-only).

    >>> import graph as G
    >>> G.const([1.0, 2.0]).shape
    (2,)
    """
    array = np.array(value, dtype=dtype)
    if dtype is None and array.dtype.kind in "biu":
        array = array.astype(np.float64)
    if array.dtype.kind not in "fb":
        raise TypeError(f"const: unsupported dtype {array.dtype} (use real floating point)")
    array.setflags(write=False)
    return Node(CONST, (), {}, array.shape, array.dtype, value=array)


def as_node(x, like=None) -> Node:
    """A node unchanged; a number or array as a constant. A Python scalar next to nodes of
    dtype ``like`` takes that dtype (numpy 2's rule: Python scalars do not promote)."""
    if isinstance(x, Node):
        return x
    if like is not None and _is_python_scalar(x):
        return const(x, dtype=np.result_type(like, np.float16, x))
    return const(x)


def _is_python_scalar(x) -> bool:
    return type(x) in (int, float, bool)  # np.float64 subclasses float but is a strong type


def _nodes(operands) -> tuple:
    """Operands as nodes; Python scalars take the dtype the other operands give."""
    strong = [x.dtype if isinstance(x, Node) else np.asarray(x).dtype
              for x in operands if not _is_python_scalar(x)]
    like = np.result_type(*strong) if strong else None
    return tuple(as_node(x, like) for x in operands)


def is_zero(node: Node) -> bool:
    return node.is_const and not np.any(node.value)


def is_one(node: Node) -> bool:
    return node.is_const and bool(np.all(node.value == 1))


# -- family helpers -----------------------------------------------------------------------
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


def broadcast_shape(opname: str, *shapes) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ShapeError(f"{opname}: operand shapes {listed} do not broadcast") from None


def sympy_elementwise(scalar_fn: Callable, nin: int) -> Callable:
    """Lift a sympy function of scalars to object arrays, with numpy broadcasting."""

    def lifted(*arrays, **params):
        ufunc = np.frompyfunc(lambda *xs: scalar_fn(*xs, **params), nin, 1)
        return object_array(ufunc(*arrays))

    return lifted


def object_array(value) -> np.ndarray:
    """An object array; a bare sympy expression becomes a 0-d one."""
    if isinstance(value, np.ndarray):
        return value.astype(object, copy=False)
    out = np.empty((), dtype=object)
    out[()] = value
    return out


def elementwise_op(name: str, *, numpy, sympy, deriv, inverse, domain=REALS,
                   params_examples=({},), **extra) -> Op:
    """A unary elementwise op from its derivative ``deriv(x, out, **params)`` (a node).

    R{out} = deriv * dx and the cotangent of x is g * deriv; the derivative may read the
    forward value ``out`` (tanh' = 1 - out**2).
    """
    return define_op(
        name, arity=1, numpy=numpy, shape=lambda s, **p: s,
        sympy=sympy_elementwise(sympy, 1),
        rop=lambda dx, x, *, out, **p: deriv(x, out, **p) * dx,
        vjp=lambda g, x, *, out, **p: g * deriv(x, out, **p),
        inverse=inverse, domain=domain,
        examples=extra.pop("examples", [Example(((2,),), p) for p in params_examples]),
        **extra,
    )


def broadcast_op(name: str, *, sympy, **spec) -> Op:
    """A binary elementwise op with numpy broadcasting."""
    return define_op(
        name, arity=2, shape=lambda a, b, **p: broadcast_shape(name, a, b), broadcasts=True,
        sympy=sympy_elementwise(sympy, 2),
        examples=spec.pop("examples", [Example(((), ())), Example(((2, 3), (3,))),
                                       Example(((2, 1), (1, 3)))]),
        **spec,
    )

