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
from graph.leaves import var
from graph.node import Node
from graph.traverse import as_list, fresh_names, variables

from .backprop import grad
from .hessian import ggn_vp, hvp
from .inverse_hessian import inverse_hessian

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
    x0 = _pack([point[t.name] for t in targets])
    result = scipy.optimize.minimize(fun, x0, method=method, jac=jac, **kwargs)
    result.params = _unpack(result.x, targets)
    return result


def _loss_and_gradient(f, targets, point):
    """(fun, jac) sharing one compiled program and a cache of the last point."""
    program = G.compile([f] + grad(f, targets))
    last = {}

    def at(x):
        # scipy calls fun and jac separately at each point; NaNs equal: a NaN point repeats.
        # x is copied: a minimizer may update its iterate in place
        if "x" not in last or not np.array_equal(last["x"], x, equal_nan=True):
            values = program({**point, **_unpack(x, targets)})
            last.update(x=np.array(x, dtype=float), f=float(values[0]), g=_pack(values[1:]))
        return last

    # the gradient is handed out as a copy: nothing the minimizer does to it reaches the cache
    return (lambda x: at(x)["f"]), (lambda x: at(x)["g"].copy())


def _hessp(f, targets, point):
    """hessp(x, p) = H(x) p, one call of a compiled HVP program."""
    directions = _directions(f, targets)
    program = G.compile(hvp(f, targets, directions))

    def hessp(x, p):
        return _pack(program({**point, **_unpack(x, targets), **_unpack(p, directions)}))

    return hessp


def _operator(build, f, wrt, feed, caller):
    """A symmetric LinearOperator v -> build(targets, direction variables) at ``feed``."""
    targets = _variables(wrt, caller)
    point = _point(f, targets, feed, caller)
    directions = _directions(f, targets)
    program = G.compile(as_list(build(targets, directions))[0])

    def matvec(v):
        return _pack(program({**point, **_unpack(v, directions)}))

    n = sum(t.size for t in targets)
    return scipy.sparse.linalg.LinearOperator((n, n), matvec=matvec, rmatvec=matvec,
                                              dtype=np.float64)


def _variables(wrt, caller):
    """``wrt`` as a list of variables, or a TypeError naming the first entry that is not."""
    targets, _ = as_list(wrt)
    for t in targets:
        if not t.is_var:
            raise TypeError(f"{caller}: wrt must hold variables, got {t!r}")
    return targets


def _point(f, targets, feed, caller):
    """{name: array} for every variable of ``f`` and every target, shapes checked."""
    by_name = {k.name if isinstance(k, Node) else k: x for k, x in (feed or {}).items()}
    needed = variables([f] + targets)
    missing = [v.name for v in needed if v.name not in by_name]
    if missing:
        raise FeedError(f"{caller}: no value fed for variable(s) {', '.join(missing)} "
                        f"(feed has: {', '.join(map(str, by_name)) or 'nothing'})")
    # copies: the operator stays at this point if the caller updates the arrays in place
    return {v.name: x.copy() for v, x in zip(needed, resolve_feed(needed, by_name))}


def _directions(f, targets):
    """Fresh direction variables shaped like the targets (names unused in ``f``)."""
    names = fresh_names([f] + targets, "direction", len(targets))
    return [var(name, t.shape) for name, t in zip(names, targets)]


def _pack(arrays):
    return np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])


def _unpack(x, nodes):
    """{name: array} from the flat vector ``x`` split and reshaped like ``nodes``."""
    parts = np.split(np.asarray(x, dtype=float).ravel(), np.cumsum([n.size for n in nodes])[:-1])
    return {n.name: part.reshape(n.shape) for n, part in zip(nodes, parts)}
