"""Matrix products with numpy's semantics (1-D, 2-D and stacked operands), inverses and
linear solves."""

import numpy as np
import sympy

from ..domains import REALS, Example, Interval, NoInverse
from ..errors import DomainError, NotInvertibleError, ShapeError
from ..op import define_op
from ..shapes import broadcast_shape, first_index, object_array
from .guards import _context, full_rank, record_pivot
from .structure import batch_size, broadcast_to, reshape, transpose


def _matmul_shape(a, b):
    if not a or not b:
        raise ShapeError(f"matmul: operands need at least one axis, got shapes {a} and {b}")
    if a[-1] != b[-2 if len(b) > 1 else 0]:
        raise ShapeError(f"matmul: shapes {a} and {b} do not align ({a[-1]} != "
                         f"{b[-2 if len(b) > 1 else 0]})")
    stack = broadcast_shape("matmul", a[:-2], b[:-2])
    return stack + a[-2:-1] + b[-1:] if len(b) > 1 else stack + a[-2:-1]


def swap_last(x):
    """x with its last two axes swapped (a matrix transpose, per matrix of a stack)."""
    return x if x.ndim < 2 else transpose(x, axes=tuple(range(x.ndim - 2)) + (x.ndim - 1,
                                                                            x.ndim - 2))


def _column(x):
    return reshape(x, shape=x.shape + (1,))


def _row(x):
    return reshape(x, shape=x.shape[:-1] + (1, x.shape[-1]))


# out = a @ b  =>  cotangents g @ b^T and a^T @ g, where a 1-D operand is read as a row
# (left) or a column (right); the transformation sums stacked axes down to the operand
def _vjp_a(g, a, b, *, out):
    if b.ndim == 1:
        return g * b if a.ndim == 1 else _column(g) * b  # outer product g b^T
    if a.ndim == 1:
        return reshape(_row(g) @ swap_last(b), shape=g.shape[:-1] + a.shape)
    return g @ swap_last(b)


def _vjp_b(g, a, b, *, out):
    if a.ndim == 1:
        return g * a if b.ndim == 1 else _column(a) * _row(g)  # outer product a g^T
    if b.ndim == 1:
        return reshape(swap_last(a) @ _column(g), shape=g.shape[:-1] + b.shape)
    return swap_last(a) @ g


# out = a @ b solved for one operand, the other known. Only with the rank the solve needs,
# checked numerically when the graph runs (full_rank); never a pseudo-inverse.
def _solve_b(out, a, b):
    """b = a^-1 out; a (k, n) needs full column rank n (k >= n: normal equations if k > n)."""
    if a.ndim > 2 or b.ndim > 2:
        raise NotInvertibleError("solving a stacked matmul for an operand is not supported")
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
    if a.ndim > 2 or b.ndim > 2:
        raise NotInvertibleError("solving a stacked matmul for an operand is not supported")
    if b.ndim == 1 or b.shape[1] < b.shape[0]:
        m = 1 if b.ndim == 1 else b.shape[1]
        raise NotInvertibleError(f"the known right operand has shape {b.shape}: rank at most "
                                 f"{m}, where {b.shape[0]} is needed to recover the left one")
    if b.shape[0] == b.shape[1]:
        return out @ inv(b)
    b = full_rank(b, need="rows")
    return swap_last(solve(b @ b.T, b @ swap_last(out)))


def _batch_matmul(a, b, *, batched):
    """Batched operands carry a leading axis k. One big matrix product where the batch
    folds into rows (numpy would loop over k small products); stacked products otherwise."""
    k = batch_size((a, b), batched)
    a_core = a.shape[1:] if batched[0] else a.shape
    b_core = b.shape[1:] if batched[1] else b.shape
    out_shape = (k,) + _matmul_shape(a_core, b_core)
    if not batched[1] and b.ndim <= 2:  # (k, ..., n) @ b: all of a's rows at once
        return reshape(reshape(a, shape=(-1, a.shape[-1])) @ b, shape=out_shape)
    if not batched[0] and a.ndim == 2 and len(b_core) == 1:  # a @ b_i = b_i a^T, stacked
        return b @ a.T
    if not batched[0] and a.ndim <= 2 and len(b_core) == 2:  # a @ [b_1 ... b_k] side by side
        n, p = b_core
        wide = a @ reshape(transpose(b, axes=(1, 0, 2)), shape=(n, k * p))
        if a.ndim == 1:
            return reshape(wide, shape=(k, p))
        return transpose(reshape(wide, shape=(a.shape[0], k, p)), axes=(1, 0, 2))
    lead_a, lead_b = (k,) if batched[0] else (), (k,) if batched[1] else ()
    a2 = a if len(a_core) > 1 else reshape(a, shape=lead_a + (1,) + a_core)
    b2 = b if len(b_core) > 1 else reshape(b, shape=lead_b + b_core + (1,))
    rank = max(a2.ndim - len(lead_a), b2.ndim - len(lead_b))
    a2 = _pad_stack(a2, rank, batched[0])
    b2 = _pad_stack(b2, rank, batched[1])
    return reshape(a2 @ b2, shape=out_shape)


