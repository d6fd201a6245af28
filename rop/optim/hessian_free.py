"""Second-order optimizers: Martens' (2010) Hessian-free method and Newton's method with
exact inverse-Hessian-vector products, with the Levenberg-Marquardt rule and the Armijo line
search they share (docs/math.md §16, §17)."""

from __future__ import annotations

import numpy as np

from graph.errors import GraphError, NotInvertibleError

from ..cg import cg
from ._checks import choice, flag, integer, real
from .loop import Optimizer

# The data of HessianFree's loss evaluations for ρ and CG backtracking (see its docstring).
EVALUATION_BATCHES = ("martens", "curvature", "full")


def levenberg_marquardt(damping: float, rho: float, *, decrease: float = 2 / 3,
                        increase: float = 3 / 2, low: float = 0.25,
                        high: float = 0.75) -> float:
    """The next damping λ from the reduction ratio ρ = actual / predicted decrease.

    ρ > ``high``: the quadratic model is trusted, λ ← ``decrease``·λ; ρ < ``low`` (or ρ
    undefined, NaN): it is not, λ ← ``increase``·λ; otherwise λ stays.

    >>> levenberg_marquardt(1.0, 0.9), levenberg_marquardt(1.0, 0.1)
    (0.6666666666666666, 1.5)
    """
    if rho > high:
        return decrease * damping
    if rho >= low:
        return damping
    return increase * damping  # rho < low, or NaN: no evidence the model can be trusted


def armijo(value, loss: float, slope: float, *, c: float, shrink: float, max_steps: int,
           first: float | None = None) -> tuple[float, float]:
    """(t, value(t)) for the first t in 1, shrink, shrink², ... with Armijo's sufficient
    decrease value(t) <= loss + c·t·slope, where ``value(t)`` is f(θ + t·p), ``loss`` f(θ)
    and ``slope`` ∇f(θ)·p; ``first`` is value(1) when already known. (0, loss) when
    ``max_steps`` trials fail. A NaN or infinite value never passes."""
    slope = min(slope, 0.0)  # along a non-descent direction, still never accept an increase
    t, trial = 1.0, value(1.0) if first is None else first
    for _ in range(max_steps):
        if trial <= loss + c * t * slope:
            return t, trial
        t *= shrink
        trial = value(t)
    return 0.0, loss


