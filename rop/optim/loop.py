"""The optimization loop (minimize), its result and errors, the interface every optimizer
follows, and the first-order baselines: gradient descent and Adam."""

from __future__ import annotations

import math
import numbers
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from graph.errors import DomainError, GraphError

from ._checks import integer, real, shown
from .objective import Objective


class NonFiniteError(GraphError, FloatingPointError):
    """The loss or the gradient became NaN or infinite.

    ``last_good`` is θ at the last iteration whose loss and gradient were finite (None if
    the starting point already fails), ``result`` the OptimizeResult up to there (its
    ``params`` are ``last_good`` by name), ``history`` its records, ``record`` the bad one.
    """

    def __init__(self, message, result, record):
        super().__init__(message)
        self.result, self.record = result, record
        self.last_good = None if result is None else result.theta
        self.history = [] if result is None else result.history


@dataclass
class OptimizeResult:
    """Where minimize stopped: θ, the parameters by name, one record per iteration (the
    starting point is record 0), why it stopped and how many steps it took."""

    theta: np.ndarray
    params: dict
    history: list = field(default_factory=list)
    reason: str = ""
    iterations: int = 0

    @property
    def loss(self) -> float:
        return self.history[-1]["loss"]


class Optimizer:
    """The interface: ``init(objective, θ)`` evaluates the starting point and returns its
    record; ``step(objective, θ)`` returns (the next θ, its record). A record holds at least
    ``loss`` and ``gradient_norm`` at the new point: each optimizer evaluates there exactly
    what its next step needs (on the mini-batch it will use, if it samples), once."""

    batch_size = None  # mini-batch size of the gradient; None: the full data

    def init(self, objective, theta) -> dict:
        self._gradient_batches = objective.batches(self.batch_size)
        return self._evaluate(objective, theta)

    def step(self, objective, theta) -> tuple[np.ndarray, dict]:
        raise NotImplementedError

    def _evaluate(self, objective, theta) -> dict:
        batch = next(self._gradient_batches)
        self.loss, self.gradient = objective.value_and_gradient(theta, batch)
        return {"loss": self.loss, "gradient_norm": float(np.linalg.norm(self.gradient))}


class GradientDescent(Optimizer):
    """θ ← θ + u, u ← μ u − η ∇f(θ) (heavy-ball momentum μ; plain descent when μ = 0).

    With ``batch_size``: stochastic gradient descent on mini-batches rotating through the
    data, recording each mini-batch's loss and gradient norm, as Adam does."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0,
                 batch_size: int | None = None):
        me = type(self).__name__
        self.learning_rate = real(me, "learning_rate", learning_rate, "(0, inf)")
        self.momentum = real(me, "momentum", momentum, "[0, 1)")  # 1: the velocity never decays
        self.batch_size = integer(me, "batch_size", batch_size, 1, optional=True)

    def init(self, objective, theta) -> dict:
        self._velocity = np.zeros(objective.size, objective.dtype)
        return super().init(objective, theta)

    def step(self, objective, theta):
        self._velocity = self.momentum * self._velocity - self.learning_rate * self.gradient
        theta = theta + self._velocity
        return theta, self._evaluate(objective, theta)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², and
    θ ← θ − η m̂ / (√v̂ + ε) with the bias corrections m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).

    With ``batch_size`` the gradients come from mini-batches rotating through the data, and
    the recorded loss and gradient norm are those of the next step's mini-batch (estimates:
    the tolerances of minimize then test estimates too).
    """

    def __init__(self, learning_rate: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, batch_size: int | None = None):
        me = type(self).__name__
        self.learning_rate = real(me, "learning_rate", learning_rate, "(0, inf)")
        # β < 1, or the bias corrections 1 - βᵗ divide by 0
        self.beta1 = real(me, "beta1", beta1, "[0, 1)")
        self.beta2 = real(me, "beta2", beta2, "[0, 1)")
        # ε > 0, or m̂ / (√v̂ + ε) is 0/0 wherever the gradient has been exactly 0
        self.eps = real(me, "eps", eps, "(0, inf)")
        self.batch_size = integer(me, "batch_size", batch_size, 1, optional=True)

    def init(self, objective, theta) -> dict:
        self._m, self._v = (np.zeros(objective.size, objective.dtype) for _ in range(2))
        self._t = 0
        return super().init(objective, theta)

    def step(self, objective, theta):
        g, self._t = self.gradient, self._t + 1
        self._m = self.beta1 * self._m + (1 - self.beta1) * g
        self._v = self.beta2 * self._v + (1 - self.beta2) * g * g
        m_hat = self._m / (1 - self.beta1**self._t)
        v_hat = self._v / (1 - self.beta2**self._t)
        theta = theta - self.learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)
        return theta, self._evaluate(objective, theta)


