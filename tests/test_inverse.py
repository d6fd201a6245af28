"""Functional inversion and exact inverse-Hessian-vector products against dense solves and
closed forms (docs/math.md §14)."""

import numpy as np
import pytest

import graph as G
import rop
from graph import ops

RNG = np.random.default_rng(0)


def dense_solve(f, wrt, feed, v):
    """numpy.linalg.solve(H, v) with H formed entry by entry, and H's condition number."""
    targets = wrt if isinstance(wrt, list) else [wrt]
    vs = v if isinstance(v, list) else [v]
    H = G.evaluate(rop.hessian(f, targets), feed)
    x = np.linalg.solve(H, np.concatenate([d.ravel() for d in vs]))
    return x, np.linalg.cond(H)


def tolerance(cond):
    """1e-8 relative, or what cond(H) allows: a backward-stable solve has error ~ cond * eps,
    with a factor 100 for the longer chain of operations in the graph."""
    return max(1e-8, 100 * cond * np.finfo(float).eps)


def flat(xs):
    xs = xs if isinstance(xs, list) else [xs]
    return np.concatenate([np.asarray(x).ravel() for x in xs])


def check(f, wrt, feed, v, methods=("linear",), note=None):
    expected, cond = dense_solve(f, wrt, feed, v)
    for method in methods:
        result = rop.inverse_hvp(f, wrt, v, feed, method=method)
        error = np.max(np.abs(flat(result.x) - expected)) / np.max(np.abs(expected))
        assert error <= tolerance(cond), (method, error, cond)
        assert result.certificate <= tolerance(cond), (method, result.certificate)
        assert result.method == method
        if note is not None and method == "linear":
            assert any(note in n for n in result.notes), result.notes
    return expected


# -- the worked examples of docs/math.md §14 -----------------------------------------------
def test_sum_of_cubes_closed_form():
    x = G.var("x", (4,))
    X, V = np.array([0.5, -1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, -1.0])
    for method in ("linear", "functional", "sympy"):
        got = rop.inverse_hvp(G.sum(x**3), x, V, {"x": X}, method=method).x
        np.testing.assert_allclose(got, V / (6 * X), rtol=1e-15)


def test_product_of_three_closed_form():
    x = G.var("x", (3,))
    X, V = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    got = rop.inverse_hvp(x[0] * x[1] * x[2], x, V, {"x": X})
    x1, x2, x3 = X
    v1, v2, v3 = V
    closed = [(v2 * x1 * x2 + v3 * x1 * x3 - v1 * x1**2) / (2 * x1 * x2 * x3),
              (v3 * x2 * x3 + v1 * x2 * x1 - v2 * x2**2) / (2 * x1 * x2 * x3),
              (v1 * x3 * x1 + v2 * x3 * x2 - v3 * x3**2) / (2 * x1 * x2 * x3)]
    np.testing.assert_allclose(got.x, closed, rtol=1e-14)
    assert got.method == "linear" and any("tore the loop" in n for n in got.notes)


@pytest.mark.parametrize("point", [(-1.2, 1.0), (1.1, 1.2)])
def test_rosenbrock(point):
    w = G.var("w", (2,))
    f = (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
    x, y = point
    H = np.array([[2 - 400 * (y - x**2) + 800 * x**2, -400 * x], [-400 * x, 200.0]])
    V = np.array([1.0, -2.0])
    expected = check(f, w, {"w": np.array(point)}, V,
                     methods=("linear", "functional", "sympy", "dense", "cg"))
    np.testing.assert_allclose(expected, np.linalg.solve(H, V), rtol=1e-12)


@pytest.mark.parametrize("rows", [4, 9])
def test_linear_regression_square_and_tall(rows):
    X, Y = RNG.normal(size=(rows, 4)), RNG.normal(size=(rows, 2))
    T = G.var("T", (4, 2))
    f = 0.5 * G.sum((G.const(X) @ T - G.const(Y)) ** 2)
    V = RNG.normal(size=(4, 2))
    got = check(f, T, {"T": RNG.normal(size=(4, 2))}, V, methods=("linear", "functional"),
                note="fused weighted Gram" if rows > 4 else None)
    np.testing.assert_allclose(got.reshape(4, 2), np.linalg.solve(X.T @ X, V), rtol=1e-10)


def _leaky_net(n, layers, seed):
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n, n)), rng.normal(size=(n, n))
    weights = [G.var(f"W{i + 1}", (n, n)) for i in range(layers)]
    a = G.const(X)
    for W in weights:
        a = G.leaky_relu(a @ W, alpha=0.1)
    f = 0.5 * G.sum((a - G.const(Y)) ** 2)
    feed = {W.name: rng.normal(size=(n, n)) for W in weights}
    return f, weights, feed


