"""Handwritten digits (scikit-learn's ``load_digits``: 1797 8×8 images, shipped inside the
package, no download): a 64-32-10 tanh MLP classifier trained by Martens' Hessian-free method,
Newton-CG, Adam and L-BFGS from the same start, compared per gradient-equivalent evaluation
and per second.

The loss is the mean softmax cross-entropy over the training set plus (L2/2)·|θ|², which
keeps the minimum finite (the training set is separable, so without it the weights grow
forever) and Newton-CG's Hessian nonsingular near it. Inputs are scaled to [0, 1]; the split
is stratified and seeded (1347 training, 450 test images).

- HessianFree: rop.optim.HessianFree, Gauss-Newton curvature on rotating mini-batches of 256,
  initial damping 3, CG truncated at 4 iterations (warm-started, as Martens does, from 0.95 ×
  the previous solution), no preconditioner, ρ and CG backtracking on the full data
  (``evaluation_batch="full"``: one full-data loss at the CG step serves backtracking, ρ and
  the line search; Martens' ρ on the curvature batch costs two batch losses more and did
  worse here, at every budget). Martens' defaults (curvature on all the data,
  up to 250 CG iterations) need several times more evaluations here: late in a run, along a
  fully converged CG step, pᵀHp was 4× pᵀGp (the Gauss-Newton matrix G drops the curvature of
  the net itself, which matters in G's flat directions), so ρ ≈ 0.45 and the damping stalls.
- Newton-CG: SciPy's ``Newton-CG`` (a Newton step by truncated CG on exact Hessian-vector
  products, then a Wolfe line search) through ``rop.scipy.minimize``: fun and jac from rop's
  compiled loss-and-gradient program, hessp the Objective's exact HVP.
- Adam: rop.optim.Adam, learning rate 0.01 on mini-batches of 128 (the recorded loss is then
  re-evaluated on the whole training set at checkpoints, outside the clock and the cost).
- L-BFGS: SciPy's ``L-BFGS-B`` through ``rop.scipy.minimize``, memory 50.

Cost is counted in gradient-equivalents as rop.optim.Objective does (loss 1/3, gradient 1,
Hessian- or Gauss-Newton-vector product 2, scaled by the batch fraction); for SciPy, fun and
jac at one point together cost one gradient. Programs are compiled before the clock starts;
BLAS is pinned to one thread when this file is run as a script.

Run:  python examples/digits_hf.py   (writes digits_hf.png when matplotlib is installed)
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    # One BLAS thread: more only slow these small products (SciPy's L-BFGS-B 5x, on two
    # cores). Effective when this module loads numpy first, as when run as a script.
    os.environ.setdefault(_var, "1")

import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402

import graph as G  # noqa: E402
import rop.scipy  # noqa: E402
from rop.models import flat, mlp, mlp_layers, mlp_values  # noqa: E402
from rop.optim import COST, Adam, HessianFree, Objective, minimize  # noqa: E402

HIDDEN, L2, SEED, TEST_FRACTION = 32, 1e-4, 0, 0.25
# Each method's settings, as tuned by benchmarks/bench_optim.py (it prints the grids tried):
# HessianFree's and Adam's arguments, extra options for SciPy's methods.
SETTINGS = {"HessianFree": {"batch_size": 256, "damping": 3.0, "cg_max_iter": 4,
                            "preconditioner": False, "evaluation_batch": "full"},
            "Newton-CG": {},
            "Adam": {"learning_rate": 0.01, "batch_size": 128},
            "L-BFGS": {"maxcor": 50}}


@dataclass
class Problem:
    """The training objective, the same model on the test set, and the common start."""

    objective: Objective
    test: Objective
    theta0: np.ndarray

    def accuracy(self, theta) -> float:
        """The fraction of test images whose largest logit is the true class."""
        predicted = np.argmax(self.test.output(theta), axis=1)
        return float(np.mean(predicted == np.argmax(self.test.data["t"], axis=1)))


def digits_problem(hidden=HIDDEN, l2=L2, seed=SEED) -> Problem:
    """The seeded split, the 64-hidden-10 tanh MLP and its seeded initial weights."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        images / 16.0, labels, test_size=TEST_FRACTION, random_state=seed, stratify=labels)
    sizes = [images.shape[1], hidden, 10]
    layers = mlp_layers(sizes)
    params = flat(layers)

    def build(m):
        x, t = G.var("x", (m, sizes[0])), G.var("t", (m, 10))
        logits = mlp(x, layers, activation=G.tanh)
        penalty = sum(G.sum(p * p) for p in params)
        return G.ops.softmax_cross_entropy(logits, t) + (l2 / 2) * penalty, logits

    onehot = np.eye(10)
    objective = Objective(build, params, {"x": x_train, "t": onehot[y_train]})
    test = Objective(build, params, {"x": x_test, "t": onehot[y_test]})
    values = mlp_values(sizes, np.random.default_rng(seed))
    return Problem(objective, test, objective.flatten([a for pair in values for a in pair]))


