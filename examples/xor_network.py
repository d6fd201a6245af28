"""A 2-2-1 network learns XOR, which no single threshold unit can (docs/math.md §18): by backprop
with gradient descent, and by Martens' Hessian-free method (rop.optim).

Hidden units tanh, output z = a W2 + b2 read as the logit of P(XOR = 1); the loss is the mean
cross-entropy softplus(z) - t z, convex in z, so the Gauss-Newton matrix through z is
positive semi-definite. Training stops at a mean loss below TARGET: every example's
cross-entropy is then below 4 TARGET < log 2, so every example is classified correctly.
The seed is fixed: from some starting points (seeds 3, 5 and 6 of default_rng) both methods
settle instead on the well-known XOR plateau at loss (log 2)/2: two examples left at ½.

Run:  python examples/xor_network.py
"""

import numpy as np

import graph as G
from rop.models import flat, mlp, mlp_layers, mlp_values
from rop.optim import GradientDescent, HessianFree, Objective, minimize

INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
TARGETS = np.array([[0.0], [1.0], [1.0], [0.0]])
SIZES, TARGET, SEED = [2, 2, 1], 0.01, 0


def xor_objective():
    """The mean cross-entropy of the 2-2-1 tanh net on the XOR truth table."""
    layers = mlp_layers(SIZES)

    def build(m):
        x, t = G.var("x", (m, 2)), G.var("t", (m, 1))
        z = mlp(x, layers, activation=G.tanh)
        return G.mean(G.softplus(z) - t * z), z

    return Objective(build, flat(layers), {"x": INPUTS, "t": TARGETS})


def accuracy(objective, theta):
    """The fraction of the truth table the net gets right (z > 0 means XOR = 1)."""
    return float(np.mean((objective.output(theta) > 0) == (TARGETS > 0)))


def train(optimizer, max_iter, seed=SEED):
    """Train from the seeded initial weights; the run's iterations, loss and accuracy."""
    objective = xor_objective()
    theta0 = objective.flatten([a for pair in mlp_values(SIZES, np.random.default_rng(seed),
                                                          scale=2.0) for a in pair])
    result = minimize(objective, theta0, optimizer, max_iter=max_iter, target_loss=TARGET)
    return {"iterations": result.iterations, "loss": result.loss, "reason": result.reason,
            "cost": result.history[-1]["cost"], "accuracy": accuracy(objective, result.theta)}


def main(gd_iterations=5000, hf_iterations=100):
    """Both methods from the same start; prints and returns {method: summary}."""
    runs = {"gradient descent": train(GradientDescent(learning_rate=1.0), gd_iterations),
            "Hessian-free": train(HessianFree(), hf_iterations)}
    print(f"{'method':<18}{'iterations':>11}{'cost':>9}{'loss':>11}{'accuracy':>10}")
    for name, run in runs.items():
        print(f"{name:<18}{run['iterations']:>11}{run['cost']:>9.0f}{run['loss']:>11.2e}"
              f"{run['accuracy']:>10.0%}")
    print("(cost: gradient-equivalent evaluations; stopped at mean cross-entropy "
          f"< {TARGET})")
    return runs


if __name__ == "__main__":
    main()
