"""Where an op's operands live and what its outputs can be: intervals, positive definite
matrices, examples, NoInverse."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Interval:
    """An interval of reals: where an op's operand is sampled (by check_op and the property
    tests), or the image of an op (the outputs that have a preimage). Open by default;
    ``closed=(True, False)`` includes ``lo``.

    >>> Interval(0.0, np.inf, closed=(True, False)).contains(np.array([0.0, -1.0]))
    array([ True, False])
    """

    lo: float
    hi: float
    closed: tuple = (False, False)

    def sample(self, rng, shape):
        return rng.uniform(self.lo, self.hi, size=shape)

    def contains(self, x):
        above = x >= self.lo if self.closed[0] else x > self.lo
        below = x <= self.hi if self.closed[1] else x < self.hi
        return above & below

    def __str__(self):
        left, right = ("[" if self.closed[0] else "("), ("]" if self.closed[1] else ")")
        return f"{left}{self.lo:g}, {self.hi:g}{right}"


@dataclass(frozen=True)
class PositiveDefinite:
    """Symmetric positive definite matrices (stacks of them, shape (..., n, n)) with
    eigenvalues in [smallest, largest]: where an operand that must be positive definite
    (cholesky's) is sampled. Like an Interval it has ``sample``, and ``lo``/``hi`` bound the
    entries (check_op reads ``lo`` to type its symbols).

    >>> a = PositiveDefinite(1.0, 2.0).sample(np.random.default_rng(0), (2, 2))
    >>> bool(np.all(a == a.T) and np.all(np.linalg.eigvalsh(a) > 0))
    True
    """

    smallest: float
    largest: float

    @property
    def lo(self):
        # |a_ij| <= (largest - smallest) / 2 off the diagonal (a 2x2 principal submatrix)
        return min(self.smallest, -(self.largest - self.smallest) / 2)

    @property
    def hi(self):
        return self.largest

    def sample(self, rng, shape):
        q, _ = np.linalg.qr(rng.normal(size=shape))  # a random orthogonal basis per matrix
        eigenvalues = rng.uniform(self.smallest, self.largest, size=shape[:-1])
        a = (q * eigenvalues[..., None, :]) @ np.swapaxes(q, -1, -2)
        return (a + np.swapaxes(a, -1, -2)) / 2  # exactly symmetric

    def __str__(self):
        return f"positive definite, eigenvalues in [{self.smallest:g}, {self.largest:g}]"


REALS = Interval(-2.0, 2.0)
POSITIVE = Interval(0.3, 2.5)
UNIT = Interval(-0.9, 0.9)  # inside (-1, 1)
NONNEGATIVE_IMAGE = Interval(0.0, np.inf, closed=(True, False))
POSITIVE_IMAGE = Interval(0.0, np.inf)


@dataclass(frozen=True)
class Example:
    """Operand shapes and params on which check_op proves an op's rules symbolically."""

    shapes: tuple
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class NoInverse:
    """An explicit statement that an op cannot be solved for an operand, and why."""

    reason: str
