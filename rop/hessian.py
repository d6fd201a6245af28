"""Second derivatives by composition: hvp = R(grad) (Pearlmutter 1994), Gauss-Newton
products, the dense Hessian (the naive reference) and finite-difference HVPs."""

from __future__ import annotations

import functools

import numpy as np

from graph import evaluate, ops
from graph.errors import ShapeError
from graph.feed import feed_by_name
from graph.leaves import as_node, var
from graph.substitute import substitute
from graph.traverse import as_list, fresh_names, match_variables, restore

from .backprop import grad, vjp
from .batching import dense_map, flatten, vmap
from .forward import jvp
from .layout import Layout


def _directions(f, wrt, v, caller):
    """(list of wrt nodes, list of direction nodes, whether single) with shapes checked."""
    targets, single = as_list(wrt)
    targets = match_variables([f], targets, caller)
    vs = [v] if single else list(v)
    if len(vs) != len(targets):
        raise ValueError(f"{caller}: {len(targets)} parameter tensors but {len(vs)} directions")
    vs = [as_node(d, like=t.dtype) for t, d in zip(targets, vs)]
    for t, d in zip(targets, vs):
        if t.shape != d.shape:
            raise ShapeError(f"{caller}: direction of shape {d.shape} given for {t!r} of shape "
                             f"{t.shape}")
    return targets, vs, single


def hvp(f, wrt, v, mode: str = "fwd-rev", batched: bool = False):
    """The exact Hessian-vector product H v of a scalar ``f``, as graph nodes.

    ``mode="fwd-rev"`` (default) applies the R-operator to the gradient graph (Pearlmutter);
    ``"rev-rev"`` differentiates <grad f, v> again by backprop. ``wrt`` and ``v`` may be
    lists (the Hessian across all the tensors); ``v`` may hold arrays or nodes.

    >>> import graph as G, rop
    >>> x = G.var("x", (2,))
    >>> f = G.sum(x ** 3)                       # H = diag(6 x)
    >>> G.evaluate(rop.hvp(f, x, [1.0, 1.0]), {"x": [1.0, 2.0]})
    array([ 6., 12.])
    """
    if mode not in ("fwd-rev", "rev-rev"):
        raise ValueError(f"hvp: mode must be 'fwd-rev' or 'rev-rev', got {mode!r}")
    if batched:
        return _hvp_batched(f, wrt, v, mode)
    targets, vs, single = _directions(f, wrt, v, "hvp")
    gradients = grad(f, targets)
    if mode == "fwd-rev":
        return restore(jvp(gradients, dict(zip(targets, vs))), single)
    # H v = grad <grad f, v> with v held fixed: v may itself depend on wrt (v = grad f, say),
    # so it enters as fresh variables, put back after differentiating
    held = [var(name, d.shape, d.dtype) for name, d in
            zip(fresh_names([f, *vs], "held_direction", len(vs)), vs)]
    inner = functools.reduce(ops.add, [ops.sum(g * d) for g, d in zip(gradients, held)])
    return restore(substitute(grad(inner, targets), dict(zip(held, vs))), single)


def ggn_vp(f, output, wrt, v):
    """The Gauss-Newton product J^T (d^2 f / d output^2) J v, J = d output / d wrt.

    ``output`` is a node inside ``f``'s graph (e.g. the network's prediction). Only
    curvature through ``output`` is kept: G is positive semi-definite when f is convex in
    ``output``.

    >>> import graph as G, rop
    >>> w = G.var("w", (2,))
    >>> z = G.tanh(w)
    >>> f = 0.5 * G.sum(z * z)                  # G = diag(1 - tanh(w)^2)^2
    >>> G.evaluate(rop.ggn_vp(f, z, w, [1.0, 1.0]), {"w": [0.0, 0.0]})
    array([1., 1.])
    """
    targets, vs, single = _directions(f, wrt, v, "ggn_vp")
    jv = jvp(output, dict(zip(targets, vs)))
    z = var(fresh_names([f, output], "ggn_output", 1)[0], output.shape, output.dtype)
    f_of_z = substitute(f, {output: z})
    curvature_jv = substitute(jvp(grad(f_of_z, z), {z: jv}), {z: output})
    out = vjp(output, targets, curvature_jv)
    return out[0] if single else out


def _hvp_batched(f, wrt, V, mode):
    """H V for k directions at once: ``V`` shaped (k, *wrt.shape) (a list for a list)."""
    targets, single = as_list(wrt)
    layout = Layout(match_variables([f], targets, "hvp"), single)
    Vs = [as_node(d) for d in ([V] if single else list(V))]
    if len(Vs) != len(layout.nodes) or any(d.shape[1:] != t.shape or d.ndim != t.ndim + 1
                                           for d, t in zip(Vs, layout.nodes)):
        raise ShapeError(f"hvp(batched=True): V must be shaped (k, *shape) for the "
                         f"parameter shapes {layout.shapes_text()}; got "
                         f"{', '.join(str(d.shape) for d in Vs)}")
    directions = layout.variables("batched_direction", [f, *Vs])
    return restore(vmap(hvp(f, layout.nodes, directions, mode=mode),
                        dict(zip(directions, Vs))), single)


def hessian(f, wrt):
    """The dense Hessian of scalar ``f`` as an (n, n) node, in batched HVP passes.

    n is the total size of ``wrt`` (tensors flattened and concatenated in order). One pass
    applies the HVP graph to a chunk of basis directions at once (rop.vmap), chunks sized
    so that no intermediate exceeds rop.batching.CHUNK_BYTES.

    >>> import graph as G, rop
    >>> x = G.var("x", (2,))
    >>> G.evaluate(rop.hessian(x[0] * x[1], x), {"x": [1.0, 2.0]})
    array([[0., 1.],
           [1., 0.]])
    """
    targets, _ = as_list(wrt)
    layout = Layout(match_variables([f], targets, "hessian"))
    directions = layout.variables("hessian_direction", [f])
    # H is symmetric: its rows are the HVPs of the basis vectors
    return dense_map(flatten(hvp(f, layout.nodes, directions)), directions, layout)



def fd_hvp(f, wrt, v, feed, r: float = 1e-5, scheme: str = "central"):
    """A finite-difference Hessian-vector product, for comparison studies (numbers).

    ``central``: (g(w + r/2 v) - g(w - r/2 v)) / r; ``forward``: (g(w + r v) - g(w)) / r,
    with g the gradient. Truncation error O(r^2) (or O(r)) against round-off O(eps / r):
    about half the digits are lost, which is why rop computes H v exactly.
    """
    targets, single = as_list(wrt)
    vs = [v] if single else list(v)
    gradients = grad(f, targets)
    base = {name: np.asarray(x, float) for name, x in feed_by_name(feed).items()}

    def gradient_at(step):
        moved = dict(base)
        for t, d in zip(targets, vs):
            moved[t.name] = base[t.name] + step * np.asarray(d, float)
        return evaluate(gradients, moved)

    if scheme == "central":
        plus, minus = gradient_at(r / 2), gradient_at(-r / 2)
    elif scheme == "forward":
        plus, minus = gradient_at(r), gradient_at(0.0)
    else:
        raise ValueError(f"fd_hvp: scheme must be 'central' or 'forward', got {scheme!r}")
    out = [(a - b) / r for a, b in zip(plus, minus)]
    return out[0] if single else out
