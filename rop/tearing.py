"""Tearing a dependency loop: treat an unknown node as known (a new variable T), propagate,
and solve the equations left over, R(T) = 0, which are affine in T.

R's matrix is found by probing the propagation, as cheaply as the loop's structure allows:
one probe when T moves through elementwise ops only (the matrix is diagonal), one probe
per column when rows never mix (a block per sample), one probe per entry otherwise.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from graph import ops
from graph.errors import NotInvertibleError
from graph.traverse import depends_on, topo_order
from graph.op import const, var
from graph.substitute import substitute


ELEMENTWISE = {"add", "sub", "mul", "div", "neg", "where", "nonzero", "away_from_kink",
               "exp", "log", "tanh", "sigmoid", "softplus", "sin", "cos", "sqrt", "square",
               "abs", "relu", "leaky_relu", "arcsin", "arccos"}
AFFINE_ANY = {"add", "sub", "neg", "transpose", "reshape", "getitem", "scatter", "concatenate",
              "broadcast_to", "sum", "mean", "nonzero", "away_from_kink", "full_rank", "where"}
MAX_TEARS = 6


@dataclass
class Trial:
    solver: object
    tears: list  # [(node, variable T)]
    residuals: list = field(default_factory=list)
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
        best = _attempt(solver, [s for s in solver.sources if s not in solver.values])
    if best is None:
        raise NotInvertibleError(solver.stall_message() + "\nand no tear (of up to "
                                 f"{MAX_TEARS} nodes, or of every unknown) leaves a square "
                                 "affine system that determines the unknowns")
    if best.probes > solver.tear_limit:
        raise NotInvertibleError(
            f"{solver.stall_message()}\nthe cheapest tear needs {best.probes} probes "
            f"({best.structure} system of size {_size(best)}), more than tear_limit="
            f"{solver.tear_limit}")
    solution = _solve_residuals(best)
    torn = ", ".join(best.solver.line(node).split(" = ")[0] for node, _ in best.tears)
    solver.notes.extend(best.solver.notes[len(solver.notes):])
    solver.notes.append(f"tore the loop at {torn}: {best.structure} system of size "
                        f"{_size(best)}, {best.probes} probe(s)")
    for s in solver.sources:
        solver.values[s] = substitute(best.solver.values[s], solution)


def _size(trial):
    return sum(t.size for _, t in trial.tears)


def _candidates(solver):
    """Unknown operands of stalled equations, unknown nodes the unknown forks at, and the
    unknown sources themselves (a bias is often the cheapest tear)."""
    found = dict.fromkeys(s for s in solver.sources if s not in solver.values)
    for node in solver.order:
        if node in solver.assigned and node not in solver.consumed and node.inputs:
            found.update(dict.fromkeys(solver.unknown_inputs(node)))
    for node in solver.order:
        readers = [c for c in solver.consumers.get(node, []) if c in solver.dep]
        if node in solver.dep and node not in solver.values and len(readers) >= 2:
            found[node] = None
    position = {n: i for i, n in enumerate(solver.order)}
    return sorted(found, key=lambda n: (n.size, -position[n]))


def _attempt(solver, nodes):
    """Propagate with ``nodes`` torn; a Trial when that completes with a square, affine
    system of leftover equations, else None."""
    trial = solver.copy()
    tears = []
    for node in nodes:
        t = var(f"tear{id(node)}_{len(tears)}", node.shape)
        trial.assigned[node] = t
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
            probe = current.copy()
            probe.assigned[candidate] = var(f"probe{id(candidate)}", candidate.shape)
            complete = probe.propagate()
            options.append((not complete, -len(probe.values), candidate.size, candidate, probe))
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
    trial = solver.copy()
    for node in nodes:
        trial.assigned[node] = var(f"probe{id(node)}", node.shape)
    return trial.propagate()


def _affine(residual, torn) -> bool:
    """Structurally affine in the torn variables: no product of two moving factors, no
    nonlinear function of a moving value."""
    moving = depends_on([residual], list(torn))
    for node in topo_order([residual]):
        if node not in moving or node in torn:
            continue
        count = sum(x in moving for x in node.inputs)
        name = node.op.name
        if name in AFFINE_ANY:
            continue
        if name in ("mul", "matmul") and count == 1:
            continue
        if name == "div" and node.inputs[0] in moving and node.inputs[1] not in moving:
            continue
        if name == "solve" and node.inputs[0] not in moving:
            continue
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
        movers = [x for x in node.inputs if x in moving]
        same = all(x.shape == node.shape for x in movers)
        axes = {row_axis.get(x) for x in movers}
        axis = axes.pop() if len(axes) == 1 else None
        diagonal[node] = same and node.op.name in ELEMENTWISE and all(diagonal[x] for x in movers)
        if node.op.name in ELEMENTWISE and same:
            row_axis[node] = axis
        elif node.op.name == "transpose" and node.ndim == 2 and axis is not None:
            row_axis[node] = 1 - axis
        elif node.op.name == "matmul" and node.ndim == 2 and len(movers) == 1:
            left = node.inputs[0] in moving
            row_axis[node] = axis if (left and axis == 0) or (not left and axis == 1) else None
        elif node.op.name == "solve" and node.ndim == 2 and node.inputs[0] not in moving:
            row_axis[node] = 1 if axis == 1 else None
        else:
            row_axis[node] = None
    if diagonal[residual]:
        return "diagonal"
    return "per-sample block" if row_axis[residual] == 0 else "dense"


def _solve_residuals(trial) -> dict:
    """{T: its value}: the affine system R(T) = R0 + K T = 0 solved with probes of K."""
    tears = [t for _, t in trial.tears]
    zero = {t: const(np.zeros(t.shape)) for t in tears}
    if trial.structure == "diagonal":
        residual, t = trial.residuals[0], tears[0]
        r0 = substitute(residual, zero)
        slope = substitute(residual, {t: const(np.ones(t.shape))}) - r0
        return {t: -r0 / ops.nonzero(slope, context="the torn loop's diagonal")}
    if trial.structure == "per-sample block":
        residual, t = trial.residuals[0], tears[0]
        r0 = substitute(residual, zero)
        rows, cols = t.shape
        columns = []
        for j in range(cols):
            probe = np.zeros(t.shape)
            probe[:, j] = 1.0
            column = substitute(residual, {t: const(probe)}) - r0
            columns.append(ops.reshape(column, shape=(rows, cols, 1)))
        blocks = ops.concatenate(columns, axis=2)  # blocks[i] = d R[i, :] / d T[i, :]
        return {t: -ops.solve(blocks, r0, context="the torn loop's per-sample blocks")}
    flat = _flatten(trial.residuals)
    r0 = substitute(flat, zero)
    sizes = [t.size for t in tears]
    columns = []
    for e in np.eye(sum(sizes)):
        parts = np.split(e, np.cumsum(sizes)[:-1])
        probe = {t: const(p.reshape(t.shape)) for t, p in zip(tears, parts)}
        columns.append(ops.reshape(substitute(flat, probe) - r0, shape=(flat.size, 1)))
    matrix = ops.full_rank(ops.concatenate(columns, axis=1), need="columns",
                           context="the torn loop's dense system")
    if matrix.shape[0] > matrix.shape[1]:  # more equations than unknowns, all consistent
        matrix, r0 = matrix.T @ matrix, matrix.T @ r0
    solution = -ops.solve(matrix, r0, context="the torn loop's dense system")
    values, start = {}, 0
    for t in tears:
        values[t] = ops.reshape(ops.getitem(solution, index=slice(start, start + t.size)),
                                shape=t.shape)
        start += t.size
    return values


def _flatten(nodes):
    parts = [ops.reshape(n, shape=(n.size,)) for n in nodes]
    return parts[0] if len(parts) == 1 else functools.reduce(
        lambda a, b: ops.concatenate([a, b]), parts)
