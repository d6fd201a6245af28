"""Tearing a dependency loop: treat an unknown node as known (a new variable T), propagate,
and solve the equations left over, R(T) = 0, which are affine in T.

R's matrix is found by probing the propagation, as cheaply as the loop's structure allows:
one probe when T moves through elementwise ops only (the matrix is diagonal), one probe
per column when rows never mix (a block per sample), one probe per entry otherwise. The
structure is read from the ops' properties (``elementwise``, ``axis_map``, ``affine_in``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graph import ops
from graph.errors import NotInvertibleError
from graph.leaves import const, var
from graph.substitute import substitute
from graph.traverse import depends_on, topo_order

from ..batching import vmap
from ..layout import Layout

MAX_TEARS = 6


@dataclass
class Trial:
    solver: object
    tears: list  # [(node, variable T)]
    residuals: list = field(default_factory=list)
    residuals_k: list = field(default_factory=list)  # the same, for probing the matrix K
    structure: str = "dense"
    probes: int = 0


def tear(solver):
    """Complete ``solver``'s propagation by tearing; raise NotInvertibleError if impossible."""
    best = None
    for candidate in _candidates(solver):
        trial = _attempt(solver, [candidate])
        if trial and (best is None or (trial.probes, _size(trial)) < (best.probes, _size(best))):
            best = trial
            if best.probes == 1:
                break
    if best is None:
        best = _greedy(solver)
    if best is None:  # last resort: every unknown source torn, one probe per entry
        best = _attempt(solver, [s for s in solver.sources if solver.is_unknown(s)])
    if best is None:
        raise NotInvertibleError(solver.stall_message() + "\nand no tear (of up to "
                                 f"{MAX_TEARS} nodes, or of every unknown) leaves a square "
                                 "affine system that determines the unknowns")
    limit = solver.options["tear_limit"]
    if best.probes > limit:
        raise NotInvertibleError(
            f"{solver.stall_message()}\nthe cheapest tear needs {best.probes} probes "
            f"({best.structure} system of size {_size(best)}), more than tear_limit={limit}")
    solution = _solve_residuals(best)
    torn = ", ".join(best.solver.line(node).split(" = ")[0] for node, _ in best.tears)
    for message in best.solver.notes[len(solver.notes):]:
        solver.note(message)
    solver.note(f"tore the loop at {torn}: {best.structure} system of size {_size(best)}, "
                f"{best.probes} probe(s)")
    return [substitute(value, solution) for value in best.solver.solution()]


def _size(trial):
    return sum(t.size for _, t in trial.tears)


def _candidates(solver):
    """Unknown operands of stalled equations, unknown nodes the unknown forks at, and the
    unknown sources themselves (a bias is often the cheapest tear)."""
    found = dict.fromkeys(s for s in solver.sources if solver.is_unknown(s))
    for node in solver.stalled():
        found.update(dict.fromkeys(solver.unknown_inputs(node)))
    for node in solver.order:
        if solver.is_unknown(node) and len(solver.readers(node)) >= 2:
            found[node] = None
    return sorted(found, key=lambda n: (n.size, -solver.position[n]))


def _attempt(solver, nodes):
    """Propagate with ``nodes`` torn; a Trial when that completes with a square, affine
    system of leftover equations, else None."""
    trial = solver.fork()
    tears = []
    for node in nodes:
        t = var(f"tear{id(node)}_{len(tears)}", node.shape, node.dtype)
        trial.assume(node, t)
        tears.append((node, t))
    if not trial.propagate():
        return None
    torn = {t for _, t in tears}
    leftover = trial.residuals()
    moving = depends_on(leftover, list(torn))
    residuals = [r for r in leftover if r in moving]
    if sum(r.size for r in residuals) < sum(t.size for t in torn):
        return None  # fewer equations than torn unknowns: the tear does not determine them
    if not all(_affine(r, torn) for r in residuals):
        return None
    result = Trial(trial, tears, residuals)
    result.structure = _structure(result)
    t = tears[0][1]
    result.probes = {"diagonal": 1, "per-sample block": t.shape[-1] if t.ndim else 1}.get(
        result.structure, _size(result))
    return result


def _greedy(solver):
    """Several tears: add the one that unblocks most until propagation completes, then drop
    the tears that turned out redundant (largest first); solved densely."""
    chosen, current = [], solver
    for _ in range(MAX_TEARS):
        options = []
        for candidate in _candidates(current):
            probe = current.fork()
            probe.assume(candidate, var(f"probe{id(candidate)}", candidate.shape))
            complete = probe.propagate()
            unknown = sum(probe.is_unknown(n) for n in probe.order)
            options.append((not complete, unknown, candidate.size, candidate, probe))
        if not options:
            return None
        options.sort(key=lambda o: o[:3])
        chosen.append(options[0][3])
        if not options[0][0]:
            break
        current = options[0][4]
    else:
        return None
    for node in sorted(chosen, key=lambda n: -n.size):
        fewer = [n for n in chosen if n is not node]
        if fewer and _completes(solver, fewer):
            chosen = fewer
    return _attempt(solver, chosen)


