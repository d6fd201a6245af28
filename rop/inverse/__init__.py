"""inverse(y, wrt): the functional inverse of a graph, by known-value propagation.

The output, the constants and the variables other than ``wrt`` are known. A node whose value
is known and that has one unknown operand solves for it with the op's inverse rule (as in
jax-ml/oryx). Where propagation stalls, because an unknown reaches a node by several paths,
the solver first tries fused solves of recognisable linear patterns (fusion.py), then
tears the loop: it treats one unknown node as known, propagates, and solves the small
system left over (tearing.py). See docs/math.md §8, §9, §10.
"""

from __future__ import annotations

from graph import ops
from graph.leaves import var
from graph.rewrite import cse
from graph.substitute import substitute
from graph.traverse import as_list, fresh_names, match_variables, restore, topo_order

from .solver import KINK_TOL, TEAR_LIMIT, Solver
from .tearing import tear

__all__ = ["inverse", "solve_for", "KINK_TOL", "TEAR_LIMIT"]


def solve_for(outputs, values, sources, *, kink_tol=KINK_TOL, tear_limit=TEAR_LIMIT):
    """(value nodes for ``sources``, notes on how) such that ``outputs`` take ``values``.

    Raises:
        NotInvertibleError: naming the node, the op, the operand and the reason, when
            neither propagation, a fused solve nor a tear within ``tear_limit`` applies.
    """
    solver = Solver(cse(outputs), values, sources, kink_tol=kink_tol, tear_limit=tear_limit)
    result = solver.solution() if solver.propagate() else tear(solver)
    return _guard_kinks(result, kink_tol), solver.notes


def _guard_kinks(nodes, tol):
    """Every slope or branch read from a piecewise-constant op (step, sign, round) is
    refused when its argument sits within ``tol`` of one of the op's kinks."""
    reading = [n for n in topo_order(nodes) if n.op.piecewise_constant
               and n.inputs[0].op is not ops.away_from_kink]
    if not reading:
        return nodes
    guarded = {n: n.op(ops.away_from_kink(n.inputs[0], tol=tol, kink_of=n.op.name,
                                          context=f"reading the slope {n.op.name}(.) of a "
                                                  f"piecewise-linear op"), **n.params)
               for n in reading}
    return substitute(nodes, guarded)


def inverse(y, wrt, *, kink_tol: float = KINK_TOL, tear_limit: int = TEAR_LIMIT):
    """The functional inverse of ``y`` with respect to ``wrt``: ``(z, x_of_z)``.

    ``z`` is a fresh variable shaped like ``y`` standing for its value; ``x_of_z`` computes
    ``wrt`` from ``z`` and the graph's other variables. Non-injective ops (square, abs, sin,
    even powers) take the branch of the current value of ``wrt``, which ``x_of_z`` may read;
    a value of ``z`` outside what ``y`` can take (a negative square) is refused with a
    DomainError when evaluated. Lists of outputs and of unknowns are accepted.

    Raises:
        NotInvertibleError: naming the node, the op, the operand and the reason, when
            neither propagation, a fused solve nor a tear within ``tear_limit`` applies.

    >>> import graph as G, numpy as np, rop
    >>> x = G.var("x", (2,))
    >>> z, x_of_z = rop.inverse(G.exp(x) * 2.0, x)
    >>> G.evaluate(x_of_z, {z: [2.0, 2.0 * np.e]})
    array([0., 1.])
    """
    ys, single_y = as_list(y)
    targets, single = as_list(wrt)
    targets = match_variables(ys, targets, "inverse")
    zs = [var(name, yi.shape, yi.dtype) for name, yi in zip(fresh_names(ys, "z", len(ys)), ys)]
    xs, _ = solve_for(ys, zs, targets, kink_tol=kink_tol, tear_limit=tear_limit)
    return restore(zs, single_y), restore(xs, single)
