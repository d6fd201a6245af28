"""Never silently wrong: each answer that used to be a wrong number without an error is now
right or refused (one test per case found), and the crashes and races found with them."""

import importlib
import threading

import numpy as np
import pytest

import graph as G
import rop
import rop.scipy
from graph.rewrite import cse

PROGRAMS = importlib.import_module("graph.compile")  # the module: graph.compile is the function


def _rosenbrock():
    w = G.var("w", (2,))
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2, w


# -- 1. rev-rev HVPs hold the direction fixed ----------------------------------------------
@pytest.mark.parametrize("mode", ["fwd-rev", "rev-rev"])
def test_hvp_along_a_direction_that_depends_on_x(mode):
    x = G.var("x", (3,))
    f = G.sum(x**3)
    point = np.array([1.0, -2.0, 3.0])
    got = G.evaluate(rop.hvp(f, x, rop.grad(f, x), mode=mode), {"x": point})
    np.testing.assert_allclose(got, np.diag(6 * point) @ (3 * point**2), rtol=1e-15)


# -- 2. singular and indefinite Hessians are refused, never answered with noise -------------
@pytest.mark.parametrize("method", ["auto", "linear", "functional", "dense", "cg", "sympy"])
def test_singular_rosenbrock_is_refused_by_every_method(method):
    f, w = _rosenbrock()
    with pytest.raises(G.NotInvertibleError):  # det H = 0 at (0.5, 0.255)
        rop.inverse_hvp(f, w, [1.0, 1.0], {"w": [0.5, 0.255]}, method=method)


def test_singular_rosenbrock_is_refused_by_the_scipy_operator_and_newton():
    f, w = _rosenbrock()
    with pytest.raises(G.NotInvertibleError):
        rop.scipy.inverse_hessian_operator(f, w, {"w": [0.5, 0.255]}) @ np.ones(2)
    with pytest.raises(G.NotInvertibleError):
        rop.newton_step(f, w, {"w": [0.5, 0.255]})
    with pytest.raises(G.CertificateError, match="refused"):
        G.evaluate(rop.inverse_hvp_graph(f, w, [1.0, 1.0]), {"w": [0.5, 0.255]})


@pytest.mark.parametrize("seed", range(5))
def test_unregularized_softmax_bias_is_singular_and_refused(seed):
    # shifting every logit by the same amount changes nothing: H has the ones vector in its
    # kernel, and H x = v has no solution for a random v
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(20, 4)), np.eye(3)[rng.integers(0, 3, 20)]
    W, b = G.var("W", (4, 3)), G.var("b", (3,))
    loss = G.softmax_cross_entropy(G.const(X) @ W + b, G.const(Y))
    feed = {"W": rng.normal(size=(4, 3)), "b": np.zeros(3)}
    for method in ("auto", "cg", "dense"):
        with pytest.raises(G.NotInvertibleError, match="rank 2 of 3|refused"):
            rop.inverse_hvp(loss, b, rng.normal(size=3), feed, method=method)


def test_cg_on_an_indefinite_hessian_is_refused_not_zero():
    x = G.var("x", (2,))
    f = x[0] ** 2 - x[1] ** 2
    with pytest.raises(G.CertificateError, match="indefinite"):
        rop.inverse_hvp(f, x, [1.0, 1.0], {"x": [0.5, 0.2]}, method="cg")
    exact = rop.inverse_hvp(f, x, [1.0, 1.0], {"x": [0.5, 0.2]})  # well conditioned
    np.testing.assert_allclose(exact.x, [0.5, -0.5])


def test_a_refusal_says_what_was_found():
    f, w = _rosenbrock()
    with pytest.raises(G.CertificateError) as caught:
        rop.inverse_hvp(f, w, [1.0, 1.0], {"w": [0.5, 0.255]})
    message = str(caught.value)
    assert "condition estimate" in message and "rank 1 of 2" in message
    assert "regularizer" in message  # what to try
    assert caught.value.condition > 1e12


# -- 3. construction rewrites keep numpy's value --------------------------------------------
@pytest.mark.parametrize("build, at, expected", [
    (lambda s: 1e200 * (1e200 * s), 1e-300, 1e100),
    (lambda s: 1e-200 * (1e-200 * s), 1e300, 1e-100),
    (lambda s: s * 0.0, np.inf, np.nan),
    (lambda s: s * 0.0, np.nan, np.nan),
    (lambda s: 0.0 / s, 0.0, np.nan),
    (lambda s: G.log(G.exp(s)), 1000.0, np.inf),
    (lambda s: s + 0.0, -0.0, 0.0),
])
def test_rewrites_give_numpys_value(build, at, expected):
    s = G.var("s")
    with np.errstate(all="ignore"):
        got = G.evaluate(build(s), {"s": at})
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(expected) or np.signbit(got) == np.signbit(expected)


