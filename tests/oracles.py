"""Reference computations the tests compare rop against (independent of rop/)."""

import numpy as np

import graph as G

FD_STEP = 1e-3


def directional_difference(f, point, direction, h=FD_STEP):
    """d/dr f(point + r direction) at r = 0 by Richardson-extrapolated central differences.

    Error O(h^4) truncation + O(eps |f| / h) round-off: about 1e-12 relative for O(1) values
    and derivatives, so tests can compare at rtol 1e-6 with room to spare.
    """
    def moved(s):
        return G.evaluate(f, {k: point[k] + s * direction.get(k, 0.0) for k in point})

    def central(step):
        return (moved(step) - moved(-step)) / (2 * step)

    return (4 * central(h / 2) - central(h)) / 3


def close(a, b, rtol=1e-6):
    """|a - b| <= rtol * max(1, |b|), entrywise relative to the largest entry of b."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    return a.shape == b.shape and float(np.max(np.abs(a - b), initial=0.0)) <= rtol * scale