class HessianFree(Optimizer):
    """Martens' Hessian-free optimization: each step minimizes the damped quadratic model
    M(δ) = f + ∇f·δ + ½ δᵀ(B + λI)δ by preconditioned CG (rop.cg, Martens' φ stopping rule).

    ``B`` is the Gauss-Newton matrix (``curvature="ggn"``, positive semi-definite for a
    loss convex in the output) or the Hessian (``"hessian"``), on a mini-batch of
    ``batch_size`` examples rotating through the data (None: all of it); the gradient is on
    the full data. CG starts from ``warm_start_decay`` × its previous solution; the step is
    the best of the CG iterates kept at ⌈5·1.3ʲ⌉, walking back from the last while the loss
    improves (``backtracking``); λ follows levenberg_marquardt with ρ measured against the
    undamped model; an Armijo line search scales the step. The preconditioner is
    (diag F + λ)^``preconditioner_exponent``, F = (1/m) Σ_i ∇ℓ_i ∇ℓ_iᵀ the empirical Fisher
    of the curvature batch. Every default is Martens'. CG stops on Martens' φ test
    (``cg_eps``) or, with ``cg_tol`` > 0, also on a relative residual.

    ``evaluation_batch`` chooses the data of the loss evaluations besides the gradient's:
    ``"martens"`` (his released nnet_train_2.m): ρ on the curvature batch (its loss at θ and
    θ + p against the model with the full gradient), backtracking on the full data;
    ``"curvature"``: backtracking too on the curvature batch (the cheaper variant his code
    leaves commented out); ``"full"``: both on the full data. The Armijo line search is
    always on the full data, where the gradient is, so that ∇f·p is the slope of the loss it
    tests (a non-descent p is never taken with a loss increase); when backtracking was on the
    full data, its loss at the chosen p is the search's first trial.

    Each record adds ``damping`` (the λ of this step), ``rho``, ``cg_iterations``,
    ``cg_stop``, ``cg_iterate`` (the i of the CG iterate taken) and ``step_size``.

    >>> import graph as G
    >>> from rop.optim import Objective, minimize
    >>> w = G.var("w", (2,))
    >>> rosenbrock = (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
    >>> result = minimize(Objective.from_graph(rosenbrock, [w]), [-1.2, 1.0],
    ...                   HessianFree("hessian"), max_iter=200, target_loss=1e-20)
    >>> np.round(result.theta, 8), result.reason
    (array([1., 1.]), 'target loss')
    """

    def __init__(self, curvature: str = "ggn", damping: float = 1.0, *,
                 damping_decrease: float = 2 / 3, damping_increase: float = 3 / 2,
                 rho_low: float = 0.25, rho_high: float = 0.75, cg_max_iter: int = 250,
                 cg_eps: float = 5e-4, cg_tol: float = 0.0, warm_start_decay: float = 0.95,
                 backtracking: bool = True, line_search_c: float = 1e-2,
                 line_search_shrink: float = 0.8, line_search_max: int = 60,
                 preconditioner: bool = True, preconditioner_exponent: float = 0.75,
                 batch_size: int | None = None, evaluation_batch: str = "martens"):
        me = type(self).__name__
        self.curvature = choice(me, "curvature", curvature, ("ggn", "hessian"))
        # λ > 0: levenberg_marquardt only scales λ, so a 0 would stay 0 for good, and the
        # preconditioner (diag F + λ)^α would divide by 0 where a gradient entry is 0
        self.damping = real(me, "damping", damping, "(0, inf)")
        self.damping_decrease = real(me, "damping_decrease", damping_decrease, "(0, 1]")
        self.damping_increase = real(me, "damping_increase", damping_increase, "[1, inf)")
        self.rho_low = real(me, "rho_low", rho_low, "(-inf, inf)")
        self.rho_high = real(me, "rho_high", rho_high, "(-inf, inf)")
        if self.rho_low > self.rho_high:
            raise ValueError(f"{me}: rho_low ({rho_low}) must not exceed rho_high ({rho_high})")
        self.cg_max_iter = integer(me, "cg_max_iter", cg_max_iter, 1)
        self.cg_eps = real(me, "cg_eps", cg_eps, "[0, inf)")  # 0: no phi test
        # 0: Martens' phi test alone; > 0 also stops on the residual
        self.cg_tol = real(me, "cg_tol", cg_tol, "[0, inf)")
        self.warm_start_decay = real(me, "warm_start_decay", warm_start_decay, "[0, 1]")
        self.backtracking = flag(me, "backtracking", backtracking)
        self.line_search_c = real(me, "line_search_c", line_search_c, "(0, 1)")
        self.line_search_shrink = real(me, "line_search_shrink", line_search_shrink, "(0, 1)")
        self.line_search_max = integer(me, "line_search_max", line_search_max, 1)
        self.preconditioner = flag(me, "preconditioner", preconditioner)
        # 0: no preconditioning, 1: the full diagonal (diag F + λ)
        self.preconditioner_exponent = real(me, "preconditioner_exponent",
                                            preconditioner_exponent, "[0, 1]")
        self.curvature_batch_size = integer(me, "batch_size", batch_size, 1, optional=True)
        self.evaluation_batch = choice(me, "evaluation_batch", evaluation_batch,
                                       EVALUATION_BATCHES)

    def init(self, objective, theta) -> dict:
        if self.curvature == "ggn" and objective.graph()[1] is None:
            raise GraphError("HessianFree(curvature='ggn') needs the model's output for the "
                             "Gauss-Newton matrix, and this objective has none (build() "
                             "returned (loss, None), or it came from Objective.from_graph); "
                             "use HessianFree(curvature='hessian')")
        self._damping, self._previous = self.damping, np.zeros(objective.size, objective.dtype)
        self._curvature_batches = objective.batches(self.curvature_batch_size)
        return super().init(objective, theta)

    def step(self, objective, theta):
        batch, damping = next(self._curvature_batches), self._damping
        product = objective.ggn_vp if self.curvature == "ggn" else objective.hvp
        solution = cg(lambda v: product(theta, v, batch) + damping * v, -self.gradient,
                      self.warm_start_decay * self._previous,
                      self._diagonal(objective, theta, batch, damping),
                      max_iter=self.cg_max_iter, eps=self.cg_eps, tol=self.cg_tol)
        self._previous = solution.x
        on_batch = self.evaluation_batch == "curvature"
        index, p, loss_at_p = self._backtrack(objective, theta, solution,
                                              batch if on_batch else None)
        # M(p) - f for the undamped model: phi(p) = p^T (B + λI) p / 2 + ∇f·p, less λ|p|^2/2
        predicted = solution.phi[index] - 0.5 * damping * float(p @ p)
        rho = self._rho(objective, theta, p, predicted, batch, loss_at_p)
        self._damping = levenberg_marquardt(
            damping, rho, decrease=self.damping_decrease, increase=self.damping_increase,
            low=self.rho_low, high=self.rho_high)
        t, _ = armijo(lambda t: objective.value(theta + t * p), self.loss,
                      float(self.gradient @ p), c=self.line_search_c,
                      shrink=self.line_search_shrink, max_steps=self.line_search_max,
                      first=None if on_batch and batch is not None else loss_at_p)
        theta = theta + t * p
        record = self._evaluate(objective, theta)
        record.update(damping=damping, rho=rho, cg_iterations=solution.iterations,
                      cg_stop=solution.stop, cg_iterate=index, step_size=t)
        return theta, record

    def _diagonal(self, objective, theta, batch, damping):
        """Martens' preconditioner (diag F + λ)^¾, or None."""
        if not self.preconditioner:
            return None
        if objective.n_examples is None:  # no data: the loss is its one "example"
            fisher = self.gradient**2
        else:
            fisher = (objective.per_example_gradient_squares(theta, batch)
                      / objective.batch_size(batch))
        return (fisher + damping) ** self.preconditioner_exponent

    def _rho(self, objective, theta, p, predicted, batch, loss_at_p):
        """ρ = (f(θ + p) − f(θ)) / ``predicted``, the losses on the curvature ``batch``
        unless evaluation_batch is "full"; NaN when p = 0 (``predicted`` is then 0).
        ``loss_at_p`` is f(θ + p) on the data backtracking used."""
        if not predicted < 0:
            return float("nan")
        if self.evaluation_batch == "full" or batch is None:
            return (loss_at_p - self.loss) / predicted
        after = loss_at_p if self.evaluation_batch == "curvature" else \
            objective.value(theta + p, batch)
        return (after - objective.value(theta, batch)) / predicted

    def _backtrack(self, objective, theta, solution, batch=None):
        """(i, x_i, f(θ + x_i)) for the best of the kept CG iterates, walking back from the
        last while the loss on ``batch`` (None: all the data) improves."""
        kept = solution.iterates if self.backtracking else solution.iterates[-1:]
        best_i, best_x = kept[-1]
        best_loss = objective.value(theta + best_x, batch)
        for i, x in reversed(kept[:-1]):
            loss = objective.value(theta + x, batch)
            if not loss < best_loss:
                break
            best_i, best_x, best_loss = i, x, loss
        return best_i, best_x, best_loss


