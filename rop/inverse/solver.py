"""Known-value propagation: the solver every inversion runs, with the small interface that
fused solves (fusion.py) and tears (tearing.py) use.

The outputs' values are given; nodes that do not depend on the unknowns are known as they
are. A known node whose equation ``op(operands) = value`` has one unknown operand solves
for it with the op's inverse rule; a node whose operands are all known is computed forward.
Each node is visited a bounded number of times (a worklist, not repeated sweeps), so
propagation is linear in the size of the graph.
"""

from __future__ import annotations

import functools
from collections import defaultdict, deque

import numpy as np

from graph import evaluate, ops
from graph.errors import NotInvertibleError
from graph.leaves import const
from graph.node import Node
from graph.ops.guards import inverting
from graph.pretty import numbered
from graph.traverse import topo_order

# relative distance to a kink below which a slope or branch is refused: a few hundred times
# the rounding error of a pre-activation (eps times the sizes of a dot product), so that
# the sign that picks the slope is certain; a larger value refuses good points in big nets
KINK_TOL = 1e-10
TEAR_LIMIT = 1024  # most probes (copies of the loop's graph) a tear may take


def unknowns(outputs, sources) -> set:
    """Nodes that depend on the sources, except through piecewise-constant ops (step,
    sign, round): a slope or branch is read from the current value, as the inverse of a
    piecewise-linear op does, and is known."""
    found = set(sources)
    for node in topo_order(outputs):
        if not node.op.piecewise_constant and any(x in found for x in node.inputs):
            found.add(node)
    return found


