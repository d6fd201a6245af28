"""Linear algebra under numpy.linalg's names: ``G.linalg.inv``, ``solve``, ``cholesky``,
``det`` and ``slogdet``, each acting on a matrix or on every matrix of a stack.

>>> import graph as G, numpy as np
>>> a = G.const([[4.0, 2.0], [2.0, 3.0]])
>>> G.evaluate(G.linalg.cholesky(a))
array([[2.        , 0.        ],
       [1.        , 1.41421356]])
>>> sign, logdet = G.linalg.slogdet(a)
>>> float(G.evaluate(sign)), round(float(np.exp(G.evaluate(logdet))), 12)
(1.0, 8.0)
"""

from .ops.decompositions import cholesky, det, det_sign, logabsdet
from .ops.linalg import inv, solve

__all__ = ["inv", "solve", "cholesky", "det", "slogdet"]


def slogdet(a):
    """``(sign, logabsdet)``: two nodes, the sign of det a (-1, 0 or 1, piecewise constant)
    and log |det a|, per matrix of a stack, as numpy.linalg.slogdet; det a = sign *
    exp(logabsdet) without overflow or underflow."""
    return det_sign(a), logabsdet(a)
