"""Tensor contractions with numpy's semantics: tensordot (pairs of axes summed over) and
einsum (explicit subscripts). Both are multilinear, so each derivative rule is a contraction
of the same kind with one operand replaced: the tangent, or the output's cotangent."""

import itertools
import string

import numpy as np
import sympy

from ..domains import REALS, Example, NoInverse
from ..errors import AxisError, NotInvertibleError, ShapeError
from ..op import define_op
from ..shapes import normalize_axes
from .linalg import _solve_a, _solve_b
from .structure import broadcast_to, reshape, transpose

LETTERS = string.ascii_letters  # einsum's index letters, as numpy reads them
MAX_OPERANDS = 32  # einsum's operands (numpy's own einsum takes no more)


# -- einsum subscripts --------------------------------------------------------------------
def _split(subscripts):
    """(operand terms, output term) of canonical subscripts ``"ij,jk->ik"``."""
    inputs, output = subscripts.split("->")
    return inputs.split(","), output


def _parse(subscripts, shapes):
    """The canonical form of explicit subscripts for operands of these shapes, or an error
    naming what einsum here does not take (implicit output, ``...``, a repeated letter)."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string such as 'ij,jk->ik', got "
                        f"{subscripts!r}")
    text = subscripts.replace(" ", "")
    if "." in text:
        raise ValueError(f"einsum: ellipsis (...) is not supported in {subscripts!r}: write a "
                         f"letter for every axis")
    if text.count("->") != 1:
        raise ValueError(f"einsum: subscripts {subscripts!r} must name the output explicitly, "
                         f"once, after '->' (e.g. 'ij,jk->ik'); implicit output is not "
                         f"supported")
    terms, output = _split(text)
    for term in terms + [output]:
        if any(c not in LETTERS for c in term):
            raise ValueError(f"einsum: subscripts {subscripts!r} may only hold letters, "
                             f"commas and '->'")
        if len(set(term)) != len(term):
            raise ValueError(f"einsum: a letter repeats within {term!r} in {subscripts!r}: "
                             f"diagonals, traces and repeated output axes are not supported")
    if len(terms) != len(shapes):
        raise ShapeError(f"einsum: subscripts {subscripts!r} name {len(terms)} operand(s), "
                         f"got {len(shapes)}")
    if len(shapes) > MAX_OPERANDS:
        raise ShapeError(f"einsum: at most {MAX_OPERANDS} operands, got {len(shapes)}")
    sizes = {}
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        if len(term) != len(shape):
            raise ShapeError(f"einsum: operand {i} has shape {shape}, but its subscripts "
                             f"{term!r} name {len(term)} axes")
        for letter, size in zip(term, shape):
            if sizes.setdefault(letter, size) != size:
                raise ShapeError(f"einsum: letter {letter!r} has lengths {sizes[letter]} and "
                                 f"{size} in operands of shapes {', '.join(map(str, shapes))}")
    missing = [c for c in output if c not in sizes]
    if missing:
        raise ValueError(f"einsum: output letter {missing[0]!r} of {subscripts!r} appears in "
                         f"no operand")
    return ",".join(terms) + "->" + output


def _einsum_shape(*shapes, subscripts):
    terms, output = _split(subscripts)
    sizes = {c: d for term, shape in zip(terms, shapes) for c, d in zip(term, shape)}
    return tuple(sizes[c] for c in output)


def _einsum_objects(subscripts, *arrays):
    """einsum on object arrays of sympy expressions, written out as its definition: each
    output entry is the sum over the summed letters of the product of the operands."""
    terms, output = _split(subscripts)
    sizes = {c: d for term, a in zip(terms, arrays) for c, d in zip(term, a.shape)}
    summed = sorted({c for term in terms for c in term} - set(output))
    out = np.empty(tuple(sizes[c] for c in output), dtype=object)
    for index in np.ndindex(*out.shape):
        fixed = dict(zip(output, index))
        products = []
        for rest in itertools.product(*(range(sizes[c]) for c in summed)):
            at = {**fixed, **dict(zip(summed, rest))}
            products.append(sympy.Mul(*(a[tuple(at[c] for c in term)]
                                        for a, term in zip(arrays, terms))))
        out[index] = sympy.Add(*products)
    return out


def _einsum_vjp(g, *xs, out, subscripts, index):
    # out = sum over the other letters of prod_j x_j  =>  the cotangent of x_i is g times the
    # other operands, summed down to x_i's letters: an einsum with x_i's term as its output.
    # Letters only x_i has (summed there alone) appear in no other operand: d out / d x_i
    # is constant along them, so the cotangent is spread (broadcast) over them.
    terms, output = _split(subscripts)
    others = [j for j in range(len(xs)) if j != index]
    present = set(output).union(*(terms[j] for j in others))
    term, x = terms[index], xs[index]
    kept = "".join(c for c in term if c in present)
    cotangent = einsum_op(*(xs[j] for j in others), g,
                          subscripts=",".join([terms[j] for j in others] + [output]) + "->" + kept)
    if kept == term:
        return cotangent
    padded = tuple(d if c in present else 1 for c, d in zip(term, x.shape))
    return broadcast_to(reshape(cotangent, shape=padded), shape=x.shape)


def _einsum_batch(*xs, batched, subscripts):
    """A fresh letter for the batch axis, leading each batched operand and the output."""
    terms, output = _split(subscripts)
    free = [c for c in LETTERS if c not in subscripts]
    if not free:
        raise ShapeError(f"einsum: no letter is left for a batch axis in {subscripts!r}")
    b = free[0]
    return einsum_op(*xs, subscripts=",".join(b + t if flag else t for t, flag in
                                              zip(terms, batched)) + "->" + b + output)


def _einsum_axis_map(i, axis, *shapes, subscripts):
    terms, output = _split(subscripts)
    letter = terms[i][axis]
    return output.index(letter) if letter in output else None


einsum_op = define_op(
    "einsum", arity=None,
    normalize=lambda *shapes, subscripts: {"subscripts": _parse(subscripts, shapes)},
    shape=_einsum_shape,
    numpy=lambda *xs, subscripts: np.einsum(subscripts, *xs, optimize=True),
    sympy=lambda *xs, subscripts: _einsum_objects(subscripts, *xs),
    # linear in each operand: R{out} is the einsum with that operand replaced by its tangent
    rop=lambda dx, *xs, out, subscripts, index: einsum_op(*xs[:index], dx, *xs[index + 1:],
                                                          subscripts=subscripts),
    vjp=_einsum_vjp,
    inverse=NoInverse("einsum is not solved for an operand: what a solve needs (a division, "
                      "a matrix of full rank) depends on the subscripts; tensordot and matmul "
                      "solve with their rank checked"),
    # linear in each operand on its own, whichever operands the subscripts name
    batch=_einsum_batch, multilinear=tuple(range(MAX_OPERANDS)), axis_map=_einsum_axis_map,
    domain=REALS,
    # the unary example first: the registry sweep counts rules by the first example's arity
    examples=[Example(((2, 3),), {"subscripts": "ij->j"}),
              Example(((2, 3), (3, 2)), {"subscripts": "ij,jk->ki"}),
              Example(((2,), (2, 2), (2,)), {"subscripts": "i,ij,j->"}),
              Example(((2, 2), (), (2,)), {"subscripts": "ij,,k->kj"})],
    code=lambda *xs, subscripts: f"np.einsum({subscripts!r}, {', '.join(xs)}, optimize=True)",
    doc="out = np.einsum(subscripts, *operands) for explicit subscripts ('ij,jk->ik'): the "
        "product of the operands summed over the letters missing from the output; letters "
        "only, each at most once per operand and in the output; linear in each operand",
)


def einsum(subscripts, *operands):
    """``np.einsum(subscripts, *operands)`` as a node, for explicit subscripts only.

    Every operand axis has a letter; letters shared by operands have equal lengths and
    letters missing from the output (after ``->``) are summed over. Implicit output, ``...``
    and a letter repeated within one operand (diagonals, traces) are refused.

    >>> import graph as G, numpy as np
    >>> a, b = G.const(np.arange(6.0).reshape(2, 3)), G.const(np.ones((3, 2)))
    >>> G.evaluate(G.einsum("ij,jk->ki", a, b))
    array([[ 3., 12.],
           [ 3., 12.]])
    """
    return einsum_op(*operands, subscripts=subscripts)


# -- tensordot ----------------------------------------------------------------------------
def _tensordot_axes(a, b, axes=2):
    """((a's summed axes), (b's)) paired in order, from numpy's forms: n (a's last n with
    b's first n), or a pair of axes or of sequences of axes."""
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, (bool, np.bool_)):
        if not 0 <= axes <= min(len(a), len(b)):
            raise AxisError(f"tensordot: axes={axes} cannot sum over the last {axes} axes of "
                            f"{a} with the first {axes} of {b}")
        return {"axes": (tuple(range(len(a) - axes, len(a))), tuple(range(int(axes))))}
    if not isinstance(axes, (tuple, list)) or len(axes) != 2:
        raise TypeError(f"tensordot: axes must be an integer or a pair (axes of a, axes of "
                        f"b), got {axes!r}")
    summed_a, summed_b = (normalize_axes(x, len(s), "tensordot") for x, s in zip(axes, (a, b)))
    if len(summed_a) != len(summed_b):
        raise AxisError(f"tensordot: axes {axes!r} pair {len(summed_a)} axes of a with "
                        f"{len(summed_b)} of b")
    return {"axes": (summed_a, summed_b)}


