"""Newton's method with exact inverse-Hessian-vector products (rop.newton_step, docs/math.md §17)
against gradient descent with a fixed step, on the Rosenbrock valley from (-1.2, 1).

Run:  python examples/newton_rosenbrock.py   (writes newton_rosenbrock.png when matplotlib is
installed)
"""

import numpy as np
from inverse_hessian import rosenbrock

import graph as G
import rop

START, TARGET = (-1.2, 1.0), 1e-10
W = G.var("w", (2,))
F = rosenbrock(W)
VALUE, GRADIENT = G.compile(F), G.compile(rop.grad(F, W))


def value(w):
    """f(w)."""
    return float(VALUE({"w": w})[0])


def gradient(w):
    """grad f(w)."""
    return GRADIENT({"w": w})[0]


def gradient_descent(step=1e-3, budget=20000):
    """Fixed-step gradient descent until f < TARGET or ``budget`` steps: the path, as rows."""
    path = [np.array(START)]
    while value(path[-1]) >= TARGET and len(path) <= budget:
        path.append(path[-1] - step * gradient(path[-1]))
    return np.array(path)


def backtrack(w, direction, slope, c=1e-4):
    """The first t in 1, 1/2, 1/4, ... with Armijo's sufficient decrease of f along
    ``direction``, a descent direction whose directional derivative is ``slope`` < 0."""
    f0, t = value(w), 1.0
    while value(w + t * direction) > f0 + c * t * slope:
        t /= 2
    return t


def newton(max_iter=100):
    """Newton's method, each step the exact -H^-1 grad f, damped by backtracking: (the path
    as rows, the step lengths taken)."""
    path, lengths = [np.array(START)], []
    while value(path[-1]) >= TARGET and len(lengths) < max_iter:
        w, g = path[-1], gradient(path[-1])
        direction = rop.newton_step(F, W, {"w": w}).x
        if g @ direction >= 0:  # H not positive definite here: Newton would go uphill
            direction = -g
        lengths.append(backtrack(w, direction, g @ direction))
        path.append(w + lengths[-1] * direction)
    return np.array(path), lengths


def milestones(n):
    """Iterations 0, 1, 2, 5, 10, 20, 50, ... up to n, and n itself."""
    marks = {k * 10**e for e in range(7) for k in (1, 2, 5)}
    return sorted({0, n} | {k for k in marks if k < n})


def print_path(name, path, lengths=None):
    """A few rows of a trajectory: iteration, w, f (and the Newton step length)."""
    print(f"\n{name}:\n{'iter':>6} {'x':>12} {'y':>12} {'f':>10}" + (" step" if lengths else ""))
    for k in milestones(len(path) - 1):
        row = f"{k:6d} {path[k][0]:12.8f} {path[k][1]:12.8f} {value(path[k]):10.2e}"
        if lengths and k > 0:
            row += f" {lengths[k - 1]:.3g}"
        print(row)


def plot_paths(paths):
    """Both trajectories over the contours of log f to newton_rosenbrock.png, if matplotlib
    is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return
    x, y = np.meshgrid(np.linspace(-1.6, 1.6, 300), np.linspace(-0.6, 2.0, 300))
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.contour(x, y, np.log10((1 - x) ** 2 + 100 * (y - x**2) ** 2 + 1e-12), levels=20,
               cmap="gray")
    for label, path in paths.items():
        ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, label=label)
    ax.plot(1, 1, "k*", ms=12)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("Rosenbrock: Newton (exact H^-1 g) vs gradient descent")
    ax.legend()
    fig.tight_layout()
    fig.savefig("newton_rosenbrock.png", dpi=120)
    print("wrote newton_rosenbrock.png")


def main(plot=True, gd_budget=20000):
    """Run both methods; return their paths, iteration counts and final values of f."""
    gd = gradient_descent(budget=gd_budget)
    nt, lengths = newton()
    result = {"newton": nt, "gd": gd, "newton_iterations": len(nt) - 1,
              "gd_iterations": len(gd) - 1, "newton_f": value(nt[-1]), "gd_f": value(gd[-1])}
    for name in ("newton", "gd"):
        reached = result[f"{name}_f"] < TARGET
        print(f"{name:>6}: {result[f'{name}_iterations']:6d} iterations, final f = "
              f"{result[f'{name}_f']:.2e}" + ("" if reached else " (budget exhausted)"))
    print_path("Newton with exact inverse-Hessian-vector products", nt, lengths)
    print_path("gradient descent, step 1e-3", gd)
    if plot:
        plot_paths({"gradient descent": gd, "Newton": nt})  # Newton drawn on top
    return result


if __name__ == "__main__":
    main()
