"""Arithmetic with numpy broadcasting: add, sub, mul, div, neg, pow, maximum, minimum, where."""

import operator

import numpy as np
import sympy

from ..domains import (
    NONNEGATIVE_IMAGE,
    POSITIVE,
    POSITIVE_IMAGE,
    REALS,
    Example,
    Interval,
    NoInverse,
)
from ..leaves import const, is_one, is_zero
from ..op import define_op
from ..shapes import aligned_axis, broadcast_shape
from .elementwise import abs_, log, sign, sqrt, step
from .families import batch_elementwise, broadcast_op
from .guards import nonzero


# Construction rewrites fire only where they give the value numpy gives for the graph as
# written, up to rounding of finite results: NaN, +-Inf, signed zeros, overflow and
# underflow behave as written. So x * 0 is not 0 (x may be Inf or NaN), 0 / x is not 0,
# and x + 0.0 is not x (-0.0 + 0.0 is +0.0).
def _keep(x, shape):
    """``x`` itself, when dropping the other operand leaves the output shape unchanged."""
    return x if x.shape == shape else None


def _all_signed_zero(node, negative: bool) -> bool:
    """A constant whose entries are all zeros of the given sign."""
    return is_zero(node) and bool(np.all(np.signbit(node.value) == negative))


def _simplify_add(x, y, *, out_shape):
    if _all_signed_zero(y, negative=True):  # x + (-0.0) is x for every x, -0.0 included
        return _keep(x, out_shape)
    if _all_signed_zero(x, negative=True):
        return _keep(y, out_shape)
    if x is y:  # x + x = 2 x exactly: one op, and the 2 can merge with constant factors
        return mul(2.0, x)
    return None


def _simplify_sub(x, y, *, out_shape):
    if _all_signed_zero(y, negative=False):  # x - (+0.0) is x for every x
        return _keep(x, out_shape)
    if _all_signed_zero(x, negative=True) and y.shape == out_shape:  # -0.0 - y is -y
        return neg(y)
    return None


def _simplify_mul(x, y, *, out_shape):
    if is_one(y):
        return _keep(x, out_shape)
    if is_one(x):
        return _keep(y, out_shape)
    if y.is_const and not x.is_const:
        x, y = y, x
    if x.is_const:
        return _merge_factor(x, y, out_shape)
    return None


def _merge_factor(c, y, out_shape):
    """c * (d * z) -> (c d) * z and c * (-z) -> (-c) * z: one multiplication instead of two,
    when the merged constant is no bigger than c, the shape is kept and the value provably
    is numpy's: c and d both at least 1 in magnitude with c d finite (then d z overflows
    only where c d z does), or both at most 1 with c d normal (d z underflows only where
    c d z does)."""
    if y.op is neg:
        factor, rest = -c.value, y.inputs[0]
    elif y.op is mul and any(i.is_const for i in y.inputs):
        d, rest = y.inputs if y.inputs[0].is_const else y.inputs[::-1]
        with np.errstate(all="ignore"):
            factor = c.value * d.value
        if not _same_side_of_one(c.value, d.value, factor):
            return None
    else:
        return None
    if np.size(factor) > c.size or np.broadcast_shapes(np.shape(factor), rest.shape) != out_shape:
        return None
    return mul(const(factor), rest)


def _same_side_of_one(c, d, product) -> bool:
    c, d, product = np.abs(c), np.abs(d), np.abs(product)
    tiny = np.finfo(np.result_type(product, np.float16)).tiny
    big = np.all(c >= 1) and np.all(d >= 1) and np.all(np.isfinite(product))
    small = np.all(c <= 1) and np.all(d <= 1) and np.all(product >= tiny)
    return bool(big or small)


def _simplify_div(x, y, *, out_shape):
    return _keep(x, out_shape) if is_one(y) else None


add = broadcast_op(
    "add", numpy=np.add, sympy=operator.add,
    rop=(lambda dx, x, y, *, out: dx,
         lambda dy, x, y, *, out: dy),
    vjp=(lambda g, x, y, *, out: g,
         lambda g, x, y, *, out: g),
    # out = x + y  =>  x = out - y,  y = out - x
    inverse=(lambda out, x, y: out - y,
             lambda out, x, y: out - x),
    linear=True, repeated=lambda out, u: out * 0.5,  # u + u = out
    domain=REALS, simplify=_simplify_add,
    code=lambda x, y: f"({x} + {y})",
    doc="out = x + y, elementwise with broadcasting; bijective in each operand",
)

