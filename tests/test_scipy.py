"""rop.scipy: the LinearOperators agree with direct rop calls and dense matrices, work inside
SciPy's solvers, and minimize() agrees with scipy.optimize.minimize given hand-written
Rosenbrock derivatives (the SciPy adapters agree with direct calls)."""

import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse.linalg as sla

import graph as G
import rop
import rop.scipy as rs
from graph.compile import Program
from rop.models import feed_of, flat, mlp, mlp_layers, mlp_values

RNG = np.random.default_rng(0)


def pack(arrays):
    return np.concatenate([np.asarray(a).ravel() for a in arrays])


def unpack(x, nodes):
    parts = np.split(x, np.cumsum([n.size for n in nodes])[:-1])
    return [p.reshape(n.shape) for n, p in zip(nodes, parts)]


def mlp_problem(seed=0):
    """(loss, output, parameters, feed) of a tanh MLP 3-4-2 with data X, Y as variables."""
    rng = np.random.default_rng(seed)
    layers = mlp_layers([3, 4, 2])
    X, Y = G.var("X", (5, 3)), G.var("Y", (5, 2))
    output = mlp(X, layers)
    feed = feed_of(layers, mlp_values([3, 4, 2], rng))
    feed.update(X=rng.normal(size=(5, 3)), Y=rng.normal(size=(5, 2)))
    return 0.5 * G.sum((output - Y) ** 2), output, flat(layers), feed


def invertible_problem(seed=1):
    """A square tanh net without biases: the linear route inverts its full Hessian (a net
    with biases stalls it, see test_inverse_operator_refuses_what_rop_cannot_invert)."""
    rng = np.random.default_rng(seed)
    layers = [(W, G.const(np.zeros(3))) for W, _ in mlp_layers([3, 3, 3])]
    X, Y = G.const(rng.normal(size=(3, 3))), G.const(rng.normal(size=(3, 3)))
    f = 0.5 * G.sum((mlp(X, layers) - Y) ** 2)
    weights = [W for W, _ in layers]
    return f, weights, {W.name: rng.normal(size=W.shape) for W in weights}


def matrix(operator):
    return np.column_stack([operator @ e for e in np.eye(operator.shape[1])])


