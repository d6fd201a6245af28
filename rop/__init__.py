"""rop: transformations over graph/ (grad, jvp/R, hvp, inverse, ...) and the algorithms
built on them.

>>> import graph as G, rop
>>> x = G.var("x", (2,))
>>> f = G.sum(G.exp(x))
>>> G.evaluate(rop.hvp(f, x, [1.0, 0.0]), {"x": [0.0, 1.0]})
array([1., 0.])
"""

from . import optim
from .backprop import grad, vjp
from .batching import jacobian, vmap
from .cg import CGResult, cg
from .forward import R, jvp
from .hessian import fd_hvp, ggn_vp, hessian, hvp
from .inverse import inverse
from .inverse_hessian import InverseHessian, InverseHVP, inverse_hessian
from .inverse_hvp import inverse_ggn_vp, inverse_hvp, inverse_hvp_graph, newton_step
from .optim import (
                    Adam,
                    GradientDescent,
                    HessianFree,
                    Newton,
                    NonFiniteError,
                    Objective,
                    OptimizeResult,
                    minimize,
)
from .verify import check_grads, check_op

__all__ = [
    "grad", "vjp", "jvp", "R", "vmap", "jacobian", "hvp", "ggn_vp", "hessian", "fd_hvp",
    "inverse", "inverse_hvp", "inverse_hvp_graph", "InverseHVP", "inverse_hessian",
    "InverseHessian", "newton_step", "inverse_ggn_vp", "cg", "CGResult", "check_op",
    "check_grads", "optim", "Objective", "minimize", "OptimizeResult", "NonFiniteError",
    "HessianFree", "Newton", "GradientDescent", "Adam"
]
