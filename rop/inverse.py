"""inverse(y, wrt): the functional inverse of a graph, by known-value propagation.

The output, the constants and the variables other than ``wrt`` are known. A node whose value
is known and that has one unknown operand solves for it with the op's inverse rule (as in
jax-ml/oryx). Where propagation stalls, because an unknown reaches a node by several paths,
the solver first tries fused solves of recognisable linear patterns (rop/fusion.py), then
tears the loop: it treats one unknown node as known, propagates, and solves the small
system left over (rop/tearing.py).
"""

from __future__ import annotations

import functools
from collections import defaultdict

import numpy as np

from graph import ops
from graph.errors import NotInvertibleError
from graph.traverse import as_list, fresh_names, topo_order
from graph.op import var
from graph.ops.guards import inverting
from graph.pretty import numbered
from graph.rewrite import cse
from graph.substitute import substitute

from .fusion import fuse
from .tearing import tear

# relative distance to a kink below which a slope or branch is refused: a few hundred times
# the rounding error of a pre-activation (eps times the sizes of a dot product), so that
# the sign that picks the slope is certain; a larger value refuses good points in big nets
KINK_TOL = 1e-10
TEAR_LIMIT = 1024  # most probes (copies of the loop's graph) a tear may take


class Solver:
    """Known-value propagation over the nodes between ``sources`` and ``outputs``."""

    def __init__(self, outputs, values, sources, *, kink_tol=KINK_TOL, tear_limit=TEAR_LIMIT,
                 affine_only=False):
        self.outputs, self.sources = list(outputs), list(sources)
        self.order = topo_order(self.outputs)
        self.dep = _unknowns(self.outputs, self.sources)
        self.consumers = defaultdict(list)
        for node in self.order:
            for x in dict.fromkeys(node.inputs):
                if x in self.dep:
                    self.consumers[x].append(node)
        self.assigned = dict(zip(self.outputs, values))
        self.consumed, self.values = set(), {}
        self.kink_tol, self.tear_limit, self.affine_only = kink_tol, tear_limit, affine_only
        self.notes, self.failures = [], {}
        self._lines = None

    # -- bookkeeping -------------------------------------------------------------------
    def copy(self) -> "Solver":
        """An independent state over the same graph (a tear is tried on a copy)."""
        other = object.__new__(Solver)
        other.__dict__.update(self.__dict__)
        other.assigned, other.consumed = dict(self.assigned), set(self.consumed)
        other.values, other.failures = dict(self.values), dict(self.failures)
        other.notes = list(self.notes)
        return other

    def line(self, node) -> str:
        if self._lines is None:
            self._lines = numbered(self.outputs)
        return self._lines.get(node, repr(node))

    def unknown_inputs(self, node):
        return [x for x in dict.fromkeys(node.inputs) if x in self.dep and x not in self.values]

    def refresh(self):
        """Give every node whose value now follows from known ones that value (forward)."""
        changed = True
        while changed:
            changed = False
            for node in self.order:
                if node in self.values:
                    continue
                value = self._forward(node)
                if value is not None:
                    self.values[node] = value
                    changed = True

    def _forward(self, node):
        if node in self.assigned:
            return self.assigned[node]
        if node not in self.dep:
            return node
        if node.inputs and all(x in self.values for x in node.inputs):
            return node.op(*(self.values[x] for x in node.inputs), **node.params)
        return self._assemble(node)

    def _assemble(self, node):
        """A node read only by getitems that together cover it: their values put back in
        place. Where two readers overlap, the first is used; the other's equation stays
        to be checked (a residual)."""
        readers = self.consumers.get(node, [])
        if not readers or any(r.op is not ops.getitem or r not in self.values for r in readers):
            return None
        covered = np.zeros(node.shape, dtype=bool)
        used = []
        for r in readers:
            if not covered[r.params["index"]].any():
                covered[r.params["index"]] = True
                used.append(r)
        if not covered.all():
            return None
        self.consumed.update(used)  # their equations hold by construction
        return functools.reduce(ops.add, [
            ops.scatter(self.values[r], index=r.params["index"], shape=node.shape)
            for r in used])

    # -- propagation -------------------------------------------------------------------
    def propagate(self):
        """Solve equations until none can be used; True when every source has a value."""
        while True:
            self.refresh()
            if all(s in self.values for s in self.sources):
                return True
            if not self._step():
                return False

    def _step(self) -> bool:
        for node in reversed(self.order):
            if node in self.assigned and node not in self.consumed and node.inputs:
                unknown = self.unknown_inputs(node)
                if unknown:
                    solved = self._solve(node, unknown)
                    if solved:
                        self.assigned.update(solved)
                        self.consumed.add(node)
                        return True
        return False

    def _solve(self, node, unknown):
        out = self.values[node]
        with inverting(f"inverting {self.line(node)}"):
            try:
                if len(unknown) == 1:
                    return self._solve_one(node, unknown[0], out)
                return self._solve_many(node, unknown, out)
            except NotInvertibleError as reason:
                self.failures[node] = str(reason)
                return fuse(self, node, out)

    def _solve_one(self, node, u, out):
        slots = [i for i, x in enumerate(node.inputs) if x is u]
        inputs = [self.values.get(x, x) for x in node.inputs]
        if len(slots) == 1:
            fused = fuse(self, node, out, prefer_rule=True)
            if fused:
                return fused
            try:
                return {u: node.op.apply_inverse(slots[0], out, inputs, node.params)}
            except NotInvertibleError as reason:
                raise NotInvertibleError(f"solving for operand {slots[0]}: {reason}") from None
        if node.op is ops.mul and len(slots) == 2:  # u * u = out: square's inverse
            return {u: ops.square.apply_inverse(0, out, [u], {})}
        if node.op is ops.add and len(slots) == 2:  # u + u = out
            return {u: out * 0.5}
        raise NotInvertibleError(f"the unknown {self.line(u)} fills several operands")

    def _solve_many(self, node, unknown, out):
        if node.op is ops.concatenate:  # every operand is a slice of the output
            return {x: node.op.apply_inverse(i, out, list(node.inputs), node.params)
                    for i, x in enumerate(node.inputs) if x in unknown}
        if node.op is ops.add:
            separated = _disjoint_scatters(self, node, out)
            if separated:
                return separated
        paths = ", ".join(f"operand {i} ({self.line(x).split(' = ')[0]})"
                          for i, x in enumerate(node.inputs) if x in unknown)
        raise NotInvertibleError(f"the unknown reaches it through {paths}: a dependency loop")

    # -- results -----------------------------------------------------------------------
    def residuals(self):
        """Equations not used to solve anything, now with every operand known: each must
        hold, as ``op(operands) - value == 0``."""
        found = []
        for node in self.order:
            if node in self.assigned and node not in self.consumed and node.inputs and \
                    all(x in self.values for x in node.inputs):
                computed = node.op(*(self.values[x] for x in node.inputs), **node.params)
                if computed is not self.assigned[node]:
                    found.append(computed - self.assigned[node])
        return found

    def stall_message(self) -> str:
        lines = [f"  {self.line(n)}: {why}" for n, why in self.failures.items()
                 if n not in self.consumed]
        missing = [s.name or repr(s) for s in self.sources if s not in self.values]
        return (f"cannot invert for {', '.join(missing)}: propagation stalled at\n"
                + "\n".join(lines or ["  (no equation reaches the unknown)"]))