def _completes(solver, nodes):
    trial = solver.fork()
    for node in nodes:
        trial.assume(node, var(f"probe{id(node)}", node.shape))
    return trial.propagate()


def _affine(residual, torn) -> bool:
    """Structurally affine in the torn variables: every node the tears reach is affine in
    the operands they reach it through (the op's ``linear``/``multilinear`` properties)."""
    moving = depends_on([residual], list(torn))
    for node in topo_order([residual]):
        if node in moving and node not in torn:
            if not node.op.affine_in(i for i, x in enumerate(node.inputs) if x in moving):
                return False
    return True


def _structure(trial) -> str:
    """'diagonal', 'per-sample block' or 'dense': how the leftover equations mix T."""
    if len(trial.tears) != 1 or len(trial.residuals) != 1:
        return "dense"
    (_, t), residual = trial.tears[0], trial.residuals[0]
    if residual.shape != t.shape:
        return "dense"
    moving = depends_on([residual], [t])
    diagonal, row_axis = {t: True}, {t: 0 if t.ndim == 2 else None}
    for node in topo_order([residual]):
        if node not in moving or node is t:
            continue
        movers = [(i, x) for i, x in enumerate(node.inputs) if x in moving]
        same_shape = all(x.shape == node.shape for _, x in movers)
        diagonal[node] = node.op.elementwise and same_shape and all(diagonal[x]
                                                                    for _, x in movers)
        row_axis[node] = _row_axis(node, movers, row_axis)
    if diagonal[residual]:
        return "diagonal"
    return "per-sample block" if row_axis[residual] == 0 else "dense"


def _row_axis(node, movers, row_axis):
    """The axis of ``node`` that carries T's rows unmixed, if every moving operand maps its
    row axis there (``axis_map``), else None."""
    if node.op.axis_map is None:
        return None
    shapes = [x.shape for x in node.inputs]
    landed = set()
    for i, x in movers:
        if row_axis.get(x) is None:
            return None
        landed.add(node.op.axis_map(i, row_axis[x], *shapes, **node.params))
    axis = landed.pop() if len(landed) == 1 else None
    return axis


def _solve_residuals(trial) -> dict:
    """{T: its value}: the affine system R(T) = R0 + K T = 0 solved with probes of K.

    When R is affine in the outputs' given values too (inverting a linear graph), K is
    probed with those values at zero: K then depends only on the point, so it is computed
    (and factored) once, not again for every right-hand side."""
    tears = [t for _, t in trial.tears]
    zero = {t: const(np.zeros(t.shape, t.dtype)) for t in tears}
    given = [v for v in trial.solver.given if v.is_var]
    if given and all(_affine(r, set(tears) | set(given)) for r in trial.residuals):
        at_zero = {v: const(np.zeros(v.shape, v.dtype)) for v in given}
        trial.residuals_k = [substitute(r, at_zero) for r in trial.residuals]
    else:
        trial.residuals_k = trial.residuals
    if trial.structure == "diagonal":
        residual, t = trial.residuals[0], tears[0]
        r0 = substitute(residual, zero)
        k_residual = trial.residuals_k[0]
        slope = substitute(k_residual, {t: const(np.ones(t.shape, t.dtype))}) - \
            substitute(k_residual, zero)
        return {t: -r0 / ops.nonzero(slope, context="the torn loop's diagonal")}
    if trial.structure == "per-sample block":
        residual, t = trial.residuals[0], tears[0]
        r0 = substitute(residual, zero)
        k_residual = trial.residuals_k[0]
        rows, cols = t.shape
        probes = np.zeros((cols,) + t.shape, t.dtype)  # probe j: ones in column j
        probes[np.arange(cols), :, np.arange(cols)] = 1.0
        # every probe in one batched pass (rop.vmap): (probe j, row i, equation c)
        columns = vmap(k_residual, {t: const(probes)}) - substitute(k_residual, zero)
        blocks = ops.transpose(columns, axes=(1, 2, 0))  # blocks[i] = dR[i, :] / dT[i, :]
        return {t: -ops.solve(blocks, r0, context="the torn loop's per-sample blocks")}
    layout = Layout(tears)
    flat, k_flat = _joined(trial.residuals), _joined(trial.residuals_k)
    r0 = substitute(flat, zero)
    basis = np.eye(layout.size, dtype=layout.dtype)
    batched = {t: const(part.reshape((layout.size,) + t.shape))
               for t, part in zip(tears, np.split(basis, layout.offsets, axis=1))}
    # all probes in one batched pass: row e is K applied to the basis vector e
    rows = vmap(k_flat, batched) - substitute(k_flat, zero)
    matrix = ops.full_rank(ops.transpose(rows), need="columns",
                           context="the torn loop's dense system")
    if matrix.shape[0] > matrix.shape[1]:  # more equations than unknowns, all consistent
        matrix, r0 = matrix.T @ matrix, matrix.T @ r0
    solution = -ops.solve(matrix, r0, context="the torn loop's dense system")
    return dict(zip(tears, layout.split(solution)))


def _joined(nodes):
    """The nodes' entries joined into one vector node."""
    parts = [ops.reshape(n, shape=(n.size,)) for n in nodes]
    return parts[0] if len(parts) == 1 else ops.concatenate(parts)