def test_a_nan_multiplied_by_zero_is_not_hidden():
    v = G.var("v", (2,))
    f = G.sum(G.log(v) * 0.0) + G.sum(v)
    with pytest.raises(G.DomainError, match="NaN"):
        G.evaluate(f, {"v": [-1.0, 1.0]}, check_finite=True)


# -- 4. axes are validated where the node is built ------------------------------------------
@pytest.mark.parametrize("build, message", [
    (lambda m, t: G.concatenate([m, m], axis=3), "concatenate: axis 3 .* rank 2"),
    (lambda m, t: G.transpose(m, axes=(1, 2)), "transpose: axis 2 .* rank 2"),
    (lambda m, t: G.transpose(t, axes=(0, 4, 2)), "transpose: axis 4 .* rank 3"),
    (lambda m, t: G.sum(m, axis=-3), "sum: axis -3 .* rank 2"),
    (lambda m, t: G.logsumexp(t, axis=(0, 0)), "repeated axis"),
])
def test_out_of_range_axes_raise_axis_errors(build, message):
    m, t = G.var("m", (2, 3)), G.var("t", (2, 3, 4))
    with pytest.raises(G.AxisError, match=message):
        build(m, t)


def test_indices_follow_numpy():
    q = G.var("q", (3, 2))
    with pytest.raises(IndexError, match="out of bounds"):
        q[5]
    value = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(G.evaluate(q[..., 0], {"q": value}), value[..., 0])
    np.testing.assert_array_equal(G.evaluate(q[None, :, 1], {"q": value}), value[None, :, 1])
    with pytest.raises(TypeError, match="axes must be an integer"):
        G.sum(q, axis="a")


# -- 5. variables are matched by name, as feeds are ------------------------------------------
def test_transformations_match_variables_by_name():
    f = G.sum(G.var("x", (3,)) ** 3)
    x_again = G.var("x", (3,))  # another object, the same variable: a loaded graph's case
    point = {"x": [1.0, 2.0, 3.0]}
    np.testing.assert_allclose(G.evaluate(rop.grad(f, x_again), point), [3.0, 12.0, 27.0])
    np.testing.assert_allclose(rop.inverse_hvp(f, x_again, [6.0, 12.0, 18.0], point).x,
                               [1.0, 1.0, 1.0])
    reloaded = G.loads(G.dumps(f))
    np.testing.assert_allclose(G.evaluate(rop.hvp(reloaded, x_again, np.ones(3)), point),
                               [6.0, 12.0, 18.0])
    with pytest.raises(G.ShapeError, match="variable 'x' has shape \\(3,\\)"):
        rop.grad(f, G.var("x", (4,)))


# -- 6. inverses of non-injective ops refuse values outside their image ------------------------
def test_odd_powers_are_bijective_even_powers_refuse_negative_values():
    s = G.var("s")
    z, s_of_z = rop.inverse(s**3, s)
    assert G.evaluate(s_of_z, {z: -8.0, "s": 1.0}) == pytest.approx(-2.0)
    for y in (s**2, G.abs(s), G.square(s), G.sqrt(G.exp(s))):
        z, s_of_z = rop.inverse(y, s)
        with pytest.raises(G.DomainError, match="outside"):
            G.evaluate(s_of_z, {z: -8.0, "s": 1.0})


# -- 7. feeds are never coerced silently ----------------------------------------------------
@pytest.mark.parametrize("value, message", [
    (1 + 2j, "complex"), ("3.5", "fed '3.5'"), (None, "fed None"), (object(), "object"),
])
def test_feeds_that_would_lose_or_invent_information_are_refused(value, message):
    s = G.var("s")
    with pytest.raises(G.FeedError, match=message):
        G.evaluate(s * 1.0, {"s": value})


def test_integer_variables_refuse_fractions_and_one_variable_one_value():
    n, s = G.var("n", (), dtype=np.int64), G.var("s")
    with pytest.raises(G.FeedError, match="'n' has dtype int64"):
        G.evaluate(n * 1.0, {"n": 1.7})
    with pytest.raises(G.FeedError, match="'s' is fed twice"):
        G.evaluate(s * 1.0, {"s": 1.0, s: 2.0})
    with pytest.raises(G.FeedError, match="must be a dict"):
        G.evaluate(s * 1.0, [1.0])
    with pytest.raises(G.ShapeError, match="not a rectangular array"):
        G.evaluate(G.var("x", (3,)) * 1.0, {"x": [[1.0], [1.0, 2.0], 3.0]})