class Newton(Optimizer):
    """Newton's method θ ← θ − t (H + λI)⁻¹ ∇f on the full data.

    With ``damping`` λ = 0 the step is the exact inverse-Hessian-vector product of
    :func:`rop.inverse_hvp` (``method``: ``"auto"`` = ``"linear"``, falling back to CG
    where no exact inversion applies; ``"linear"``, ``"functional"``, or ``"cg"``); with
    λ > 0 it is CG on (H + λI) to the residual tolerance ``cg_tol``. Where the result is not
    a descent direction (H not positive definite), the step is −∇f instead. With
    ``line_search``, t is chosen by backtracking (Armijo, with the textbook c = 10⁻⁴ and
    halving); otherwise t = 1. Each record holds the ``method`` used, the ``certificate``
    ‖(H + λI)x − ∇f‖ / ‖∇f‖ (one HVP) and the ``step_size``.
    """

    def __init__(self, damping: float = 0.0, line_search: bool = True, method: str = "auto",
                 *, cg_tol: float = 1e-12, cg_max_iter: int | None = None,
                 line_search_c: float = 1e-4, line_search_shrink: float = 0.5,
                 line_search_max: int = 60):
        me = type(self).__name__
        # λ = 0 is meaningful here: the exact inverse-Hessian-vector product
        self.damping = real(me, "damping", damping, "[0, inf)")
        self.line_search = flag(me, "line_search", line_search)
        self.method = choice(me, "method", method, ("auto", "linear", "functional", "cg"))
        self.cg_tol = real(me, "cg_tol", cg_tol, "[0, inf)")
        self.cg_max_iter = integer(me, "cg_max_iter", cg_max_iter, 1, optional=True)
        self.line_search_c = real(me, "line_search_c", line_search_c, "(0, 1)")
        self.line_search_shrink = real(me, "line_search_shrink", line_search_shrink, "(0, 1)")
        self.line_search_max = integer(me, "line_search_max", line_search_max, 1)

    def step(self, objective, theta):
        x, method = self._solve(objective, theta)
        misfit = objective.hvp(theta, x) + self.damping * x - self.gradient
        certificate = float(np.linalg.norm(misfit) / (np.linalg.norm(self.gradient) or 1.0))
        p = -x
        if not self.gradient @ p < 0:  # H (+ λI) is not positive definite here
            p, method = -self.gradient, method + "; not a descent direction: -gradient"
        t = 1.0
        if self.line_search:
            t, _ = armijo(lambda t: objective.value(theta + t * p), self.loss,
                          float(self.gradient @ p), c=self.line_search_c,
                          shrink=self.line_search_shrink, max_steps=self.line_search_max)
        theta = theta + t * p
        record = self._evaluate(objective, theta)
        record.update(method=method, certificate=certificate, step_size=t)
        return theta, record

    def _solve(self, objective, theta):
        """(x, how) with (H + λI) x = ∇f."""
        if self.damping == 0 and self.method != "cg":
            exact = "linear" if self.method == "auto" else self.method
            try:
                return objective.inverse_hvp(theta, self.gradient, method=exact), exact
            except NotInvertibleError as reason:
                if self.method != "auto":
                    raise
                why = f"cg (no exact inverse: {str(reason).splitlines()[0]})"
        else:
            why = "cg"
        solution = cg(lambda v: objective.hvp(theta, v) + self.damping * v, self.gradient,
                      tol=self.cg_tol, eps=0.0, max_iter=self.cg_max_iter or 10 * objective.size,
                      stop_on_negative_curvature=False)
        return solution.x, f"{why}, {solution.iterations} iterations"
