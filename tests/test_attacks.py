"""Property tests that attack the promise directly: every answer right or refused.

- rewrites: random graphs built without construction rewrites, compiled (which rewrites
  them) against a plain interpreter of the graph as written, at points made of special
  values (+-inf, NaN, +-0, huge, tiny, subnormal): the same NaN and Inf pattern, the same
  finite values up to rounding;
- inverse HVPs at random singular and nearly singular Hessians, by every method: either
  refused, or certified with a true residual (against the dense Hessian) within the
  tolerance the answer states;
- feeds of random wrong kinds: refused with a GraphError, or accepted without loss.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import graphs

import graph as G
import rop
from graph.op import construction_rewrites
from graph.rewrite import resimplify

SPECIAL = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e300, -1e300, 1e-300, 5e-324, 1.0, -1.0, 0.5,
           2.0, -3.0]
ROUNDING = 1e-9  # relative: a rewrite may round differently (x + x = 2 x is exact; c (d x)
# and (c d) x differ by an ulp or two per merged factor, sums of copies by a few more)


def interpret(outputs, feed):
    """The graph as written: each node's numpy forward in topological order, no rewrites."""
    values = {}
    for node in G.topo_order(outputs):
        if node.is_var:
            values[node] = np.asarray(feed[node.name], dtype=node.dtype)
        elif node.is_const:
            values[node] = node.value
        else:
            values[node] = np.asarray(node.op.numpy(*(values[x] for x in node.inputs),
                                                    **node.params))
    return [values[n] for n in outputs]


def same_value(got, expected) -> bool:
    got, expected = np.asarray(got, float), np.asarray(expected, float)
    if got.shape != expected.shape:
        return False
    nan = np.isnan(expected)
    if not np.array_equal(np.isnan(got), nan):
        return False
    inf = np.isinf(expected)
    if not np.array_equal(np.isinf(got), inf) or np.any(got[inf] != expected[inf]):
        return False
    finite = ~nan & ~inf
    scale = np.maximum(np.abs(expected[finite]), np.finfo(float).tiny)
    return bool(np.all(np.abs(got[finite] - expected[finite]) <= ROUNDING * scale + 1e-300))


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.data())
def test_rewrites_keep_numpys_value_at_special_points(data):
    with construction_rewrites(False):
        g = data.draw(graphs())
    rng = np.random.default_rng(g.seed)
    point = {x.name: rng.choice(SPECIAL, size=x.shape) for x in g.inputs}
    with np.errstate(all="ignore"):
        outcomes = [_outcome(lambda: interpret([g.output], point)[0]),
                    _outcome(lambda: G.evaluate(g.output, point)),
                    _outcome(lambda: interpret([resimplify(g.output)], point)[0])]
    written, compiled, rebuilt = outcomes
    if isinstance(written, G.GraphError):  # refused as written (a guard): refused rewritten
        assert isinstance(compiled, G.GraphError) and isinstance(rebuilt, G.GraphError), g
        return
    assert same_value(compiled, written), (g, point, compiled, written)
    assert same_value(rebuilt, written), (g, point)


def _outcome(compute):
    """The value, or the GraphError raised; any other error (a bare numpy one) fails."""
    try:
        return compute()
    except G.GraphError as error:
        return error


CONSTANTS = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, 1e200, 1e-200, 3e-310, np.inf, -np.inf, np.nan]


@st.composite
def rewritable(draw, depth=5):
    """Small expressions of a variable and the constants rewrites look for (0, -0, 1, huge,
    tiny, Inf, NaN), with the ops whose construction rules rewrite: +, -, *, /, neg, **,
    exp/log, sums and means of broadcasts, reshapes and transposes."""
    x = G.var("x", (2, 3))
    pool = [x]
    for _ in range(draw(st.integers(1, depth))):
        a = draw(st.sampled_from(pool))
        c = G.const(np.full(draw(st.sampled_from([(), (3,), (2, 3)])),
                            draw(st.sampled_from(CONSTANTS))))
        kind = draw(st.sampled_from(["add", "sub", "rsub", "mul", "div", "rdiv", "neg", "pow",
                                     "exp", "log", "self", "sumb", "meanb", "shape"]))
        node = _apply(kind, a, c, draw(st.sampled_from([1.0, 2.0, 3.0])))
        if node.shape == x.shape:
            pool.append(node)
    return x, pool[-1]


