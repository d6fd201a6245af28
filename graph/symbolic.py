"""The bridge to SymPy: graphs as sympy expressions (to_sympy) and back (from_sympy)."""

from __future__ import annotations

import functools
import sys

import numpy as np
import sympy

from .errors import GraphError
from .leaves import as_node
from .node import Node
from .shapes import object_array
from .traverse import as_list, topo_order

# sympy builds and prints expressions recursively, about 5 Python frames per level of
# nesting at worst (a chain of functions such as tanh(tanh(...)); measured: with 100 frames
# already in use, str() fails at depth 180 under Python's default recursion limit of 1000).
# to_sympy refuses expressions nested deeper than this, which leaves the caller half the
# limit (tests/test_symbolic.py prints the deepest accepted ones 300 frames down).
MAX_SYMPY_DEPTH = 100


def symbol_array(name: str, shape, **assumptions) -> np.ndarray:
    """An object array of real sympy symbols: ``x`` for a scalar, ``x_0_1`` for entries."""
    assumptions.setdefault("real", True)
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        label = name if not shape else name + "_" + "_".join(map(str, index))
        out[index] = sympy.Symbol(label, **assumptions)
    return out


def sympy_number(x):
    """A float as an exact sympy number when its shortest repr is a short decimal (0.5 -> 1/2)."""
    if isinstance(x, (bool, np.bool_)):
        return sympy.Integer(int(x))
    x = float(x)
    if not np.isfinite(x):
        return {np.inf: sympy.oo, -np.inf: -sympy.oo}.get(x, sympy.nan)
    for scale, exact in ((1.0, sympy.Integer(1)), (np.pi, sympy.pi), (1 / np.pi, 1 / sympy.pi)):
        text = repr(x / scale)  # a short decimal times 1, pi or 1/pi: written exactly
        if "e" not in text and len(text) < 12 and float(sympy.Rational(text) * exact) == x:
            return sympy.Rational(text) * exact
    return sympy.Float(x, 17)


def sympy_values(outputs, symbols=None) -> list[np.ndarray]:
    """Evaluate graphs on object arrays of sympy expressions (one array per output).

    ``symbols`` maps variable nodes to object arrays; other variables get real symbols
    named after them.
    """
    nodes, _ = as_list(outputs)
    symbols = symbols or {}
    values = {}
    for node in topo_order(nodes):
        if node.is_var:
            values[node] = symbols[node] if node in symbols else symbol_array(node.name, node.shape)
        elif node.is_const:
            values[node] = object_array(np.vectorize(sympy_number, otypes=[object])(node.value))
        else:
            try:
                value = node.op.sympy(*(values[x] for x in node.inputs), **node.params)
            except RecursionError:  # sympy recursed through the operands' whole depth
                raise GraphError(_too_deep(node, nodes)) from None
            values[node] = object_array(value)
    return [values[n] for n in nodes]


def _too_deep(node, outputs) -> str:
    depth = {}  # ops on the longest path from a leaf, computed without recursion
    for n in topo_order(outputs):
        depth[n] = max((depth[x] + 1 for x in n.inputs), default=0)
    return (f"converting the graph to sympy: sympy exceeded Python's recursion limit "
            f"({sys.getrecursionlimit()}) at a {node.op.name} node {depth[node]} ops deep, in a "
            f"graph {max(depth[n] for n in outputs)} ops deep. Evaluate the graph numerically "
            f"(graph.evaluate), or raise sys.setrecursionlimit")


def sympy_depth(exprs) -> int:
    """How deeply the sympy expressions nest (a symbol or number is 1), counted with an
    explicit stack: recursion is what fails on the expressions this is meant to catch."""
    depth = {}  # by id: hashing a sympy expression recurses through it
    stack = [(e, False) for e in exprs]
    while stack:
        e, ready = stack.pop()
        if ready:
            depth[id(e)] = 1 + max((depth[id(a)] for a in _args(e)), default=0)
        elif id(e) not in depth:
            stack.append((e, True))
            stack.extend((a, False) for a in _args(e) if id(a) not in depth)
    return max((depth[id(e)] for e in exprs), default=0)


def _args(e):
    return getattr(e, "args", ())  # an op's sympy rule may leave a plain Python number


