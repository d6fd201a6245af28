"""Small optimization problems shared by the rop.optim tests."""

import numpy as np

import graph as G
from rop.models import flat, mlp, mlp_layers, mlp_values
from rop.optim import Objective

EXACT = 1e-12  # products that are exact up to round-off on O(1) data

def least_squares(n_examples=12, seed=1):
    """f(w) = (1/m) Σ_i (x_i·w - y_i)^2, with its data: (objective, X, y)."""
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(n_examples, 3)), rng.normal(size=n_examples)
    w = G.var("w", (3,))

    def build(m):
        x, t = G.var("x", (m, 3)), G.var("y", (m,))
        z = x @ w
        return G.mean((z - t) ** 2), z

    return Objective(build, [w], {"x": X, "y": y}), X, y


def regression_net(n_examples=40, batch_size=None, seed=2):
    """A 2-6-1 tanh net fitting a smooth function, mean squared error: (objective, θ0)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.5, 1.5, size=(n_examples, 2))
    Y = (np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] ** 2)[:, None]
    layers = mlp_layers([2, 6, 1])

    def build(m):
        z = mlp(G.var("x", (m, 2)), layers)
        return G.mean((z - G.var("y", (m, 1))) ** 2), z

    objective = Objective(build, flat(layers), {"x": X, "y": Y})
    theta0 = objective.flatten([a for pair in mlp_values([2, 6, 1], rng) for a in pair])
    return objective, theta0


def rosenbrock_objective():
    w = G.var("w", (2,))
    return Objective.from_graph((1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2, [w])


# the objective
