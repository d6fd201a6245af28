"""tensordot, einsum, N-D matmul, take, scatter_add and node[integer array]: values against
numpy, gradients and JVPs against high-order finite differences, both HVP modes against
dense sympy Hessians, inverses, saving, and refusals."""

import numpy as np
import pytest
import sympy
from oracles import close, directional_difference

import graph as G
import rop
from graph.symbolic import symbol_array

# Richardson-extrapolated central differences (h = 1e-3) err by O(h^4) ~ 1e-12 plus a
# round-off of O(eps |f| / h) ~ 1e-13 for the O(1) values here: 1e-7 leaves a margin of four
# orders, while a wrong rule is off by O(1)
RTOL_FD = 1e-7
# the sympy Hessian, evaluated in float64, against the graph: rounding of a few dozen
# operations per entry
RTOL_EXACT = 1e-10


def _point(shapes, seed):
    rng = np.random.default_rng(seed)
    variables = [G.var(f"x{i}", s) for i, s in enumerate(shapes)]
    return variables, {x.name: rng.uniform(-1.5, 1.5, size=x.shape) for x in variables}, rng


def _scalar(y, rng):
    """A smooth, non-quadratic scalar of y: its Hessian mixes every operand."""
    weights = G.const(rng.normal(size=y.shape))
    return G.sum(G.tanh(y) * weights)


def check_derivatives(f, variables, point, rng):
    """grad and jvp of a scalar f against a Richardson-extrapolated central difference."""
    direction = {x.name: rng.normal(size=x.shape) for x in variables}
    fd = directional_difference(f, point, direction)
    jv = G.evaluate(rop.jvp(f, {x: G.const(direction[x.name]) for x in variables}), point)
    gradients = G.evaluate(rop.grad(f, variables), point)
    pairing = sum(np.sum(g * direction[x.name]) for g, x in zip(gradients, variables))
    assert close(jv, fd, RTOL_FD) and close(pairing, fd, RTOL_FD), (jv, pairing, fd)


def dense_hessian(f, variables, point):
    """sympy.hessian of the graph's sympy expression, at the point."""
    symbols = [s for x in variables for s in symbol_array(x.name, x.shape).ravel()]
    hessian = sympy.hessian(G.to_sympy(f), symbols)
    values = np.concatenate([point[x.name].ravel() for x in variables])
    return np.array(sympy.lambdify(symbols, hessian, "numpy")(*values), dtype=float)


def check_hvps(f, variables, point, rng, hessian=None):
    """Both HVP modes against H v, H the dense sympy Hessian unless given."""
    hessian = dense_hessian(f, variables, point) if hessian is None else hessian
    v = [rng.normal(size=x.shape) for x in variables]
    expected = hessian @ np.concatenate([d.ravel() for d in v])
    for mode in ("fwd-rev", "rev-rev"):
        hv = G.evaluate(rop.hvp(f, variables, v, mode=mode), point)
        assert close(np.concatenate([h.ravel() for h in hv]), expected, RTOL_EXACT), mode


def check_all(build, shapes, seed, hvp=True):
    """Derivatives (and HVPs) of a tanh-weighted sum of ``build(*variables)``."""
    variables, point, rng = _point(shapes, seed)
    f = _scalar(build(*variables), rng)
    check_derivatives(f, variables, point, rng)
    if hvp:
        check_hvps(f, variables, point, rng)


# -- matmul on stacks -----------------------------------------------------------------------
MATMUL = [((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 5)),
          ((4,), (2, 4, 5)), ((2, 3, 4), (4,)), ((2, 1, 3, 4), (2, 4, 5))]
# the same cases, smaller, for dense sympy Hessians
MATMUL_SMALL = [((2, 2, 3), (3, 2)), ((2, 2, 3), (2, 3, 2)), ((1, 2, 3), (2, 3, 2)),
                ((3,), (2, 3, 2)), ((2, 2, 3), (3,))]


