"""SciPy adapters: the Hessian, the Gauss-Newton matrix and the inverse Hessian of a rop graph
at a point as ``scipy.sparse.linalg.LinearOperator``s, and :func:`minimize`, which hands exact
``fun``, ``jac`` and ``hessp`` to ``scipy.optimize.minimize``.

scipy is optional, so rop does not import this module itself: ``import rop.scipy``. Vectors
are flat float64: the entries of the ``wrt`` tensors raveled and concatenated in order.

>>> import graph as G, rop.scipy
>>> x = G.var("x", (2,))
>>> H = rop.scipy.hessian_operator(G.sum(x ** 3), x, {"x": [1.0, 2.0]})
>>> H @ [1.0, 1.0]
array([ 6., 12.])
"""

from __future__ import annotations

import numpy as np
import scipy.optimize  # absolute imports: the real scipy, not this module
import scipy.sparse.linalg

import graph as G
from graph.errors import FeedError
from graph.feed import resolve_feed
from graph.traverse import as_list, variables

from .backprop import grad
from .hessian import ggn_vp, hvp
from .inverse_hessian import AtPoint, inverse_hessian
from .layout import Layout

# the methods of scipy.optimize.minimize that accept ``hessp``
HESSP_METHODS = ("newton-cg", "trust-ncg", "trust-krylov", "trust-constr")


def hessian_operator(f, wrt, feed) -> scipy.sparse.linalg.LinearOperator:
    """The Hessian of scalar ``f`` in ``wrt`` at ``feed``: each product is one exact HVP.

    >>> import graph as G, rop.scipy
    >>> w = G.var("w", (2,))
    >>> H = rop.scipy.hessian_operator(w[0] * w[1], w, {"w": [1.0, 2.0]})
    >>> H.shape, H @ [1.0, 0.0]
    ((2, 2), array([0., 1.]))
    """
    return _operator(lambda ts, ds: hvp(f, ts, ds), f, wrt, feed, "hessian_operator")


def ggn_operator(f, output, wrt, feed) -> scipy.sparse.linalg.LinearOperator:
    """The Gauss-Newton matrix J^T (d^2 f / d output^2) J at ``feed`` (see rop.ggn_vp).

    >>> import graph as G, rop.scipy
    >>> w = G.var("w", (2,))
    >>> z = G.tanh(w)
    >>> GN = rop.scipy.ggn_operator(0.5 * G.sum(z * z), z, w, {"w": [0.0, 0.0]})
    >>> GN @ [1.0, 2.0]
    array([1., 2.])
    """
    return _operator(lambda ts, ds: ggn_vp(f, output, ts, ds), f, wrt, feed, "ggn_operator")


def inverse_hessian_operator(f, wrt, feed, method: str = "auto", **options):
    """H^-1 of scalar ``f`` in ``wrt`` at ``feed`` as a LinearOperator: built, compiled and
    factored once by :func:`rop.inverse_hessian`, so each product is one certified call
    (a CertificateError where H is singular, never a wrong vector).

    ``method`` and ``options`` are those of rop.inverse_hessian. The operator's ``notes``
    say how the graph was inverted.

    >>> import graph as G, rop.scipy
    >>> x = G.var("x", (2,))
    >>> H_inv = rop.scipy.inverse_hessian_operator(G.sum(x ** 3), x, {"x": [1.0, 2.0]})
    >>> H_inv @ [6.0, 6.0]
    array([1. , 0.5])
    """
    targets = _variables(wrt, "inverse_hessian_operator")
    inverse = inverse_hessian(f, targets, _point(f, targets, feed, "inverse_hessian_operator"),
                              method=method, **options)
    n = inverse.layout.size
    operator = scipy.sparse.linalg.LinearOperator((n, n), matvec=inverse.apply,
                                                  rmatvec=inverse.apply, dtype=np.float64)
    operator.notes = inverse.notes
    return operator