@pytest.mark.parametrize("layers", [2, 3])
def test_leaky_relu_net_every_layer_block(layers):
    f, weights, feed = _leaky_net(5, layers, seed=layers)
    for W in weights:
        V = RNG.normal(size=W.shape)
        result = check(f, W, feed, V, methods=("linear", "functional"))
        assert result.shape == (W.size,)
        # no tear, no fusion: walking the backprop steps backwards node by node
        assert rop.inverse_hvp(f, W, V, feed).notes == []


def test_tanh_output_layer_needs_a_diagonal_tear():
    a = G.const(RNG.normal(size=(5, 5)))
    W = G.var("W", (5, 5))
    f = 0.5 * G.sum((G.tanh(a @ W) - G.const(RNG.normal(size=(5, 5)))) ** 2)
    check(f, W, {"W": 0.5 * RNG.normal(size=(5, 5))}, RNG.normal(size=(5, 5)),
          note="diagonal system")


def test_tanh_hidden_layer_needs_a_per_sample_tear():
    X, W2, Y = (RNG.normal(size=(5, 5)) for _ in range(3))
    W1 = G.var("W1", (5, 5))
    f = 0.5 * G.sum((G.tanh(G.const(X) @ W1) @ G.const(W2) - G.const(Y)) ** 2)
    check(f, W1, {"W1": 0.5 * RNG.normal(size=(5, 5))}, RNG.normal(size=(5, 5)),
          note="per-sample block")


def test_full_hessian_across_two_layers():
    f, weights, feed = _leaky_net(3, 2, seed=7)
    check(f, weights, feed, [RNG.normal(size=W.shape) for W in weights], note="tore the loop")


def test_blocks_invert_each_tensor_on_its_own():
    f, weights, feed = _leaky_net(4, 2, seed=3)
    vs = [RNG.normal(size=W.shape) for W in weights]
    result = rop.inverse_hvp(f, weights, vs, feed, blocks=True)
    for W, v, x in zip(weights, vs, result.x):
        np.testing.assert_allclose(x.ravel(), dense_solve(f, W, feed, v)[0], rtol=1e-7)
    assert result.method.startswith("block-diagonal approximation")
    assert result.full_residual > 1e-3  # the off-diagonal blocks are not zero: not H^-1 v


# -- inverse(): whole-graph functional inversion -------------------------------------------
def test_inverse_of_a_chain_reads_the_branch_from_the_current_value():
    x = G.var("x", (4,))
    y = G.sqrt(G.square(x) + 1.0) * 3.0 + G.const(np.arange(4.0))
    z, x_of_z = rop.inverse(y, x)
    X = np.array([-2.0, -0.5, 0.7, 3.0])
    Y = G.evaluate(y, {"x": X})
    np.testing.assert_allclose(G.evaluate(x_of_z, {z: Y, "x": X}), X, rtol=1e-14)


def test_inverse_of_matmul_with_a_tall_known_matrix():
    A = RNG.normal(size=(6, 3))
    x = G.var("x", (3, 2))
    z, x_of_z = rop.inverse(G.tanh(G.const(A) @ x), x)
    X = RNG.normal(size=(3, 2)) * 0.3
    got = G.evaluate(x_of_z, {z: G.evaluate(G.tanh(G.const(A) @ x), {"x": X})})
    np.testing.assert_allclose(got, X, rtol=1e-12)