@pytest.mark.parametrize("shapes", MATMUL, ids=str)
def test_matmul_stacks_match_numpy_with_derivatives(shapes):
    variables, point, rng = _point(shapes, 1)
    a, b = variables
    assert close(G.evaluate(a @ b, point), np.matmul(point["x0"], point["x1"]), 1e-14)
    check_derivatives(_scalar(a @ b, rng), variables, point, rng)


@pytest.mark.parametrize("shapes", MATMUL_SMALL, ids=str)
def test_matmul_stacks_hvps_match_sympy(shapes):
    check_all(lambda a, b: a @ b, shapes, 2)


# -- tensordot ----------------------------------------------------------------------------
TENSORDOT = [((3, 4, 5), (4, 5, 2), 2), ((3, 4), (4, 2), 1), ((2, 3), (4, 1), 0),
             ((3, 4, 5), (5, 3, 2), ((0, 2), (1, 0))), ((3, 4), (3,), (0, 0)),
             ((2, 3, 4), (4, 3), ([-1, 1], [0, -1])), ((3,), (3,), 1)]


@pytest.mark.parametrize("a_shape, b_shape, axes", TENSORDOT, ids=str)
def test_tensordot_matches_numpy_with_derivatives(a_shape, b_shape, axes):
    variables, point, rng = _point([a_shape, b_shape], 3)
    y = G.tensordot(*variables, axes=axes)
    assert close(G.evaluate(y, point), np.tensordot(point["x0"], point["x1"], axes=axes), 1e-14)
    check_derivatives(_scalar(y, rng), variables, point, rng)


@pytest.mark.parametrize("a_shape, b_shape, axes", [
    ((2, 2), (2, 3), 1), ((2, 3, 2), (2, 2), ((0, 2), (1, 0))), ((2,), (3,), 0)], ids=str)
def test_tensordot_hvps_match_sympy(a_shape, b_shape, axes):
    check_all(lambda a, b: G.tensordot(a, b, axes=axes), [a_shape, b_shape], 4)


def test_tensordot_default_sums_two_axes():
    a, b = np.ones((2, 3, 4)), np.arange(24.0).reshape(3, 4, 2)
    assert np.array_equal(G.evaluate(G.tensordot(G.const(a), G.var("b", b.shape)), {"b": b}),
                          np.tensordot(a, b))


def test_tensordot_refusals_name_the_op():
    a, b = G.var("a", (2, 3)), G.var("b", (4, 2))
    with pytest.raises(G.ShapeError, match=r"tensordot: shapes \(2, 3\) and \(4, 2\)"):
        G.tensordot(a, b, axes=1)
    with pytest.raises(G.AxisError, match="tensordot"):
        G.tensordot(a, b, axes=3)
    with pytest.raises(G.AxisError, match="tensordot: axis 2"):
        G.tensordot(a, b, axes=((2,), (0,)))
    with pytest.raises(G.AxisError, match="pair 2 axes of a with 1"):
        G.tensordot(a, b, axes=((0, 1), (0,)))
    with pytest.raises(TypeError, match="tensordot: axes must be"):
        G.tensordot(a, b, axes="ij")


def op_inverse(y, i):
    """Operand i of y's op solved by the op's own inverse rule (no fallback)."""
    return y.op.apply_inverse(i, G.var("z", y.shape), y.inputs, y.params)


