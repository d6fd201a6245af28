"""Special functions numpy users expect: erf (with erfinv, its inverse), log1p, expm1,
arctan, sinh, cosh, arcsinh, clip, stop_gradient, and the broadcasting arctan2 and hypot.
Each is one block with every rule; inverses use the numerically good forms (log1p, expm1)."""

import math

import numpy as np
import sympy

from ..domains import NONNEGATIVE_IMAGE, REALS, UNIT, Example, Interval, NoInverse
from ..errors import DomainError

# the modules, not their ops: docs/gen_api.py lists every op in this module's namespace
# under "Special functions"
from . import elementwise as ew
from . import guards
from .families import broadcast_op, elementwise_op

TWO_OVER_SQRT_PI = float(2 / np.sqrt(np.pi))  # erf' = 2/sqrt(pi) exp(-x^2); a Python float,
SQRT_PI_OVER_TWO = float(np.sqrt(np.pi) / 2)  # so float32 graphs stay float32
ERFINV_NEWTON_STEPS = 4  # from the start below, 3 steps leave ~1e4 ulps near |y| = 1, 4 one


def _like(x, values):
    """``values`` (computed in float64) in the floating dtype numpy would give for ``x``."""
    return np.asarray(values).astype(np.result_type(np.asarray(x).dtype, np.float16), copy=False)


_erf64 = np.vectorize(math.erf, otypes=[float])  # numpy has no erf; math's are accurate to
_erfc64 = np.vectorize(math.erfc, otypes=[float])  # an ulp or two


def _erfinv(y):
    """erfinv to float64 accuracy: a closed-form start (Winitzki's approximation, relative
    error ~1e-3), then Newton steps. For |y| >= 1/2 the residual is taken as
    erfc(|x|) - (1 - |y|), where 1 - |y| is exact: erf(x) - y would cancel near |y| = 1."""
    y = np.asarray(y, dtype=float)
    with np.errstate(all="ignore"):
        t = np.log((1 - y) * (1 + y))
        b = 2 / (np.pi * 0.147) + t / 2
        x = np.copysign(np.sqrt(np.sqrt(b * b - t / 0.147) - b), y)  # keeps -0.0
        x = np.where(np.isfinite(x), x, 0.0)  # |y| >= 1 or NaN: replaced below
        tail, c = np.abs(y) >= 0.5, 1 - np.abs(y)
        for _ in range(ERFINV_NEWTON_STEPS):
            residual = np.where(tail, np.sign(y) * (c - _erfc64(np.abs(x))), _erf64(x) - y)
            x = x - residual / (TWO_OVER_SQRT_PI * np.exp(-x * x))
        x = np.where(np.abs(y) == 1, np.copysign(np.inf, y), x)
        return np.where(np.abs(y) > 1, np.nan, x)  # NaN in gives NaN through the steps


erf = elementwise_op(
    "erf", numpy=lambda x: _like(x, _erf64(x)), sympy=sympy.erf, dask="blocks",
    deriv=lambda x, out: TWO_OVER_SQRT_PI * ew.exp(-(x * x)),
    inverse=lambda out, x: erfinv(out), image=Interval(-1.0, 1.0),
    doc="out = erf(x) = 2/sqrt(pi) int_0^x exp(-t^2) dt; R -> (-1, 1), bijective",
)

erfinv = elementwise_op(
    "erfinv", numpy=lambda y: _like(y, _erfinv(y)), sympy=sympy.erfinv, dask="blocks",
    # x = erfinv(y): dx/dy = 1 / erf'(x) = sqrt(pi)/2 exp(x^2), read from the forward value
    deriv=lambda y, out: SQRT_PI_OVER_TWO * ew.exp(out * out),
    inverse=lambda out, y: erf(out), domain=UNIT,
    doc="out = erfinv(x), the inverse of erf; (-1, 1) -> R, bijective (+-inf at +-1)",
)

log1p = elementwise_op(
    "log1p", numpy=np.log1p, sympy=lambda x: sympy.log(1 + x),
    deriv=lambda x, out: 1 / (1 + x),
    inverse=lambda out, x: expm1(out), domain=Interval(-0.5, 2.0),
    code=lambda x: f"np.log1p({x})",
    doc="out = log(1 + x), accurate for small x; (-1, inf) -> R, bijective",
)

expm1 = elementwise_op(
    "expm1", numpy=np.expm1, sympy=lambda x: sympy.exp(x) - 1,
    deriv=lambda x, out: ew.exp(x),  # not out + 1: that loses the tiny slope for x << 0
    inverse=lambda out, x: log1p(out), image=Interval(-1.0, np.inf),
    code=lambda x: f"np.expm1({x})",
    doc="out = exp(x) - 1, accurate for small x; R -> (-1, inf), bijective",
)

