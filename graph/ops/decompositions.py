"""Functions of a matrix computed through a factorization: the Cholesky factor and the
determinant, with slogdet's two parts (its sign and log |det|). Each acts on a matrix or on
every matrix of a stack (..., n, n); their derivatives are built from inv and matmul."""

import numpy as np
import sympy

from ..domains import REALS, Example, NoInverse, PositiveDefinite
from ..errors import DomainError, ShapeError
from ..leaves import const
from ..op import define_op
from ..shapes import first_index
from .guards import record_pivot
from .linalg import inv, swap_last
from .reduce import sum
from .structure import broadcast_to, reshape


def _square_shape(opname, shape_out):
    def shape(s):
        if len(s) < 2 or s[-1] != s[-2]:
            raise ShapeError(f"{opname}: needs a square matrix (or a stack of them, shape "
                             f"(..., n, n)), got shape {s}")
        return shape_out(s)
    return shape


def _per_matrix(one):
    """A sympy form on a matrix lifted to stacks of matrices (object arrays)."""
    def lifted(a):
        if a.ndim == 2:
            return np.array(one(sympy.Matrix(a.tolist())), dtype=object)
        return np.stack([lifted(m) for m in a])
    return lifted


def _stack_axis(i, axis, s):
    """The stack axes of a matrix operand run unmixed; the matrix axes mix."""
    return axis if axis < len(s) - 2 else None


def _matrix_of(x):
    """A stack of numbers (...,) as a stack of 1x1 matrices, to scale matrices with."""
    return reshape(x, shape=x.shape + (1, 1))


# -- cholesky -----------------------------------------------------------------------------
def _symmetric(a):
    return 0.5 * (a + np.swapaxes(a, -1, -2))


def _pivots(s):
    """The pivots of Gaussian elimination without pivoting, per matrix: d_k = det(s_k) /
    det(s_(k-1)) over the leading minors, all > 0 exactly when s is positive definite."""
    s = np.array(s, dtype=float)
    pivots = np.empty(s.shape[:-1])
    with np.errstate(all="ignore"):
        for k in range(s.shape[-1]):
            pivots[..., k] = s[..., k, k]
            column = s[..., k + 1:, k] / s[..., k, k, None]
            s[..., k + 1:, k + 1:] -= column[..., :, None] * s[..., k, None, k + 1:]
    return pivots


def _refuse_indefinite(s, scale):
    n = s.shape[-1]
    finite = np.all(np.isfinite(s), axis=(-2, -1))
    pivots = _pivots(s)
    pivots = np.where(np.isnan(pivots), np.inf, pivots)  # undefined after a zero pivot
    where = first_index(~finite | ~(np.min(pivots, axis=-1) > scale))
    which = f" (matrix {where} of the stack)" if where else ""
    if not finite[where]:
        raise DomainError(f"cholesky: the {n}x{n} matrix{which} has NaN or infinite entries")
    k = int(np.argmin(pivots[where]))
    raise DomainError(
        f"cholesky: the symmetric part (a + a^T) / 2 of the {n}x{n} matrix{which} is not "
        f"positive definite (to working precision): its smallest pivot is "
        f"{pivots[where][k]:.3g}, pivot {k} of the elimination, where every pivot must exceed "
        f"{float(np.asarray(scale)[where]):.3g}")


def _cholesky_numpy(a):
    """The lower Cholesky factor of (a + a^T) / 2, refused (DomainError naming the smallest
    pivot) unless every pivot L_kk^2 exceeds n eps max_i a_ii: below that, rounding decides
    whether the matrix is positive definite at all."""
    s = _symmetric(a)
    n = s.shape[-1]
    scale = n * np.finfo(s.dtype).eps * np.max(np.diagonal(s, axis1=-2, axis2=-1), axis=-1,
                                               initial=0.0)
    try:
        factor = np.linalg.cholesky(s)
    except np.linalg.LinAlgError:
        _refuse_indefinite(s, scale)
    pivots = np.diagonal(factor, axis1=-2, axis2=-1) ** 2
    if not np.all(np.min(pivots, axis=-1, initial=np.inf) > scale):
        _refuse_indefinite(s, scale)
    if pivots.size:
        record_pivot("cholesky", float(np.max(np.max(pivots, axis=-1) / np.min(pivots, axis=-1))))
    return factor


def _phi(x):
    """The lower triangle of x with its diagonal halved (per matrix of a stack)."""
    n = x.shape[-1]
    return x * const((np.tril(np.ones((n, n))) - 0.5 * np.eye(n)).astype(x.dtype))


# a = L L^T (symmetric)  =>  dS = dL L^T + L dL^T, so L^-1 dS L^-T = (L^-1 dL) + (L^-1 dL)^T
# with L^-1 dL lower triangular: L^-1 dL = phi(L^-1 dS L^-T), dS = (da + da^T) / 2.
# Adjoint: <G, L phi(L^-1 dS L^-T)> = <Z, dS>, Z = L^-T phi(L^T G) L^-1; a's cotangent is
# Z's symmetric part (phi is self-adjoint; so is the symmetric part)
def _cholesky_rop(da, a, *, out):
    out_inv = inv(out)
    return out @ _phi(out_inv @ (0.5 * (da + swap_last(da))) @ swap_last(out_inv))