def test_tensordot_is_solved_with_rank_checks():
    rng = np.random.default_rng(5)
    square = rng.normal(size=(3, 3)) + 3 * np.eye(3)
    x = G.var("x", (3, 2))
    value = rng.normal(size=(3, 2))
    for known in (square, rng.normal(size=(5, 3))):  # a square solve; normal equations
        y = G.tensordot(G.const(known), x, axes=1)
        assert close(G.evaluate(op_inverse(y, 1), {"z": known @ value}), value, 1e-10)
        z, x_of_z = rop.inverse(y, x)
        assert close(G.evaluate(x_of_z, {z.name: known @ value}), value, 1e-10)
    left = G.var("w", (2, 3))
    z, w_of_z = rop.inverse(G.tensordot(left, G.const(square), axes=((1,), (0,))), left)
    assert close(G.evaluate(w_of_z, {z.name: value.T @ square}), value.T, 1e-10)
    with pytest.raises(G.NotInvertibleError, match=r"\(2, 3\) @ \(3, 2\): .* rank at most 2"):
        op_inverse(G.tensordot(G.const(np.ones((2, 3))), x, axes=1), 1)  # a wide matrix
    deficient = np.outer(rng.normal(size=5), rng.normal(size=3))  # tall, rank 1
    y = G.tensordot(G.const(deficient), x, axes=1)
    with pytest.raises(G.NotInvertibleError, match="rank 1 where 3 is needed"):
        op_inverse(y, 1)
    with pytest.raises(G.NotInvertibleError, match="refuses a pseudo-inverse"):
        z, x_of_z = rop.inverse(y, x)  # no other way around either: the dense solve refuses
        G.evaluate(x_of_z, {z.name: deficient @ value})