class Solver:
    """Propagation of known values from ``outputs`` (given ``values``) to ``sources``.

    The interface fusion and tearing use: :meth:`is_unknown`, :meth:`value`,
    :meth:`readers`, :meth:`line`, :meth:`note`, :meth:`fork`, :meth:`assume`,
    :meth:`propagate`, :meth:`stalled`, :meth:`residuals`, and the read-only ``order``,
    ``sources``, ``given`` (the outputs' values), ``position`` and ``options``.
    """

    def __init__(self, outputs, values, sources, *, kink_tol=KINK_TOL, tear_limit=TEAR_LIMIT):
        self.outputs, self.sources, self.given = list(outputs), list(sources), list(values)
        self.options = {"kink_tol": kink_tol, "tear_limit": tear_limit}
        self.order = topo_order(self.outputs)
        self.position = {n: i for i, n in enumerate(self.order)}
        self._dep = unknowns(self.outputs, self.sources)
        self._readers = defaultdict(list)
        for node in self.order:
            for x in dict.fromkeys(node.inputs):
                if x in self._dep and node in self._dep:
                    self._readers[x].append(node)
        self._missing = {n: sum(x in self._dep for x in dict.fromkeys(n.inputs))
                         for n in self.order if n in self._dep}
        self._known: dict[Node, Node] = {}
        self._equations: dict[Node, Node] = {}  # known nodes whose own equation is unused
        self._consumed: set = set()
        self._queue: deque = deque()
        self._notes: list[str] = []
        self.failures: dict[Node, str] = {}
        self._lines = None
        for node, value in zip(self.outputs, values):
            self.assume(node, value)

    # -- the interface ------------------------------------------------------------------
    def is_unknown(self, node) -> bool:
        return node in self._dep and node not in self._known

    def value(self, node) -> Node:
        """The known value of ``node`` (a node of the solution graph)."""
        if node not in self._dep:
            return node
        return self._known[node]

    def readers(self, node) -> list:
        """The nodes that read ``node`` and depend on the unknowns."""
        return self._readers.get(node, [])

    def line(self, node) -> str:
        if self._lines is None:
            self._lines = numbered(self.outputs)
        return self._lines.get(node, repr(node))

    def note(self, message: str):
        self._notes.append(message)

    @property
    def notes(self) -> list:
        return list(self._notes)

    def fork(self) -> Solver:
        """An independent state over the same graph (a tear is tried on a fork)."""
        other = object.__new__(Solver)
        other.__dict__.update(self.__dict__)
        other._missing, other._known = dict(self._missing), dict(self._known)
        other._equations, other._consumed = dict(self._equations), set(self._consumed)
        other._queue, other._notes = deque(self._queue), list(self._notes)
        other.failures = dict(self.failures)
        return other

    def assume(self, node, value):
        """``node`` has ``value``: an output's given value, a solved operand, or a tear."""
        self._equations[node] = value
        self._learn(node, value)

    def propagate(self) -> bool:
        """Solve and compute until nothing changes; True when every source has a value."""
        while self._queue:
            node = self._queue.popleft()
            for reader in self.readers(node):
                self._missing[reader] -= 1
                if self._missing[reader] == 0 and reader not in self._known and \
                        reader not in self.sources:
                    self._learn(reader, reader.op(*(self.value(x) for x in reader.inputs),
                                                  **reader.params))
                self._try(reader)
            self._try(node)
            if node.op.selects:
                self._assemble(node.inputs[0])
        return all(s in self._known for s in self.sources)

    def stalled(self) -> list:
        """Equations not used yet whose operands are not all known, in graph order."""
        return sorted((n for n in self._equations if n not in self._consumed and n.inputs
                       and self.unknown_inputs(n)), key=self.position.__getitem__)

    def unknown_inputs(self, node) -> list:
        return [x for x in dict.fromkeys(node.inputs) if self.is_unknown(x)]

    def residuals(self) -> list:
        """Equations not used to solve anything, with every operand known: each must hold,
        as ``op(operands) - value == 0``."""
        found = []
        for node in sorted(self._equations, key=self.position.__getitem__):
            if node in self._consumed or not node.inputs or self.unknown_inputs(node):
                continue
            computed = node.op(*(self.value(x) for x in node.inputs), **node.params)
            if computed is not self._equations[node]:
                found.append(computed - self._equations[node])
        return found

    def solution(self) -> list:
        return [self._known[s] for s in self.sources]

    def stall_message(self) -> str:
        lines = [f"  {self.line(n)}: {why}" for n, why in self.failures.items()
                 if n not in self._consumed]
        missing = [s.name or repr(s) for s in self.sources if s not in self._known]
        return (f"cannot invert for {', '.join(missing)}: propagation stalled at\n"
                + "\n".join(lines or ["  (no equation reaches the unknown)"]))

    # -- propagation --------------------------------------------------------------------
    def _learn(self, node, value):
        self._known[node] = value
        self._queue.append(node)

    def _try(self, node):
        """Use ``node``'s equation if it is known and has unknown operands left."""
        if node not in self._equations or node in self._consumed or not node.inputs:
            return
        unknown = self.unknown_inputs(node)
        if not unknown:
            return
        from .fusion import fuse

        out = self._equations[node]
        with inverting(f"inverting {self.line(node)}"):
            try:
                solved = (self._solve_one(node, unknown[0], out) if len(unknown) == 1
                          else self._solve_many(node, unknown, out))
            except NotInvertibleError as reason:
                self.failures[node] = str(reason)
                solved = fuse(self, node, out)
        if solved:
            self._consumed.add(node)
            for u, value in solved.items():
                self.assume(u, value)

    def _solve_one(self, node, u, out):
        from .fusion import fuse

        slots = [i for i, x in enumerate(node.inputs) if x is u]
        if len(slots) > 1:
            if node.op.repeated is None:
                raise NotInvertibleError(f"the unknown {self.line(u)} fills several operands")
            return {u: node.op.repeated(out, u, **node.params)}
        fused = fuse(self, node, out, prefer_rule=True)
        if fused:
            return fused
        inputs = [self.value(x) if not self.is_unknown(x) else x for x in node.inputs]
        try:
            solved = node.op.apply_inverse(slots[0], _within_image(node, slots[0], out, inputs),
                                           inputs, node.params)
        except NotInvertibleError as reason:
            raise NotInvertibleError(f"solving for operand {slots[0]}: {reason}") from None
        return {u: solved}

    def _solve_many(self, node, unknown, out):
        if node.op.disjoint_operands:  # every operand is its own part of the output
            return {x: node.op.apply_inverse(i, out, list(node.inputs), node.params)
                    for i, x in enumerate(node.inputs) if x in unknown}
        paths = ", ".join(f"operand {i} ({self.line(x).split(' = ')[0]})"
                          for i, x in enumerate(node.inputs) if x in unknown)
        raise NotInvertibleError(f"the unknown reaches it through {paths}: a dependency loop")

    def _assemble(self, node):
        """An unknown node read only by selections (getitem) that are all known and together
        cover it: their values put back in place, by each selection's VJP (an embedding).
        Where two overlap, the first is used; the other's equation stays as a residual."""
        if not self.is_unknown(node):
            return
        readers = self.readers(node)
        if not readers or any(not r.op.selects or r not in self._known for r in readers):
            return
        covered, used = np.zeros(node.shape, dtype=bool), []
        for r in readers:
            mask = _support(r.op.apply_vjp(0, const(np.ones(r.shape, r.dtype)), r), node.shape)
            if not (covered & mask).any():
                covered |= mask
                used.append(r)
        if not covered.all():
            return
        self._consumed.update(used)  # their equations hold by construction
        self.assume(node, functools.reduce(ops.add, [
            r.op.apply_vjp(0, self._known[r], r) for r in used]))


def _support(embedded, shape) -> np.ndarray:
    """The entries an embedding of ones writes (a graph of constants, evaluated)."""
    return np.broadcast_to(np.asarray(evaluate(embedded)) != 0, shape)


def _within_image(node, i, out, inputs):
    """``out`` guarded to lie in the outputs the op takes, when solving for operand ``i``
    (tanh's inverse needs |out| < 1, square's out >= 0): refused when evaluated outside."""
    image = node.op.image_for(i, inputs, node.params)
    if image is None:
        return out
    return ops.within(out, lo=image.lo, hi=image.hi, closed=image.closed)