def run_rop(problem, optimizer, max_cost=None, max_time=None, checkpoints=1.02):
    """Minimize with a rop.optim optimizer: (history, θ), history records of the full
    training ``loss``, cumulative ``cost`` and ``time``. A mini-batch optimizer's records
    hold batch estimates, so θ is kept whenever the cost has grown by the factor
    ``checkpoints`` and the full loss evaluated there after the run."""
    objective = problem.objective
    minimize(objective, problem.theta0, optimizer, max_iter=2)  # compile outside the clock
    kept, mini_batch, next_cost = [], optimizer.batch_size is not None, 0.0

    def keep(theta, record):
        nonlocal next_cost
        if not mini_batch or record["cost"] >= next_cost:
            kept.append((theta, record))
            next_cost = max(record["cost"] * checkpoints, record["cost"] + 1)

    result = minimize(objective, problem.theta0, optimizer, max_iter=10**9,
                      max_cost=max_cost, max_time=max_time, callback=keep)
    if mini_batch and kept[-1][1] is not result.history[-1]:
        kept.append((result.theta, result.history[-1]))
    history = [{"loss": objective.value(theta) if mini_batch else record["loss"],
                "cost": record["cost"], "time": record["time"]} for theta, record in kept]
    return history, result.theta


class OutOfBudget(Exception):
    """Raised by a counted SciPy call once the cost or time budget is spent, since one
    Newton-CG iteration can run up to 20·n CG products before SciPy's callback is called."""


class CountedScipyMethod:
    """A custom ``method`` for scipy.optimize.minimize (a callable, which SciPy hands fun,
    jac and hessp): it runs SciPy's method ``name`` on counted fun, jac and hessp, records
    (loss, cost, time) after every iteration and stops at ``max_cost`` or ``max_time``,
    returning the last iterate it recorded."""

    def __init__(self, name, max_cost=None, max_time=None):
        self.name, self.max_cost, self.max_time = name, max_cost, max_time
        self.history, self.cost, self._at, self._paid = [], 0.0, None, 0.0

    def _charge(self, x, kind):
        """fun and jac share one program: at a new point a loss costs 1/3, a gradient 1, and
        a gradient after the loss at the same point only the difference."""
        self._check_budget()
        if self._at is None or not np.array_equal(x, self._at):
            self._at, self._paid = np.array(x, dtype=float), 0.0
        self.cost += max(COST[kind] - self._paid, 0.0)
        self._paid = max(self._paid, COST[kind])

    def _check_budget(self):
        if self.history and (self.max_cost is not None and self.cost >= self.max_cost or
                             self.max_time is not None and self._clock() >= self.max_time):
            raise OutOfBudget

    def _clock(self):
        return time.perf_counter() - self._start

    def __call__(self, fun, x0, *, jac=None, hessp=None, args=(), hess=None, bounds=None,
                 constraints=(), callback=None, **options):
        def counted_fun(x):
            self._charge(x, "value")
            return fun(x)

        def counted_jac(x):
            self._charge(x, "gradient")
            return jac(x)

        def counted_hessp(x, p):
            self._check_budget()
            self.cost += COST["hvp"]
            return hessp(x, p)

        self._start, self._last = time.perf_counter(), np.array(x0, dtype=float)
        loss0, _ = counted_fun(x0), counted_jac(x0)
        self._record(x0, loss0)
        extra = {"hessp": counted_hessp} if hessp is not None else {}
        try:
            return scipy.optimize.minimize(counted_fun, x0, method=self.name, jac=counted_jac,
                                           callback=self._callback, options=options, **extra)
        except OutOfBudget:
            return scipy.optimize.OptimizeResult(x=self._last, fun=self.history[-1]["loss"],
                                                 success=False, message="budget spent")

    def _record(self, x, loss):
        self._last = np.array(x, dtype=float)
        self.history.append({"loss": float(loss), "cost": self.cost, "time": self._clock()})

    def _callback(self, intermediate_result):
        self._record(intermediate_result.x, intermediate_result.fun)
        self._check_budget()


