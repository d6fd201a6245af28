"""Rosenbrock's valley f = (1 - x)^2 + 100 (y - x^2)^2 from (-1.2, 1) (docs/math.md §19): gradient
descent zig-zags across the valley, while Hessian-free (exact Hessian-vector products inside
CG, Levenberg-Marquardt damping) and Newton (exact inverse-Hessian-vector products) follow
it. Prints the iterations and gradient-equivalent evaluations each takes to reach f < 1e-10,
and how often a step reverses the previous one (turns by more than 90 degrees): the zig-zag.

Run:  python examples/rosenbrock.py   (writes rosenbrock.png when matplotlib is installed)
"""

import numpy as np

import graph as G
from rop.optim import GradientDescent, HessianFree, Newton, Objective, minimize

START, TARGET = (-1.2, 1.0), 1e-10
# Near the largest stable fixed step: 2 / lambda_max(H) = 2 / 1001.6 at the minimum (1, 1).
GD_STEP = 1.8e-3


def rosenbrock_objective():
    """f(w) = (1 - w_0)^2 + 100 (w_1 - w_0^2)^2 over w in R^2."""
    w = G.var("w", (2,))
    return Objective.from_graph((1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2, [w])


def run(optimizer, max_iter):
    """Minimize from START until f < TARGET: the path (rows), iterations, cost, whether f <
    TARGET was reached, and the number of reversals (steps at more than 90 degrees to the
    one before)."""
    path = []
    result = minimize(rosenbrock_objective(), START, optimizer, max_iter=max_iter,
                      target_loss=TARGET, callback=lambda theta, record: path.append(theta))
    steps = np.diff(path, axis=0)
    return {"path": np.array(path), "iterations": result.iterations, "loss": result.loss,
            "cost": result.history[-1]["cost"], "reached": result.reason == "target loss",
            "reversals": int(np.sum(np.sum(steps[1:] * steps[:-1], axis=1) < 0))}


def plot(runs, filename="rosenbrock.png"):
    """The trajectories over the contours of log10 f, if matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no figure)")
        return None
    x, y = np.meshgrid(np.linspace(-1.6, 1.6, 400), np.linspace(-0.6, 2.2, 400))
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.contour(x, y, np.log10((1 - x) ** 2 + 100 * (y - x**2) ** 2 + 1e-12), levels=25,
               cmap="Greys", linewidths=0.6)
    for (name, result), style in zip(runs.items(), ("-", "o-", "s-")):
        path = result["path"]
        ax.plot(path[:, 0], path[:, 1], style, markersize=3, linewidth=1,
                label=f"{name}: {result['iterations']} iterations")
    ax.plot(*START, "k^", label="start (-1.2, 1)")
    ax.plot(1, 1, "k*", markersize=12, label="minimum (1, 1)")
    ax.set(xlabel="x", ylabel="y", title="Rosenbrock's valley")
    ax.legend(loc="upper right")
    fig.savefig(filename, dpi=120)
    print(f"wrote {filename}")
    return filename


def main(gd_budget=50000, figure=True):
    """The three runs from START; prints and returns {method: run}."""
    runs = {"gradient descent": run(GradientDescent(learning_rate=GD_STEP), gd_budget),
            "Hessian-free": run(HessianFree(curvature="hessian"), 500),
            "Newton": run(Newton(), 100)}
    print(f"{'method':<18}{'iterations':>11}{'cost':>10}{'final f':>11}{'reversals':>11}"
          f"  f < {TARGET}")
    for name, result in runs.items():
        print(f"{name:<18}{result['iterations']:>11}{result['cost']:>10.0f}"
              f"{result['loss']:>11.2e}{result['reversals']:>11}  {result['reached']}")
    print("(cost: gradient-equivalent evaluations: loss 1/3, gradient 1, HVP or inverse HVP 2)")
    if figure:
        plot(runs)
    return runs


if __name__ == "__main__":
    main()