def test_functional_and_linear_routes_agree_on_rosenbrock():
    w = G.var("w", (2,))
    f = (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
    feed, V = {"w": np.array([0.3, -0.4])}, np.array([0.5, 1.5])
    lin = rop.inverse_hvp(f, w, V, feed, method="linear").x
    fun = rop.inverse_hvp(f, w, V, feed, method="functional").x
    np.testing.assert_allclose(lin, fun, rtol=1e-13)


# -- refusals -------------------------------------------------------------------------------
def test_rank_deficient_matrix_is_refused_not_pseudo_inverted():
    X = RNG.normal(size=(4, 4))
    X[:, 3] = X[:, 0] + X[:, 1]  # rank 3
    T = G.var("T", (4, 2))
    f = 0.5 * G.sum((G.const(X) @ T) ** 2)
    with pytest.raises(G.NotInvertibleError, match=r"rank 3 where 4 is needed") as caught:
        rop.inverse_hvp(f, T, np.ones((4, 2)), {"T": np.zeros((4, 2))}, method="linear")
    assert "matmul" in str(caught.value) and "pseudo-inverse" in str(caught.value)


def test_fewer_samples_than_inputs_is_singular_and_refused():
    X = RNG.normal(size=(2, 4))  # 2 samples, 4 inputs: X^T X has rank 2
    T = G.var("T", (4,))
    f = 0.5 * G.sum((G.const(X) @ T) ** 2)
    with pytest.raises(G.NotInvertibleError, match="rank"):
        rop.inverse_hvp(f, T, np.ones(4), {"T": np.zeros(4)}, method="linear")


def test_relu_makes_the_block_singular():
    X = G.const(RNG.normal(size=(4, 4)))
    W = G.var("W", (4, 4))
    f = 0.5 * G.sum(G.relu(X @ W) ** 2)
    with pytest.raises(G.NotInvertibleError, match="zero"):
        rop.inverse_hvp(f, W, np.ones((4, 4)), {"W": RNG.normal(size=(4, 4))}, method="linear")


def test_value_at_a_kink_is_refused():
    X = np.eye(3)
    W = G.var("W", (3, 3))
    f = 0.5 * G.sum(G.leaky_relu(G.const(X) @ W, alpha=0.1) ** 2)
    at_kink = RNG.normal(size=(3, 3))
    at_kink[1, 2] = 1e-12  # s = X W has an entry at the kink
    with pytest.raises(G.NotInvertibleError, match="kink"):
        rop.inverse_hvp(f, W, np.ones((3, 3)), {"W": at_kink}, method="linear")


def test_auto_falls_back_to_cg_and_says_why():
    x = G.var("x", (3,))
    f = G.sum(G.exp(x) * G.sum(x * x))  # a dense Hessian with a loop no cheap tear breaks
    feed, V = {"x": np.array([0.1, 0.2, -0.3])}, np.array([1.0, 0.0, 2.0])
    dense = rop.inverse_hvp(f, x, V, feed, method="auto", tear_limit=0)
    assert dense.method.startswith("dense (structural: the cheapest tear needs")
    result = rop.inverse_hvp(f, x, V, feed, method="auto", tear_limit=0, dense_bytes=0)
    assert result.method.startswith("cg (structural: ") and "dense: H would need" in result.method
    for answer in (dense, result):
        np.testing.assert_allclose(answer.x, dense_solve(f, x, feed, V)[0], rtol=1e-8)


def test_auto_refuses_a_singular_hessian_instead_of_returning_cg_noise():
    X = RNG.normal(size=(2, 4))
    T = G.var("T", (4,))
    f = 0.5 * G.sum((G.const(X) @ T) ** 2)
    with pytest.raises(G.CertificateError, match="refused.*H has rank 2 of 4"):
        rop.inverse_hvp(f, T, np.ones(4), {"T": np.zeros(4)}, method="auto")


def test_error_names_the_node_and_the_reason():
    x = G.var("x", (2,))
    with pytest.raises(G.NotInvertibleError, match=r"n\d+ = sum\(.*keeps only the total"):
        rop.inverse(G.sum(x), x)


# -- finite differences of the functional inverse ------------------------------------------
def test_finite_differences_are_orders_of_magnitude_worse():
    x = G.var("x", (3,))
    A = G.const(np.array([[2.0, 0.5, 0.0], [0.3, 1.0, -0.4], [0.0, 0.2, 1.5]]))
    f = G.sum(G.exp(A @ x))  # gradient A^T exp(A x): inverse x = A^-1 log(A^-T g)
    feed, V = {"x": np.array([0.3, -0.7, 1.1])}, np.array([1.0, -1.0, 0.5])
    exact, _ = dense_solve(f, x, feed, V)
    best_fd = min(np.max(np.abs(rop.inverse_hvp(f, x, V, feed, method="fd", r=r,
                                                rtol=np.inf).x - exact))
                  for r in 10.0 ** -np.arange(1, 13))
    # at the default tolerance the difference quotient is not accepted as it is: refined
    # by solving for its residual (with itself), it is certified or refused
    refined = rop.inverse_hvp(f, x, V, feed, method="fd", r=1e-2)
    assert any("refined" in n for n in refined.notes) and refined.certificate <= 1e-10
    linear = np.max(np.abs(rop.inverse_hvp(f, x, V, feed).x - exact))
    assert best_fd > 1e3 * max(linear, 1e-17) and best_fd > 1e-12


# -- Gauss-Newton and Newton ----------------------------------------------------------------
def test_inverse_ggn_vp_equals_inverse_hvp_for_a_leaky_block():
    f, (W1, W2), feed = _leaky_net(4, 2, seed=11)
    output = next(n for n in G.topo_order([f]) if n.op is ops.sub).inputs[0]  # the net's
    v = RNG.normal(size=(4, 4))
    for W in (W1, W2):  # in one block the output is piecewise linear: G = H there
        ggn = rop.inverse_ggn_vp(f, output, W, v, feed)
        assert ggn.method.startswith("gauss-newton")
        np.testing.assert_allclose(ggn.x, rop.inverse_hvp(f, W, v, feed).x, rtol=1e-8)


def test_inverse_ggn_vp_is_not_the_inverse_hessian_for_tanh():
    a = G.const(RNG.normal(size=(4, 4)))
    W = G.var("W", (4, 4))
    out = G.tanh(a @ W)
    f = 0.5 * G.sum((out - G.const(RNG.normal(size=(4, 4)))) ** 2)
    feed, v = {"W": 0.3 * RNG.normal(size=(4, 4))}, RNG.normal(size=(4, 4))  # unsaturated
    ggn = rop.inverse_ggn_vp(f, out, W, v, feed)
    assert ggn.certificate < 1e-10  # it solves G x = v ...
    assert np.max(np.abs(ggn.x - rop.inverse_hvp(f, W, v, feed).x)) > 1e-3  # ... not H x = v


def test_newton_step_solves_a_quadratic_in_one_step():
    A = RNG.normal(size=(4, 4))
    A = A @ A.T + 4 * np.eye(4)
    b = RNG.normal(size=4)
    x = G.var("x", (4,))
    f = 0.5 * (x @ (G.const(A) @ x)) - G.const(b) @ x
    step = rop.newton_step(f, x, {"x": np.zeros(4)})
    np.testing.assert_allclose(step.x, np.linalg.solve(A, b), rtol=1e-12)


def test_weights_and_bias_together():
    X, y = G.const(RNG.normal(size=(4, 2))), G.const(RNG.normal(size=(4,)))
    w, b = G.var("w", (2,)), G.var("b", ())
    f = 0.5 * G.sum((X @ w + b - y) ** 2)
    check(f, [w, b], {"w": np.zeros(2), "b": 0.0}, [np.ones(2), np.array(1.0)],
          note="tore the loop")


def test_mlp_with_biases_full_hessian():
    from rop.models import feed_of, flat, mlp, mlp_layers, mlp_values

    rng = np.random.default_rng(5)
    layers = mlp_layers([3, 4, 2])
    loss = 0.5 * G.sum((mlp(G.const(rng.normal(size=(5, 3))), layers)
                        - G.const(rng.normal(size=(5, 2)))) ** 2)
    params = flat(layers)
    check(loss, params, feed_of(layers, mlp_values([3, 4, 2], rng)),
          [rng.normal(size=p.shape) for p in params], note="tore the loop")


def test_singular_hessian_found_by_a_tear_is_refused():
    # leaky-ReLU net with biases and fewer samples than parameters: H has rank 24 of 26
    from rop.models import feed_of, flat, mlp, mlp_layers, mlp_values

    rng = np.random.default_rng(0)
    layers = mlp_layers([3, 4, 2])
    out = mlp(G.const(rng.normal(size=(5, 3))), layers,
              activation=lambda s: G.leaky_relu(s, alpha=0.1))
    loss = 0.5 * G.sum((out - G.const(rng.normal(size=(5, 2)))) ** 2)
    params = flat(layers)
    feed = feed_of(layers, mlp_values([3, 4, 2], rng))
    assert np.linalg.matrix_rank(G.evaluate(rop.hessian(loss, params), feed)) < 26
    with pytest.raises(G.NotInvertibleError, match="rank .* where 26 is needed"):
        rop.inverse_hvp(loss, params, [np.ones(p.shape) for p in params], feed, method="linear")
