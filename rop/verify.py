"""Proving rules: check_op (each rule of an op against sympy) and check_grads (a whole
graph's derivatives against finite differences and the adjoint identity)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy

from graph import evaluate, ops
from graph.errors import NotInvertibleError, RuleCheckError
from graph.feed import feed_by_name
from graph.leaves import as_node, const, var
from graph.op import Op
from graph.shapes import object_array
from graph.symbolic import symbol_array, sympy_values
from graph.traverse import as_list

from .backprop import vjp
from .forward import jvp
from .properties import check_properties
from .rule_calls import SYMPY_FORM, check_cotangent, check_solved, check_tangent, running

SIMPLIFY_OPS_LIMIT = 80  # larger differences go straight to high-precision evaluation
DIGITS = 40  # working precision of the numeric fallback
# |rule - sympy| <= RTOL * max(1, |rule|, |sympy|) at DIGITS digits counts as equal: exact
# rules agree to ~1e-40, rules with float constants (2/np.sqrt(np.pi)) to ~1e-16, wrong ones
# by O(1); check_op(op, rtol=...) changes it
RTOL = 1e-12
FORWARD_RTOL = 1e-12  # numpy forward against sympy: a few ulps of float64 per entry
KINK_MARGIN = 0.05  # sample points closer than this to a kink are redrawn


@dataclass
class Report:
    """What check_op proved: one line per rule and example, and how it was decided."""

    op: str
    lines: list = field(default_factory=list)
    symbolic: int = 0
    numeric: int = 0

    def add(self, what, how):
        self.lines.append(f"{what}: {how}")
        if how.startswith("symbolic"):
            self.symbolic += 1
        elif how.startswith("numeric"):
            self.numeric += 1

    def __str__(self):
        head = (f"check_op({self.op}): {self.symbolic + self.numeric} identities proved, "
                f"{self.symbolic} symbolically, {self.numeric} numerically at {DIGITS} digits "
                f"(simplify undecided)")
        return "\n".join([head] + ["  " + line for line in self.lines])


class _Case:
    """One example of an op: input variables, their sympy symbols and a point sampler."""

    def __init__(self, op: Op, example, rng):
        self.op, self.rng = op, rng
        params = dict(example.params)
        with running(op, "normalize", f"operands {tuple(example.shapes)}, {params}"):
            if op.normalize is not None:
                params = op.normalize(*example.shapes, **params)
        self.where = f"operands {tuple(example.shapes)}" + (f", {params}" if params else "")
        self.inputs, self.symbols, self.free = [], {}, []
        for i, shape in enumerate(example.shapes):
            if i in op.const_inputs:
                self.inputs.append(const(rng.integers(0, 2, size=shape).astype(float)))
                continue
            x = var(f"x{i}", shape)
            lo = op.input_domain(i).lo
            self.symbols[x] = symbol_array(f"x{i}", shape, real=True, positive=lo >= 0 or None)
            self.inputs.append(x)
            self.free.append(i)
        with running(op, "the shape rule", self.where):
            self.node = op.make(tuple(self.inputs), params)
        self.params = params
        with running(op, "the sympy form", self.where, SYMPY_FORM):
            self.out = sympy_values(self.node, self.symbols)[0]
        if self.out.shape != self.node.shape:
            raise RuleCheckError(f"the sympy form of {op.name!r} on {self.where} returns shape "
                                 f"{self.out.shape}, but the shape rule gives {self.node.shape}:"
                                 f" one of them is wrong ({SYMPY_FORM})")

    def sample(self):
        """A dict symbol -> float inside the op's domain, away from kinks."""
        for _ in range(100):
            values = [x.value if x.value is not None
                      else self.op.input_domain(i).sample(self.rng, x.shape)
                      for i, x in enumerate(self.inputs)]
            if self.op.kink_distance is None:
                break
            with running(self.op, "kink_distance", self.where):
                distance = self.op.kink_distance(*values, **self.params)
            if np.min(distance, initial=np.inf) > KINK_MARGIN:
                break
        point = {}
        for i, x in enumerate(self.inputs):
            if not x.is_const:
                for index in np.ndindex(*x.shape):
                    point[self.symbols[x][index]] = float(values[i][index])
        return point, values