sub = broadcast_op(
    "sub", numpy=np.subtract, sympy=operator.sub,
    rop=(lambda dx, x, y, *, out: dx,
         lambda dy, x, y, *, out: -dy),
    vjp=(lambda g, x, y, *, out: g,
         lambda g, x, y, *, out: -g),
    # out = x - y  =>  x = out + y,  y = x - out
    inverse=(lambda out, x, y: out + y,
             lambda out, x, y: x - out),
    linear=True, domain=REALS, simplify=_simplify_sub,
    code=lambda x, y: f"({x} - {y})",
    doc="out = x - y, elementwise with broadcasting; bijective in each operand",
)

mul = broadcast_op(
    "mul", numpy=np.multiply, sympy=operator.mul,
    rop=(lambda dx, x, y, *, out: y * dx,
         lambda dy, x, y, *, out: x * dy),
    vjp=(lambda g, x, y, *, out: g * y,
         lambda g, x, y, *, out: g * x),
    # out = x * y  =>  x = out / y (y != 0),  y = out / x (x != 0)
    inverse=(lambda out, x, y: out / nonzero(y),
             lambda out, x, y: out / nonzero(x)),
    # u * u = out: the preimage on u's current side of 0, out >= 0
    multilinear=(0, 1), repeated=lambda out, u: sign(u) * sqrt(out),
    domain=REALS, simplify=_simplify_mul,
    code=lambda x, y: f"({x} * {y})",
    doc="out = x * y, elementwise with broadcasting; bijective in x where y != 0",
)

div = broadcast_op(
    "div", numpy=np.divide, sympy=operator.truediv,
    # d(x/y)/dx = 1/y,  d(x/y)/dy = -x/y**2 = -out/y
    rop=(lambda dx, x, y, *, out: dx / y,
         lambda dy, x, y, *, out: -(out / y) * dy),
    vjp=(lambda g, x, y, *, out: g / y,
         lambda g, x, y, *, out: -(g * out) / y),
    # out = x / y  =>  x = out * y,  y = x / out (out != 0)
    inverse=(lambda out, x, y: out * y,
             lambda out, x, y: x / nonzero(out)),
    linear=(0,), domain=(REALS, Interval(0.5, 2.0)), simplify=_simplify_div,
    code=lambda x, y: f"({x} / {y})",
    doc="out = x / y, elementwise with broadcasting; y != 0",
)

neg = define_op(
    "neg", arity=1, numpy=np.negative, shape=lambda s: s,
    sympy=lambda x: -x,
    rop=lambda dx, x, *, out: -dx,
    vjp=lambda g, x, *, out: -g,
    inverse=lambda out, x: -out,
    batch=lambda x, *, batched: neg(x), linear=True, elementwise=True,
    axis_map=lambda i, axis, s: axis,
    domain=REALS, examples=[Example(((2,),))],
    simplify=lambda x, *, out_shape: x.inputs[0] if x.op is neg else
    mul(-x.inputs[0].value, x.inputs[1]) if x.op is mul and x.inputs[0].is_const else None,
    code=lambda x: f"(-{x})",
    doc="out = -x; bijective",
)


def _simplify_pow(x, y, *, out_shape):
    return _keep(x, out_shape) if is_one(y) else None


def _pow_deriv_base(x, y):
    return y * x ** (y - 1)  # folds to a constant factor when y is a constant


def _integer_exponent(y):
    """'odd' or 'even' when the constant exponent y is all odd or all even integers."""
    if not y.is_const or not np.all(np.isfinite(y.value)) or np.any(y.value != np.round(y.value)):
        return None
    parity = np.mod(y.value, 2)
    return "odd" if np.all(parity == 1) else "even" if np.all(parity == 0) else None


def _pow_solve_base(out, x, y):
    # odd integer powers are bijective on R: the root keeps out's sign. Even ones are not:
    # the root takes x's current sign (out >= 0). Otherwise x > 0: the positive root.
    parity = _integer_exponent(y)
    if parity == "odd":
        return sign(out) * abs_(out) ** (1 / y)
    if parity == "even":
        return sign(x) * out ** (1 / y)
    return out ** (1 / y)