arctan = elementwise_op(
    "arctan", numpy=np.arctan, sympy=sympy.atan,
    deriv=lambda x, out: 1 / (1 + x * x),
    inverse=lambda out, x: ew.sin(out) / ew.cos(out),  # tan(out); cos(out) > 0 on the image
    image=Interval(-np.pi / 2, np.pi / 2),
    code=lambda x: f"np.arctan({x})",
    doc="out = arctan(x); R -> (-pi/2, pi/2), bijective",
)

sinh = elementwise_op(
    "sinh", numpy=np.sinh, sympy=sympy.sinh,
    deriv=lambda x, out: cosh(x),
    inverse=lambda out, x: arcsinh(out),
    code=lambda x: f"np.sinh({x})",
    doc="out = sinh(x); R -> R, bijective",
)


def _arccosh_branch(out, x):
    # x = s arccosh(out), s the sign of the current x; arccosh(out) = log(out + sqrt(out^2 - 1))
    # = log1p(u + sqrt(u) sqrt(u + 2)), u = out - 1: no cancellation for out near 1, and no
    # overflow of u (u + 2) for large out
    u = out - 1
    return ew.sign(x) * log1p(u + ew.sqrt(u) * ew.sqrt(u + 2))


cosh = elementwise_op(
    "cosh", numpy=np.cosh, sympy=sympy.cosh,
    deriv=lambda x, out: sinh(x),
    inverse=_arccosh_branch, image=Interval(1.0, np.inf, closed=(True, False)),
    examples=[Example(((),))],  # sympy cannot simplify the branch: each entry costs ~1 s
    code=lambda x: f"np.cosh({x})",
    doc="out = cosh(x); R -> [1, inf); not injective: the inverse takes the branch of the "
        "current x's sign",
)

arcsinh = elementwise_op(
    "arcsinh", numpy=np.arcsinh, sympy=sympy.asinh,
    deriv=lambda x, out: 1 / hypot(x, 1.0),  # 1 / sqrt(1 + x^2), without overflow of x^2
    inverse=lambda out, x: sinh(out),
    code=lambda x: f"np.arcsinh({x})",
    doc="out = arcsinh(x) = log(x + sqrt(x^2 + 1)); R -> R, bijective",
)


def _clip_params(s, lo, hi):
    lo, hi = float(lo), float(hi)
    if not lo <= hi:  # also refuses NaN
        raise DomainError(f"clip: needs lo <= hi, got lo = {lo!r} and hi = {hi!r}")
    return {"lo": lo, "hi": hi}


clip = elementwise_op(
    "clip", numpy=lambda x, lo, hi: np.clip(x, lo, hi),
    array_api=lambda xp, x, lo, hi: xp.clip(x, lo, hi),
    sympy=lambda x, lo, hi: sympy.Min(sympy.Max(x, lo), hi),
    # slope 1 strictly inside (lo, hi), 0 outside; at x == lo or hi, 0 (step(0) = 0)
    deriv=lambda x, out, lo, hi: ew.step(x - lo) * ew.step(hi - x),
    # inside (lo, hi) clip is the identity, so out there has the one preimage out; lo and hi
    # themselves are the images of whole half-lines and are refused by the image check
    inverse=lambda out, x, lo, hi: out,
    image=lambda i, inputs, params: Interval(params["lo"], params["hi"]),
    kink_distance=lambda x, lo, hi: np.minimum(np.abs(x - lo), np.abs(x - hi)),
    normalize=_clip_params, domain=Interval(-0.9, 0.9),
    params_examples=({"lo": -1.0, "hi": 1.0},),
    doc="out = min(max(x, lo), hi), lo <= hi floats (infinite for a one-sided clip); slope 1 "
        "inside (lo, hi) and 0 outside and at lo and hi (kinks); the inverse is the identity "
        "on (lo, hi) and refuses lo and hi, which have whole half-lines as preimages",
)


class StopGradient(sympy.Function):
    """x, with derivative 0: the sympy form of stop_gradient, so that sympy differentiates
    graphs containing it as rop does. On a number it is that number."""

    @classmethod
    def eval(cls, x):
        if x.is_number:
            return x
        return None

    def fdiff(self, argindex=1):
        return sympy.S.Zero

    def _eval_is_real(self):
        return self.args[0].is_real