# -- the operators -------------------------------------------------------------------------
def test_hessian_and_ggn_operators_agree_with_direct_calls():
    f, output, params, feed = mlp_problem()
    H, GN = rs.hessian_operator(f, params, feed), rs.ggn_operator(f, output, params, feed)
    assert H.shape == GN.shape == (26, 26) and H.dtype == np.float64
    for _ in range(3):
        v = RNG.normal(size=26)
        direct = G.evaluate(rop.hvp(f, params, unpack(v, params)), feed)
        np.testing.assert_allclose(H @ v, pack(direct), rtol=1e-12, atol=1e-12)
        direct = G.evaluate(rop.ggn_vp(f, output, params, unpack(v, params)), feed)
        np.testing.assert_allclose(GN @ v, pack(direct), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(H.rmatvec(v), H @ v, rtol=0, atol=0)


def test_hessian_operator_matrix_is_the_dense_symmetric_hessian():
    f, _, params, feed = mlp_problem()
    dense = matrix(rs.hessian_operator(f, params, feed))
    np.testing.assert_allclose(dense, G.evaluate(rop.hessian(f, params), feed), atol=1e-12)
    np.testing.assert_allclose(dense, dense.T, atol=1e-12)


def test_operator_is_taken_at_the_feed_not_at_later_changes():
    f, _, params, feed = mlp_problem()
    v = RNG.normal(size=26)
    H = rs.hessian_operator(f, params, feed)
    before = H @ v
    feed["W1"] += 1.0  # the caller's dict changes; the operator keeps its point
    np.testing.assert_array_equal(H @ v, before)
    assert not np.allclose(rs.hessian_operator(f, params, feed) @ v, before)


def test_inverse_operator_agrees_with_inverse_hvp_and_undoes_the_hessian():
    f, weights, feed = invertible_problem()
    H, H_inv = rs.hessian_operator(f, weights, feed), rs.inverse_hessian_operator(f, weights, feed)
    assert any("tore the loop" in note for note in H_inv.notes)
    for _ in range(3):
        v = RNG.normal(size=18)
        direct = rop.inverse_hvp(f, weights, unpack(v, weights), feed, method="linear").x
        np.testing.assert_allclose(H_inv @ v, pack(direct), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(H_inv @ (H @ v), v, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(H @ (H_inv @ v), v, rtol=1e-8, atol=1e-8)


def test_inverse_operator_with_another_graph_method():
    w = G.var("w", (2,))
    f = (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
    feed, v = {"w": [-1.2, 1.0]}, np.array([1.0, -2.0])
    expected = np.linalg.solve(matrix(rs.hessian_operator(f, w, feed)), v)
    for method in ("linear", "functional", "dense", "sympy"):
        got = rs.inverse_hessian_operator(f, w, feed, method=method) @ v
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_inverse_operator_of_an_mlp_with_biases():
    f, _, params, feed = mlp_problem()
    dense = G.evaluate(rop.hessian(f, params), feed)
    v = RNG.normal(size=dense.shape[0])
    inverse = rs.inverse_hessian_operator(f, params, feed)
    np.testing.assert_allclose(inverse @ v, np.linalg.solve(dense, v),
                               rtol=1e-8 * max(1.0, np.linalg.cond(dense) * 1e-8))


# -- inside SciPy's solvers ------------------------------------------------------------------
def test_eigsh_finds_the_extreme_eigenvalues():
    f, _, params, feed = mlp_problem()
    eigenvalues = np.linalg.eigvalsh(G.evaluate(rop.hessian(f, params), feed))
    top = sla.eigsh(rs.hessian_operator(f, params, feed), k=1, which="LA",
                    return_eigenvectors=False)
    np.testing.assert_allclose(top, eigenvalues[-1:], rtol=1e-10)
    f, weights, feed = invertible_problem()
    smallest = np.min(np.abs(np.linalg.eigvalsh(G.evaluate(rop.hessian(f, weights), feed))))
    largest_inverse = sla.eigsh(rs.inverse_hessian_operator(f, weights, feed), k=1, which="LM",
                                return_eigenvectors=False)
    np.testing.assert_allclose(np.abs(largest_inverse), [1 / smallest], rtol=1e-8)


def test_minres_solves_with_the_hessian_and_cg_with_the_damped_gauss_newton():
    f, output, params, feed = mlp_problem()
    b = RNG.normal(size=26)
    dense = G.evaluate(rop.hessian(f, params), feed)
    x, info = sla.minres(rs.hessian_operator(f, params, feed), b, rtol=1e-12, maxiter=2000)
    assert info == 0
    np.testing.assert_allclose(x, np.linalg.solve(dense, b), rtol=1e-6)
    GN = rs.ggn_operator(f, output, params, feed)
    damped = GN + 0.1 * sla.aslinearoperator(np.eye(26))  # operators compose in SciPy
    x, info = sla.cg(damped, b, rtol=1e-12, atol=0.0, maxiter=2000)
    assert info == 0
    np.testing.assert_allclose(x, np.linalg.solve(matrix(GN) + 0.1 * np.eye(26), b), rtol=1e-8)


# -- minimize ----------------------------------------------------------------------------
ROSENBROCK_OPTIONS = {"trust-ncg": {"gtol": 1e-8}, "trust-krylov": {"gtol": 1e-8},
                      "Newton-CG": {"xtol": 1e-12}, "L-BFGS-B": {"gtol": 1e-12, "ftol": 1e-15}}


@pytest.fixture
def program_calls(monkeypatch):
    """Every compiled-program call, as the number of outputs of the program called."""
    calls, call = [], Program.__call__

    def counting(self, feed=None, **options):
        calls.append(len(self.outputs))
        return call(self, feed, **options)

    monkeypatch.setattr(Program, "__call__", counting)
    return calls


@pytest.mark.parametrize("method", list(ROSENBROCK_OPTIONS))
def test_minimize_rosenbrock_agrees_with_scipy_and_shares_evaluations(method, program_calls):
    w = G.var("w", (2,))
    f = (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
    options = ROSENBROCK_OPTIONS[method]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. scipy's "does not use Hessian-vector products"
        result = rs.minimize(f, w, {"w": np.array([-1.2, 1.0])}, method=method, options=options)
    products = []

    def rosen_hess_prod(x, p):
        products.append(x)
        return scipy.optimize.rosen_hess_prod(x, p)

    hessp = {} if method == "L-BFGS-B" else {"hessp": rosen_hess_prod}
    direct = scipy.optimize.minimize(scipy.optimize.rosen, [-1.2, 1.0], method=method,
                                     jac=scipy.optimize.rosen_der, options=options, **hessp)
    assert result.success and direct.success
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(result.params["w"], result.x, rtol=0)
    assert (result.nit, result.nfev, result.njev) == (direct.nit, direct.nfev, direct.njev)
    np.testing.assert_allclose(result.x, direct.x, rtol=0, atol=1e-10)
    # one program computes f and its gradient: one call per point, not one per fun and jac
    assert program_calls.count(2) == max(result.nfev, result.njev) < result.nfev + result.njev
    assert program_calls.count(1) == len(products)  # one compiled HVP per hessp


def test_minimize_over_several_tensors_with_data_in_the_feed():
    rng = np.random.default_rng(2)
    X, Y = G.var("X", (20, 3)), G.var("Y", (20, 2))
    W, b = G.var("W", (3, 2)), G.var("b", (2,))
    f = 0.5 * G.sum((X @ W + b - Y) ** 2)
    data = {"X": rng.normal(size=(20, 3)), "Y": rng.normal(size=(20, 2))}
    result = rs.minimize(f, [W, b], {**data, W: np.zeros((3, 2)), "b": np.zeros(2)},
                         method="Newton-CG", options={"xtol": 1e-12})
    design = np.column_stack([data["X"], np.ones(20)])
    solution = np.linalg.lstsq(design, data["Y"], rcond=None)[0]
    np.testing.assert_allclose(result.params["W"], solution[:3], atol=1e-9)
    np.testing.assert_allclose(result.params["b"], solution[3], atol=1e-9)
    assert set(result.params) == {"W", "b"}


@pytest.mark.parametrize("method, options, hvps", [
    ("BFGS", {}, False), ("trust-constr", {}, True),
    ("trust-constr", {"hess": scipy.optimize.BFGS()}, False),  # the caller's Hessian wins
])
def test_minimize_passes_other_methods_through(method, options, hvps, program_calls):
    x = G.var("x", (3,))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = rs.minimize(G.sum((x - 2.0) ** 4 + x ** 2), x, {"x": np.zeros(3)},
                             method=method, **options)
    assert result.success
    assert (program_calls.count(1) > 0) == hvps
    # the gradient at SciPy's result, to the methods' own default tolerances (1e-5 and so on)
    np.testing.assert_allclose(4 * (result.x - 2) ** 3 + 2 * result.x, 0, atol=1e-4)


# -- errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    rs.hessian_operator, rs.inverse_hessian_operator, rs.minimize,
    lambda f, wrt, feed: rs.ggn_operator(f, f, wrt, feed),
])
def test_errors_name_what_is_wrong(make):
    x, data = G.var("x", (2,)), G.var("data", (2,))
    f = G.sum(x ** 2 * data)
    with pytest.raises(TypeError, match="wrt must hold variables"):
        make(f, [x, x * 2.0], {"x": np.ones(2), "data": np.ones(2)})
    with pytest.raises(G.FeedError, match=r"no value fed for variable\(s\) data"):
        make(f, x, {"x": np.ones(2)})
    with pytest.raises(G.ShapeError):
        make(f, x, {"x": np.ones(3), "data": np.ones(2)})
