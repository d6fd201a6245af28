"""HessianFree, Newton-CG, Adam and L-BFGS on the digits MLP of examples/digits_hf.py: the
training loss each reaches within fixed budgets of gradient-equivalent evaluations and of
wall time, side by side in one run, BLAS pinned to one thread.

The goal under test: HessianFree reaches a lower training loss than Adam and L-BFGS at an
equal gradient-equivalent budget. HessianFree's settings (curvature mini-batch, initial
damping, CG iteration cap, CG backtracking) and Adam's (learning rate, mini-batch) are first
tuned on a grid, each by its lowest loss within TUNING_BUDGET; the tables of both grids are
printed. Newton-CG and L-BFGS run with SciPy's defaults except for the stopping tolerances,
set to zero so that they spend the whole budget. Cost is counted as rop.optim.Objective does
(loss 1/3, gradient 1, HVP or Gauss-Newton product 2, scaled by the batch fraction); times
exclude compilation and are those of a shared machine: compare them within one run only.

Run:  python benchmarks/bench_optim.py [--quick]
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads BLAS

import argparse  # noqa: E402
import itertools  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                "examples"))
import digits_hf  # noqa: E402
from digits_hf import METHODS, best_loss  # noqa: E402

COST_BUDGETS, TIME_BUDGETS, TUNING_BUDGET = (100, 300, 1000, 3000), (1, 3, 10), 1000
# Martens' defaults first (full-data curvature, CG up to 250 iterations, the (diag F + λ)^¾
# preconditioner, ρ on the curvature batch), then a grid without the preconditioner: it takes
# one batch-size-1 gradient per curvature example, cheap in gradient-equivalents but as many
# interpreter passes, so it costs far more in seconds than it saves. evaluation_batch:
# "full" reuses one full-data loss at the CG step for backtracking, ρ and the line search's
# first trial; "martens" adds two curvature-batch losses for ρ; "curvature" also backtracks
# on the batch, and then the line search pays its own full-data loss.
GRIDS = {
    "HessianFree": [{}, {"batch_size": 256}] + [
        {"batch_size": m, "damping": d, "cg_max_iter": k, "preconditioner": False,
         "evaluation_batch": e}
        for e, m, d, k in itertools.product(("full", "martens"), (128, 256, 512),
                                            (0.3, 1.0, 3.0), (2, 4, 10, 250))]
    + [{"batch_size": 256, "damping": 3.0, "cg_max_iter": k, "preconditioner": False,
        "evaluation_batch": "curvature"} for k in (4, 10, 250)],
    "Adam": [{"learning_rate": r, "batch_size": m}
             for r, m in itertools.product((0.001, 0.003, 0.01, 0.03), (64, 128, 256, None))],
    "L-BFGS": [{"maxcor": m} for m in (5, 10, 20, 50)],  # the memory: SciPy's default is 10
}


def tune(problem, method, grid, budget):
    """Runs ``method`` with each setting of ``grid`` for ``budget`` gradient-equivalents and
    prints its losses; returns the setting with the lowest loss within ``budget``."""
    print(f"\nTuning {method}: lowest training loss within b gradient-equivalents")
    marks = [b for b in COST_BUDGETS if b <= budget]
    print(f"{'setting':<78}" + "".join(f"{'b=' + str(b):>10}" for b in marks))
    scored = []
    for setting in grid:
        history = digits_hf.run(problem, method, max_cost=budget, settings=setting)["history"]
        losses = [best_loss(history, b) for b in marks]
        scored.append((losses[-1], setting))
        label = str(setting) if setting else "Martens' defaults"
        print(f"{label:<78}" + "".join(f"{loss:>10.6f}" for loss in losses))
    best = min(scored, key=lambda pair: pair[0])[1]
    print(f"chosen: {best}")
    return best


def cost_to_reach(history, loss):
    """The first cost at which ``history`` records a loss <= ``loss`` (inf: never)."""
    return next((r["cost"] for r in history if r["loss"] <= loss), math.inf)


def print_table(cost_runs, time_runs, cost_budgets, time_budgets):
    """Loss within each cost and time budget, and test accuracy, one row per method."""
    cells = [f"b={b}" for b in cost_budgets] + [f"t={t}s" for t in time_budgets]
    print("\nLowest training loss within each budget (b: gradient-equivalents, t: seconds)")
    print(f"{'method':<13}" + "".join(f"{c:>10}" for c in cells)
          + f"{'acc (b)':>9}{'acc (t)':>9}{'ended at b':>12}")
    for method in METHODS:
        by_cost, by_time = cost_runs[method], time_runs[method]
        losses = [best_loss(by_cost["history"], b) for b in cost_budgets]
        losses += [best_loss(by_time["history"], t, key="time") for t in time_budgets]
        print(f"{method:<13}" + "".join(f"{loss:>10.6f}" for loss in losses)
              + f"{by_cost['accuracy']:>9.1%}{by_time['accuracy']:>9.1%}"
              + f"{by_cost['history'][-1]['cost']:>12.0f}")
    start = cost_runs["HessianFree"]["history"][0]["loss"]
    print(f"(common start: loss {start:.4f}; acc: test accuracy at the end of the "
          f"b={cost_budgets[-1]} and t={time_budgets[-1]}s runs; ended at b: the cost "
          f"of the b={cost_budgets[-1]} run's last record, less if SciPy converged or its "
          f"next iteration would have overrun; nan: nothing recorded yet)")


def verdict(cost_runs, cost_budgets, reference) -> bool:
    """Prints, per cost budget, each method's excess loss over ``reference`` (the lowest
    loss any run recorded) and the budget Adam and L-BFGS need to match HessianFree's loss
    there; returns whether HF is lower than both at every budget."""
    print(f"\nGoal: HessianFree lower than Adam and L-BFGS at equal gradient-equivalents.\n"
          f"Excess training loss over {reference:.6f}, the lowest loss any run recorded:")
    print(f"{'b':>6}" + "".join(f"{m:>13}" for m in METHODS) + f"{'lowest':>13}"
          + "   b at which Adam / L-BFGS match HF")
    met = True
    for b in cost_budgets:
        losses = {m: best_loss(cost_runs[m]["history"], b) for m in METHODS}
        met &= all(losses["HessianFree"] < losses[rival] for rival in ("Adam", "L-BFGS"))
        match = [cost_to_reach(cost_runs[rival]["history"], losses["HessianFree"])
                 for rival in ("Adam", "L-BFGS")]
        print(f"{b:>6}" + "".join(f"{losses[m] - reference:>13.2e}" for m in METHODS)
              + f"{min(losses, key=losses.get):>13}   {match[0]:.0f} / {match[1]:.0f}")
    print(f"goal {'MET' if met else 'NOT MET'}: HessianFree is "
          f"{'' if met else 'not '}lower than both Adam and L-BFGS at every budget")
    if not met:
        explain(cost_runs, cost_budgets)
    return met


def explain(cost_runs, cost_budgets):
    """Prints by how much HessianFree misses the goal (the factor by which a rival needs
    fewer gradient-equivalents to reach HF's loss; < 1: more; 0: never) and why."""
    hf = cost_runs["HessianFree"]["history"]
    for rival in ("Adam", "L-BFGS"):
        factors = [b / cost_to_reach(cost_runs[rival]["history"], best_loss(hf, b))
                   for b in cost_budgets]
        print(f"  {rival} reaches HF's loss with " + ", ".join(f"{f:.1f}x" for f in factors)
              + " fewer gradient-equivalents at b = " + ", ".join(map(str, cost_budgets)))
    per_step = hf[-1]["cost"] / max(len(hf) - 1, 1)
    why = (f"Why: an HF iteration costs {per_step:.1f} gradient-equivalents (a full-data "
           f"gradient, CG products on the curvature batch, a full-data loss or more), so HF "
           f"takes few steps per budget, while L-BFGS takes one gradient per step and "
           f"mini-batch Adam many steps per gradient-equivalent. COST does not favour HF: "
           f"measured here a loss costs 0.56 gradients and an HVP or Gauss-Newton product "
           f"1.4-1.5, against COST's 1/3 and 2.")
    print(textwrap.fill(why, width=96, initial_indent="  ", subsequent_indent="  "))


def main(argv=None):
    """Tune, compare, print; returns {"settings", "cost_runs", "time_runs", "met"}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small budgets and grids: a smoke test, not a measurement")
    args = parser.parse_args(argv)
    cost_budgets, time_budgets, tuning_budget = COST_BUDGETS, TIME_BUDGETS, TUNING_BUDGET
    grids = GRIDS
    if args.quick:
        cost_budgets, time_budgets, tuning_budget = (30, 100), (0.2, 0.5), 100
        grids = {method: grid[:2] for method, grid in GRIDS.items()}
    print(f"BLAS pinned to one thread: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"MKL_NUM_THREADS={os.environ['MKL_NUM_THREADS']}")
    problem = digits_hf.digits_problem()
    print(f"load_digits: {problem.objective.n_examples} training, {problem.test.n_examples} "
          f"test images; 64-{digits_hf.HIDDEN}-10 tanh MLP, {problem.objective.size} "
          f"parameters; loss = mean cross-entropy + {digits_hf.L2:g}/2 |theta|^2")
    settings = {method: tune(problem, method, grid, tuning_budget)
                for method, grid in grids.items()}
    cost_runs = digits_hf.compare(problem, max_cost=cost_budgets[-1], settings=settings)
    time_runs = digits_hf.compare(problem, max_time=time_budgets[-1], settings=settings)
    print("\nSettings (SciPy's via rop.scipy.minimize, fun/jac/hessp from rop):")
    for method in METHODS:
        chosen = settings.get(method, digits_hf.SETTINGS[method])
        scipy = {"Newton-CG": "Newton-CG", "L-BFGS": "L-BFGS-B"}.get(method)
        print(f"  {method:<12} {chosen}" + (f" + {digits_hf.SCIPY_OPTIONS[scipy]}"
                                            if scipy else ""))
    print_table(cost_runs, time_runs, cost_budgets, time_budgets)
    reference = min(r["loss"] for runs in (cost_runs, time_runs) for run in runs.values()
                    for r in run["history"])
    met = verdict(cost_runs, cost_budgets, reference)
    return {"settings": settings, "cost_runs": cost_runs, "time_runs": time_runs, "met": met}


if __name__ == "__main__":
    main()