stop_gradient = elementwise_op(
    "stop_gradient", numpy=lambda x: x, sympy=StopGradient, array_api=lambda xp, x: x,
    deriv=None, rop=(None,), vjp=(None,),
    # linear in value, but not declared linear: fused solves (rop/inverse/fusion.py) read a
    # linear op's slope from its R-op rule, which is zero here
    simplify=lambda x, *, out_shape: x if x.op is stop_gradient else None,
    inverse=NoInverse("stop_gradient declares a zero derivative: an inverse (out itself, in "
                      "value) would have the derivative 1, which cannot invert the op's 0"),
    doc="out = x in value, with a zero derivative: derivatives treat x as a constant there. "
        "Not piecewise constant (its value moves with x), so inversion does not read it from "
        "the current point",
)


def _over_r2(numerator, y, x):
    r = hypot(x, y)
    return (numerator / r) / r  # numerator / (x^2 + y^2), without overflow or underflow


def _side(a, out_trig):
    """sign(a) * out_trig, checked positive: the angle lies on the known operand's side."""
    return guards.within(ew.sign(a) * out_trig, lo=0.0, hi=np.inf)


def _arctan2_cut_distance(y, x):
    # distance from (x, y) to the branch cut {y = 0, x <= 0}, where out jumps by 2 pi
    return np.where(x <= 0, np.abs(y), np.hypot(x, y))


arctan2 = broadcast_op(
    "arctan2", numpy=np.arctan2, sympy=sympy.atan2,
    # d atan2(y, x) = (x dy - y dx) / (x^2 + y^2)
    rop=(lambda dy, y, x, *, out: _over_r2(x, y, x) * dy,
         lambda dx, y, x, *, out: -_over_r2(y, y, x) * dx),
    vjp=(lambda g, y, x, *, out: g * _over_r2(x, y, x),
         lambda g, y, x, *, out: -(g * _over_r2(y, y, x))),
    # (x, y) = r (cos out, sin out): with x != 0 known, y = x tan(out) = |x| sin(out) /
    # (sign(x) cos(out)), valid only when cos(out) has x's sign (checked); with y != 0
    # known, x = y cot(out) = |y| cos(out) / (sign(y) sin(out)), sin(out) of y's sign
    inverse=(lambda out, y, x: ew.abs_(x) * ew.sin(out) / _side(x, ew.cos(out)),
             lambda out, y, x: ew.abs_(y) * ew.cos(out) / _side(y, ew.sin(out))),
    image=Interval(-np.pi, np.pi, closed=(True, True)),
    domain=REALS, kink_distance=_arctan2_cut_distance,
    examples=[Example(((), ())), Example(((2, 2), (2,))), Example(((2, 1), (1, 3)))],  # < 2 s
    code=lambda y, x: f"np.arctan2({y}, {x})",
    doc="out = arctan2(y, x), the angle of (x, y) in [-pi, pi], elementwise with "
        "broadcasting; jumps by 2 pi across y = 0, x < 0. Injective in y for a known x != 0 "
        "and in x for a known y != 0 (the angle must lie on the known operand's side); a "
        "known 0 leaves only the sign of the other, refused",
)


def _hypot_leg(out, other, x):
    # out^2 = x^2 + other^2  =>  x = s sqrt(out - |other|) sqrt(out + |other|), s the sign of
    # the current x; out >= |other| is checked. Factored: no cancellation of out^2 - other^2,
    # and two roots: no overflow or underflow of the product
    gap = guards.within(out - ew.abs_(other), lo=0.0, hi=np.inf, closed=(True, False))
    return ew.sign(x) * (ew.sqrt(gap) * ew.sqrt(out + ew.abs_(other)))


hypot = broadcast_op(
    "hypot", numpy=np.hypot, sympy=lambda x, y: sympy.sqrt(x * x + y * y),
    # d sqrt(x^2 + y^2) = (x dx + y dy) / out
    rop=(lambda dx, x, y, *, out: (x / out) * dx,
         lambda dy, x, y, *, out: (y / out) * dy),
    vjp=(lambda g, x, y, *, out: g * (x / out),
         lambda g, x, y, *, out: g * (y / out)),
    inverse=(lambda out, x, y: _hypot_leg(out, y, x),
             lambda out, x, y: _hypot_leg(out, x, y)),
    image=NONNEGATIVE_IMAGE, domain=REALS, kink_distance=lambda x, y: np.hypot(x, y),
    code=lambda x, y: f"np.hypot({x}, {y})",
    doc="out = sqrt(x^2 + y^2) without overflow, elementwise with broadcasting; a cone "
        "point at x = y = 0. Not injective: solving for one operand takes the branch of its "
        "current sign and needs out >= |other|",
)
