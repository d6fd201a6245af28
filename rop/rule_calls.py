"""check_op runs the op's own code (forms, rules, shape rule): when that code raises, or
returns a value of a shape that cannot be the answer, the error names the op, the rule, the
example and, for the usual mistakes, what to change, instead of failing deep inside."""

from __future__ import annotations

import contextlib

import numpy as np

from graph.errors import RuleCheckError
from graph.leaves import as_node

# known causes, recognized from the error's text, and what to do about them
_HINTS = (
    ("does not support ufuncs", "rules build graph nodes: use graph's ops and operators on "
                                "nodes (G.exp(x), x * y), never numpy functions"),
    ("unexpected keyword argument", "see the rule conventions in docs/new_op.md"),
    ("required positional argument", "see the rule conventions in docs/new_op.md"),
)
SYMPY_FORM = ("the sympy form receives one numpy object array of sympy expressions per operand "
              "and returns one; graph.sympy_elementwise(fn, nin) lifts a function of scalars")


@contextlib.contextmanager
def running(op, what: str, where: str, hint: str = "", passing=()):
    """Run the op's code ``what`` (e.g. "vjp[1]") on the example ``where``; anything it
    raises, but RuleCheckError and the exceptions ``passing``, becomes a RuleCheckError
    naming them."""
    try:
        yield
    except (RuleCheckError, *passing):
        raise
    except Exception as error:
        text = f"{type(error).__name__}: {error}"
        hints = [h for pattern, h in _HINTS if pattern in str(error)] + ([hint] if hint else [])
        raise RuleCheckError(f"{what} of {op.name!r} on {where} raised {text}"
                             + "".join(f"; {h}" for h in hints)) from error


def broadcasts_to(shape, target) -> bool:
    """Whether numpy broadcasts ``shape`` to ``target`` (without changing ``target``)."""
    try:
        return tuple(np.broadcast_shapes(tuple(shape), tuple(target))) == tuple(target)
    except ValueError:
        return False


def check_tangent(op, what, where, result, out_shape):
    """An R-op rule's result must broadcast to the output's shape."""
    if result is not None and not broadcasts_to(as_node(result).shape, out_shape):
        raise RuleCheckError(f"{what} of {op.name!r} on {where} returns shape "
                             f"{as_node(result).shape}, which does not broadcast to the "
                             f"output's shape {out_shape}: an R-op rule returns the operand's "
                             f"contribution to the output's tangent")


def check_cotangent(op, what, where, result, shape):
    """A VJP rule's result must be the operand's shape, or one it broadcasts to (the
    transformations sum it down)."""
    if result is not None and not broadcasts_to(shape, as_node(result).shape):
        raise RuleCheckError(f"{what} of {op.name!r} on {where} returns shape "
                             f"{as_node(result).shape} for an operand of shape {shape}: a "
                             f"VJP rule returns the operand's cotangent, of its shape (or one "
                             f"it broadcasts to, summed down by the transformations)")


def check_solved(op, i, where, solved, shapes, out_shape):
    """An inverse rule's result must broadcast to the operand's shape; when the output
    broadcasts the operand, the op must say so (broadcasts=True) so that no inverse is
    asked to solve for a broadcast operand."""
    shape = shapes[i]
    if broadcasts_to(as_node(solved).shape, shape):
        return
    hint = ""
    if not op.broadcasts and shape != out_shape and _is_broadcast(shapes, out_shape):
        hint = (f"; the output {out_shape} broadcasts operand {i} {shape}: declare "
                f"broadcasts=True (graph.broadcast_op does), and rop will not solve for a "
                f"broadcast operand, whose entries are repeated")
    raise RuleCheckError(f"inverse[{i}] of {op.name!r} on {where} returns shape "
                         f"{as_node(solved).shape}, not the operand's shape {shape}{hint}")


def _is_broadcast(shapes, out_shape) -> bool:
    try:
        return tuple(np.broadcast_shapes(*shapes)) == tuple(out_shape)
    except ValueError:
        return False
