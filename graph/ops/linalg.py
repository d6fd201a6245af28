"""Matrix products with numpy's semantics for 1-D and 2-D operands, and linear solves."""

import numpy as np

import sympy

from ..errors import NotInvertibleError, ShapeError
from ..op import REALS, Example, Interval, NoInverse, define_op, object_array
from .guards import _context, full_rank
from .reduce import sum
from .structure import reshape, transpose


def _matmul_shape(a, b):
    if not (1 <= len(a) <= 2 and 1 <= len(b) <= 2):
        raise ShapeError(f"matmul: supports 1-D and 2-D operands, got shapes {a} and {b}")
    if a[-1] != b[0]:
        raise ShapeError(f"matmul: shapes {a} and {b} do not align ({a[-1]} != {b[0]})")
    return a[:-1] + b[1:]


def _column(x):
    return reshape(x, shape=(x.shape[0], 1))


# out = a @ b  =>  cotangents g @ b^T and a^T @ g, where a 1-D operand is read as a row
# (left) or a column (right) and the result is squeezed back to the operand's shape
def _vjp_a(g, a, b, *, out):
    if b.ndim == 1:
        return g * b if a.ndim == 1 else _column(g) * b  # outer product g b^T
    return b @ g if a.ndim == 1 else g @ b.T


def _vjp_b(g, a, b, *, out):
    if a.ndim == 1:
        return g * a if b.ndim == 1 else _column(a) * g  # outer product a g^T
    return a.T @ g


# out = a @ b solved for one operand, the other known. Only with the rank the solve needs,
# checked numerically when the graph runs (full_rank); never a pseudo-inverse.
def _solve_b(out, a, b):
    """b = a^-1 out; a (k, n) needs full column rank n (k >= n: normal equations if k > n)."""
    if a.ndim == 1 or a.shape[0] < a.shape[1]:
        k = 1 if a.ndim == 1 else a.shape[0]
        raise NotInvertibleError(f"the known left operand has shape {a.shape}: rank at most "
                                 f"{k}, where {b.shape[0]} is needed to recover the right one")
    if a.shape[0] == a.shape[1]:
        return inv(a) @ out
    a = full_rank(a, need="columns")
    return solve(a.T @ a, a.T @ out)


def _solve_a(out, a, b):
    """a = out b^-1; b (n, m) needs full row rank n (m >= n: normal equations if m > n)."""
    if b.ndim == 1 or b.shape[1] < b.shape[0]:
        m = 1 if b.ndim == 1 else b.shape[1]
        raise NotInvertibleError(f"the known right operand has shape {b.shape}: rank at most "
                                 f"{m}, where {b.shape[0]} is needed to recover the left one")
    if b.shape[0] == b.shape[1]:
        return out @ inv(b)
    b = full_rank(b, need="rows")
    return _transpose_any(solve(b @ b.T, b @ _transpose_any(out)))


def _transpose_any(x):
    return x if x.ndim < 2 else x.T


matmul = define_op(
    "matmul", arity=2, shape=_matmul_shape, numpy=np.matmul,
    sympy=lambda a, b: object_array(np.matmul(a, b)),
    rop=(lambda da, a, b, *, out: da @ b,
         lambda db, a, b, *, out: a @ db),
    vjp=(_vjp_a, _vjp_b),
    inverse=(_solve_a, _solve_b),
    domain=REALS,
    examples=[Example(((2, 3), (3, 2))), Example(((3,), (3, 2))), Example(((2, 3), (3,))),
              Example(((3,), (3,))), Example(((2, 2), (2, 2))), Example(((3, 2), (2,)))],
    code=lambda a, b: f"({a} @ {b})",
    doc="out = a @ b for 1-D and 2-D operands (numpy semantics); invertible in an operand "
        "when the other has the full rank the solve needs",
)


# -- inv ----------------------------------------------------------------------------------
def _inv_numpy(a, context=""):
    """a^-1, refused when a is singular to working precision: cond_1(a) = |a|_1 |a^-1|_1
    above 1 / (n eps), numpy's rank tolerance. The inverse then costs no more than a solve
    and serves every solve with a (CSE shares it), as an exact 1-norm condition number."""
    n = a.shape[0]
    with np.errstate(all="ignore"):
        try:
            inverse = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            inverse = np.full_like(a, np.inf)
        condition = np.linalg.norm(a, 1) * np.linalg.norm(inverse, 1)
    if not condition < 1 / (n * np.finfo(a.dtype).eps):
        singular = np.linalg.svd(a, compute_uv=False)
        rank = int(np.sum(singular > singular[0] * n * np.finfo(a.dtype).eps))
        raise NotInvertibleError(
            f"{context or 'inv'}: the known {n}x{n} matrix has rank {rank} where {n} is "
            f"needed (condition number {condition:.3g}; singular values from "
            f"{singular[0]:.3g} down to {singular[-1]:.3g}). rop refuses a pseudo-inverse: "
            f"it would give wrong answers without warning")
    return inverse