def _decide(rule, expected, point_source, extra_symbols, rng, what, rtol=RTOL):
    """'symbolic' if rule - expected simplifies to 0, 'numeric' if it vanishes at random
    points at high precision relative to the magnitudes involved (``rtol``); otherwise
    raise RuleCheckError with a counterexample."""
    rule, expected = sympy.sympify(rule), sympy.sympify(expected)
    difference = rule - expected
    if difference == 0:
        return "symbolic"
    if sympy.count_ops(difference) <= SIMPLIFY_OPS_LIMIT:
        if sympy.expand(difference) == 0 or sympy.simplify(difference) == 0:
            return "symbolic"
    for _ in range(8):
        point, _ = point_source()
        point.update({s: float(rng.normal()) for s in extra_symbols})
        value = _at(difference, point)
        scale = max([1.0] + [abs(complex(v)) for v in (_at(rule, point), _at(expected, point))
                             if v.is_number])
        if not value.is_number or abs(complex(value)) > rtol * scale:
            at = ", ".join(f"{k} = {v:.6g}" for k, v in list(point.items())[:8])
            raise RuleCheckError(
                f"{what} disagrees with sympy:\n    rule {rule}\n    expected {expected}\n"
                f"    at {at}: rule - expected = {sympy.N(value, 6)} (relative tolerance "
                f"{rtol:g})")
    return "numeric (symbolically undecided, numerically equal)"


def _at(expr, point):
    """``expr`` at a point, evaluated with DIGITS significant digits."""
    exact = {s: sympy.Float(v, DIGITS) for s, v in point.items()}
    return expr.xreplace(exact).evalf(DIGITS)


def check_op(op: Op, *, seed: int = 0, rtol: float = RTOL) -> Report:
    """Prove an op's rules against sympy on each of its examples (small symbolic shapes).

    Checks: the numpy forward equals the sympy form at sample points; each R-op rule equals
    sympy's directional derivative; each VJP rule equals sympy's transposed derivative; the
    adjoint identity <u, J v> = <J^T u, v> between the two rules; each inverse rule recovers
    its operand and its derivative inverts the op's. Each identity is decided by exact
    simplification first; where ``simplify`` cannot decide, it is evaluated at random domain
    points with 40 digits and holds when |rule - expected| <= rtol * max(1, |rule|,
    |expected|), so rules with floating constants (``2 / np.sqrt(np.pi)``) pass and wrong
    ones (off by O(1)) do not. Then the batching rule and the declared properties are
    checked numerically (rop/properties.py).

    Raises:
        RuleCheckError: naming the rule, the example and a counterexample; or naming the
            form or rule that raised, or returned a value of the wrong shape, on an example.

    >>> import graph as G, rop
    >>> print(rop.check_op(G.ops.tanh).lines[0])
    forward on operands ((2,),): numpy = sympy at 5 points
    """
    rng = np.random.default_rng(seed)
    report = Report(op.name)
    if not op.examples:
        raise RuleCheckError(f"{op.name!r} has no examples: check_op would prove nothing. Give "
                             f"examples=[graph.Example(operand_shapes, params)]")
    for example in op.examples:
        case = _Case(op, example, rng)
        _check_forward(case, report)
        _check_derivatives(case, report, rng, rtol)
        _check_inverses(case, report, rng, rtol)
        _, values = case.sample()
        for kind, how in check_properties(op, case.node, [np.asarray(v, float) for v in values],
                                          case.params, case.free, rng):
            report.add(f"{kind} on {case.where}", how)
    return report


def _check_forward(case, report):
    for _ in range(5):
        point, values = case.sample()
        with running(case.op, "the numpy forward", case.where):
            numeric = np.asarray(case.op.numpy(*values, **case.params), dtype=float)
        if numeric.shape != case.out.shape:
            raise RuleCheckError(f"the numpy forward of {case.op.name!r} on {case.where} returns "
                                 f"shape {numeric.shape}, but the shape rule gives "
                                 f"{case.out.shape}")
        for index in np.ndindex(*case.out.shape):
            expected = complex(_at(sympy.sympify(case.out[index]), point))
            if abs(numeric[index] - expected) > FORWARD_RTOL * max(1.0, abs(expected)):
                raise RuleCheckError(
                    f"numpy forward of {case.op.name!r} on {case.where} disagrees with its "
                    f"sympy form at entry {index}: numpy {numeric[index]!r}, sympy {expected}")
    report.add(f"forward on {case.where}", "numpy = sympy at 5 points")


