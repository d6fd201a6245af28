"""Second-order information of a small convolutional net, exactly: scikit-learn's digits
(``load_digits``, 8×8 images shipped with the package), a seeded sample of 300 of them, and
the net conv2d (6 filters 3×3) -> tanh -> linear -> softmax cross-entropy, 2,230 parameters.

1. The exact Hessian-vector product (Pearlmutter's R-operator through the convolution's
   rules) against central and forward differences of the gradient, step r = 1e-1 ... 1e-10:
   a difference loses about half the digits at its best step, the exact product none (its
   two modes, forward-over-reverse and reverse-over-reverse, agree to round-off).
2. Gauss-Newton products G v (rop.ggn_vp) against H v. In the last layer the logits are
   linear in the weights, so there G and H coincide; through the convolution they differ by
   the net's own curvature, which makes H indefinite: the Lanczos method (SciPy's eigsh on
   exact HVPs) finds a direction u of negative curvature, where uᵀGu is still >= 0.
3. A few iterations of Martens' Hessian-free method (rop.optim.HessianFree: Gauss-Newton
   curvature on rotating mini-batches of 100, CG truncated at 10 iterations, losses on all
   the data), printing the loss.

Run:  python examples/convnet_hvp.py   (writes convnet_hvp.png when matplotlib is installed)
"""

import numpy as np
import scipy.sparse.linalg

import graph as G
import rop
from rop.optim import HessianFree, Objective, minimize

IMAGES, FILTERS, KERNEL, SEED = 300, 6, 3, 0
STEPS = [10.0**-k for k in range(1, 11)]
HF_ITERATIONS = 8


def convnet_objective(n=IMAGES, filters=FILTERS, seed=SEED):
    """(objective, θ0): the mean cross-entropy of the net over n seeded digits, and seeded
    initial weights (filters and the last layer scaled by 1/sqrt(fan-in), biases 0)."""
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(images), size=n, replace=False)
    side = 8 - KERNEL + 1  # no padding: 6×6 feature maps
    w1, b1 = G.var("w1", (filters, 1, KERNEL, KERNEL)), G.var("b1", (filters, 1, 1))
    w2, b2 = G.var("w2", (filters * side * side, 10)), G.var("b2", (10,))

    def build(m):
        x, t = G.var("x", (m, 1, 8, 8)), G.var("t", (m, 10))
        features = G.tanh(G.conv2d(x, w1) + b1)
        logits = G.reshape(features, shape=(m, -1)) @ w2 + b2
        return G.softmax_cross_entropy(logits, t), logits

    data = {"x": images[pick].reshape(n, 1, 8, 8) / 16.0, "t": np.eye(10)[labels[pick]]}
    objective = Objective(build, [w1, b1, w2, b2], data)
    theta0 = objective.flatten([rng.normal(size=w1.shape) / KERNEL, np.zeros(b1.shape),
                                rng.normal(size=w2.shape) / np.sqrt(w2.shape[0]),
                                np.zeros(b2.shape)])
    return objective, theta0


def relative_error(approximate, exact):
    return float(np.max(np.abs(approximate - exact)) / np.max(np.abs(exact)))


def hvp_against_differences(objective, theta, v):
    """{"exact": fwd-rev vs rev-rev, "central": [...], "forward": [...]} relative errors."""
    exact = objective.hvp(theta, v)
    loss, _ = objective.graph()
    twice = rop.hvp(loss, objective.params, list(objective.unflatten(v).values()),
                    mode="rev-rev")
    twice = objective.flatten(G.evaluate(twice, objective.feed(theta)))
    errors = {"exact": relative_error(twice, exact), "central": [], "forward": []}
    for r in STEPS:
        central = (objective.gradient(theta + r / 2 * v) - objective.gradient(theta - r / 2 * v))
        forward = objective.gradient(theta + r * v) - objective.gradient(theta)
        errors["central"].append(relative_error(central / r, exact))
        errors["forward"].append(relative_error(forward / r, exact))
    return errors