# Run to the budget: SciPy's default tolerances would stop L-BFGS-B at an absolute loss change
# of 2e-9 and Newton-CG at a step of 1e-5, long before the budget on this problem.
SCIPY_OPTIONS = {"L-BFGS-B": {"maxiter": 10**6, "maxfun": 10**6, "ftol": 0.0, "gtol": 0.0},
                 "Newton-CG": {"maxiter": 10**6, "xtol": 1e-300}}


def run_scipy(problem, name, max_cost=None, max_time=None, options=None):
    """rop.scipy.minimize with SciPy's method ``name`` and ``options`` besides
    SCIPY_OPTIONS: (history, θ) as run_rop's."""
    objective = problem.objective
    loss, _ = objective.graph()
    method = CountedScipyMethod(name, max_cost, max_time)
    hessp = None
    if name.lower() in rop.scipy.HESSP_METHODS:
        objective.hvp(problem.theta0, problem.theta0)  # compile outside the clock
        hessp = objective.hvp
    result = rop.scipy.minimize(loss, objective.params, objective.feed(problem.theta0),
                                method=method, hessp=hessp,
                                options={**SCIPY_OPTIONS[name], **(options or {})})
    return method.history, result.x


METHODS = ("HessianFree", "Newton-CG", "Adam", "L-BFGS")


def run(problem, method, max_cost=None, max_time=None, settings=None) -> dict:
    """One method of METHODS from the common start until ``max_cost`` gradient-equivalents
    or ``max_time`` seconds: {"history", "theta", "accuracy"}. ``settings`` (default
    SETTINGS[method]) are the optimizer's arguments, or for SciPy extra options."""
    settings = SETTINGS[method] if settings is None else settings
    if method == "HessianFree":
        history, theta = run_rop(problem, HessianFree(**settings), max_cost, max_time)
    elif method == "Adam":
        history, theta = run_rop(problem, Adam(**settings), max_cost, max_time)
    else:
        name = {"Newton-CG": "Newton-CG", "L-BFGS": "L-BFGS-B"}[method]
        history, theta = run_scipy(problem, name, max_cost, max_time, settings)
    return {"history": history, "theta": theta, "accuracy": problem.accuracy(theta)}


def compare(problem, max_cost=None, max_time=None, settings=None) -> dict:
    """Every method of METHODS with the same budget: {method: run}; ``settings`` maps a
    method to its settings where they differ from SETTINGS."""
    return {method: run(problem, method, max_cost, max_time, (settings or {}).get(method))
            for method in METHODS}


def best_loss(history, budget, key="cost") -> float:
    """The lowest training loss recorded within ``budget`` of ``key`` (cost or time); NaN
    when the run recorded nothing that early."""
    return min((r["loss"] for r in history if r[key] <= budget), default=float("nan"))


def plot_runs(runs, filename="digits_hf.png"):
    """Training loss against gradient-equivalents and against seconds, if matplotlib is
    installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no figure)")
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for name, result in runs.items():
        history = result["history"]
        for ax, key in zip(axes, ("cost", "time")):
            ax.plot([r[key] for r in history], [r["loss"] for r in history], label=name)
    axes[0].set(xscale="log", yscale="log", xlabel="gradient-equivalent evaluations",
                ylabel="training loss (cross-entropy + L2)")
    axes[1].set(xscale="log", xlabel="seconds")
    axes[0].legend()
    fig.suptitle("load_digits, 64-32-10 tanh MLP, from one start")
    fig.tight_layout()
    fig.savefig(filename, dpi=120)
    print(f"wrote {filename}")
    return filename


def main(budget=1000, plot=True):
    """All methods from the common start with ``budget`` gradient-equivalents; prints and
    returns {method: {"history", "theta", "accuracy"}}."""
    problem = digits_problem()
    runs = compare(problem, max_cost=budget)
    marks = [b for b in (30, 100, 300, 1000, 3000, 10000) if b <= budget]
    print(f"{'method':<13}" + "".join(f"{'loss@' + str(b):>12}" for b in marks)
          + f"{'seconds':>9}{'test acc':>10}")
    for name, result in runs.items():
        history = result["history"]
        print(f"{name:<13}" + "".join(f"{best_loss(history, b):>12.5f}" for b in marks)
              + f"{history[-1]['time']:>9.2f}{result['accuracy']:>10.1%}")
    print(f"(loss@b: lowest training loss within b gradient-equivalents, from "
          f"{runs['HessianFree']['history'][0]['loss']:.4f} at the common start)")
    if plot:
        plot_runs(runs)
    return runs


if __name__ == "__main__":
    main()