def _unknowns(outputs, sources) -> set:
    """Nodes that depend on the sources, except through piecewise-constant ops (step,
    sign, round): a slope or branch is read from the current value, as the inverse of a
    piecewise-linear op does, and is known."""
    found = set(sources)
    for node in topo_order(outputs):
        if not getattr(node.op, "piecewise_constant", False) and \
                any(x in found for x in node.inputs):
            found.add(node)
    return found


def _disjoint_scatters(solver, node, out):
    """add(scatter(a, I), scatter(b, J), ...) with disjoint I, J: each part is out[I]."""
    leaves, stack = [], list(node.inputs)
    while stack:
        n = stack.pop()
        if n.op is ops.add and n in solver.dep and n not in solver.values:
            stack.extend(n.inputs)
        else:
            leaves.append(n)
    if not all(leaf.op is ops.scatter for leaf in leaves):
        return None
    covered = np.zeros(node.shape, dtype=int)
    for leaf in leaves:
        covered[leaf.params["index"]] += 1
    if np.any(covered > 1):
        return None
    return {leaf: ops.scatter(ops.getitem(out, index=leaf.params["index"]),
                              index=leaf.params["index"], shape=node.shape)
            for leaf in leaves}


def solve_for(outputs, values, sources, **options):
    """(value nodes for ``sources``, notes on how) such that ``outputs`` take ``values``."""
    solver = Solver(cse(outputs), values, sources, **options)
    if not solver.propagate():
        tear(solver)
    result = [solver.values[s] for s in solver.sources]
    return _guard_kinks(result, solver.kink_tol), solver.notes


def _guard_kinks(nodes, tol):
    """Every slope or branch read from a piecewise op (step, sign, round) is refused when
    its argument sits within ``tol`` of the kink."""
    reading = [n for n in topo_order(nodes) if n.op in (ops.step, ops.sign)
               and n.inputs[0].op is not ops.away_from_kink]
    if not reading:
        return nodes
    guarded = {n: n.op(ops.away_from_kink(n.inputs[0], tol=tol,
                                          context=f"reading the slope {n.op.name}(.) of a "
                                                  f"piecewise-linear op"))
               for n in reading}
    return substitute(nodes, guarded)


def inverse(y, wrt, *, kink_tol: float = KINK_TOL, tear_limit: int = TEAR_LIMIT):
    """The functional inverse of ``y`` with respect to ``wrt``: ``(z, x_of_z)``.

    ``z`` is a fresh variable shaped like ``y`` standing for its value; ``x_of_z`` computes
    ``wrt`` from ``z`` and the graph's other variables. Non-injective ops (square, abs, sin,
    even powers) take the branch of the current value of ``wrt``, which ``x_of_z`` may read.
    Lists of outputs and of unknowns are accepted.

    Raises:
        NotInvertibleError: naming the node, the op, the operand and the reason, when
            neither propagation, a fused solve nor a tear within ``tear_limit`` applies.

    >>> import graph as G, rop
    >>> x = G.var("x", (2,))
    >>> z, x_of_z = rop.inverse(G.exp(x) * 2.0, x)
    >>> G.evaluate(x_of_z, {z: [2.0, 2.0 * np.e]})
    array([0., 1.])
    """
    ys, single_y = as_list(y)
    targets, single = as_list(wrt)
    zs = [var(name, yi.shape) for name, yi in zip(fresh_names(ys, "z", len(ys)), ys)]
    xs, _ = solve_for(ys, zs, targets, kink_tol=kink_tol, tear_limit=tear_limit)
    return (zs[0] if single_y else zs), (xs[0] if single else xs)
