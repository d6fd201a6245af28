"""Exact inverse-Hessian-vector products on every worked example of docs/math.md §14,
against numpy.linalg.solve with the dense Hessian: the exact linear route, the R-operator of
the functional inverse of the gradient, and the best finite difference of that inverse.

Run:  python examples/inverse_hessian.py   (writes inverse_hessian.png when matplotlib is
installed)
"""

import numpy as np

import graph as G
import rop

STEPS = [10.0**-k for k in range(1, 13)]
CURVES = ("Rosenbrock (-1.2, 1)", "leaky net, W1 block")  # the finite-difference curves shown


def rosenbrock(w):
    """(1 - x)^2 + 100 (y - x^2)^2 for the two entries of ``w``."""
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


def polynomial_cases(rng):
    """(label, kind, f, wrt, feed) for the small closed-form examples and linear regression.

    ``kind`` says what a finite difference can do: "smooth" has a truncation error,
    "affine" (a quadratic f) has none, "piecewise" is affine until a step crosses a kink.
    """
    x3, x4, w = G.var("x", (3,)), G.var("x", (4,)), G.var("w", (2,))
    cases = [("sum x_i^3", "smooth", G.sum(x4**3), x4, {"x": np.array([0.5, -1.0, 2.0, 3.0])}),
             ("x1 x2 x3", "smooth", x3[0] * x3[1] * x3[2], x3, {"x": np.array([0.5, -1.0, 2.0])})]
    for point in [(-1.2, 1.0), (1.1, 1.2)]:
        cases.append((f"Rosenbrock {point}".replace(".0", ""), "smooth", rosenbrock(w), w,
                      {"w": np.array(point)}))
    for rows in (4, 9):  # square X: node by node; tall X: the fused Gram solve
        X, Y, T = rng.normal(size=(rows, 4)), rng.normal(size=(rows, 2)), G.var("T", (4, 2))
        f = 0.5 * G.sum((G.const(X) @ T - G.const(Y)) ** 2)
        cases.append((f"linreg, X {rows}x4", "affine", f, T, {"T": rng.normal(size=(4, 2))}))
    return cases


def net_cases(rng, n=5):
    """(label, kind, f, wrt, feed) for the two-layer leaky-ReLU net (each layer block) and the
    tanh output and hidden layers, all with square n x n layers."""
    X, Y = rng.normal(size=(n, n)), rng.normal(size=(n, n))
    W1, W2 = G.var("W1", (n, n)), G.var("W2", (n, n))
    leaky = G.leaky_relu(G.leaky_relu(G.const(X) @ W1, alpha=0.1) @ W2, alpha=0.1)
    f = 0.5 * G.sum((leaky - G.const(Y)) ** 2)
    feed = {"W1": rng.normal(size=(n, n)), "W2": rng.normal(size=(n, n))}
    cases = [(f"leaky net, {W.name} block", "piecewise", f, W, feed) for W in (W1, W2)]
    # smaller weights keep tanh away from saturation, where H is nearly singular
    small = {"W": 0.5 * rng.normal(size=(n, n))}
    W, W2_value = G.var("W", (n, n)), rng.normal(size=(n, n))
    output = 0.5 * G.sum((G.tanh(G.const(X) @ W) - G.const(Y)) ** 2)
    hidden = 0.5 * G.sum((G.tanh(G.const(X) @ W) @ G.const(W2_value) - G.const(Y)) ** 2)
    return cases + [("tanh output layer", "smooth", output, W, small),
                    ("tanh hidden layer", "smooth", hidden, W, small)]


def measure(f, wrt, feed, v):
    """Errors of each method against a dense solve, relative to max |H^-1 v|."""
    H = G.evaluate(rop.hessian(f, wrt), feed)
    expected = np.linalg.solve(H, v.ravel())

    def error(method, **options):
        x = rop.inverse_hvp(f, wrt, v, feed, method=method, **options).x
        return float(np.max(np.abs(x.ravel() - expected)) / np.max(np.abs(expected)))

    exact = rop.inverse_hvp(f, wrt, v, feed, method="linear")
    try:
        functional = error("functional")
        # fd differences the functional inverse: an approximation, so its answers are
        # accepted whatever their residual (rtol=inf) to be measured against the dense solve
        fd_curve = [error("fd", r=r, rtol=np.inf) for r in STEPS]
    except G.NotInvertibleError:
        functional, fd_curve = None, None
    best = None if fd_curve is None else int(np.argmin(fd_curve))
    return {"cond": float(np.linalg.cond(H)), "linear": error("linear"),
            "certificate": exact.certificate, "notes": exact.notes, "functional": functional,
            "fd": None if best is None else fd_curve[best],
            "fd_r": None if best is None else STEPS[best], "fd_curve": fd_curve}


def print_table(rows):
    """One row per example: cond(H), the errors of each method, then the exact method's notes."""
    def num(x, spec=".1e"):
        return "n/a" if x is None else format(x, spec)

    print(f"{'example':<22} {'kind':>9} {'cond(H)':>8} {'linear':>8} {'certif.':>8} "
          f"{'function.':>9} {'best fd':>8} {'at r':>6}")
    for label, row in rows.items():
        print(f"{label:<22} {row['kind']:>9} {row['cond']:8.1e} {row['linear']:8.1e} "
              f"{row['certificate']:8.1e} {num(row['functional']):>9} {num(row['fd']):>8} "
              f"{num(row['fd_r'], '.0e'):>6}")
    print("(max relative error against numpy.linalg.solve with the dense Hessian)\n")
    for label, row in rows.items():
        print(f"{label:<22} linear route: {'; '.join(row['notes']) or 'node by node'}")


def print_curves(rows):
    """The finite-difference error against the step r for the CURVES examples."""
    print("\nfinite differences of the functional inverse, max relative error:")
    print(f"{'r':>8} " + " ".join(f"{label:>22}" for label in CURVES))
    for i, r in enumerate(STEPS):
        print(f"{r:8.0e} " + " ".join(f"{rows[label]['fd_curve'][i]:22.2e}" for label in CURVES))
    print("Rosenbrock bottoms out near eps^(2/3) ~ 1e-11, where truncation meets round-off;\n"
          "the leaky-ReLU block is piecewise quadratic, so differences are exact up to\n"
          "round-off until a step flips an activation, and then O(0.1-1) wrong.")


def plot_curves(rows):
    """Log-log plot of the CURVES to inverse_hessian.png, if matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for label in CURVES:
        line, = ax.loglog(STEPS, rows[label]["fd_curve"], "o-", label=f"{label}: differences")
        ax.axhline(max(rows[label]["linear"], np.finfo(float).eps), color=line.get_color(),
                   ls="--", label=f"{label}: exact")
    ax.set_xlabel("step r")
    ax.set_ylabel("max relative error of H^-1 v")
    ax.set_title("Inverse-Hessian-vector products: exact vs finite differences")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig("inverse_hessian.png", dpi=120)
    print("wrote inverse_hessian.png")


def main(plot=True):
    """Measure every example; return {label: {kind, cond, linear, certificate, notes,
    functional, fd, fd_r, fd_curve}} (None where the functional inverse does not exist)."""
    rng = np.random.default_rng(0)
    rows = {}
    for label, kind, f, wrt, feed in polynomial_cases(rng) + net_cases(rng):
        rows[label] = {"kind": kind, **measure(f, wrt, feed, rng.normal(size=wrt.shape))}
    print_table(rows)
    print_curves(rows)
    if plot:
        plot_curves(rows)
    return rows


if __name__ == "__main__":
    main()