# -- einsum -------------------------------------------------------------------------------
EINSUM = [("ij,jk->ik", [(3, 4), (4, 2)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
          ("i,i->", [(4,), (4,)]), ("ij->ji", [(3, 4)]), ("ijk->k", [(2, 3, 4)]),
          ("i,ij,j->", [(3,), (3, 4), (4,)]), ("ijk,kj->i", [(2, 3, 4), (4, 3)]),
          ("ij,,k->kj", [(3, 2), (), (4,)]), ("ij,kl->ljki", [(2, 3), (2, 2)])]


@pytest.mark.parametrize("subscripts, shapes", EINSUM, ids=str)
def test_einsum_matches_numpy_with_derivatives(subscripts, shapes):
    variables, point, rng = _point(shapes, 6)
    y = G.einsum(subscripts, *variables)
    expected = np.einsum(subscripts, *(point[x.name] for x in variables))
    assert close(G.evaluate(y, point), expected, 1e-14)
    check_derivatives(_scalar(y, rng), variables, point, rng)


@pytest.mark.parametrize("subscripts, shapes", [
    ("ij,jk->ki", [(2, 3), (3, 2)]), ("i,ij,j->", [(2,), (2, 3), (3,)]),
    ("ijk,kj->i", [(2, 2, 2), (2, 2)]), ("ij->j", [(2, 3)])], ids=str)
def test_einsum_hvps_match_sympy(subscripts, shapes):
    check_all(lambda *xs: G.einsum(subscripts, *xs), shapes, 7)


def test_einsum_quadratic_form_with_one_variable_twice():
    # f = x^T A x  =>  H = A + A^T exactly, whichever mode
    rng = np.random.default_rng(8)
    a = rng.normal(size=(3, 3))
    x = G.var("x", (3,))
    f = G.einsum("i,ij,j->", x, G.const(a), x)
    point = {"x": rng.normal(size=3)}
    assert close(G.evaluate(f, point), point["x"] @ a @ point["x"], 1e-14)
    check_hvps(f, [x], point, rng, hessian=a + a.T)
    check_derivatives(f, [x], point, rng)


def test_einsum_subscripts_are_canonical_hashable_and_saved():
    a, b = G.var("a", (2, 3)), G.var("b", (3, 4))
    y = G.einsum(" ij , jk -> ik ", a, b)
    assert y.params == {"subscripts": "ij,jk->ik"}
    hash(tuple(y.params.items()))
    feed = {"a": np.ones((2, 3)), "b": np.arange(12.0).reshape(3, 4)}
    assert np.array_equal(G.evaluate(G.loads(G.dumps(y)), feed), G.evaluate(y, feed))


@pytest.mark.parametrize("subscripts, shapes, error, message", [
    ("ij,jk", [(2, 3), (3, 2)], ValueError, "implicit output is not supported"),
    ("...ij,jk->...ik", [(2, 3), (3, 2)], ValueError, "ellipsis"),
    ("ii->i", [(2, 2)], ValueError, "a letter repeats within 'ii'"),
    ("i->ii", [(2,)], ValueError, "a letter repeats within 'ii'"),
    ("i1->i", [(2, 2)], ValueError, "only hold letters"),
    ("ij->k", [(2, 2)], ValueError, "output letter 'k'"),
    ("ij,jk->ik", [(2, 3)], G.ShapeError, "name 2 operand"),
    ("ijk->i", [(2, 3)], G.ShapeError, r"operand 0 has shape \(2, 3\)"),
    ("ij,jk->ik", [(2, 3), (4, 2)], G.ShapeError, "letter 'j' has lengths 3 and 4"),
])
def test_einsum_refusals_name_the_op(subscripts, shapes, error, message):
    with pytest.raises(error, match=message) as raised:
        G.einsum(subscripts, *(G.var(f"x{i}", s) for i, s in enumerate(shapes)))
    assert str(raised.value).startswith("einsum:")


def test_einsum_has_no_inverse_rule():
    x = G.var("x", (2, 2))
    y = G.einsum("ij,jk->ik", G.const(2 * np.eye(2)), x)
    with pytest.raises(G.NotInvertibleError, match="einsum is not solved"):
        op_inverse(y, 1)
    # rop.inverse still solves this linear graph, by its dense torn solve (rank checked)
    z, x_of_z = rop.inverse(y, x)
    assert close(G.evaluate(x_of_z, {z.name: np.ones((2, 2))}), np.full((2, 2), 0.5), 1e-14)


# -- take and scatter_add -----------------------------------------------------------------
TAKE = [((5,), [4, 0, 4, -1], None), ((3, 4), [[1, 0], [2, 2]], 0), ((3, 4), [3, -4, 3], 1),
        ((2, 3, 4), [0, 0, 2], -2), ((3, 4), 5, None), ((3, 4), [[11, 0, 3]], None),
        ((3, 4), 2, 1), ((3, 4), np.array([[0, 1, 1]], dtype=np.int32), 0), ((3, 4), [], 1)]


@pytest.mark.parametrize("shape, indices, axis", TAKE, ids=str)
def test_take_matches_numpy_with_derivatives(shape, indices, axis):
    variables, point, rng = _point([shape], 9)
    y = G.take(variables[0], indices, axis=axis)
    assert np.array_equal(G.evaluate(y, point), np.take(point["x0"], indices, axis=axis))
    check_derivatives(_scalar(y, rng), variables, point, rng)


@pytest.mark.parametrize("shape, indices, axis", TAKE, ids=str)
def test_scatter_add_matches_add_at_with_derivatives(shape, indices, axis):
    values_shape = np.take(np.zeros(shape), indices, axis=axis).shape
    variables, point, rng = _point([values_shape], 10)
    y = G.scatter_add(variables[0], indices, shape, axis=axis)
    expected = np.zeros(shape)
    if axis is None:
        np.add.at(expected.reshape(-1), np.asarray(indices, int), point["x0"])
    else:
        np.add.at(expected, (slice(None),) * (axis % len(shape)) + (np.asarray(indices, int),),
                  point["x0"])
    assert close(G.evaluate(y, point), expected, 1e-14)
    check_derivatives(_scalar(y, rng), variables, point, rng)


def test_take_and_scatter_add_are_adjoint():
    rng = np.random.default_rng(11)
    x, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 2, 2))
    indices = [[2, 0], [2, 2]]
    taken = G.evaluate(G.take(G.const(x), indices, axis=1))
    scattered = G.evaluate(G.scatter_add(G.const(g), indices, (4, 3), axis=1))
    assert np.isclose(np.sum(taken * g), np.sum(x * scattered), rtol=1e-14)


