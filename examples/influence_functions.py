"""Influence functions (Koh and Liang, 2017) with exact inverse-Hessian-vector products: how
much each training image of scikit-learn's digits moves the loss of one test image.

The classifier (multinomial logistic regression, 650 parameters; with ``mlp=True`` also a
64-32-10 tanh MLP, 2,410) is trained to the minimum θ̂ of the weighted empirical risk

    R(θ; w) = (1/N) Σ_i w_i ℓ_i(θ) + (λ/2) |θ|²,    w = 1,

ℓ_i the softmax cross-entropy of training image i. Removing image j (w_j = 0) moves the
minimum by about one Newton step, Δθ ≈ (1/N) H⁻¹ ∇ℓ_j (H = ∇²R at θ̂), so the loss of a test
image changes by about

    I_j = (1/N) ∇ℓ_test(θ̂)ᵀ H⁻¹ ∇ℓ_j(θ̂).

rop.inverse_hessian factors H once; one certified query s = H⁻¹ ∇ℓ_test then gives I_j for
every training image at once: the matrix of per-example gradients (rop.jacobian of the
vector of losses) times s. Compared with

- leave-one-out retraining for a sample of images (the most influential and random ones):
  R(·; w) with w_j = 0 minimized again from θ̂ by SciPy's trust-ncg on rop's exact gradient
  and HVPs, then Newton steps (which need no loss values, so round-off in R does not stop
  them) to |∇R| < GTOL. R is λ-strongly convex for the logistic model, so the answer is
  within |∇R|/λ of the exact minimizer; for the MLP it is the local minimum reached;
- the closed-form Hessian of the logistic model, Σ_i (x̃_i x̃_iᵀ) ⊗ (diag p_i - p_i p_iᵀ) / N
  + λI with x̃ = (x, 1), solved by numpy: an independent reference for H⁻¹ ∇ℓ_test;
- conjugate gradient on exact HVPs stopped at a relative residual CG_TOL (SciPy's default),
  and LiSSA, the recursion h ← v + (1 - damping) h - H_B h / scale over random mini-batches
  B (H_B: the Hessian on B), run for a fixed number of steps: the approximations in use.

Run:  python examples/influence_functions.py [--quick] [--mlp]
(seconds; with --mlp about 6 minutes, most of it retraining the MLP 100 times; writes
influence_functions.png when matplotlib is installed)
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads BLAS: one thread, steadier timings

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import graph as G  # noqa: E402
import rop  # noqa: E402
from rop.layout import Layout  # noqa: E402
from rop.models import flat, mlp, mlp_layers, mlp_values  # noqa: E402

HIDDEN = 32  # the MLP's hidden units
L2 = 1e-3  # λ
SEED, TEST_FRACTION = 0, 0.25
GTOL = 1e-11  # training and retraining stop at |∇R| below this (round-off is near 1e-13)
NEWTON_STEPS = 5  # at most, after trust-ncg
CG_TOL = 1e-5  # CG's relative residual
LISSA = {"batch_size": 64, "damping": 0.0, "depth": 1000}  # quick: a quarter of the depth
SCALE_MARGIN = 2.0  # LiSSA's scale: this times the largest eigenvalue of H (power method)


def digits(seed=SEED):
    """(x_train, t_train, x_test, t_test): pixels scaled to [0, 1], one-hot targets, a
    stratified seeded split (1347 training, 450 test images)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        images / 16.0, labels, test_size=TEST_FRACTION, random_state=seed, stratify=labels)
    return x_train, np.eye(10)[y_train], x_test, np.eye(10)[y_test]