def gauss_newton_against_hessian(objective, theta, v):
    """How G v and H v compare: in general, in the last layer, and along H's most negative
    curvature (found by Lanczos on exact HVPs)."""
    hv, gv = objective.hvp(theta, v), objective.ggn_vp(theta, v)
    last = np.zeros(objective.size, bool)
    last[-(objective.params[2].size + objective.params[3].size):] = True  # w2 and b2
    v_last = np.where(last, v, 0.0)
    hessian = scipy.sparse.linalg.LinearOperator(
        (objective.size,) * 2, matvec=lambda u: objective.hvp(theta, u), dtype=float)
    _, vectors = scipy.sparse.linalg.eigsh(hessian, k=1, which="SA", tol=1e-4, ncv=12,
                                           v0=np.ones(objective.size))
    u = vectors[:, 0]
    return {"vHv": float(v @ hv), "vGv": float(v @ gv),
            "difference": float(np.linalg.norm(hv - gv) / np.linalg.norm(hv)),
            "last_layer": relative_error(objective.ggn_vp(theta, v_last)[last],
                                         objective.hvp(theta, v_last)[last]),
            "uHu": float(u @ objective.hvp(theta, u)), "uGu": float(u @ objective.ggn_vp(theta, u))}


def hessian_free(objective, theta0, iterations=HF_ITERATIONS):
    """The history of a few Hessian-free iterations from θ0."""
    optimizer = HessianFree(damping=1.0, cg_max_iter=10, batch_size=100, preconditioner=False,
                            evaluation_batch="full")
    return minimize(objective, theta0, optimizer, max_iter=iterations).history


def plot_results(errors, history, filename="convnet_hvp.png"):
    """The error table as a figure, and the loss per Hessian-free iteration."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no figure)")
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for scheme in ("central", "forward"):
        left.loglog(STEPS, errors[scheme], "o-", label=f"{scheme} difference")
    left.axhline(max(errors["exact"], np.finfo(float).eps), color="k", ls="--",
                 label="exact (fwd-rev vs rev-rev)")
    left.set(xlabel="step r", ylabel="max relative error of H v", title="H v of a conv net")
    left.legend()
    right.semilogy([r["iteration"] for r in history], [r["loss"] for r in history], "o-")
    right.set(xlabel="Hessian-free iteration", ylabel="training loss", title="Hessian-free")
    fig.tight_layout()
    fig.savefig(filename, dpi=120)
    print(f"wrote {filename}")
    return filename


def main(plot=True):
    """Run the three studies; print them and return their numbers: {"steps", "errors",
    "gauss_newton", "losses"} (and "figure", the file written, when plotting)."""
    objective, theta0 = convnet_objective()
    v = np.random.default_rng(SEED + 1).normal(size=objective.size)
    print(f"conv net on {IMAGES} digits: conv2d {FILTERS}x{KERNEL}x{KERNEL} -> tanh -> linear "
          f"-> softmax cross-entropy, {objective.size} parameters\n")

    errors = hvp_against_differences(objective, theta0, v)
    print(f"{'r':>8} {'central diff':>14} {'forward diff':>14}   (max relative error of H v)")
    for r, central, forward in zip(STEPS, errors["central"], errors["forward"]):
        print(f"{r:8.0e} {central:14.2e} {forward:14.2e}")
    best = min(errors["central"] + errors["forward"])
    print(f"best finite difference {best:.1e}; exact H v: forward-over-reverse vs "
          f"reverse-over-reverse {errors['exact']:.1e}\n")

    ggn = gauss_newton_against_hessian(objective, theta0, v)
    print(f"random v: vᵀHv = {ggn['vHv']:.4f}, vᵀGv = {ggn['vGv']:.4f}, |Hv - Gv| / |Hv| = "
          f"{ggn['difference']:.3f}")
    print(f"v in the last layer (logits linear in it): G v = H v there to "
          f"{ggn['last_layer']:.1e}")
    print(f"Lanczos' most negative curvature u of H: uᵀHu = {ggn['uHu']:.4f}, uᵀGu = "
          f"{ggn['uGu']:.4f} (G is positive semi-definite)\n")

    history = hessian_free(objective, theta0)
    print(f"{'iteration':>9} {'loss':>10} {'damping':>9} {'rho':>7} {'CG':>4}")
    for record in history:
        extra = (f"{record['damping']:9.3f} {record['rho']:7.3f} {record['cg_iterations']:4d}"
                 if record["iteration"] else "")
        print(f"{record['iteration']:9d} {record['loss']:10.5f} {extra}")
    result = {"steps": STEPS, "errors": errors, "gauss_newton": ggn,
              "losses": [record["loss"] for record in history]}
    if plot:
        result["figure"] = plot_results(errors, history)
    return result


if __name__ == "__main__":
    main()