@pytest.mark.parametrize("build, shape", [
    (lambda x: G.take(x, [2, 0, 2, 1], axis=1), (2, 3)),
    (lambda x: G.take(x, [[3, 3], [0, 5]]), (2, 3)),
    (lambda x: G.scatter_add(x * x, [1, 1, 0], (2, 3), axis=1), (2, 3)),
], ids=["take axis 1", "take flat", "scatter_add"])
def test_indexing_hvps_match_sympy(build, shape):
    check_all(build, [shape], 12)


def test_take_refusals_name_the_op_the_index_and_the_axis():
    x = G.var("x", (3, 4))
    with pytest.raises(G.OutOfBoundsError, match="take: index 4 is out of bounds for axis 1 "
                                                 "of length 4"):
        G.take(x, [0, 4], axis=1)
    with pytest.raises(IndexError, match="index -13 .* the flattened operand of length 12"):
        G.take(x, [-13])
    with pytest.raises(G.AxisError, match="take: axis 2"):
        G.take(x, [0], axis=2)
    with pytest.raises(TypeError, match="boolean masks"):
        G.take(x, [True, False, True], axis=0)
    with pytest.raises(TypeError, match="must be integers"):
        G.take(x, [0.0, 1.0], axis=0)
    with pytest.raises(TypeError, match="not a graph node"):
        G.take(x, G.const([0.0]), axis=0)
    with pytest.raises(G.ShapeError, match="scatter_add: values of shape \\(3, 2\\)"):
        G.scatter_add(G.var("v", (3, 2)), [0, 1, 1], (3, 4), axis=1)
    with pytest.raises(G.OutOfBoundsError, match="scatter_add: index 3 .* axis 0 of length 3"):
        G.scatter_add(G.var("v", (2, 4)), [0, 3], (3, 4), axis=0)


def test_take_inverts_a_permutation_only():
    rng = np.random.default_rng(13)
    x, value = G.var("x", (2, 4)), rng.normal(size=(2, 4))
    z, x_of_z = rop.inverse(2.0 * G.take(x, [[3, 0], [1, 2]], axis=1) + 1.0, x)
    y = 2.0 * np.take(value, [[3, 0], [1, 2]], axis=1) + 1.0
    assert close(G.evaluate(x_of_z, {z.name: y}), value, 1e-14)
    for indices, message in (([3, 0, 1, 2, 2], "entry 2 of axis 1 \\(length 4\\) 2 times"),
                             ([3, 0, 1], "entry 2 of axis 1 \\(length 4\\) 0 times")):
        with pytest.raises(G.NotInvertibleError, match=message):
            op_inverse(G.take(x, indices, axis=1), 0)
    with pytest.raises(G.NotInvertibleError, match="only a permutation"):  # entry 2 dropped
        rop.inverse(G.take(x, [3, 0, 1], axis=1), x)


def test_scatter_add_inverts_distinct_indices_only():
    v = G.var("v", (2, 2))
    value = np.array([[1.0, 2.0], [3.0, 4.0]])
    z, v_of_z = rop.inverse(G.scatter_add(v, [4, 1], (2, 5), axis=1), v)
    assert np.array_equal(G.evaluate(v_of_z, {z.name: np.array([[0, 2, 0, 0, 1.0],
                                                                [0, 4, 0, 0, 3.0]])}), value)
    y = G.scatter_add(v, [1, 1], (2, 5), axis=1)
    with pytest.raises(G.NotInvertibleError, match="adds 2 values at index 1 of axis 1"):
        op_inverse(y, 0)
    with pytest.raises(G.NotInvertibleError, match="refuses a pseudo-inverse"):
        z, v_of_z = rop.inverse(y, v)
        G.evaluate(v_of_z, {z.name: np.ones((2, 5))})