def minimize(f, wrt, feed, method: str = "trust-ncg", **kwargs) -> scipy.optimize.OptimizeResult:
    """``scipy.optimize.minimize`` of scalar ``f`` over ``wrt``, starting from ``feed``.

    ``fun`` and ``jac`` come from one compiled program computing f and its gradient together
    (the last point is cached, so scipy's separate calls cost one evaluation); ``hessp`` is
    an exact compiled HVP, given to the methods that take it (Newton-CG, trust-ncg,
    trust-krylov, trust-constr). Other ``feed`` entries (data) stay fixed; ``kwargs`` go to
    scipy. The result is scipy's, with ``params``: the optimum as {variable name: array}.

    >>> import graph as G, rop.scipy
    >>> w = G.var("w", (2,))
    >>> result = rop.scipy.minimize(G.sum((w - 3.0) ** 2), w, {"w": [0.0, 1.0]})
    >>> result.success, result.params["w"]
    (True, array([3., 3.]))
    """
    targets = _variables(wrt, "minimize")
    point = _point(f, targets, feed, "minimize")
    fun, jac = _loss_and_gradient(f, targets, point)
    if isinstance(method, str) and method.lower() in HESSP_METHODS:
        kwargs.setdefault("hessp", _hessp(f, targets, point))
    x0 = Layout(targets).pack([point[t.name] for t in targets])
    result = scipy.optimize.minimize(fun, x0, method=method, jac=jac, **kwargs)
    result.params = Layout(targets).named(result.x)
    return result


def _loss_and_gradient(f, targets, point):
    """(fun, jac) sharing one compiled program and a cache of the last point."""
    program = G.compile([f] + grad(f, targets))
    layout = Layout(targets)
    last = {}

    def at(x):
        # scipy calls fun and jac separately at each point; NaNs equal: a NaN point repeats.
        # x is copied: a minimizer may update its iterate in place
        if "x" not in last or not np.array_equal(last["x"], x, equal_nan=True):
            values = program({**point, **layout.named(x)})
            last.update(x=np.array(x, dtype=float), f=float(values[0]),
                        g=layout.pack(values[1:]))
        return last

    # the gradient is handed out as a copy: nothing the minimizer does to it reaches the cache
    return (lambda x: at(x)["f"]), (lambda x: at(x)["g"].copy())


def _hessp(f, targets, point):
    """hessp(x, p) = H(x) p, one call of a compiled HVP program."""
    layout = Layout(targets)
    directions = layout.variables("direction", [f])
    program = G.compile(hvp(f, targets, directions))
    moving = Layout(directions)

    def hessp(x, p):
        return layout.pack(program({**point, **layout.named(x), **moving.named(p)}))

    return hessp


def _operator(build, f, wrt, feed, caller):
    """A symmetric LinearOperator v -> build(targets, direction variables) at ``feed``: the
    point's part computed once (rop.inverse_hessian.AtPoint), each product one call."""
    targets = _variables(wrt, caller)
    layout = Layout(targets)
    directions = layout.variables("direction", [f])
    product = AtPoint(as_list(build(targets, directions))[0], directions,
                      _point(f, targets, feed, caller))

    def matvec(v):
        return layout.pack(product(layout.unpack(v)))

    return scipy.sparse.linalg.LinearOperator((layout.size, layout.size), matvec=matvec,
                                              rmatvec=matvec, dtype=layout.dtype)


def _variables(wrt, caller):
    """``wrt`` as a list of variables, or a TypeError naming the first entry that is not."""
    targets, _ = as_list(wrt)
    for t in targets:
        if not t.is_var:
            raise TypeError(f"{caller}: wrt must hold variables, got {t!r}")
    return targets


def _point(f, targets, feed, caller):
    """{name: array} for every variable of ``f`` and every target, shapes checked."""
    needed = variables([f] + targets)
    try:
        arrays = resolve_feed(needed, feed)
    except FeedError as error:
        raise FeedError(f"{caller}: {error}") from None
    # copies: the operator stays at this point if the caller updates the arrays in place
    return {v.name: np.array(x) for v, x in zip(needed, arrays)}