def _free(ndim, summed):
    return tuple(i for i in range(ndim) if i not in summed)


def _tensordot_shape(a, b, axes):
    for i, j in zip(*axes):
        if a[i] != b[j]:
            raise ShapeError(f"tensordot: shapes {a} and {b} do not align: axis {i} of a has "
                             f"length {a[i]}, axis {j} of b has {b[j]}")
    return tuple(a[i] for i in _free(len(a), axes[0])) + tuple(b[j] for j in
                                                               _free(len(b), axes[1]))


def _tensordot_subscripts(na, nb, axes):
    """tensordot as einsum subscripts: b's summed axes share the letters of a's."""
    letters = iter(LETTERS)
    a = [next(letters) for _ in range(na)]
    b = [a[axes[0][axes[1].index(j)]] if j in axes[1] else next(letters, None)
         for j in range(nb)]
    if None in b:
        raise ShapeError(f"tensordot: operands of rank {na} and {nb} need more than "
                         f"{len(LETTERS)} einsum letters")
    out = [a[i] for i in _free(na, axes[0])] + [b[j] for j in _free(nb, axes[1])]
    return "".join(a) + "," + "".join(str(letter) for letter in b) + "->" + "".join(
        str(letter) for letter in out)


def _vjp_tensordot_a(g, a, b, *, out, axes):
    # g has a's free axes then b's: summing g against b over b's free axes leaves a's free
    # axes, then a's summed axes in the order of b's axes they pair with; transposed back
    nfa, free_b = len(_free(a.ndim, axes[0])), _free(b.ndim, axes[1])
    partial = tensordot(g, b, axes=(tuple(range(nfa, g.ndim)), free_b))
    order = _free(a.ndim, axes[0]) + tuple(axes[0][axes[1].index(j)] for j in sorted(axes[1]))
    return transpose(partial, axes=tuple(np.argsort(order)))