def test_indexing_graphs_save_and_load():
    x = G.var("x", (3, 4))
    gathered = G.take(x, [[2, 0], [2, 1]], axis=1)  # (3, 2, 2)
    scattered = G.scatter_add(gathered, [1, 1, 0], (2, 2, 2), axis=0)
    y = G.sum(scattered * G.einsum("ij->ji", x[[2, -1]][:, :2])) + G.tensordot(x, x, axes=2)
    text = G.dumps(y)
    assert '"indices": [[2, 0], [2, 1]]' in text
    feed = {"x": np.arange(12.0).reshape(3, 4)}
    assert G.evaluate(G.loads(text), feed) == G.evaluate(y, feed)


# -- node[integer array] ------------------------------------------------------------------
INDEXES = [[0, 2], [2, -1, 2], np.array([[0, 1], [2, 2]]), [], (slice(None), [3, 0, 3]),
           (Ellipsis, [4, 1]), ([1, 1], slice(1, 3)), (0, slice(None), [1, 4]),
           (slice(None), 1, [0, 2]), (None, [0, 2]), (1, [0, 3]), ([2, 0], Ellipsis, 3),
           (slice(None, None, -1), np.array([2]), slice(0, 4, 2)), (np.int64(1), range(3))]


@pytest.mark.parametrize("index", INDEXES, ids=str)
def test_node_indexing_with_an_integer_array_matches_numpy(index):
    variables, point, rng = _point([(3, 4, 5)], 14)
    y = variables[0][index]
    assert np.array_equal(G.evaluate(y, point), point["x0"][index])
    check_derivatives(_scalar(y, rng), variables, point, rng)


def test_basic_indices_still_build_getitem():
    x = G.var("x", (3, 4))
    assert x[1].op.name == "getitem" and x[:, 1:3].op.name == "getitem"
    assert x[[1, 2]].op.name == "take"


@pytest.mark.parametrize("index, message", [
    (np.array([True, False, True]), "boolean mask"), ([True, False, True], "boolean mask"),
    (([0, 1], [1, 2]), "several integer arrays"), ((0, [1], [2]), "several integer arrays"),
    (G.const([0.0]), "not by graph nodes"), (1.5, "getitem supports"),
])
def test_node_indexing_refusals(index, message):
    with pytest.raises(TypeError, match=message):
        G.var("x", (3, 4))[index]


def test_node_indexing_out_of_bounds_names_the_index():
    with pytest.raises(G.OutOfBoundsError, match="index 3 is out of bounds for axis 0 of "
                                                 "length 3"):
        G.var("x", (3, 4))[[0, 3]]


def test_embedding_lookup_accumulates_like_a_one_hot_matmul():
    rng = np.random.default_rng(15)
    vocab, dim = 6, 3
    ids = np.array([[1, 4, 1, 0], [4, 4, 2, 1]])  # repeated ids; 3 and 5 never used
    embeddings = G.var("E", (vocab, dim))
    weights = rng.normal(size=ids.shape + (dim,))
    point = {"E": rng.normal(size=(vocab, dim))}
    onehot = G.const(np.eye(vocab)[ids.ravel()])
    dense = G.reshape(onehot @ embeddings, shape=ids.shape + (dim,))
    lookup = embeddings[ids]
    losses = [G.sum(G.tanh(y) * G.const(weights)) for y in (lookup, dense)]
    assert close(G.evaluate(lookup, point), G.evaluate(dense, point), 1e-15)
    gradients = [G.evaluate(rop.grad(f, embeddings), point) for f in losses]
    assert close(gradients[0], gradients[1], 1e-14)
    # the same gradient written out in numpy: each use of a row adds its contribution
    expected = np.zeros((vocab, dim))
    np.add.at(expected, ids, (1 - np.tanh(point["E"][ids]) ** 2) * weights)
    assert close(gradients[0], expected, 1e-14) and not gradients[0][[3, 5]].any()
    check_derivatives(losses[0], [embeddings], point, rng)
    v = rng.normal(size=(vocab, dim))
    for mode in ("fwd-rev", "rev-rev"):
        hv = [G.evaluate(rop.hvp(f, embeddings, v, mode=mode), point) for f in losses]
        assert close(hv[0], hv[1], 1e-12), mode
