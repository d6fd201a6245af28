"""Unary elementwise functions: each one block with its derivative, inverse and sympy form."""

import numpy as np
import sympy

from ..domains import (
    NONNEGATIVE_IMAGE,
    POSITIVE,
    POSITIVE_IMAGE,
    UNIT,
    Interval,
    NoInverse,
)
from .families import elementwise_op


def _piecewise_constant(name, numpy, sympy_fn, doc, array_api=None):
    """An op whose derivative is zero wherever it is defined (sign, step)."""
    return elementwise_op(
        name, numpy=numpy, sympy=sympy_fn, deriv=None, rop=(None,), vjp=(None,),
        inverse=NoInverse(f"{name} is piecewise constant: it maps intervals to single values"),
        kink_distance=lambda x: np.abs(x), doc=doc, piecewise_constant=True,
        array_api=array_api,
    )


def _step_xp(xp, x):
    # heaviside(x, 0): 1 for x > 0, 0 for x <= 0, NaN for NaN (as numpy's)
    return xp.where(xp.isnan(x), x, xp.astype(x > 0, x.dtype))


sign = _piecewise_constant(
    "sign", np.sign, sympy.sign, "out = sign(x) in {-1, 0, 1}; derivative 0 for x != 0")
step = _piecewise_constant(
    "step", lambda x: np.heaviside(x, 0.0), lambda x: sympy.Heaviside(x, 0),
    "out = 1 if x > 0 else 0 (Heaviside, 0 at 0); derivative 0 for x != 0", _step_xp)

exp = elementwise_op(
    "exp", numpy=np.exp, sympy=sympy.exp,
    deriv=lambda x, out: out,
    inverse=lambda out, x: log(out), image=POSITIVE_IMAGE,
    code=lambda x: f"np.exp({x})",
    doc="out = exp(x); R -> (0, inf), bijective",
)

log = elementwise_op(
    "log", numpy=np.log, sympy=sympy.log,
    deriv=lambda x, out: 1 / x,
    inverse=lambda out, x: exp(out),
    domain=POSITIVE,
    code=lambda x: f"np.log({x})",
    doc="out = log(x); (0, inf) -> R, bijective",
)

tanh = elementwise_op(
    "tanh", numpy=np.tanh, sympy=sympy.tanh,
    deriv=lambda x, out: 1 - out * out,  # tanh' = 1 - tanh^2, read from the forward value
    inverse=lambda out, x: 0.5 * log((1 + out) / (1 - out)),  # artanh; |out| < 1
    image=Interval(-1.0, 1.0),
    code=lambda x: f"np.tanh({x})",
    doc="out = tanh(x); R -> (-1, 1), bijective",
)

sigmoid = elementwise_op(
    "sigmoid",
    numpy=lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)),  # no overflow of exp(-x) for x << 0
    sympy=lambda x: 1 / (1 + sympy.exp(-x)),
    deriv=lambda x, out: out * (1 - out),
    inverse=lambda out, x: log(out / (1 - out)),  # logit; 0 < out < 1
    image=Interval(0.0, 1.0),
    code=lambda x: f"(0.5 * (1.0 + np.tanh(0.5 * {x})))",
    array_api=lambda xp, x: 0.5 * (1.0 + xp.tanh(0.5 * x)),
    doc="out = 1 / (1 + exp(-x)); R -> (0, 1), bijective",
)

softplus = elementwise_op(
    "softplus", numpy=lambda x: np.logaddexp(0.0, x),
    array_api=lambda xp, x: xp.logaddexp(xp.zeros_like(x), x),
    sympy=lambda x: sympy.log(1 + sympy.exp(x)),
    deriv=lambda x, out: sigmoid(x),  # d/dx log(1 + e^x) = sigmoid(x)
    # x = log(e^out - 1) = out + log(1 - e^-out): no overflow of e^out for large out > 0
    inverse=lambda out, x: out + log(1 - exp(-out)), image=POSITIVE_IMAGE,
    doc="out = log(1 + exp(x)); R -> (0, inf), bijective",
)

round_ = _piecewise_constant(
    "round", np.round, lambda x: sympy.floor(x + sympy.Rational(1, 2)),
    "out = the nearest integer to x; derivative 0 away from half-integers",
    lambda xp, x: xp.round(x))
round_.kink_distance = lambda x: np.abs(x - np.floor(x) - 0.5)

arcsin = elementwise_op(
    "arcsin", numpy=np.arcsin, sympy=sympy.asin,
    deriv=lambda x, out: 1 / sqrt(1 - x * x),
    inverse=lambda out, x: sin(out), image=Interval(-np.pi / 2, np.pi / 2, closed=(True, True)),
    domain=UNIT,
    code=lambda x: f"np.arcsin({x})",
    doc="out = arcsin(x); (-1, 1) -> (-pi/2, pi/2), bijective",
)