def _pad_stack(x, rank, flagged):
    """A batched (k, *core) operand padded with length-1 axes after k to rank 1 + rank."""
    missing = rank + 1 - x.ndim
    if not flagged or missing <= 0:
        return x
    return reshape(x, shape=x.shape[:1] + (1,) * missing + x.shape[1:])


def _matmul_axis_map(i, axis, a, b):
    if i == 0 and len(a) >= 2 and axis == len(a) - 2:  # a's rows are the output's rows
        return len(_matmul_shape(a, b)) - (2 if len(b) > 1 else 1)
    if i == 1 and len(b) >= 2 and axis == len(b) - 1:  # b's columns, the output's columns
        return len(_matmul_shape(a, b)) - 1
    return None


matmul = define_op(
    "matmul", arity=2, shape=_matmul_shape, numpy=np.matmul,
    array_api=lambda xp, a, b: xp.matmul(a, b),
    sympy=lambda a, b: object_array(np.matmul(a, b)),
    rop=(lambda da, a, b, *, out: da @ b,
         lambda db, a, b, *, out: a @ db),
    vjp=(_vjp_a, _vjp_b),
    inverse=(_solve_a, _solve_b),
    batch=_batch_matmul, multilinear=(0, 1), axis_map=_matmul_axis_map,
    domain=REALS,
    examples=[Example(((2, 3), (3, 2))), Example(((3,), (3, 2))), Example(((2, 3), (3,))),
              Example(((3,), (3,))), Example(((2, 2), (2, 2))), Example(((3, 2), (2,))),
              Example(((2, 2, 3), (3, 2))), Example(((3,), (2, 3, 2)))],
    code=lambda a, b: f"({a} @ {b})",
    doc="out = a @ b with numpy's semantics: 1-D operands are a row (left) or a column "
        "(right), stacks of matrices broadcast; invertible in an operand of a 2-D product "
        "when the other has the full rank the solve needs",
)


# -- inv ----------------------------------------------------------------------------------
def _inv_numpy(a, context=""):
    """a^-1 (per matrix of a stack), refused when a is singular to working precision:
    cond_1(a) = |a|_1 |a^-1|_1 above 1 / (n eps), numpy's rank tolerance. The inverse then
    costs no more than a solve and serves every solve with a (CSE shares it), with an exact
    1-norm condition number."""
    n = a.shape[-1]
    if not np.all(np.isfinite(a)):
        raise DomainError(f"{context or 'inv'}: the matrix has NaN or infinite entries")
    with np.errstate(all="ignore"):
        try:
            inverse = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            inverse = np.full_like(a, np.inf)
        condition = np.linalg.norm(a, 1, axis=(-2, -1)) * np.linalg.norm(inverse, 1, axis=(-2, -1))
    bad = ~(condition < 1 / (max(n, 1) * np.finfo(a.dtype).eps))
    if np.any(bad):
        where = first_index(bad)
        matrix = a[where]
        singular = np.linalg.svd(matrix, compute_uv=False)
        rank = int(np.sum(singular > singular[0] * n * np.finfo(a.dtype).eps))
        which = f" (matrix {where} of the stack)" if where else ""
        raise NotInvertibleError(
            f"{context or 'inv'}: the known {n}x{n} matrix{which} has rank {rank} where {n} "
            f"is needed (condition number {float(np.asarray(condition)[where]):.3g}; singular "
            f"values from {singular[0]:.3g} down to {singular[-1]:.3g}). rop refuses a "
            f"pseudo-inverse: it would give wrong answers without warning")
    record_pivot(context or "inv", float(np.max(condition, initial=1.0)))
    return inverse


def _inv_shape(s, context=""):
    if len(s) < 2 or s[-1] != s[-2]:
        raise ShapeError(f"inv: needs a square matrix (or a stack of them), got shape {s}")
    return s


def _inv_sympy(a, context=""):
    if a.ndim == 2:
        return np.array(sympy.Matrix(a.tolist()).inv().tolist(), dtype=object)
    return np.stack([_inv_sympy(m) for m in a])


inv = define_op(
    "inv", arity=1, numpy=_inv_numpy, shape=_inv_shape, sympy=_inv_sympy, dask="blocks",
    normalize=lambda s, context="": {"context": _context(context)},
    # out = a^-1  =>  R{out} = -out R{a} out;  cotangent -out^T g out^T
    rop=lambda da, a, *, out, context: -(out @ da @ out),
    vjp=lambda g, a, *, out, context: -(swap_last(out) @ g @ swap_last(out)),
    inverse=lambda out, a, *, context: inv(out, context=context),
    batch=lambda a, *, batched, context: inv(a, context=context),
    axis_map=lambda i, axis, s, context: axis if axis < len(s) - 2 else None,
    domain=Interval(0.5, 1.5), examples=[Example(((2, 2),)), Example(((2, 2, 2),))],
    # inv(a^T) = inv(a)^T: one inversion serves solves with a and with its transpose
    simplify=lambda a, *, out_shape, context: transpose(inv(a.inputs[0], context=context))
    if a.op is transpose and a.ndim == 2 else None,
    doc="out = a^-1 for a square matrix a (or per matrix of a stack); raises "
        "NotInvertibleError when a is singular to working precision (naming its rank)",
)