def minimize(objective, theta0, optimizer: Optimizer, *, max_iter: int = 100,
             gtol: float = 0.0, target_loss: float = -math.inf, max_cost: float | None = None,
             max_time: float | None = None, callback=None, progress=False) -> OptimizeResult:
    """Run ``optimizer`` on ``objective`` from ``theta0`` (flat, or a dict by name).

    Stops, after recording the point, at the first of: ``callback(θ, record)`` returned
    True ("callback"; it sees every record, the start included), gradient norm <= ``gtol``
    ("gradient tolerance"), loss <= ``target_loss`` ("target loss"), ``max_iter`` steps,
    ``max_cost`` gradient-equivalents (``objective.cost``) or ``max_time`` seconds spent.
    Each record gets ``iteration``, the cumulative ``cost`` and ``time``, and ``step_cost``.
    ``progress``: True (a bar from tqdm when installed, else a plain line about 20 times a
    run) or a number n (a plain line every n iterations), on stderr.

    Raises:
        NonFiniteError: the loss or gradient is NaN or infinite; it names the iteration
            and carries the last good θ and the history up to it.
        ValueError, TypeError: a keyword out of its range or of the wrong type, an
            objective or optimizer of the wrong kind, or a ``theta0`` of the wrong shape or
            not finite (all before any evaluation).
        KeyError: a ``theta0`` dict misses a parameter or has an unknown name (FeedError).
    """
    _check_arguments(objective, optimizer, max_iter, gtol, target_loss, max_cost, max_time,
                     callback, progress)
    theta = np.array(objective._theta(theta0, "minimize", "theta0", by_name=True))
    bad = [name for name, x in objective.unflatten(theta).items() if not np.isfinite(x).all()]
    if bad:  # else NonFiniteError at iteration 0 would blame the step size or the damping
        raise DomainError(f"minimize: theta0 has NaN or infinite entries in {', '.join(bad)}")
    start, cost0, spent = time.perf_counter(), objective.cost, 0.0
    result = OptimizeResult(theta, objective.unflatten(theta))
    bar = _progress(progress, max_iter, type(optimizer).__name__)
    record, iteration = optimizer.init(objective, theta), 0
    try:
        while True:
            cost = objective.cost - cost0
            record = {"iteration": iteration, **record, "cost": cost, "step_cost": cost - spent,
                      "time": time.perf_counter() - start}
            spent = cost
            _check_finite(record, result, objective)
            result.theta, result.iterations = theta, iteration
            result.history.append(record)
            bar(record)
            stop = callback is not None and callback(theta, record)
            result.reason = ("callback" if stop else
                             _stop_reason(record, max_iter, gtol, target_loss, max_cost,
                                          max_time))
            if result.reason:
                break
            theta, record = optimizer.step(objective, theta)
            iteration += 1
    finally:
        bar(None)
    result.params = objective.unflatten(result.theta)
    return result


