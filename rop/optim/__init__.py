"""Optimizers over compiled objectives: Martens' Hessian-free method, Newton with exact
inverse-Hessian-vector products, gradient descent and Adam, run by one ``minimize`` loop.

>>> import numpy as np, graph as G
>>> from rop.optim import Objective, Newton, minimize
>>> x = G.var("x", (2,))
>>> objective = Objective.from_graph(G.sum(G.exp(x)) - G.sum(G.const([1.0, 2.0]) * x), [x])
>>> result = minimize(objective, [0.0, 0.0], Newton(), max_iter=20, gtol=1e-12)
>>> np.allclose(result.theta, np.log([1.0, 2.0])), result.reason
(True, 'gradient tolerance')
"""

from .hessian_free import HessianFree, Newton, armijo, levenberg_marquardt
from .loop import Adam, GradientDescent, NonFiniteError, Optimizer, OptimizeResult, minimize
from .objective import COST, Objective

__all__ = ["COST", "Adam", "GradientDescent", "HessianFree", "Newton", "NonFiniteError",
           "Objective", "OptimizeResult", "Optimizer", "armijo", "levenberg_marquardt",
           "minimize"]