class Classifier:
    """A model (``"logistic"`` or ``"mlp"``), its weighted risk R(θ; w) over the training set
    and compiled programs for it, on flat parameter vectors θ (the tensors raveled, joined)."""

    def __init__(self, kind, x_train, t_train, l2=L2, hidden=HIDDEN, seed=SEED):
        if kind not in ("logistic", "mlp"):
            raise ValueError(f"Classifier: kind must be 'logistic' or 'mlp', got {kind!r}")
        self.kind, self.l2, self.n = kind, l2, len(x_train)
        sizes = [64, 10] if kind == "logistic" else [64, hidden, 10]
        self.layers = mlp_layers(sizes)
        self.params = flat(self.layers)
        self.layout = Layout(self.params)
        self.data = {"x": x_train, "t": t_train, "w": np.ones(self.n)}
        self.risk, _ = self.build(self.n)
        self._value_and_gradient = G.compile([self.risk] + rop.grad(self.risk, self.params))
        self.hvp = self.hvp_program(self.n)
        values = mlp_values(sizes, np.random.default_rng(seed))
        self.theta0 = self.layout.pack([a for pair in values for a in pair])

    def build(self, m):
        """(R over m examples x, t with weights w, the vector of their losses ℓ_i)."""
        x, t, w = G.var("x", (m, 64)), G.var("t", (m, 10)), G.var("w", (m,))
        losses = -G.sum(t * G.log_softmax(mlp(x, self.layers), axis=-1), axis=-1)
        penalty = sum(G.sum(p * p) for p in self.params)
        return G.sum(w * losses) / self.n + (self.l2 / 2) * penalty, losses

    def feed(self, theta, **data):
        """{name: array}: the parameters from θ, the training data where not given."""
        values = self.layout.unpack(theta)
        return {**self.data, **data, **{p.name: a for p, a in zip(self.params, values)}}

    def value_and_gradient(self, theta, w):
        risk, *gradients = self._value_and_gradient(self.feed(theta, w=w))
        return float(risk), self.layout.pack(gradients)

    def hvp_program(self, m):
        """A function (θ, v, **data) -> H v for R over m examples (data: x, t, w)."""
        risk, _ = self.build(m)
        directions = self.layout.variables("v", [risk])
        program = G.compile(rop.hvp(risk, self.params, directions))

        def hvp(theta, v, **data):
            feed = self.feed(theta, **data)
            feed.update({d.name: a for d, a in zip(directions, self.layout.unpack(v))})
            return self.layout.pack(program(feed))
        return hvp

    def losses(self, theta, x, t) -> np.ndarray:
        """ℓ_i(θ) for the examples x, t."""
        return G.evaluate(self.build(len(x))[1], self.feed(theta, x=x, t=t))

    def loss_gradients(self, theta, x, t) -> np.ndarray:
        """The per-example gradients ∇ℓ_i(θ), as rows (len(x), n), by rop.jacobian."""
        jacobian = G.evaluate(rop.jacobian(self.build(len(x))[1], self.params),
                              self.feed(theta, x=x, t=t))
        return np.concatenate([j.reshape(len(x), -1) for j in jacobian], axis=1)

    def minimize(self, theta, w):
        """The minimum of R(·; w) from θ: SciPy's trust-ncg on rop's exact gradient and HVPs
        to |∇R| < 1e-8, then Newton steps (CG on exact HVPs), which need no loss values, to
        |∇R| < GTOL; (θ, trust-ncg iterations + Newton steps)."""
        import scipy.optimize

        result = scipy.optimize.minimize(
            lambda th: self.value_and_gradient(th, w), theta, jac=True, method="trust-ncg",
            hessp=lambda th, p: self.hvp(th, p, w=w), options={"gtol": 1e-8, "maxiter": 1000})
        theta, gradient = result.x, self.value_and_gradient(result.x, w)[1]
        for step in range(NEWTON_STEPS + 1):
            if np.linalg.norm(gradient) < GTOL:
                return theta, result.nit + step
            if step == NEWTON_STEPS:
                break
            theta = theta - rop.cg(lambda v, theta=theta: self.hvp(theta, v, w=w), gradient,
                                   tol=1e-12, eps=0.0, max_iter=self.layout.size,
                                   stop_on_negative_curvature=False).x
            gradient = self.value_and_gradient(theta, w)[1]
        raise RuntimeError(f"minimize: |grad R| = {np.linalg.norm(gradient):.1e} after "
                           f"trust-ncg ({result.message}) and {NEWTON_STEPS} Newton steps")


def logistic_hessian(theta, x, t, l2):
    """The logistic model's Hessian in closed form (an independent reference): with
    x̃ = (x, 1) and W̃ = (W; b), ∂²ℓ/∂W̃_ac ∂W̃_bd = x̃_a x̃_b (δ_cd p_c - p_c p_d)."""
    W = np.vstack([theta[:640].reshape(64, 10), theta[640:]])
    xt = np.hstack([x, np.ones((len(x), 1))])
    logits = xt @ W
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    S = np.einsum("ic,cd->icd", p, np.eye(10)) - np.einsum("ic,id->icd", p, p)
    H = np.einsum("ia,ib,icd->acbd", xt, xt, S, optimize=True).reshape(650, 650) / len(x)
    return H + l2 * np.eye(650)