# -- 8. float32 stays float32 ---------------------------------------------------------------
def test_python_scalars_do_not_promote_and_derivatives_keep_the_dtype():
    x = G.var("x", (2,), dtype=np.float32)
    for node in (x * 2, x**2, x / 3, 2.0 - x, G.sum(G.tanh(x) * 0.5)):
        assert node.dtype == np.float32, node
    feed = {"x": np.array([0.5, -1.0], np.float32), "v": np.ones(2, np.float32)}
    f = G.sum(G.tanh(x) ** 3)
    for node in (rop.grad(f, x), rop.hvp(f, x, G.var("v", (2,), np.float32)),
                 rop.hessian(f, x)):
        assert G.evaluate(node, feed).dtype == np.float32


# -- crashes, races and resources -----------------------------------------------------------
def test_empty_variables_have_empty_derivatives():
    e = G.var("e", (0,))
    f = G.sum(e**2)
    assert G.evaluate(rop.hessian(f, e), {"e": np.zeros(0)}).shape == (0, 0)
    assert rop.inverse_hvp(f, e, np.zeros(0), {"e": np.zeros(0)}).x.shape == (0,)
    x = G.var("x", (2,))
    feed = {"e": np.zeros(0), "x": np.array([1.0, 2.0])}
    assert G.evaluate(rop.jacobian(G.sum(e) * x, e), feed).shape == (2, 0)
    assert G.evaluate(rop.jacobian(G.concatenate([e, x]), e), feed).shape == (2, 0)


def test_compile_and_evaluate_from_many_threads(monkeypatch):
    monkeypatch.setattr(PROGRAMS, "CACHE_PROGRAMS", 3)  # constant eviction: a real race
    x = G.var("x", (4,))
    graphs = [G.sum(G.tanh(x * float(k)) ** 2) for k in range(12)]
    point = np.linspace(-1.0, 1.0, 4)
    expected = [float(np.sum(np.tanh(point * k) ** 2)) for k in range(12)]
    failures = []

    def work(offset):
        try:
            for i in range(300):
                k = (i + offset) % len(graphs)
                got = float(G.evaluate(graphs[k], {"x": point}))
                if got != pytest.approx(expected[k], rel=1e-14):
                    failures.append((k, got))
        except Exception as error:  # any error in a thread fails the test
            failures.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]


def test_the_compile_cache_is_bounded_by_bytes(monkeypatch):
    monkeypatch.setattr(PROGRAMS, "CACHE_BYTES", 20 * 2**20)
    G.clear_cache()
    x = G.var("x", (2**20,))
    for k in range(12):  # a new 8 MB constant each time, as minibatches baked in would be
        G.evaluate(G.sum(x * G.const(np.full(2**20, float(k)))), {"x": np.ones(2**20)})
        cached = sum(p.nbytes for p in PROGRAMS._CACHE.values())
        assert cached <= PROGRAMS.CACHE_BYTES
    G.clear_cache()
    assert not PROGRAMS._CACHE


def test_one_operand_repeated_a_million_times_compiles_to_one_short_line():
    x = G.var("x", (2,))
    program = G.compile(G.concatenate([x] * 1_000_000))
    assert len(program.source) < 200
    np.testing.assert_array_equal(program({"x": [1.0, 2.0]})[0][-4:], [1.0, 2.0, 1.0, 2.0])


def test_inversion_visits_each_node_a_bounded_number_of_times(monkeypatch):
    from rop.inverse.solver import Solver

    calls = []
    original = Solver._try
    monkeypatch.setattr(Solver, "_try", lambda self, node: calls.append(1) or original(
        self, node))
    for depth in (200, 800):
        calls.clear()
        x = G.var("x", (3,))
        y = x
        for i in range(depth):
            y = G.tanh(y) * 0.9 + 0.01 * (i % 3)
        rop.inverse(y, x)
        nodes = len(G.topo_order([cse(y)]))
        assert len(calls) <= 3 * nodes, (depth, len(calls), nodes)  # linear, not quadratic


def test_inverse_of_a_deep_chain_round_trips():
    x = G.var("x", (3,))
    y = x
    steps = [G.sinh, G.arcsinh, lambda u: -(u * 1.0001) + 0.01]  # bounded both ways
    for i in range(2100):
        y = steps[i % 3](y)
    z, x_of_z = rop.inverse(y, x)
    point = np.array([0.1, -0.2, 0.3])
    np.testing.assert_allclose(G.evaluate(x_of_z, {z: G.evaluate(y, {"x": point})}), point,
                               atol=1e-6)


def test_wrong_directions_name_both_shapes():
    x = G.var("x", (3,))
    f = G.sum(x**3)
    for method in ("auto", "cg"):
        with pytest.raises(G.ShapeError, match=r"shape \(4,\) given for var x \(3,\)"):
            rop.inverse_hvp(f, x, [1.0, 1.0, 1.0, 1.0], {"x": [1.0, 2.0, 3.0]}, method=method)
        with pytest.raises(G.ShapeError, match=r"shape \(\) given"):
            rop.inverse_hvp(f, x, 1.0, {"x": [1.0, 2.0, 3.0]}, method=method)