def _derivative(expr, symbol):
    """sympy.diff, with floor's derivative (left unevaluated by sympy) set to its value away
    from the jumps, 0, as for Heaviside and sign, whose derivative sympy writes DiracDelta."""
    d = sympy.diff(expr, symbol)
    if d.has(sympy.floor):
        d = d.replace(lambda e: isinstance(e, (sympy.Derivative, sympy.Subs))
                      and e.has(sympy.floor), lambda e: sympy.Integer(0))
    return d


def _jacobian_product(out, x_symbols, direction):
    """sum_j d out[k] / d x[j] * direction[j], for every output entry k."""
    result = np.empty(out.shape, dtype=object)
    pairs = list(zip(x_symbols.ravel(), direction.ravel()))
    for k in np.ndindex(*out.shape):
        result[k] = sympy.Add(*(_derivative(out[k], s) * d for s, d in pairs))
    return result


def _check_derivatives(case, report, rng, rtol):
    node, op = case.node, case.op
    g = var("g", node.shape)
    g_sym = symbol_array("g", node.shape)
    symbols = dict(case.symbols)
    symbols[g] = g_sym
    tangent_total: object = 0
    cotangent_pairing, tangent_symbols = 0, []
    for i in case.free:
        x = case.inputs[i]
        dx = var(f"dx{i}", x.shape)
        symbols[dx] = symbol_array(f"dx{i}", x.shape)
        tangent_symbols += list(symbols[dx].ravel())
        with running(op, f"rop[{i}]", case.where):
            rule_rop = op.apply_rop(i, dx, node)
        check_tangent(op, f"rop[{i}]", case.where, rule_rop, node.shape)
        rop_graph = ops.expand_to(as_node(rule_rop if rule_rop is not None else
                                          np.zeros(node.shape)), node.shape)
        with running(op, f"vjp[{i}]", case.where):
            rule_vjp = op.apply_vjp(i, g, node)
        check_cotangent(op, f"vjp[{i}]", case.where, rule_vjp, x.shape)
        vjp_graph = ops.sum_to(as_node(rule_vjp if rule_vjp is not None else
                                       np.zeros(x.shape)), x.shape)
        rop_sym, vjp_sym = sympy_values([rop_graph, vjp_graph], symbols)
        expected_rop = _jacobian_product(case.out, symbols[x], symbols[dx])
        decisions = set()
        for k in np.ndindex(*node.shape):
            what = f"R-op of {op.name!r} (argument {i}) on {case.where}, entry {k}"
            decisions.add(_decide(rop_sym[k], expected_rop[k], case.sample, tangent_symbols,
                                  rng, what, rtol))
        report.add(f"rop[{i}] on {case.where}", max(decisions, key=len, default="symbolic"))
        decisions = set()
        for j in np.ndindex(*x.shape):
            expected = sympy.Add(*(_derivative(case.out[k], symbols[x][j]) * g_sym[k]
                                   for k in np.ndindex(*node.shape)))
            what = f"vjp of {op.name!r} (argument {i}) on {case.where}, entry {j}"
            decisions.add(_decide(vjp_sym[j], expected, case.sample, list(g_sym.ravel()),
                                  rng, what, rtol))
        report.add(f"vjp[{i}] on {case.where}", max(decisions, key=len, default="symbolic"))
        tangent_total = tangent_total + rop_sym
        cotangent_pairing += sympy.Add(*object_array(vjp_sym * symbols[dx]).ravel())
    if case.free:
        pairing = sympy.Add(*object_array(g_sym * tangent_total).ravel())
        how = _decide(pairing, cotangent_pairing, case.sample,
                      tangent_symbols + list(g_sym.ravel()), rng,
                      f"adjoint identity <g, J dx> = <J^T g, dx> of {op.name!r} on {case.where}",
                      rtol)
        report.add(f"adjoint on {case.where}", how)