def _vjp_tensordot_b(g, a, b, *, out, axes):
    nfa = len(_free(a.ndim, axes[0]))
    partial = tensordot(a, g, axes=(_free(a.ndim, axes[0]), tuple(range(nfa))))
    order = tuple(axes[1][axes[0].index(i)] for i in sorted(axes[0])) + _free(b.ndim, axes[1])
    return transpose(partial, axes=tuple(np.argsort(order)))


def _batch_tensordot(a, b, *, batched, axes):
    """A leading batch axis of one operand is a free axis: shift the summed axes past it
    (and move it to the front for b). Both batched: an einsum with a batch letter."""
    if all(batched):
        return _einsum_batch(a, b, batched=batched,
                             subscripts=_tensordot_subscripts(a.ndim - 1, b.ndim - 1, axes))
    if batched[0]:
        return tensordot(a, b, axes=(tuple(i + 1 for i in axes[0]), axes[1]))
    out = tensordot(a, b, axes=(axes[0], tuple(j + 1 for j in axes[1])))
    nfa = a.ndim - len(axes[0])
    return transpose(out, axes=(nfa,) + tuple(i for i in range(out.ndim) if i != nfa))


def _tensordot_axis_map(i, axis, a, b, axes):
    free = _free(len((a, b)[i]), axes[i])
    if axis not in free:
        return None
    return free.index(axis) + (0 if i == 0 else len(a) - len(axes[0]))


