"""Guards: identity ops whose forward checks a condition an answer depends on, and raises
(naming the node being inverted, ``context``) when it fails. On a constant they fold: the
check runs when the graph is built.

They carry every rule (all identities), so graphs containing them can still be
differentiated, batched, saved and checked like any other. While :func:`recording_pivots`
is active, the solving guards log how close to singular each solve came, for diagnostics.
"""

import contextlib
import contextvars

import numpy as np

from ..domains import REALS, Example, Interval, NoInverse
from ..errors import CertificateError, DomainError, NotInvertibleError
from ..op import REGISTRY, define_op
from ..shapes import first_index
from .structure import batch_size, transpose, with_batch

RANK_RTOL = None  # None: numpy's matrix_rank default, sigma_max * max(M, N) * eps
# a backward-stable solve leaves a relative residual of about eps * cond(H): the stated
# tolerance of a certificate grows with the condition estimate by this factor
CONDITION_SLACK = 16
_INVERTING = contextvars.ContextVar("inverting", default="")
_PIVOTS: contextvars.ContextVar[list | None] = contextvars.ContextVar("pivots", default=None)


@contextlib.contextmanager
def inverting(description: str):
    """Guards built inside this block name ``description`` (the node being inverted) in
    their errors, unless given a context of their own."""
    token = _INVERTING.set(description)
    try:
        yield
    finally:
        _INVERTING.reset(token)


@contextlib.contextmanager
def recording_pivots():
    """Collect (context, condition) of every solve guarded while evaluating in this block:
    1 / (the smallest relative pivot or singular value) of each diagonal, rank or inverse
    check, so that a refusal can say which solve came closest to singular."""
    log: list = []
    token = _PIVOTS.set(log)
    try:
        yield log
    finally:
        _PIVOTS.reset(token)


def record_pivot(context: str, condition: float):
    log = _PIVOTS.get()
    if log is not None:
        log.append((context, condition))


def _context(context):
    return str(context) if context else _INVERTING.get()


def _identity_rules(check, doc, simplify=None, examples=None, elementwise=False, **extra):
    def batch(x, *, batched, **params):
        return guard(x, **params)

    guard = define_op(
        extra.pop("name"), arity=1, numpy=check, shape=lambda s, **p: s, sympy=lambda x, **p: x,
        rop=lambda dx, x, *, out, **p: dx, vjp=lambda g, x, *, out, **p: g,
        inverse=lambda out, x, **p: out, batch=batch, linear=True, elementwise=elementwise,
        dask="whole",  # a check reads every entry (a rank, a scale)
        axis_map=lambda i, axis, s, **p: axis, domain=REALS, simplify=simplify,
        examples=examples or [Example(((2,),), {"context": "check_op"})], doc=doc, **extra)
    return guard


def _check_rank(a, *, need, context):
    rows, cols = a.shape[-2:]
    if not np.all(np.isfinite(a)):
        raise DomainError(f"{context}: the known {rows}x{cols} matrix has NaN or infinite "
                          f"entries; its rank is not determined")
    needed = cols if need == "columns" else rows
    singular = np.linalg.svd(a, compute_uv=False)  # per matrix of a stack
    top = singular[..., :1] if singular.shape[-1] else np.zeros(singular.shape[:-1] + (1,))
    scale = max(rows, cols) * np.finfo(a.dtype).eps if RANK_RTOL is None else RANK_RTOL
    ranks = np.sum(singular > top * scale, axis=-1)
    if np.any(ranks < needed):
        where = first_index(ranks < needed)
        values = singular[where]
        smallest = values[needed - 1] if needed - 1 < values.size else 0.0
        which = f" (matrix {where} of the stack)" if where else ""
        raise NotInvertibleError(
            f"{context}: the known {rows}x{cols} matrix{which} has rank "
            f"{int(np.asarray(ranks)[where])} where {needed} is needed (full {need[:-1]} "
            f"rank; singular values from {values[0]:.3g} down to {smallest:.3g}). rop "
            f"refuses a pseudo-inverse: it would give wrong answers without warning")
    if needed and singular.size:
        record_pivot(context, float(np.max(top[..., 0] / singular[..., needed - 1])))
    return a


def _simplify_rank(a, *, out_shape, need, context):
    # full_rank(transpose(b)) checks the same singular values as full_rank(b): share one
    if a.op is transpose and a.ndim == 2:
        flipped = "rows" if need == "columns" else "columns"
        return transpose(full_rank(a.inputs[0], need=flipped, context=context))
    return None


full_rank = _identity_rules(
    _check_rank, name="full_rank", simplify=_simplify_rank,
    normalize=lambda s, need="columns", context="": {
        "need": "columns" if len(s) >= 2 and s[-1] == s[-2] else need,  # square: one check
        "context": _context(context)},
    examples=[Example(((2, 2),), {"need": "columns", "context": "check_op"})],
    doc="out = a, after checking that the matrix a (or each matrix of a stack) has full "
        "column (or row) rank by its singular values; raises NotInvertibleError otherwise")


def _check_nonzero(y, *, context):
    magnitude = np.abs(y)
    scale = float(np.max(magnitude, initial=0.0))
    tiny = magnitude <= 1e-300 + 1e-15 * scale
    if np.any(tiny):
        where = first_index(tiny)
        raise NotInvertibleError(
            f"{context}: the known factor is zero at index {where} (value "
            f"{np.asarray(y)[where]!r}); the operand multiplied by it cannot be recovered")
    if magnitude.size:
        record_pivot(context, scale / float(np.min(magnitude)))
    return y