def _check_inverses(case, report, rng, rtol):
    """For each operand with an inverse rule: the rule recovers the operand from the output
    (on the branch the operand's current value selects), and its derivative inverts the
    op's: d(solved)/d(out) applied to J dx gives dx back."""
    node, op = case.node, case.op
    z = var("z", node.shape)
    z_sym = symbol_array("z", node.shape)
    for i in case.free:
        x = case.inputs[i]
        try:
            with running(op, f"inverse[{i}]", case.where, passing=(NotInvertibleError,)):
                solved = op.apply_inverse(i, z, case.inputs, case.params)
        except NotInvertibleError as reason:
            report.add(f"inverse[{i}] on {case.where}", f"none ({reason})")
            continue
        check_solved(op, i, case.where, solved, [y.shape for y in case.inputs], node.shape)
        symbols = dict(case.symbols)
        symbols[z] = z_sym
        solved_sym = sympy_values(ops.expand_to(as_node(solved), x.shape), symbols)[0]
        on_branch = dict(zip(z_sym.ravel(), case.out.ravel()))
        decisions = set()
        for j in np.ndindex(*x.shape):
            recovered = sympy.sympify(solved_sym[j]).xreplace(on_branch)
            decisions.add(_decide(recovered, symbols[x][j], case.sample, [], rng,
                                  f"inverse of {op.name!r} (argument {i}) on {case.where}",
                                  rtol))
        report.add(f"inverse[{i}] round trip on {case.where}",
                   max(decisions, key=len, default="symbolic"))
        dx = symbol_array(f"dx{i}", x.shape)
        j_dx = _jacobian_product(case.out, symbols[x], dx)
        back = _jacobian_product(solved_sym, z_sym, j_dx)
        decisions = set()
        for j in np.ndindex(*x.shape):
            chained = sympy.sympify(back[j]).xreplace(on_branch)
            decisions.add(_decide(chained, dx[j], case.sample, list(dx.ravel()), rng,
                                  f"derivative of the inverse of {op.name!r} (argument {i}) "
                                  f"on {case.where}", rtol))
        report.add(f"inverse[{i}] derivative on {case.where}",
                   max(decisions, key=len, default="symbolic"))


def check_grads(f, wrt, feed, *, rtol: float = 1e-6, seed: int = 0) -> dict:
    """Check a graph's jvp and vjp numerically at a point; return the measured errors.

    Along a random direction v: jvp(f, v) against a Richardson-extrapolated central
    difference (error O(h^4) + O(eps/h), h = 1e-3), and the adjoint identity
    <u, J v> = <vjp(f, u), v> for a random u, which involves no differencing at all.

    Raises:
        RuleCheckError: when a relative error exceeds ``rtol``.
    """
    rng = np.random.default_rng(seed)
    targets, _ = as_list(wrt)
    point = {name: np.asarray(v, float) for name, v in feed_by_name(feed).items()}
    directions = [rng.normal(size=t.shape) for t in targets]
    u = rng.normal(size=f.shape)
    jv = evaluate(jvp(f, {t: const(d) for t, d in zip(targets, directions)}), point)
    pulled = evaluate(vjp(f, targets, const(u)), point)

    def central(h):
        def at(s):
            moved = dict(point)
            for t, d in zip(targets, directions):
                moved[t.name] = point[t.name] + s * d
            return evaluate(f, moved)
        return (at(h) - at(-h)) / (2 * h)

    h = 1e-3
    fd = (4 * central(h / 2) - central(h)) / 3
    errors = {
        "jvp_vs_fd": float(np.max(np.abs(jv - fd)) / max(1.0, float(np.max(np.abs(fd))))),
        "adjoint": _relative(np.sum(u * jv),
                             sum(np.sum(p * d) for p, d in zip(pulled, directions))),
    }
    for name, error in errors.items():
        if not error <= rtol:
            raise RuleCheckError(f"check_grads: {name} relative error {error:.3g} exceeds "
                                 f"rtol={rtol:g} for\n{f}")
    return errors


def _relative(a, b):
    return float(abs(a - b) / max(1.0, abs(a), abs(b)))


