"""rop: transformations over graph/ (grad, jvp/R, hvp, ...) and the algorithms built on them.

>>> import graph as G, rop
>>> x = G.var("x", (2,))
>>> f = G.sum(G.exp(x))
>>> G.evaluate(rop.hvp(f, x, [1.0, 0.0]), {"x": [0.0, 1.0]})
array([1., 0.])
"""

from .backprop import grad, vjp
from .forward import R, jvp
from .hessian import fd_hvp, ggn_vp, hessian, hvp
from .verify import check_grads, check_op

__all__ = ["grad", "vjp", "jvp", "R", "hvp", "ggn_vp", "hessian", "fd_hvp", "check_op",
           "check_grads"]