def _pow_image(i, inputs, params):
    if i == 1:
        return POSITIVE_IMAGE  # y = log(out) / log(x) needs out > 0
    return {"odd": None, "even": NONNEGATIVE_IMAGE}.get(_integer_exponent(inputs[1]),
                                                        NONNEGATIVE_IMAGE)


pow = broadcast_op(
    "pow", numpy=np.power, sympy=operator.pow,
    # d(x**y)/dx = y x**(y-1),  d(x**y)/dy = x**y log x  (only built when y varies)
    rop=(lambda dx, x, y, *, out: _pow_deriv_base(x, y) * dx,
         lambda dy, x, y, *, out: (out * log(x)) * dy),
    vjp=(lambda g, x, y, *, out: g * _pow_deriv_base(x, y),
         lambda g, x, y, *, out: g * (out * log(x))),
    inverse=(_pow_solve_base, lambda out, x, y: log(out) / log(x)),
    image=_pow_image,
    domain=(POSITIVE, REALS), simplify=_simplify_pow,
    code=lambda x, y: f"({x} ** {y})",
    doc="out = x ** y, elementwise; x > 0 unless y is a constant integer (odd integer "
        "powers are bijective, even ones invert on the branch of x's current sign)",
)

maximum = broadcast_op(
    "maximum", numpy=np.maximum, sympy=sympy.Max,
    # the derivative follows the larger operand; ties go to y
    rop=(lambda dx, x, y, *, out: step(x - y) * dx,
         lambda dy, x, y, *, out: (1 - step(x - y)) * dy),
    vjp=(lambda g, x, y, *, out: g * step(x - y),
         lambda g, x, y, *, out: g * (1 - step(x - y))),
    inverse=NoInverse("maximum discards the smaller operand"),
    domain=REALS, kink_distance=lambda x, y: np.abs(x - y),
    code=lambda x, y: f"np.maximum({x}, {y})",
    doc="out = max(x, y), elementwise; kinks where x == y",
)

minimum = broadcast_op(
    "minimum", numpy=np.minimum, sympy=sympy.Min,
    # the derivative follows the smaller operand; ties go to y
    rop=(lambda dx, x, y, *, out: step(y - x) * dx,
         lambda dy, x, y, *, out: (1 - step(y - x)) * dy),
    vjp=(lambda g, x, y, *, out: g * step(y - x),
         lambda g, x, y, *, out: g * (1 - step(y - x))),
    inverse=NoInverse("minimum discards the larger operand"),
    domain=REALS, kink_distance=lambda x, y: np.abs(x - y),
    code=lambda x, y: f"np.minimum({x}, {y})",
    doc="out = min(x, y), elementwise; kinks where x == y",
)


def _where_shape(cond, a, b):
    return broadcast_shape("where", cond, a, b)


def _mask(cond, selected=True):
    chosen = np.asarray(cond.value != 0, dtype=cond.dtype)
    return const(chosen if selected else 1 - chosen)


def _batch_where(cond, a, b, *, batched):
    return batch_elementwise(where, (cond, a, b), batched, {})


where = define_op(
    "where", arity=3, shape=_where_shape, batch=_batch_where, linear=(1, 2),
    elementwise=True, axis_map=lambda i, axis, *shapes: aligned_axis(
        axis, shapes[i], broadcast_shape("where", *shapes)),
    numpy=lambda cond, a, b: np.where(cond != 0, a, b),
    array_api=lambda xp, cond, a, b: xp.where(cond != 0, a, b),
    sympy=lambda cond, a, b: np.where(cond.astype(bool), a, b),
    rop=(None,
         lambda da, cond, a, b, *, out: _mask(cond) * da,
         lambda db, cond, a, b, *, out: _mask(cond, False) * db),
    vjp=(None,
         lambda g, cond, a, b, *, out: g * _mask(cond),
         lambda g, cond, a, b, *, out: g * _mask(cond, False)),
    inverse=NoInverse("where discards the entries it does not select"),
    domain=(Interval(0, 1), REALS, REALS), const_inputs=(0,), broadcasts=True,
    examples=[Example(((2,), (2,), (2,)))],
    doc="out = a where cond else b, elementwise with broadcasting; cond is a constant",
)