nonzero = _identity_rules(
    _check_nonzero, name="nonzero", elementwise=True,
    normalize=lambda s, context="": {"context": _context(context)},
    doc="out = y, after checking that no entry of y is zero")


def _check_kink(x, *, tol, kink_of, context):

    scale = max(1.0, float(np.max(np.abs(x), initial=0.0)))
    close = REGISTRY[kink_of].kink_distance(x) <= tol * scale
    if np.any(close):
        where = first_index(close)
        raise NotInvertibleError(
            f"{context}: the value {np.asarray(x)[where]!r} at index {where} is within "
            f"{tol:g} of a kink, where the slope (or branch) is not determined")
    return x


away_from_kink = _identity_rules(
    _check_kink, name="away_from_kink", elementwise=True,
    normalize=lambda s, tol=1e-10, kink_of="step", context="": {
        "tol": float(tol), "kink_of": str(kink_of), "context": _context(context)},
    examples=[Example(((2,),), {"tol": 1e-8, "context": "check_op"})],
    doc="out = x, after checking that no entry is within tol (relative) of a kink of the "
        "piecewise-constant op named kink_of (0 for step and sign, half-integers for "
        "round), where a slope or branch read from x is not determined")


def _check_within(y, *, lo, hi, closed, context):
    inside = Interval(lo, hi, tuple(closed)).contains(y)
    if not np.all(inside):
        where = first_index(~inside)
        raise DomainError(
            f"{context}: the value {np.asarray(y)[where]!r} at index {where} is outside "
            f"{Interval(lo, hi, tuple(closed))}, the values the op takes: no input gives it")
    return y


within = _identity_rules(
    _check_within, name="within", elementwise=True,
    normalize=lambda s, lo, hi, closed=(False, False), context="": {
        "lo": float(lo), "hi": float(hi), "closed": tuple(bool(c) for c in closed),
        "context": _context(context)},
    examples=[Example(((2,),), {"lo": -3.0, "hi": 3.0, "context": "check_op"})],
    doc="out = y, after checking that every entry lies in the interval [lo, hi] (ends "
        "included as `closed` says); raises DomainError otherwise: an inverse's argument "
        "outside the op's image has no preimage")


# -- certificates -----------------------------------------------------------------------------
def certificate_tolerance(rtol: float, condition, dtype) -> float:
    """The residual a certified answer may have: ``rtol``, or what a backward-stable solve
    leaves at this condition estimate (CONDITION_SLACK * eps * condition), if larger."""
    return max(rtol, CONDITION_SLACK * np.finfo(dtype).eps * float(np.max(condition)))


def default_max_condition(dtype) -> float:
    """Above this condition estimate a point is numerically singular: fewer than about
    four significant digits of the answer could be trusted."""
    return 1e-4 / np.finfo(dtype).eps


def _check_certificate(x, certificate, condition, *, rtol, max_condition, context):
    certificate, condition = np.max(certificate), np.max(condition)
    tolerance = certificate_tolerance(rtol, condition, x.dtype)
    if not np.all(np.isfinite(x)):
        problem = "the answer has NaN or Inf entries"
    elif not condition <= max_condition:
        problem = (f"the condition estimate |H| |x| / |v| = {condition:.3g} exceeds "
                   f"max_condition = {max_condition:.3g}: H is singular or numerically "
                   f"singular at this point")
    elif not certificate <= tolerance:
        problem = (f"the residual |H x - v| / |v| = {certificate:.3g} exceeds the tolerance "
                   f"{tolerance:.3g} (rtol = {rtol:g}, condition estimate {condition:.3g})")
    else:
        return x
    raise CertificateError(f"{context}: refused: {problem}", certificate=float(certificate),
                           tolerance=tolerance, condition=float(condition))


def _batch_certified(x, certificate, condition, *, batched, **params):
    k = batch_size((x, certificate, condition), batched)  # the checks take every entry
    return certified(with_batch(x, k, batched[0]), certificate, condition, **params)


certified = define_op(
    "certified", arity=3, numpy=_check_certificate, shape=lambda s, c, k, **p: s,
    sympy=lambda x, c, k, **p: x,
    normalize=lambda s, c, k, rtol, max_condition, context="": {
        "rtol": float(rtol), "max_condition": float(max_condition),
        "context": str(context) or "inverse-Hessian-vector product"},
    rop=(lambda dx, x, c, k, *, out, **p: dx, None, None),
    vjp=(lambda g, x, c, k, *, out, **p: g, None, None),
    inverse=(lambda out, x, c, k, **p: out, NoInverse("a certificate is only checked"),
             NoInverse("a condition estimate is only checked")),
    batch=_batch_certified, linear=(0,), dask="whole",
    axis_map=lambda i, axis, *shapes, **p: axis if i == 0 else None,
    domain=(REALS, Interval(0.0, 1e-12), Interval(1.0, 2.0)),
    examples=[Example(((2,), (), ()), {"rtol": 1e-10, "max_condition": 1e8,
                                       "context": "check_op"})],
    doc="out = x, after checking an answer's certificate (the relative residual of H x = "
        "v) against the tolerance max(rtol, 16 eps condition) and the condition estimate "
        "against max_condition; raises CertificateError otherwise",
)
