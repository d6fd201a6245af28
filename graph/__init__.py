"""graph: the engine of rop. Nodes, ops with all of their rules, evaluation, SymPy bridge.

>>> import graph as G
>>> x = G.var("x", (2,))
>>> G.evaluate(G.sum(G.tanh(x) ** 2), {"x": [0.0, 0.0]})
array(0.)
"""

from . import (
                     linalg,  # G.linalg.inv, solve, cholesky, det, slogdet
                     ops,
)
from .compile import Program, clear_cache, compile, evaluate, specialize
from .domains import POSITIVE, REALS, UNIT, Example, Interval, NoInverse
from .draw import draw, to_dot, to_latex
from .errors import (
                     AxisError,
                     CertificateError,
                     DomainError,
                     FeedError,
                     GraphError,
                     MissingRuleError,
                     NotInvertibleError,
                     OutOfBoundsError,
                     RuleCheckError,
                     ShapeError,
)
from .io import GraphFileError, dumps, load, loads, save
from .leaves import as_node, const, var
from .node import Node
from .op import Op, all_ops, construction_rewrites, define_op
from .ops import *  # noqa: F403 - every op as a function: G.tanh, G.matmul, ...
from .ops.families import broadcast_op, elementwise_op, sympy_elementwise
from .pretty import pretty
from .substitute import substitute
from .symbolic import from_sympy, to_sympy
from .traverse import topo_order, variables

__all__ = [
    "ops", "linalg", "Program", "compile", "clear_cache", "specialize", "AxisError",
    "DomainError", "FeedError",
    "GraphError", "CertificateError", "MissingRuleError", "NotInvertibleError",
    "OutOfBoundsError", "RuleCheckError", "ShapeError", "evaluate", "topo_order", "variables",
    "Node", "POSITIVE", "REALS", "UNIT", "Example", "Interval", "NoInverse", "Op", "all_ops",
    "as_node", "const", "construction_rewrites", "define_op", "elementwise_op", "broadcast_op",
    "sympy_elementwise", "var", "pretty", "from_sympy", "to_sympy", "substitute", "draw",
    "to_dot", "to_latex", "save", "load", "dumps", "loads", "GraphFileError",
    *ops.__all__,
]