def _cholesky_vjp(g, a, *, out):
    out_inv = inv(out)
    z = swap_last(out_inv) @ _phi(swap_last(out) @ g) @ out_inv
    return 0.5 * (z + swap_last(z))


cholesky = define_op(
    "cholesky", arity=1, dask="blocks", numpy=_cholesky_numpy,
    shape=_square_shape("cholesky", lambda s: s),
    sympy=_per_matrix(lambda m: ((m + m.T) / 2).cholesky(hermitian=False).tolist()),
    rop=_cholesky_rop, vjp=_cholesky_vjp,
    inverse=NoInverse("cholesky reads only the symmetric part (a + a^T) / 2 of a: the "
                      "antisymmetric part is lost (L L^T is the symmetric preimage)"),
    batch=lambda a, *, batched: cholesky(a), axis_map=_stack_axis,
    # eigenvalues >= 3: check_op's axis_map check adds N(0, 1) noise to one matrix of a stack,
    # which must stay positive definite
    domain=PositiveDefinite(3.0, 6.0), examples=[Example(((2, 2),)), Example(((2, 2, 2),))],
    doc="out = L, lower triangular with a positive diagonal, L L^T = (a + a^T) / 2, for a "
        "matrix (or per matrix of a stack) whose symmetric part is positive definite; "
        "raises DomainError otherwise, naming the smallest pivot",
)


# -- det, and slogdet's two parts ---------------------------------------------------------
def _inv_transpose(a, opname):
    """a^-T, the derivative of log |det a|; refused at a singular a (inv's message)."""
    return swap_last(inv(a, context=f"the derivative of {opname}, which reads a^-1"))


def _hadamard_ratio(a):
    """|det a| / prod_i |row i|, in [0, 1]: how far a is from singular, scale-free."""
    with np.errstate(all="ignore"):
        return np.abs(np.linalg.det(a)) / np.prod(np.linalg.norm(a, axis=-1), axis=-1)


_STACK_EXAMPLES = [Example(((2, 2),)), Example(((2, 2, 2),))]

# d det(a) = det(a) trace(a^-1 da) = det(a) sum(a^-T * da)  (Jacobi's formula)
det = define_op(
    "det", arity=1, dask="blocks", numpy=np.linalg.det,
    shape=_square_shape("det", lambda s: s[:-2]),
    sympy=_per_matrix(lambda m: m.det()),
    rop=lambda da, a, *, out: out * sum(_inv_transpose(a, "det") * da, axis=(-2, -1)),
    vjp=lambda g, a, *, out: _matrix_of(g * out) * _inv_transpose(a, "det"),
    inverse=NoInverse("det reduces a matrix to one number"),
    batch=lambda a, *, batched: det(a), axis_map=_stack_axis,
    domain=REALS, examples=_STACK_EXAMPLES,
    doc="out = det(a) for a square matrix (or per matrix of a stack); its derivatives read "
        "a^-1 and are refused (NotInvertibleError) where a is singular",
)

# d log |det a| = trace(a^-1 da), on either side of det a = 0
logabsdet = define_op(
    "logabsdet", arity=1, dask="blocks", numpy=lambda a: np.linalg.slogdet(a)[1],
    shape=_square_shape("logabsdet", lambda s: s[:-2]),
    sympy=_per_matrix(lambda m: sympy.log(m.det() ** 2) / 2),  # log |det|, smooth for sympy
    rop=lambda da, a, *, out: sum(_inv_transpose(a, "logabsdet") * da, axis=(-2, -1)),
    vjp=lambda g, a, *, out: _matrix_of(g) * _inv_transpose(a, "logabsdet"),
    inverse=NoInverse("logabsdet reduces a matrix to one number"),
    batch=lambda a, *, batched: logabsdet(a), axis_map=_stack_axis,
    domain=REALS, examples=_STACK_EXAMPLES,
    doc="out = log |det a| (per matrix of a stack), without overflow; -inf at a singular a, "
        "where its derivatives are refused. slogdet's second part",
)

det_sign = define_op(
    "det_sign", arity=1, dask="blocks", numpy=lambda a: np.linalg.slogdet(a)[0],
    shape=_square_shape("det_sign", lambda s: s[:-2]),
    sympy=_per_matrix(lambda m: sympy.sign(m.det())),
    # a zero cotangent shaped like a, not None: check_op would fill None with zeros shaped
    # like the output, which cannot be summed down to a's shape
    rop=None, vjp=lambda g, a, *, out: broadcast_to(const(np.zeros((), g.dtype)), shape=a.shape),
    inverse=NoInverse("det_sign is piecewise constant: it maps matrices to -1, 0 or 1"),
    batch=lambda a, *, batched: det_sign(a), axis_map=_stack_axis,
    piecewise_constant=True, kink_distance=_hadamard_ratio,
    domain=REALS, examples=_STACK_EXAMPLES,
    doc="out = the sign of det a in {-1, 0, 1} (per matrix of a stack), without overflow; "
        "derivative 0 away from singular matrices. slogdet's first part",
)