def lissa(hvp_batch, v, n, *, batch_size, damping, scale, depth, rng):
    """LiSSA's estimate of H⁻¹ v: h ← v + (1 - damping) h - H_B h / scale for ``depth``
    random mini-batches B, then h / scale: a truncated, sampled Neumann series for
    (H + damping scale I)⁻¹ v, which needs scale above the largest eigenvalue of every H_B."""
    h = v.copy()
    for _ in range(depth):
        h = v + (1 - damping) * h - hvp_batch(rng.choice(n, batch_size, replace=False),
                                              h) / scale
    return h / scale


def largest_eigenvalue(hvp, n, iterations=50, seed=SEED):
    """|λ|_max of H by the power method on exact HVPs."""
    u = np.random.default_rng(seed).normal(size=n)
    for _ in range(iterations):
        hu = hvp(u)
        value, u = np.linalg.norm(hu) / np.linalg.norm(u), hu / np.linalg.norm(hu)
    return float(value)


def timed(fn, repeats=1):
    """(fn's result, its best time in seconds over ``repeats`` calls)."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def study(kind, data, quick, rng):
    """The influence study for one model; its figures as a dict."""
    x_train, t_train, x_test, t_test = data
    model = Classifier(kind, x_train, t_train)
    ones = np.ones(model.n)
    (theta, iterations), train_time = timed(lambda: model.minimize(model.theta0, ones))
    test_losses = model.losses(theta, x_test, t_test)
    k = int(np.argmax(test_losses))  # the test image the model finds hardest
    g_test = model.loss_gradients(theta, x_test[k:k + 1], t_test[k:k + 1])[0]

    inverse, setup = timed(lambda: rop.inverse_hessian(model.risk, model.params,
                                                       model.feed(theta)))
    answer, query = timed(lambda: inverse(model.layout.unpack(g_test)), repeats=5)
    s = model.layout.pack(answer.x)
    per_example, gradients_time = timed(lambda: model.loss_gradients(theta, x_train, t_train))
    predicted = per_example @ s / model.n

    sample = 10 if quick else 50
    top = np.argsort(-np.abs(predicted))[:sample]
    chosen = np.concatenate([top, rng.choice(np.setdiff1d(np.arange(model.n), top), sample,
                                             replace=False)])
    actual, retrain_iterations = [], []
    start = time.perf_counter()
    for j in chosen:
        theta_j, count = model.minimize(theta, np.where(np.arange(model.n) == j, 0.0, 1.0))
        actual.append(model.losses(theta_j, x_test[k:k + 1], t_test[k:k + 1])[0] - test_losses[k])
        retrain_iterations.append(count)
    retrain_time = (time.perf_counter() - start) / len(chosen)

    full_hvp = lambda v: model.hvp(theta, v)  # noqa: E731

    def accuracy(x):
        """(|H x - v| / |v|, |x - s| / |s|) against the exact answer s."""
        return (float(np.linalg.norm(full_hvp(x) - g_test) / np.linalg.norm(g_test)),
                float(np.linalg.norm(x - s) / np.linalg.norm(s)))

    solution, cg_time = timed(lambda: rop.cg(full_hvp, g_test, tol=CG_TOL, eps=0.0,
                                             max_iter=10 * model.layout.size))
    batch_hvp = model.hvp_program(LISSA["batch_size"])
    scale = SCALE_MARGIN * largest_eigenvalue(full_hvp, model.layout.size)
    depth = LISSA["depth"] // (4 if quick else 1)
    estimate, lissa_time = timed(lambda: lissa(
        lambda batch, v: batch_hvp(theta, v, x=x_train[batch], t=t_train[batch],
                                   w=np.full(len(batch), model.n / len(batch))),
        g_test, model.n, batch_size=LISSA["batch_size"], damping=LISSA["damping"],
        scale=scale, depth=depth, rng=rng))
    figures = {
        "kind": kind, "params": model.layout.size, "train_iterations": iterations,
        "train_seconds": train_time, "test_index": k, "method": inverse.method,
        "certificate": answer.certificate, "condition": answer.condition,
        "setup_seconds": setup, "query_seconds": query, "gradients_seconds": gradients_time,
        "predicted": predicted[chosen], "actual": np.array(actual),
        "retrain_iterations": retrain_iterations, "retrain_seconds": retrain_time,
        "cg": dict(zip(("residual", "error"), accuracy(solution.x)), seconds=cg_time,
                   iterations=solution.iterations),
        "lissa": dict(zip(("residual", "error"), accuracy(estimate)), seconds=lissa_time,
                      depth=depth, scale=scale)}
    figures["pearson"] = float(np.corrcoef(figures["predicted"], figures["actual"])[0, 1])
    figures["pearson_random"] = float(np.corrcoef(figures["predicted"][sample:],
                                                  figures["actual"][sample:])[0, 1])
    figures["slope"] = float(np.polyfit(figures["predicted"], figures["actual"], 1)[0])
    figures["exact"] = {"residual": accuracy(s)[0], "error": None}
    if kind == "logistic":
        reference = np.linalg.solve(logistic_hessian(theta, x_train, t_train, model.l2), g_test)
        figures["exact"]["error"] = float(np.linalg.norm(s - reference) / np.linalg.norm(s))
    return figures


def report(r):
    print(f"\n== {r['kind']} ({r['params']} parameters, λ = {L2}) ==")
    print(f"trained by trust-ncg: {r['train_iterations']} iterations, {r['train_seconds']:.1f} s;"
          f" test image {r['test_index']} (the highest loss)")
    print(f"rop.inverse_hessian: {r['method']}\n  setup {r['setup_seconds']:.2f} s, "
          f"certificate {r['certificate']:.1e}, condition estimate {r['condition']:.1e}")
    print(f"per-example gradients of all training images: {r['gradients_seconds']:.2f} s")
    print(f"leave-one-out retraining of {len(r['actual'])} images (trust-ncg, "
          f"{min(r['retrain_iterations'])}-{max(r['retrain_iterations'])} iterations, "
          f"{r['retrain_seconds']:.2f} s each)")
    print(f"predicted against actual changes of the test loss: Pearson correlation "
          f"{r['pearson']:.5f} (random images only: {r['pearson_random']:.5f}), "
          f"least-squares slope {r['slope']:.3f}")
    print(f"\n{'H^-1 grad(test loss)':28} {'time/query':>11} {'residual':>9} {'error':>9}")
    exact = r["exact"]
    error = "-" if exact["error"] is None else f"{exact['error']:.1e}"
    print(f"{'exact (rop.inverse_hessian)':28} {r['query_seconds'] * 1e3:8.2f} ms "
          f"{exact['residual']:9.1e} {error:>9}")
    for label, row in ((f"CG to {CG_TOL:.0e} ({r['cg']['iterations']} it.)", r["cg"]),
                       (f"LiSSA ({r['lissa']['depth']} steps)", r["lissa"])):
        print(f"{label:28} {row['seconds'] * 1e3:8.2f} ms {row['residual']:9.1e} "
              f"{row['error']:9.1e}")
    print("(residual |H x - v| / |v|; error |x - x_exact| / |x_exact|, for the exact answer "
          "against the closed-form Hessian)")


def draw(results, path="influence_functions.png"):
    """Predicted against actual changes of the test loss, one panel per model."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4.5), squeeze=False)
    for ax, r in zip(axes[0], results):
        ax.scatter(r["actual"], r["predicted"], s=12)
        ends = [min(r["actual"].min(), r["predicted"].min()),
                max(r["actual"].max(), r["predicted"].max())]
        ax.plot(ends, ends, color="gray", lw=0.8)
        ax.set(xlabel="actual change of the test loss (retrained without the image)",
               ylabel="predicted (1/N) grad_test^T H^-1 grad_j",
               title=f"{r['kind']}: Pearson {r['pearson']:.4f}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main(plot=False, quick=False, mlp=False):
    """The study for logistic regression (and the MLP with ``mlp``): {kind: figures}."""
    data, rng = digits(), np.random.default_rng(SEED)
    results = {}
    for kind in ("logistic", "mlp") if mlp else ("logistic",):
        results[kind] = study(kind, data, quick, rng)
        report(results[kind])
    if plot:
        try:
            draw(list(results.values()))
        except ImportError:
            print("matplotlib is not installed: no plot")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer retrainings, LiSSA steps")
    parser.add_argument("--mlp", action="store_true", help="also the 64-32-10 tanh MLP")
    args = parser.parse_args()
    main(plot=True, quick=args.quick, mlp=args.mlp)
