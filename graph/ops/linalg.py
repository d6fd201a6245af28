"""Matrix products with numpy's semantics for 1-D and 2-D operands."""

import numpy as np

from ..errors import ShapeError
from ..op import REALS, Example, NoInverse, define_op, object_array
from .structure import reshape


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


matmul = define_op(
    "matmul", arity=2, shape=_matmul_shape, numpy=np.matmul,
    sympy=lambda a, b: object_array(np.matmul(a, b)),
    rop=(lambda da, a, b, *, out: da @ b,
         lambda db, a, b, *, out: a @ db),
    vjp=(_vjp_a, _vjp_b),
    inverse=NoInverse("matmul's solve comes with the inversion issue"),
    domain=REALS,
    examples=[Example(((2, 3), (3, 2))), Example(((3,), (3, 2))), Example(((2, 3), (3,))),
              Example(((3,), (3,)))],
    doc="out = a @ b for 1-D and 2-D operands (numpy semantics)",
)
