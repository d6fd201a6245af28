"""Family helpers: the glue every elementwise or broadcasting op would otherwise repeat
(sympy lifting, derivative rules from one derivative, batching, axis maps). Public, so
that users define their ops the way the library does (docs/new_op.md)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..domains import REALS, Example
from ..op import Op, define_op
from ..shapes import aligned_axis, broadcast_shape, object_array
from .structure import pad_batched


def sympy_elementwise(scalar_fn: Callable, nin: int) -> Callable:
    """Lift a sympy function of scalars to object arrays, with numpy broadcasting.

    >>> import sympy
    >>> sympy_elementwise(sympy.exp, 1)(np.array([sympy.Symbol("a"), 0], dtype=object))
    array([exp(a), 1], dtype=object)
    """

    def lifted(*arrays, **params):
        ufunc = np.frompyfunc(lambda *xs: scalar_fn(*xs, **params), nin, 1)
        return object_array(ufunc(*arrays))

    return lifted


def batch_elementwise(op: Op, inputs, batched, params):
    """The batching rule of an elementwise op with numpy broadcasting: batched operands
    (k, *s) are padded to the output's rank, so the batch axis leads the result."""
    ndim = max(x.ndim - b for x, b in zip(inputs, batched))
    return op(*(pad_batched(x, ndim) if b else x for x, b in zip(inputs, batched)), **params)


def elementwise_op(name: str, *, numpy, sympy, deriv, inverse, domain=REALS,
                   params_examples=({},), **extra) -> Op:
    """A unary elementwise op from its derivative ``deriv(x, out, **params)`` (a node).

    R{out} = deriv * dx and the cotangent of x is g * deriv; the derivative may read the
    forward value ``out`` (tanh' = 1 - out**2). The batching rule, the axis map and the
    ``elementwise`` property come with the family. ``replace=True`` re-registers a name.

    >>> import graph as G, sympy
    >>> softsign = G.elementwise_op(
    ...     "softsign_doc", numpy=lambda x: x / (1 + np.abs(x)),
    ...     sympy=lambda x: x / (1 + sympy.Abs(x)),
    ...     deriv=lambda x, out: 1 / (1 + G.abs(x)) ** 2,
    ...     inverse=lambda out, x: out / (1 - G.abs(out)), doc="x / (1 + |x|)", replace=True)
    >>> float(G.evaluate(softsign(G.const(1.0))))
    0.5
    """
    def batch(*inputs, batched, **params):
        return batch_elementwise(op, inputs, batched, params)

    op = define_op(
        name, arity=1, numpy=numpy, shape=lambda s, **p: s,
        sympy=sympy_elementwise(sympy, 1),
        rop=extra.pop("rop", lambda dx, x, *, out, **p: deriv(x, out, **p) * dx),
        vjp=extra.pop("vjp", lambda g, x, *, out, **p: g * deriv(x, out, **p)),
        inverse=inverse, domain=domain, batch=extra.pop("batch", batch),
        elementwise=True, axis_map=lambda i, axis, s, **p: axis,
        # numpy's ufuncs dispatch to dask; any other forward (np.vectorize, math.erf)
        # runs chunk by chunk, which an elementwise op always allows
        dask=extra.pop("dask", "native" if isinstance(numpy, np.ufunc) else "blocks"),
        examples=extra.pop("examples", [Example(((2,),), p) for p in params_examples]),
        **extra,
    )
    return op


def broadcast_op(name: str, *, sympy, **spec) -> Op:
    """A binary elementwise op with numpy broadcasting (``sympy`` acts on scalars).

    Supplies the shape rule, the batching rule, the axis map, the ``elementwise`` property
    and examples with broadcasting shapes; ``spec`` gives the rest (numpy, rop, vjp,
    inverse, domain, doc, ...). See docs/new_op.md for a complete example.
    """
    def batch(*inputs, batched, **params):
        return batch_elementwise(op, inputs, batched, params)

    op = define_op(
        name, arity=2, shape=lambda a, b, **p: broadcast_shape(name, a, b), broadcasts=True,
        sympy=sympy_elementwise(sympy, 2), batch=spec.pop("batch", batch),
        elementwise=True,
        axis_map=lambda i, axis, a, b, **p: aligned_axis(axis, (a, b)[i],
                                                         broadcast_shape(name, a, b)),
        examples=spec.pop("examples", [Example(((), ())), Example(((2, 3), (3,))),
                                       Example(((2, 1), (1, 3)))]),
        **spec,
    )
    return op