# -- solve --------------------------------------------------------------------------------
def _vectors(a, b) -> bool:
    """b holds vectors (one per matrix of a), not matrices of right-hand sides."""
    return len(b) == len(a) - 1


def _solve_shape(a, b, context=""):
    stack_ok = len(a) in (2, 3) and a[:-2] == b[:len(a) - 2]
    if not stack_ok or a[-1] != a[-2] or len(b) not in (len(a) - 1, len(a)) or \
            b[len(a) - 2] != a[-1]:
        raise ShapeError(f"solve: needs a square matrix a (n, n) with b (n,) or (n, m), or a "
                         f"stack a (N, n, n) with b (N, n) or (N, n, m); got shapes {a} and {b}")
    return b


def _solve_numpy(a, b, context=""):
    try:
        if a.ndim == 3 and b.ndim == 2:
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


def _times(m, x):
    """m @ x where x holds vectors or matrices as solve's b does."""
    return reshape(m @ _column(x), shape=x.shape) if _vectors(m.shape, x.shape) else m @ x


def _outer(u, x, a):
    """u x^T per vector (or u @ x^T per matrix of right-hand sides): the cotangent of
    solve's matrix, with u = a^-T g."""
    return _column(u) * _row(x) if _vectors(a.shape, x.shape) else u @ swap_last(x)


def _cotangent_b(g, a, context):
    return solve(swap_last(a), g, context=context)


def _batch_solve(a, b, *, batched, context):
    """A batched matrix joins the stack (k N systems); a batch of right-hand sides only is
    moved among the columns of b: one solve for all of them."""
    if batched[0]:
        k, core = a.shape[0], a.shape[1:]
        b = b if batched[1] else broadcast_to(b, shape=(k,) + b.shape)
        n = core[-1]
        stack = reshape(a, shape=(-1, n, n))
        rhs = reshape(b, shape=(stack.shape[0], n) + b.shape[len(core):])
        return reshape(solve(stack, rhs, context=context), shape=b.shape)
    k, lead = b.shape[0], a.ndim - 2  # lead: 1 for a stack a (N, n, n)
    rhs = transpose(b, axes=tuple(range(1, lead + 2)) + (0,) + tuple(range(lead + 2, b.ndim)))
    cols = reshape(rhs, shape=rhs.shape[:lead + 1] + (-1,))  # (..., n, k * m)
    solved = reshape(solve(a, cols, context=context), shape=rhs.shape)
    return transpose(solved, axes=(lead + 1,) + tuple(range(lead + 1)) +
                     tuple(range(lead + 2, b.ndim)))


# x = a^-1 b  =>  R{x} = a^-1 (R{b} - R{a} x);  cotangents a^-T g and -(a^-T g) x^T
solve = define_op(
    "solve", arity=2, shape=_solve_shape, numpy=_solve_numpy, sympy=_solve_sympy,
    dask="blocks",  # per matrix of a stack: dask's solve takes single matrices
    normalize=lambda a, b, context="": {"context": _context(context)},
    rop=(lambda da, a, b, *, out, context: -solve(a, _times(da, out), context=context),
         lambda db, a, b, *, out, context: solve(a, db, context=context)),
    vjp=(lambda g, a, b, *, out, context: -_outer(_cotangent_b(g, a, context), out, a),
         lambda g, a, b, *, out, context: _cotangent_b(g, a, context)),
    inverse=(NoInverse("a matrix is not determined by one solution of its system"),
             lambda out, a, b, *, context: _times(a, out)),
    batch=_batch_solve, linear=(1,),
    axis_map=lambda i, axis, a, b, context: axis if axis < len(a) - 2 or (
        i == 1 and not _vectors(a, b) and axis == len(b) - 1) else None,
    domain=(Interval(0.5, 1.5), REALS),
    # a known matrix is inverted once, when the graph is built (refused there if singular):
    # each evaluation then multiplies, instead of factoring again
    simplify=lambda a, b, *, out_shape, context: _times(inv(a, context=context), b)
    if a.is_const else None,
    examples=[Example(((2, 2), (2,))), Example(((2, 2), (2, 2))), Example(((2, 2, 2), (2, 2))),
              Example(((2, 2, 2), (2, 2, 3)))],
    doc="out = a^-1 b for a square a (n, n) and b (n,) or (n, m), or per matrix of a stack "
        "a (N, n, n) with b (N, n) or (N, n, m); raises NotInvertibleError when a is singular",
)
