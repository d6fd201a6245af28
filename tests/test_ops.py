"""Every registered op's rules, proved against sympy (the sweep covers ops added later)."""

import numpy as np
import pytest

import graph as G
import rop
from graph import Example, Op, ops


@pytest.mark.parametrize("op", G.all_ops(), ids=lambda op: op.name)
def test_rules_match_sympy(op):
    report = rop.check_op(op)
    n_inputs = len(op.examples[0].shapes)
    for kind in ("forward", "adjoint", *[f"{rule}[{i}]" for rule in ("rop", "vjp", "inverse")
                                         for i in range(n_inputs) if i not in op.const_inputs]):
        lines = [line for line in report.lines if line.startswith(kind)]
        assert len(lines) >= len(op.examples), f"{kind} missing:\n{report}"


def _tanh_with(**rules):
    spec = dict(arity=1, numpy=np.tanh, shape=lambda s: s,
                sympy=ops.tanh.sympy, rop=ops.tanh.rop, vjp=ops.tanh.vjp,
                inverse=G.NoInverse("test op"), batch=ops.tanh.batch, domain=G.REALS,
                examples=[Example(((2,),))],
                doc="tanh with a rule replaced")
    spec.update(rules)
    return Op("broken_tanh", **spec)


def test_check_op_catches_a_wrong_vjp():
    broken = _tanh_with(vjp=(lambda g, x, *, out: g * (1 + out * out),))
    with pytest.raises(G.RuleCheckError, match=r"vjp of 'broken_tanh' \(argument 0\)"):
        rop.check_op(broken)


def test_check_op_catches_a_wrong_rop():
    broken = _tanh_with(rop=(lambda dx, x, *, out: dx * (1 - out),))
    with pytest.raises(G.RuleCheckError, match="R-op of 'broken_tanh'"):
        rop.check_op(broken)


def test_check_op_catches_a_wrong_forward():
    broken = _tanh_with(numpy=lambda x: np.tanh(x) + 1e-9)
    with pytest.raises(G.RuleCheckError, match="numpy forward of 'broken_tanh'"):
        rop.check_op(broken)


def test_check_op_catches_a_subtle_broadcasting_bug():
    # the cotangent of y forgets the sign: only visible when the operands have shapes
    broken = Op("broken_sub", arity=2, numpy=np.subtract, shape=ops.sub.shape,
                sympy=ops.sub.sympy, rop=ops.sub.rop,
                vjp=(lambda g, x, y, *, out: g, lambda g, x, y, *, out: g),
                inverse=G.NoInverse("test op"), batch=ops.sub.batch, domain=G.REALS,
                examples=[Example(((2, 3), (3,)))], doc="sub with a wrong vjp")
    with pytest.raises(G.RuleCheckError, match="argument 1"):
        rop.check_op(broken)


def test_report_says_how_each_identity_was_decided():
    text = str(rop.check_op(ops.sigmoid))
    assert "symbolically" in text and "rop[0]" in text and "vjp[0]" in text
    relu = rop.check_op(ops.relu)  # Heaviside(x) vs Heaviside(x, 0): simplify can't decide
    assert relu.numeric >= 1 and "numerically equal" in str(relu)


def _user_erf(vjp_sign=1.0):
    """erf as a user writes it: its derivative carries the float constant 2/sqrt(pi)."""
    import math

    import sympy

    def deriv(x, out):
        return (2 / np.sqrt(np.pi)) * G.exp(-(x * x))

    return G.elementwise_op(
        f"user_erf_{'ok' if vjp_sign > 0 else 'bad'}",
        numpy=lambda x: np.vectorize(math.erf, otypes=[x.dtype])(x), sympy=sympy.erf,
        deriv=deriv,
        vjp=lambda g, x, *, out: vjp_sign * g * deriv(x, out),
        inverse=G.NoInverse("not needed here"), doc="erf, defined by a user", replace=True)


def test_a_rule_with_a_floating_constant_is_proved():
    report = rop.check_op(_user_erf())
    assert any(line.startswith("vjp[0]") for line in report.lines)


def test_a_wrong_vjp_is_blamed_on_the_vjp_not_the_rop():
    with pytest.raises(G.RuleCheckError, match=r"^vjp of 'user_erf_bad'"):
        rop.check_op(_user_erf(vjp_sign=-1.0))
