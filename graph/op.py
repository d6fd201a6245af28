"""Op: one primitive with all of its rules and properties in one place; the registry.

Rule conventions (every rule builds graph nodes, never numbers, so transformations compose):

===========  ===========================================  ===================================
rule         entry i of the tuple is called as            and returns
===========  ===========================================  ===================================
``rop``      ``rule(dx, *inputs, out=node, **params)``    input i's contribution to R{out}
``vjp``      ``rule(g, *inputs, out=node, **params)``     the cotangent of input i, given the
                                                          output's cotangent ``g``
``inverse``  ``rule(out, *inputs, **params)``             input i solved from ``out`` and the
                                                          other inputs; ``inputs[i]`` is the
                                                          original node, a branch hint only
``batch``    ``rule(*inputs, batched=flags, **params)``   the output with a leading batch axis,
                                                          for inputs of which those flagged
                                                          carry one (one rule, not a tuple)
===========  ===========================================  ===================================

``None`` in ``rop``/``vjp`` means "this derivative is zero"; in ``inverse`` it means "cannot
solve for this input" and comes with a reason. A unary op may give a bare function instead
of a 1-tuple. Variadic ops (``arity=None``) give one function, called with ``index=i``.
Summing contributions, broadcasting tangents up to the output shape and summing cotangents
down to the input shape happen once, in the transformations (rop/), never inside rules.

Properties say what an op is, so that transformations never name ops: ``elementwise``,
``linear`` (operands it is jointly linear in), ``multilinear`` (linear in each one
separately), ``repeated`` (the inverse when one unknown fills every operand), ``image``,
``axis_map`` (which output axis an operand's axis runs along without mixing), ``selects`` /
``embeds`` / ``disjoint_operands`` / ``reduces`` (how entries move). check_op verifies them.

Forwards on arrays other than numpy's (graph/backends.py; check_op verifies both):

- ``dask``: how the forward runs on dask arrays. ``"native"`` (the default): the numpy
  forward itself, which numpy's dispatch hands to dask, building a lazy graph;
  ``"blocks"``: the numpy forward chunk by chunk along the operand axes ``axis_map`` keeps
  unmixed (for forwards dask cannot dispatch: ``np.vectorize``, ``np.add.at``, writes into
  zeros), other axes joined into one chunk; ``"whole"``: one task on whole operands (guards
  whose checks read every entry).
- ``array_api``: ``rule(xp, *arrays, **params)``, the forward in the Array API standard's
  namespace ``xp`` (array_api_strict, PyTorch and CuPy through array-api-compat). An op whose
  numpy forward is a ufunc with a name in the standard gets ``xp.<name>`` by default; one
  without either is refused by name when evaluated on such arrays.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import inspect
import sys
import types
from typing import Protocol

import numpy as np

from .domains import Interval, NoInverse
from .errors import GraphError
from .leaves import as_nodes, const
from .node import Node
from .op_spec import check_definition, check_spec

REGISTRY: dict[str, Op] = {}
DASK_MODES = ("native", "blocks", "whole")
_REWRITING = contextvars.ContextVar("rewriting", default=True)


class RopRule(Protocol):
    def __call__(self, dx: Node, *inputs: Node, out: Node, **params) -> Node | None: ...


class VjpRule(Protocol):
    def __call__(self, g: Node, *inputs: Node, out: Node, **params) -> Node | None: ...


class InverseRule(Protocol):
    def __call__(self, out: Node, *inputs: Node, **params) -> Node: ...


class BatchRule(Protocol):
    def __call__(self, *inputs: Node, batched: tuple, **params) -> Node: ...


class AxisMap(Protocol):
    def __call__(self, i: int, axis: int, *shapes: tuple, **params) -> int | None: ...


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


class Op:
    """A primitive: numpy forward, shape rule, sympy form, R-op, VJP, inverse and batching
    rules, and the properties transformations read (see the module docstring).

    Ops are callable and build nodes: ``graph.ops.tanh(x)``. Use :func:`define_op` (or a
    family helper such as :func:`graph.elementwise_op`) to create and register one.
    """

    def __init__(self, name, *, arity, numpy, shape, sympy, rop, vjp, inverse, batch, domain,
                 examples, doc, normalize=None, simplify=None, kink_distance=None,
                 const_inputs=(), fold=True, broadcasts=False, piecewise_constant=False,
                 code=None, elementwise=False, linear=(), multilinear=(), repeated=None,
                 image=None, axis_map=None, selects=False, embeds=False,
                 disjoint_operands=False, reduces=False, dask="native", array_api=None):
        self.name = name
        self.arity = arity
        self.numpy = numpy
        self.shape = shape
        self.sympy = sympy
        self.rop = rop if isinstance(rop, tuple) or rop is None else (rop,)
        self.vjp = vjp if isinstance(vjp, tuple) or vjp is None else (vjp,)
        self.inverse = inverse if isinstance(inverse, (tuple, NoInverse)) else (inverse,)
        self.batch: BatchRule = batch
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
        self.elementwise = elementwise  # out[i] reads only the operands' entries at i
        self.linear = linear  # operands it is jointly linear in (True: all of them)
        self.multilinear = tuple(multilinear)  # operands it is linear in one at a time
        self.repeated = repeated  # (out, u, **params) -> u, when u fills every operand
        self.image = image  # Interval, or (i, inputs, params) -> Interval | None
        self.axis_map: AxisMap | None = axis_map
        self.selects = selects  # out is a selection of the operand's entries (a gather)
        self.embeds = embeds  # out is the operand's entries placed among zeros
        self.disjoint_operands = disjoint_operands  # each operand fills its own part of out
        self.reduces = reduces  # a linear reduction over params["axis"]
        if dask not in DASK_MODES:
            raise ValueError(f"op {name!r}: dask must be one of {', '.join(DASK_MODES)}, got "
                             f"{dask!r}")
        self.dask = dask  # how the forward runs on dask arrays (see the module docstring)
        self.array_api = array_api  # (xp, *arrays, **params) -> the forward in namespace xp
        self.module = ""  # the module that defined it (set on registration)
        self.__doc__ = doc

    def __repr__(self):
        return f"<Op {self.name}>"

    def __reduce__(self):
        # pickled by name (dask ships ops to its workers): the rules hold lambdas and numpy
        # objects that cannot be pickled by value, and the registry has the op
        return registered_op, (self.name, self.module)

    def __call__(self, *inputs, **params) -> Node:
        if self.arity is None and len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])  # concatenate([a, b]) as in numpy
        if self.arity is not None and len(inputs) != self.arity:
            raise TypeError(f"{self.name} takes {self.arity} operand(s), got {len(inputs)}")
        if self.arity is None and not inputs:
            raise TypeError(f"{self.name} needs at least one operand")
        inputs = as_nodes(inputs)
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
            with np.errstate(all="ignore"):  # a NaN folded is the NaN numpy would compute
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

    # -- properties, by operand ---------------------------------------------------------
    def is_linear_in(self, i: int) -> bool:
        return self.linear is True or i in self.linear

    def affine_in(self, moving) -> bool:
        """Whether the op is affine in the operands ``moving`` (indices) together, the
        others held fixed: all jointly linear ones, or a single multilinear one."""
        moving = set(moving)
        if all(self.is_linear_in(i) for i in moving):
            return True
        return len(moving) == 1 and moving <= set(self.multilinear)

    def image_for(self, i: int, inputs, params) -> Interval | None:
        """The outputs that have a preimage when solving for operand ``i`` (None: all)."""
        return self.image(i, inputs, params) if callable(self.image) else self.image

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

    def apply_batch(self, inputs, batched, params) -> Node:
        """The op applied to ``inputs`` of which those flagged in ``batched`` carry a leading
        batch axis; the result carries one too."""
        return self.batch(*inputs, batched=tuple(batched), **params)

    def input_domain(self, i: int) -> Interval:
        """Where operand ``i`` is sampled by checks (variadic ops share one interval)."""
        return self.domain[min(i, len(self.domain) - 1)]

    def inverse_rule(self, i: int):
        """The rule solving for operand ``i``, or a NoInverse saying why there is none."""
        if isinstance(self.inverse, NoInverse):
            return self.inverse
        return self.inverse[0] if self.arity is None else self.inverse[i]


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


REQUIRED = ("arity", "numpy", "shape", "sympy", "rop", "vjp", "inverse", "batch", "domain",
            "examples", "doc")
_KEYWORDS = tuple(inspect.signature(Op.__init__).parameters)[2:]  # past self and name


def define_op(name: str, *, replace: bool = False, **spec) -> Op:
    """Create an op from its full specification and register it under ``name``.

    Every rule is a required keyword: an op cannot exist without its numpy forward, shape
    rule, sympy form, R-op, VJP and batching rules and an inverse (or
    ``NoInverse(reason)``). ``replace=True`` replaces an op registered under the same name
    (re-running a definition, as in a notebook cell); graphs already built keep the old op.

    Raises TypeError naming the op and what to add or change when a rule is missing, a rule
    tuple has the wrong length, a rule cannot be called as the conventions call it, or an
    example is not one the op's own shape rule accepts (graph/op_spec.py).

    >>> import graph as G, numpy as np, sympy
    >>> cube = G.elementwise_op("cube_doc", numpy=lambda x: x ** 3, sympy=lambda x: x ** 3,
    ...                         deriv=lambda x, out: 3 * x * x,
    ...                         inverse=lambda out, x: G.sign(out) * G.abs(out) ** (1 / 3),
    ...                         doc="out = x**3; bijective", replace=True)
    >>> float(G.evaluate(cube(G.const(2.0))))
    8.0
    """
    check_spec(name, spec, REQUIRED, _KEYWORDS)
    if name in REGISTRY and not replace:
        raise ValueError(f"an op named {name!r} is already registered ({REGISTRY[name]!r}); "
                         f"pass replace=True to define_op to replace it")
    op = Op(name, **spec)
    check_definition(op)
    op.module = _defining_module()
    REGISTRY[name] = op
    return op


_HELPERS = {__name__, "graph.ops.families"}  # family helpers call define_op for their callers


def _defining_module() -> str:
    """The module whose code defines the op (past define_op and the family helpers)."""
    frame: types.FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__") in _HELPERS:
        frame = frame.f_back
    return "" if frame is None else frame.f_globals.get("__name__", "")


def registered_op(name: str, module: str = "") -> Op:
    """The op registered under ``name``, importing ``module`` (the one that defines it) when
    it is not registered yet: how a pickled op is restored."""
    if name not in REGISTRY and module:
        importlib.import_module(module)
    if name not in REGISTRY:
        raise KeyError(f"no op named {name!r} is registered (it is defined in "
                       f"{module or 'an unknown module'}, which must be importable here)")
    return REGISTRY[name]


def all_ops() -> list[Op]:
    """Every registered op, in registration order."""
    return list(REGISTRY.values())