def _check_arguments(objective, optimizer, max_iter, gtol, target_loss, max_cost, max_time,
                     callback, progress):
    if not isinstance(objective, Objective):  # a bare loss node, say
        raise TypeError(f"minimize: objective must be an Objective (for a loss graph without "
                        f"data: Objective.from_graph(loss, params)), got {shown(objective)}")
    if isinstance(optimizer, type) or not all(
            callable(getattr(optimizer, method, None)) for method in ("init", "step")):
        got = (f"the class {optimizer.__name__}; call it: {optimizer.__name__}()"
               if isinstance(optimizer, type) else shown(optimizer))
        raise TypeError(f"minimize: optimizer must be an optimizer such as HessianFree() (an "
                        f"object with init and step methods), got {got}")
    integer("minimize", "max_iter", max_iter, 0)
    real("minimize", "gtol", gtol, "[0, inf)")
    real("minimize", "target_loss", target_loss, "[-inf, inf]")
    real("minimize", "max_cost", max_cost, "[0, inf]", optional=True)
    real("minimize", "max_time", max_time, "[0, inf]", optional=True)
    if callback is not None and not callable(callback):
        raise TypeError(f"minimize: callback must be a function or None, got {shown(callback)}")
    if not (progress is None or isinstance(progress, (bool, np.bool_))):
        what = "True, False or a positive integer (a line every n iterations)"
        if not isinstance(progress, numbers.Integral):
            raise TypeError(f"minimize: progress must be {what}, got {shown(progress)}")
        if progress < 0:  # 0 is off, as False
            raise ValueError(f"minimize: progress must be {what}, got {progress}")


def _stop_reason(record, max_iter, gtol, target_loss, max_cost, max_time):
    checks = [(record["gradient_norm"] <= gtol, "gradient tolerance"),
              (record["loss"] <= target_loss, "target loss"),
              (record["iteration"] >= max_iter, "max iterations"),
              (max_cost is not None and record["cost"] >= max_cost, "cost budget"),
              (max_time is not None and record["time"] >= max_time, "time budget")]
    return next((reason for hit, reason in checks if hit), "")


def _check_finite(record, result, objective):
    if math.isfinite(record["loss"]) and math.isfinite(record["gradient_norm"]):
        return
    i = record["iteration"]
    good = None
    if result.history:
        result.reason = "non-finite"
        result.params = objective.unflatten(result.theta)
        good = result
    where = (f"the last good parameters (iteration {i - 1}) are the error's .last_good"
             if good else "the starting point itself is bad")
    raise NonFiniteError(
        f"minimize: at iteration {i} the loss is {record['loss']} and the gradient norm "
        f"{record['gradient_norm']}; stopped, {where}. Lower the step size or raise the "
        f"damping, or check the data and the starting point", good, record)


def _progress(progress, max_iter, name):
    """A function record -> None that reports progress (None: the run is over)."""
    if not progress:
        return lambda record: None
    if progress is True:
        try:
            from tqdm import tqdm
        except ImportError:
            return _PlainLine(max(1, max_iter // 20), max_iter, name)
        return _tqdm_bar(tqdm(total=max_iter, desc=name))
    return _PlainLine(int(progress), max_iter, name)


def _summary(record):
    return f"loss {record['loss']:.4e}  |g| {record['gradient_norm']:.2e}  " \
           f"cost {record['cost']:.1f}  {record['time']:.1f}s"


class _PlainLine:
    """Prints every ``every``-th record, and the last one when the run is over."""

    def __init__(self, every, max_iter, name):
        self.every, self.max_iter, self.name, self.pending = every, max_iter, name, None

    def __call__(self, record):
        if record is not None:
            self.pending = record
            if record["iteration"] % self.every:
                return
        if self.pending is not None:
            width = len(str(self.max_iter))
            print(f"{self.name} {self.pending['iteration']:>{width}}/{self.max_iter}  "
                  f"{_summary(self.pending)}", file=sys.stderr, flush=True)
            self.pending = None


def _tqdm_bar(bar):
    def report(record):
        if record is None:
            bar.close()
            return
        bar.update(record["iteration"] - bar.n)
        bar.set_postfix_str(_summary(record))

    return report
