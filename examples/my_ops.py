"""Two ops of your own, each defined once with every rule (the guide: docs/new_op.md).

normal_cdf(x): the standard normal CDF, unary, with irrational constants in its rules.
logaddexp(x, y): log(exp(x) + exp(y)), binary, with numpy broadcasting.

Copy this file next to your code and ``import my_ops``; ``python my_ops.py`` proves both
ops against sympy; ``rop check-op my_ops:normal_cdf`` does the same for one.
"""

import math

import numpy as np
import sympy

import graph as G

SQRT2 = math.sqrt(2.0)  # Python floats, not numpy ones: a float32 graph stays float32
INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_erfc = np.vectorize(math.erfc, otypes=[float])  # numpy has no erf or erfc; math has both


def _phi(x):
    # 1 + erf(z) cancels for z << 0, where erfc(-z) keeps every digit
    return (0.5 * _erfc(-np.asarray(x) / SQRT2)).astype(np.result_type(x, np.float16))


normal_cdf = G.elementwise_op(
    "normal_cdf",
    numpy=_phi,
    sympy=lambda x: (1 + sympy.erf(x / sympy.sqrt(2))) / 2,  # a function of one sympy scalar
    # Phi'(x) = exp(-x^2 / 2) / sqrt(2 pi), the normal density: a node, built from graph ops
    deriv=lambda x, out: INV_SQRT_2PI * G.exp(-0.5 * (x * x)),
    # p = (1 + erf(x / sqrt 2)) / 2  =>  x = sqrt(2) erfinv(2 p - 1), for p in (0, 1)
    inverse=lambda out, x: SQRT2 * G.erfinv(2 * out - 1),
    image=G.Interval(0.0, 1.0),
    doc="out = Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF; R -> (0, 1), "
        "bijective",
)


def _solve_logaddexp(out, other):
    # e^out = e^x + e^y  =>  x = out + log(1 - e^(other - out)), which needs out > other;
    # within() checks that where the graph is evaluated, and says so if not
    gap = G.within(out - other, lo=0.0, hi=np.inf)
    return out + G.log(-G.expm1(-gap))


logaddexp = G.broadcast_op(
    "logaddexp",
    numpy=np.logaddexp,
    sympy=lambda x, y: sympy.log(sympy.exp(x) + sympy.exp(y)),  # of two sympy scalars
    # d out = (e^x dx + e^y dy) / (e^x + e^y) = e^(x - out) dx + e^(y - out) dy
    rop=(lambda dx, x, y, *, out: G.exp(x - out) * dx,
         lambda dy, x, y, *, out: G.exp(y - out) * dy),
    vjp=(lambda g, x, y, *, out: g * G.exp(x - out),
         lambda g, x, y, *, out: g * G.exp(y - out)),
    inverse=(lambda out, x, y: _solve_logaddexp(out, y),
             lambda out, x, y: _solve_logaddexp(out, x)),
    domain=G.REALS,
    code=lambda x, y: f"np.logaddexp({x}, {y})",
    doc="out = log(exp(x) + exp(y)) without overflow, elementwise with broadcasting; "
        "injective in each operand: solving for x needs out > y",
)


if __name__ == "__main__":
    import rop

    for op in (normal_cdf, logaddexp):
        print(rop.check_op(op))