arccos = elementwise_op(
    "arccos", numpy=np.arccos, sympy=sympy.acos,
    deriv=lambda x, out: -1 / sqrt(1 - x * x),
    inverse=lambda out, x: cos(out), image=Interval(0.0, np.pi, closed=(True, True)),
    domain=UNIT,
    code=lambda x: f"np.arccos({x})",
    doc="out = arccos(x); (-1, 1) -> (0, pi), bijective",
)


def _sin_branch(out, x):
    # x = n pi + (-1)^n arcsin(out), n = the half-period x lies in (read from the current x)
    n = round_(x * (1 / np.pi))
    return n * np.pi + cos(n * np.pi) * arcsin(out)


def _cos_branch(out, x):
    # x = 2 pi k + s arccos(out), k the period x lies in, s the side of 2 pi k it lies on
    k = round_(x * (0.5 / np.pi))
    return k * (2 * np.pi) + sign(x - k * (2 * np.pi)) * arccos(out)


sin = elementwise_op(
    "sin", numpy=np.sin, sympy=sympy.sin,
    deriv=lambda x, out: cos(x),
    inverse=_sin_branch, image=Interval(-1.0, 1.0, closed=(True, True)),
    code=lambda x: f"np.sin({x})",
    doc="out = sin(x); not injective: the inverse takes the branch of the current x",
)

cos = elementwise_op(
    "cos", numpy=np.cos, sympy=sympy.cos,
    deriv=lambda x, out: -sin(x),
    inverse=_cos_branch, image=Interval(-1.0, 1.0, closed=(True, True)),
    code=lambda x: f"np.cos({x})",
    doc="out = cos(x); not injective: the inverse takes the branch of the current x",
)

sqrt = elementwise_op(
    "sqrt", numpy=np.sqrt, sympy=sympy.sqrt,
    deriv=lambda x, out: 0.5 / out,
    inverse=lambda out, x: out * out, image=NONNEGATIVE_IMAGE,
    domain=POSITIVE,
    code=lambda x: f"np.sqrt({x})",
    doc="out = sqrt(x); [0, inf) -> [0, inf), bijective",
)

square = elementwise_op(
    "square", numpy=np.square, sympy=lambda x: x**2,
    deriv=lambda x, out: 2 * x,
    inverse=lambda out, x: sign(x) * sqrt(out),  # the preimage on x's side of 0
    image=NONNEGATIVE_IMAGE,
    code=lambda x: f"np.square({x})",
    doc="out = x**2; not injective: the inverse takes the branch of the current x's sign",
)

abs_ = elementwise_op(
    "abs", numpy=np.abs, sympy=sympy.Abs,
    deriv=lambda x, out: sign(x),
    inverse=lambda out, x: sign(x) * out,  # the preimage on x's side of 0
    image=NONNEGATIVE_IMAGE,
    kink_distance=lambda x: np.abs(x),
    code=lambda x: f"np.abs({x})",
    doc="out = |x|; not injective: the inverse takes the branch of the current x's sign",
)

relu = elementwise_op(
    "relu", numpy=lambda x: np.maximum(x, 0.0), sympy=lambda x: sympy.Max(x, 0),
    deriv=lambda x, out: step(x),
    inverse=NoInverse("relu is flat for x < 0: the values there cannot be recovered"),
    kink_distance=lambda x: np.abs(x),
    code=lambda x: f"np.maximum({x}, 0.0)",
    array_api=lambda xp, x: xp.maximum(x, xp.zeros_like(x)),
    doc="out = max(x, 0); kink at 0, flat (not injective) for x < 0",
)


def _leaky_slope(x, alpha):
    return alpha + (1 - alpha) * step(x)  # 1 for x > 0, alpha for x < 0


leaky_relu = elementwise_op(
    "leaky_relu",
    numpy=lambda x, alpha=0.01: np.where(x > 0, x, alpha * x),
    array_api=lambda xp, x, alpha=0.01: xp.where(x > 0, x, alpha * x),
    sympy=lambda x, alpha=0.01: sympy.Piecewise((x, x > 0), (alpha * x, True)),
    deriv=lambda x, out, alpha=0.01: _leaky_slope(x, alpha),
    # the sign of out is the sign of x (alpha > 0), so the slope is read from out
    inverse=lambda out, x, alpha=0.01: out / _leaky_slope(out, alpha),
    kink_distance=lambda x, alpha=0.01: np.abs(x),
    params_examples=({"alpha": 0.25},),
    normalize=lambda s, alpha=0.01: {"alpha": float(alpha)},
    doc="out = x if x > 0 else alpha * x (alpha > 0); bijective, kink at 0",
)