def to_sympy(node: Node, symbols=None, *, max_depth=MAX_SYMPY_DEPTH):
    """The graph as sympy: an expression for a scalar, a Matrix for 2-D, an Array otherwise.

    Raises GraphError for an expression nested more than ``max_depth`` levels deep (default
    ``MAX_SYMPY_DEPTH``): sympy's printer would exceed Python's default recursion limit.
    ``max_depth=None`` returns it anyway, for use under a raised ``sys.setrecursionlimit``.

    >>> import graph as G
    >>> x = G.var("x")
    >>> G.to_sympy(G.tanh(x) ** 2)
    tanh(x)**2
    """
    value = sympy_values(node, symbols)[0]
    if max_depth is not None:
        depth = sympy_depth(list(value.flat))
        if depth > max_depth:
            raise GraphError(f"to_sympy: the expression is nested {depth} levels deep, more "
                             f"than max_depth={max_depth}: too deep for sympy to print safely "
                             f"under Python's default recursion limit. Evaluate the graph "
                             f"numerically (graph.evaluate), or raise sys.setrecursionlimit "
                             f"and pass max_depth=None")
    if value.ndim == 0:
        return value[()]
    if value.ndim == 2:
        return sympy.Matrix(value.tolist())
    return sympy.Array(value.tolist(), value.shape)


def _pow(base, exponent):
    from . import ops

    if exponent.is_const and float(exponent.value) == 0.5:
        return ops.sqrt(base)
    if exponent.is_const and float(exponent.value) == -1:
        return ops.div(1.0, base)
    return ops.pow(base, exponent)


def _functions():
    from sympy.codegen import cfunctions

    from . import ops
    from .ops.special import StopGradient

    return {
        sympy.Add: lambda *a: functools.reduce(ops.add, a),
        sympy.Mul: lambda *a: functools.reduce(ops.mul, a),
        sympy.Pow: _pow,
        sympy.exp: ops.exp, sympy.log: ops.log, sympy.tanh: ops.tanh, sympy.sin: ops.sin,
        sympy.cos: ops.cos, sympy.asin: ops.arcsin, sympy.acos: ops.arccos,
        sympy.atan: ops.arctan, sympy.atan2: ops.arctan2, sympy.sinh: ops.sinh,
        sympy.cosh: ops.cosh, sympy.asinh: ops.arcsinh, sympy.erf: ops.erf,
        sympy.erfinv: ops.erfinv, sympy.Abs: ops.abs, sympy.sign: ops.sign,
        sympy.Heaviside: lambda x, *half: ops.step(x),
        sympy.Max: lambda *a: functools.reduce(ops.maximum, a),
        sympy.Min: lambda *a: functools.reduce(ops.minimum, a),
        StopGradient: ops.stop_gradient,
        # sympy's own core has no log1p, expm1 or hypot; its code-generation functions do
        cfunctions.log1p: ops.log1p, cfunctions.expm1: ops.expm1, cfunctions.hypot: ops.hypot,
    }


def _accurate_form(e, build):
    """log(1 + u) as log1p(u) and exp(u) - 1 (+ rest) as expm1(u) (+ rest), or None: the
    forms to_sympy writes for log1p and expm1, read back as the ops that keep small u
    accurate."""
    from . import ops

    if e.func is sympy.log and e.args[0].is_Add and sympy.S.One in e.args[0].args:
        return ops.log1p(build(e.args[0] - 1))
    exps = [a for a in e.args if a.func is sympy.exp] if e.is_Add else []
    if exps and sympy.S.NegativeOne in e.args:
        rest = e - exps[0] + 1
        head = ops.expm1(build(exps[0].args[0]))
        return head if rest == 0 else head + build(rest)
    return None


def from_sympy(expr, symbols: dict) -> Node:
    """Build a graph from a sympy expression, with ``symbols`` mapping sympy symbols to nodes.

    Elementwise expressions broadcast over the nodes' shapes.

    >>> import graph as G, sympy
    >>> a = sympy.Symbol("a")
    >>> x = G.var("x", (2,))
    >>> float(G.evaluate(G.sum(G.from_sympy(sympy.exp(a) * a, {a: x})), {"x": [0.0, 1.0]}))
    2.718281828459045
    """
    functions = _functions()
    symbols = {sympy.sympify(k): as_node(v) for k, v in symbols.items()}

    @functools.cache
    def build(e):
        if e in symbols:
            return symbols[e]
        if e.is_Symbol:
            raise GraphError(f"from_sympy: symbol {e} has no node in the mapping "
                             f"(mapped: {', '.join(map(str, symbols)) or 'none'})")
        if e.is_Number or e.is_NumberSymbol:
            return as_node(float(e))
        accurate = _accurate_form(e, build)
        if accurate is not None:
            return accurate
        fn = functions.get(e.func)
        if fn is None:
            raise GraphError(f"from_sympy: no op for sympy {e.func.__name__} (in {e})")
        return fn(*(build(a) for a in e.args))

    return build(sympy.sympify(expr))

