"""float32 end to end: a graph of float32 variables, float32 constants and Python scalars stays
float32 through evaluate, compile, every derivative and the optimizers, and its values agree
with the same graph in float64 to float32 round-off."""

import numpy as np
import pytest

import graph as G
import rop
from rop.optim import Adam, GradientDescent, HessianFree, Newton, Objective, minimize

# Relative agreement with float64: float32 keeps 24 bits (eps 6e-8); a few dozen operations
# and sums of 40 terms grow the error by well under 100 eps
ROUND_OFF = 1e-5
SIZES, N = [3, 5, 2], 40


def _graphs(dtype):
    """A tanh MLP's loss (with constants and Python scalars) and its derivatives."""
    W1, b1, W2 = (G.var(n, s, dtype) for n, s in (("W1", (3, 5)), ("b1", (5,)), ("W2", (5, 2))))
    x, y = G.var("X", (N, 3), dtype), G.var("Y", (N, 2), dtype)
    out = G.tanh(x @ W1 + b1) @ W2
    scale = G.const(np.array([1.0, 2.0], dtype))
    loss = 0.5 * G.mean(G.sum(scale * (out - y) ** 2, axis=1)) + 1e-3 * G.sum(W1 ** 2) \
        + G.logsumexp(G.sigmoid(out) / 3, axis=None) - 1
    params = [W1, b1, W2]
    vs = [G.var("v" + p.name, p.shape, dtype) for p in params]
    outputs = [loss, *rop.grad(loss, params), rop.jvp(out, {W1: vs[0]}),
               *rop.hvp(loss, params, vs), *rop.hvp(loss, params, vs, mode="rev-rev"),
               *rop.ggn_vp(loss, out, params, vs), rop.hessian(loss, W2),
               rop.jacobian(G.sum(out, axis=0), b1)]
    return outputs


def _feed(dtype):
    rng = np.random.default_rng(0)
    shapes = {"W1": (3, 5), "b1": (5,), "W2": (5, 2), "X": (N, 3), "Y": (N, 2)}
    feed = {k: rng.normal(size=s) for k, s in shapes.items()}
    feed.update({"v" + k: rng.normal(size=shapes[k]) for k in ("W1", "b1", "W2")})
    return {k: v.astype(dtype) for k, v in feed.items()}


def test_every_node_and_value_of_a_float32_graph_is_float32():
    outputs = _graphs(np.float32)
    assert {n.dtype for n in G.topo_order(outputs)} == {np.dtype(np.float32)}
    program = G.compile(outputs)
    assert {n.dtype for n in program.nodes} == {np.dtype(np.float32)}  # after rewriting too
    values = program(_feed(np.float32))
    assert [v.dtype for v in values] == [np.float32] * len(values)
    checked = G.evaluate(outputs, _feed(np.float32), check_finite=True)
    assert [v.dtype for v in checked] == [np.float32] * len(values)


def test_float32_values_agree_with_float64_to_round_off():
    single = G.evaluate(_graphs(np.float32), _feed(np.float32))
    # the same float32 numbers, computed in float64
    double = G.evaluate(_graphs(np.float64), {k: v.astype(np.float64)
                                              for k, v in _feed(np.float32).items()})
    for a, b in zip(single, double):
        scale = max(float(np.max(np.abs(b))), 1.0)
        assert np.max(np.abs(a.astype(np.float64) - b)) <= ROUND_OFF * scale


def test_a_float64_constant_still_promotes_as_numpy_does():
    x = G.var("x", (2,), np.float32)
    assert (x * 2.0 + 1).dtype == np.float32  # Python scalars do not promote
    assert (x * G.const(np.float64(2.0))).dtype == np.float64  # numpy's rule for arrays


def _objective(dtype):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    Y = np.tanh(X @ rng.normal(size=(3, 2)))
    W1, b1, W2 = G.var("W1", (3, 5), dtype), G.var("b1", (5,), dtype), G.var("W2", (5, 2), dtype)

    def build(m):
        x, y = G.var("x", (m, 3), dtype), G.var("y", (m, 2), dtype)
        out = G.tanh(x @ W1 + b1) @ W2
        return 0.5 * G.mean(G.sum((out - y) ** 2, axis=1)), out

    theta0 = np.concatenate([rng.normal(size=15) * 0.5, np.zeros(5), rng.normal(size=10) * 0.5])
    return Objective(build, [W1, b1, W2], {"x": X, "y": Y}), theta0


@pytest.mark.parametrize("optimizer", [HessianFree(batch_size=50), HessianFree("hessian"),
                                       Newton(damping=1e-2), GradientDescent(0.1, 0.5),
                                       Adam(0.01)], ids=lambda o: type(o).__name__)
def test_optimizers_keep_float32_and_follow_the_float64_run(optimizer):
    runs = {}
    for dtype in (np.float32, np.float64):
        objective, theta0 = _objective(dtype)
        assert objective.gradient(theta0).dtype == dtype
        assert objective.hvp(theta0, theta0).dtype == dtype
        runs[dtype] = minimize(objective, theta0, optimizer, max_iter=5)
    single, double = runs[np.float32], runs[np.float64]
    assert single.theta.dtype == np.float32
    assert all(v.dtype == np.float32 for v in single.params.values())
    assert single.loss < single.history[0]["loss"]
    # five steps amplify round-off differences little on this well-conditioned problem
    assert abs(single.loss - double.loss) <= 1e-3 * double.loss


def test_cg_keeps_float32():
    a = np.array([[4.0, 1.0], [1.0, 3.0]], np.float32)
    result = rop.cg(lambda v: a @ v, np.array([1.0, 2.0], np.float32),
                    precond=[4.0, 3.0], tol=1e-6)
    assert result.x.dtype == np.float32
    np.testing.assert_allclose(result.x, np.linalg.solve(a.astype(float), [1.0, 2.0]),
                               rtol=1e-5)
