"""Guards: identity ops whose forward checks a condition an inverse depends on, and raises
NotInvertibleError naming the node being inverted (``context``) when it fails. On a
constant they fold: the check runs when the graph is built.

They carry every rule (all identities), so graphs containing them can still be
differentiated, saved and checked like any other.
"""

import contextlib
import contextvars

import numpy as np

from ..errors import NotInvertibleError
from ..op import REALS, Example, define_op

RANK_RTOL = None  # None: numpy's matrix_rank default, sigma_max * max(M, N) * eps
_INVERTING = contextvars.ContextVar("inverting", default="")


@contextlib.contextmanager
def inverting(description: str):
    """Guards built inside this block name ``description`` (the node being inverted) in
    their errors, unless given a context of their own."""
    token = _INVERTING.set(description)
    try:
        yield
    finally:
        _INVERTING.reset(token)


def _context(context):
    return str(context) if context else _INVERTING.get()


def _identity_rules(check, doc, simplify=None, examples=None, **extra):
    return dict(
        arity=1, numpy=check, shape=lambda s, **p: s, sympy=lambda x, **p: x,
        rop=lambda dx, x, *, out, **p: dx, vjp=lambda g, x, *, out, **p: g,
        inverse=lambda out, x, **p: out, domain=REALS, simplify=simplify,
        examples=examples or [Example(((2,),), {"context": "check_op"})], doc=doc, **extra)


def _check_rank(a, *, need, context):
    rows, cols = a.shape
    needed = cols if need == "columns" else rows
    singular = np.linalg.svd(a, compute_uv=False)
    top = singular[0] if singular.size else 0.0
    tol = top * max(rows, cols) * np.finfo(a.dtype).eps if RANK_RTOL is None else top * RANK_RTOL
    rank = int(np.sum(singular > tol))
    if rank < needed:
        smallest = singular[needed - 1] if needed - 1 < singular.size else 0.0
        raise NotInvertibleError(
            f"{context}: the known {rows}x{cols} matrix has rank {rank} where {needed} is "
            f"needed (full {need[:-1]} rank; singular values from {top:.3g} down to "
            f"{smallest:.3g}). rop refuses a pseudo-inverse: it would give wrong answers "
            f"without warning")
    return a


def _simplify_rank(a, *, out_shape, need, context):
    # full_rank(transpose(b)) checks the same singular values as full_rank(b): share one
    if a.op.name == "transpose":
        from .structure import transpose

        flipped = "rows" if need == "columns" else "columns"
        return transpose(full_rank(a.inputs[0], need=flipped, context=context))
    return None


full_rank = define_op(
    "full_rank",
    normalize=lambda s, need="columns", context="": {
        "need": "columns" if len(s) == 2 and s[0] == s[1] else need,  # square: one check
        "context": _context(context)},
    **_identity_rules(
        _check_rank, simplify=_simplify_rank,
        examples=[Example(((2, 2),), {"need": "columns", "context": "check_op"})],
        doc="out = a, after checking that the matrix a has full column (or row) rank by its "
            "singular values; raises NotInvertibleError otherwise"))


def _check_nonzero(y, *, context):
    scale = float(np.max(np.abs(y), initial=0.0))
    tiny = np.abs(y) <= 1e-300 + 1e-15 * scale
    if np.any(tiny):
        where = tuple(int(i) for i in np.argwhere(tiny)[0])
        raise NotInvertibleError(
            f"{context}: the known factor is zero at index {where} (value "
            f"{np.asarray(y)[where]!r}); the operand multiplied by it cannot be recovered")
    return y


nonzero = define_op(
    "nonzero", normalize=lambda s, context="": {"context": _context(context)},
    **_identity_rules(_check_nonzero,
                      doc="out = y, after checking that no entry of y is zero"))


def _check_kink(x, *, tol, context):
    scale = max(1.0, float(np.max(np.abs(x), initial=0.0)))
    close = np.abs(x) <= tol * scale
    if np.any(close):
        where = tuple(int(i) for i in np.argwhere(close)[0])
        raise NotInvertibleError(
            f"{context}: the value {np.asarray(x)[where]!r} at index {where} is within "
            f"{tol:g} of a kink, where the slope (or branch) is not determined")
    return x


away_from_kink = define_op(
    "away_from_kink",
    normalize=lambda s, tol=1e-10, context="": {"tol": float(tol), "context": _context(context)},
    **_identity_rules(_check_kink,
                      examples=[Example(((2,),), {"tol": 1e-8, "context": "check_op"})],
                      doc="out = x, after checking that no entry is within tol of 0, the "
                          "kink of a piecewise-linear op"))