def _apply(kind, a, c, exponent):
    if kind in ("add", "sub", "mul", "div"):
        return {"add": a + c, "sub": a - c, "mul": c * a, "div": a / c}[kind]
    if kind in ("rsub", "rdiv"):
        return c - a if kind == "rsub" else c / a
    if kind == "neg":
        return -a
    if kind == "pow":
        return a**exponent
    if kind in ("exp", "log"):
        return G.exp(a) if kind == "exp" else G.log(a)
    if kind == "self":
        return a + a
    if kind in ("sumb", "meanb"):
        reduce = G.sum if kind == "sumb" else G.mean
        return reduce(G.broadcast_to(a, shape=(4,) + a.shape), axis=0)
    return G.reshape(a.T, shape=a.shape) if a.ndim == 2 else a


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_construction_rewrites_keep_numpys_value(data):
    with construction_rewrites(False):
        x, written = data.draw(rewritable())
    point = {"x": np.random.default_rng(0).choice(SPECIAL, size=(2, 3))}
    rewritten = resimplify(written)  # rebuilt through the ops: every rewrite applies
    with np.errstate(all="ignore"):
        expected = interpret([written], point)[0]
        for got in (interpret([rewritten], point)[0], G.evaluate(written, point)):
            assert same_value(got, expected), (G.pretty(written), G.pretty(rewritten),
                                               point, got, expected)


@st.composite
def singular_problems(draw):
    """f = 0.5 x^T A x + sum(c * x^4) - b.x type problems whose Hessian at the drawn point is
    singular, nearly singular (condition 1e6 to 1e18) or indefinite."""
    n = draw(st.integers(2, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    kind = draw(st.sampled_from(["singular", "nearly", "indefinite", "rank-deficient data"]))
    spectrum = rng.uniform(0.5, 2.0, size=n)
    if kind == "singular":
        spectrum[: draw(st.integers(1, n - 1))] = 0.0
    elif kind == "nearly":
        spectrum[0] = 10.0 ** -draw(st.integers(6, 18))
    elif kind == "indefinite":
        spectrum[: draw(st.integers(1, n - 1))] *= -1
    x = G.var("x", (n,))
    if kind == "rank-deficient data":
        data_matrix = rng.normal(size=(n - 1, n))  # fewer samples than unknowns
        f = 0.5 * G.sum((G.const(data_matrix) @ x) ** 2)
    else:
        f = 0.5 * (x @ (G.const(q @ np.diag(spectrum) @ q.T) @ x))
    return f, x, {"x": rng.normal(size=n)}, rng.normal(size=n), kind


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(singular_problems(), st.sampled_from(["auto", "linear", "dense", "cg", "functional"]))
def test_inverse_hvp_is_certified_or_refused(problem, method):
    f, x, point, v, kind = problem
    H = G.evaluate(rop.hessian(f, x), point)
    try:
        result = rop.inverse_hvp(f, x, v, point, method=method)
    except G.NotInvertibleError:
        return  # refused: allowed for every kind
    residual = np.linalg.norm(H @ result.x - v) / np.linalg.norm(v)
    # the stated tolerance holds for the true residual, up to the rounding of H @ x itself
    assert residual <= result.tolerance * 1.01 + 4 * np.finfo(float).eps, (
        kind, method, residual, result)
    assert kind in ("nearly", "indefinite"), (kind, method, result)  # singular: refused


WRONG_VALUES = st.one_of(
    st.none(), st.text(max_size=3), st.complex_numbers(allow_nan=False, allow_infinity=False),
    st.just([[1.0], [1.0, 2.0]]), st.just({"a": 1.0}), st.just(object()),
    st.lists(st.floats(allow_nan=False), min_size=0, max_size=4),
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5), st.booleans(),
    st.just(np.array([1, 2, 3], dtype=np.int8)), st.just(np.zeros((3, 1))),
    st.just(np.array(["a", "b", "c"])), st.just(np.array([1 + 1j, 2, 3])))


@given(WRONG_VALUES, st.sampled_from([np.float64, np.float32, np.int64]))
def test_feeds_are_refused_or_accepted_without_loss(value, dtype):
    x = G.var("x", (3,), dtype=dtype)
    try:
        got = G.evaluate(x * 1, {"x": value})
    except G.GraphError:
        return  # refused with one of rop's errors, naming the variable
    exact = np.asarray(value)  # accepted: it must be the value itself, cast without loss
    assert exact.shape == (3,) and np.can_cast(exact.dtype, dtype, "same_kind")
    np.testing.assert_array_equal(got, exact.astype(got.dtype))