inv = define_op(
    "inv", arity=1, numpy=_inv_numpy,
    shape=lambda s, context="": s if len(s) == 2 and s[0] == s[1] else _not_square(s),
    sympy=lambda a, context="": np.array(sympy.Matrix(a.tolist()).inv().tolist(), dtype=object),
    normalize=lambda s, context="": {"context": _context(context)},
    # out = a^-1  =>  R{out} = -out R{a} out;  cotangent -out^T g out^T
    rop=lambda da, a, *, out, context: -(out @ da @ out),
    vjp=lambda g, a, *, out, context: -(out.T @ g @ out.T),
    inverse=lambda out, a, *, context: inv(out, context=context),
    domain=Interval(0.5, 1.5), examples=[Example(((2, 2),))],
    # inv(a^T) = inv(a)^T: one inversion serves solves with a and with its transpose
    simplify=lambda a, *, out_shape, context: transpose(inv(a.inputs[0], context=context))
    if a.op is transpose else None,
    doc="out = a^-1 for a square matrix a; raises NotInvertibleError when a is singular to "
        "working precision (naming its rank)",
)


def _not_square(s):
    raise ShapeError(f"inv: needs a square matrix, got shape {s}")


# -- solve --------------------------------------------------------------------------------
def _solve_shape(a, b, context=""):
    batched = len(a) == 3 and len(b) == 2 and a[0] == b[0]
    plain = len(a) == 2 and 1 <= len(b) <= 2
    if not (batched or plain) or a[-1] != a[-2] or b[-1 if batched else 0] != a[-1]:
        raise ShapeError(f"solve: needs a square matrix a (n, n) with b (n,) or (n, k), or a "
                         f"stack a (N, n, n) with b (N, n); got shapes {a} and {b}")
    return b


def _solve_numpy(a, b, context=""):
    try:
        if a.ndim == 3:
            return np.linalg.solve(a, b[..., None])[..., 0]
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        raise NotInvertibleError(f"{context or 'solve'}: the matrix is singular") from None


def _solve_sympy(a, b, context=""):
    def one(m, rhs):
        x = sympy.Matrix(m.tolist()).LUsolve(sympy.Matrix(rhs.tolist()))
        return np.array(x.tolist(), dtype=object).reshape(rhs.shape)

    if a.ndim == 3:
        return np.stack([one(m, r) for m, r in zip(a, b)])
    return one(a, b)


def _batch_matvec(m, x):
    """(N, n, n) stack times (N, n) stack of vectors."""
    return sum(m * reshape(x, shape=(x.shape[0], 1, x.shape[1])), axis=2)


def _outer(u, x):
    """u x^T for vectors, or per batch entry for stacks of vectors."""
    if u.ndim == 1:
        return reshape(u, shape=(u.shape[0], 1)) * x
    return reshape(u, shape=u.shape + (1,)) * reshape(x, shape=(x.shape[0], 1, x.shape[1]))


def _swap_last(a):
    return transpose(a, axes=(0, 2, 1)) if a.ndim == 3 else a.T


def _cotangent_b(g, a, context):
    return solve(_swap_last(a), g, context=context)


# x = a^-1 b  =>  R{x} = a^-1 (R{b} - R{a} x);  cotangents a^-T g and -(a^-T g) x^T
solve = define_op(
    "solve", arity=2, shape=_solve_shape, numpy=_solve_numpy, sympy=_solve_sympy,
    normalize=lambda a, b, context="": {"context": _context(context)},
    rop=(lambda da, a, b, *, out, context: -solve(
        a, _batch_matvec(da, out) if a.ndim == 3 else da @ out, context=context),
         lambda db, a, b, *, out, context: solve(a, db, context=context)),
    vjp=(lambda g, a, b, *, out, context: -(_outer(_cotangent_b(g, a, context), out)
                                            if out.ndim != 2 or a.ndim == 3
                                            else _cotangent_b(g, a, context) @ out.T),
         lambda g, a, b, *, out, context: _cotangent_b(g, a, context)),
    inverse=(NoInverse("a matrix is not determined by one solution of its system"),
             lambda out, a, b, *, context: _batch_matvec(a, out) if a.ndim == 3 else a @ out),
    domain=(Interval(0.5, 1.5), REALS),
    examples=[Example(((2, 2), (2,))), Example(((2, 2), (2, 2))), Example(((2, 2, 2), (2, 2)))],
    doc="out = a^-1 b for a square a (n, n) and b (n,) or (n, k), or per entry of a stack "
        "a (N, n, n), b (N, n); raises NotInvertibleError when a is singular",
)