# out = tensordot(a, b) is the matrix product A B of a with its free axes first, flattened
# to rows, and b with its summed axes first, flattened to columns; solving for one operand
# is matmul's solve (with its rank checks), reshaped back
def _matrices(a, b, axes):
    free_a, free_b = _free(a.ndim, axes[0]), _free(b.ndim, axes[1])
    rows, inner, cols = (int(np.prod([x.shape[i] for i in which]))
                         for x, which in ((a, free_a), (a, axes[0]), (b, free_b)))
    a2 = reshape(transpose(a, axes=free_a + axes[0]), shape=(rows, inner))
    b2 = reshape(transpose(b, axes=axes[1] + free_b), shape=(inner, cols))
    return a2, b2


def _unflatten(m, x, order):
    """The matrix ``m`` back to ``x``'s shape, its axes having been laid out in ``order``."""
    laid_out = reshape(m, shape=tuple(x.shape[i] for i in order))
    return transpose(laid_out, axes=tuple(np.argsort(order)))


def _solve(rule, out, a, b, axes):
    a2, b2 = _matrices(a, b, axes)
    try:
        return rule(reshape(out, shape=(a2.shape[0], b2.shape[1])), a2, b2)
    except NotInvertibleError as reason:
        raise NotInvertibleError(f"tensordot read as the matrix product {a2.shape} @ "
                                 f"{b2.shape}: {reason}") from None


def _inverse_a(out, a, b, *, axes):
    return _unflatten(_solve(_solve_a, out, a, b, axes), a, _free(a.ndim, axes[0]) + axes[0])


def _inverse_b(out, a, b, *, axes):
    return _unflatten(_solve(_solve_b, out, a, b, axes), b, axes[1] + _free(b.ndim, axes[1]))


tensordot = define_op(
    "tensordot", arity=2, normalize=_tensordot_axes, shape=_tensordot_shape,
    numpy=lambda a, b, axes: np.tensordot(a, b, axes=(list(axes[0]), list(axes[1]))),
    array_api=lambda xp, a, b, axes: xp.tensordot(a, b, axes=axes),
    sympy=lambda a, b, axes: _einsum_objects(_tensordot_subscripts(a.ndim, b.ndim, axes),
                                             a, b),
    rop=(lambda da, a, b, *, out, axes: tensordot(da, b, axes=axes),
         lambda db, a, b, *, out, axes: tensordot(a, db, axes=axes)),
    vjp=(_vjp_tensordot_a, _vjp_tensordot_b),
    inverse=(_inverse_a, _inverse_b),
    batch=_batch_tensordot, multilinear=(0, 1), axis_map=_tensordot_axis_map,
    domain=REALS,
    examples=[Example(((2, 2), (2, 2)), {"axes": 1}), Example(((2,), (2,)), {"axes": 0}),
              Example(((2, 3), (3,)), {"axes": 1}),
              Example(((2, 3), (3, 2)), {"axes": ((1, 0), (0, 1))}),
              Example(((2, 2, 2), (2, 2)), {"axes": ((0, 2), (1, 0))})],
    code=lambda a, b, axes: f"np.tensordot({a}, {b}, axes={[list(x) for x in axes]!r})",
    doc="out = np.tensordot(a, b, axes): a and b multiplied and summed over paired axes "
        "(axes=n: a's last n with b's first n; or (axes of a, axes of b)); a's free axes, "
        "then b's; invertible in an operand when the other, read as a matrix, has the full "
        "rank the solve needs (as matmul)",
)
