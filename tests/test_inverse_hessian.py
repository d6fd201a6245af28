"""rop.inverse_hessian: each route against dense solves, batches of v's, how auto chooses,
and singular points refused."""

import numpy as np
import pytest

import graph as G
import rop

RNG = np.random.default_rng(4)


def _dense(f, wrt, feed):
    return G.evaluate(rop.hessian(f, wrt), feed)


def _flat(x):
    return np.concatenate([np.ravel(a) for a in (x if isinstance(x, list) else [x])])


def _mlp(seed=0, n=30, lam=1e-2):
    """A tanh layer then a linear one, softmax cross-entropy and an L2 term: no cheap tear."""
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n, 4)), np.eye(3)[rng.integers(0, 3, n)]
    W1, W2 = G.var("W1", (4, 5)), G.var("W2", (5, 3))
    z = G.tanh(G.const(X) @ W1) @ W2
    loss = G.softmax_cross_entropy(z, G.const(Y)) + 0.5 * lam * (G.sum(W1 * W1)
                                                                  + G.sum(W2 * W2))
    return loss, [W1, W2], {"W1": rng.normal(size=(4, 5)), "W2": rng.normal(size=(5, 3))}


def test_dense_route_matches_a_dense_solve_and_names_its_factorization():
    loss, params, feed = _mlp()
    H = _dense(loss, params, feed)
    inverse = rop.inverse_hessian(loss, params, feed, method="dense")
    v = [RNG.normal(size=p.shape) for p in params]
    result = inverse(v)
    np.testing.assert_allclose(_flat(result.x), np.linalg.solve(H, _flat(v)), rtol=1e-8)
    definite = np.all(np.linalg.eigvalsh(H) > 0)
    assert any(("Cholesky" if definite else "LU") in note for note in result.notes)


def test_an_indefinite_point_is_solved_exactly():
    loss, params, feed = _mlp(seed=3, lam=1e-3)
    feed = {k: 3 * v for k, v in feed.items()}  # far from a minimum: negative curvature
    H = _dense(loss, params, feed)
    assert np.min(np.linalg.eigvalsh(H)) < 0 < np.max(np.linalg.eigvalsh(H))
    result = rop.inverse_hessian(loss, params, feed, method="dense")(
        [np.ones(p.shape) for p in params])
    residual = np.linalg.norm(H @ _flat(result.x) - 1) / np.sqrt(H.shape[0])
    assert residual <= 1e-8 and "negative eigenvalues" in " ".join(result.notes)


def test_a_batch_of_vs_equals_one_query_each():
    loss, params, feed = _mlp(seed=1)
    inverse = rop.inverse_hessian(loss, params, feed)
    V = [RNG.normal(size=(4,) + p.shape) for p in params]
    batch = inverse(V, batched=True)
    for k in range(4):
        one = inverse([d[k] for d in V])
        for a, b in zip(batch.x, one.x):
            np.testing.assert_allclose(a[k], b, rtol=1e-10, atol=1e-12)
    assert batch.certificate <= batch.tolerance


@pytest.mark.parametrize("method", ["auto", "linear"])
def test_a_batch_runs_through_the_structural_route(method):
    A = G.const(RNG.normal(size=(8, 3)))
    T = G.var("T", (3, 2))
    f = 0.5 * G.sum((A @ T) ** 2) + 0.05 * G.sum(T * T)
    inverse = rop.inverse_hessian(f, T, {"T": np.zeros((3, 2))}, method=method)
    assert inverse.method == "linear"
    V = RNG.normal(size=(5, 3, 2))
    H = _dense(f, T, {"T": np.zeros((3, 2))})
    got = inverse(V, batched=True).x
    np.testing.assert_allclose(got.reshape(5, 6), np.linalg.solve(H, V.reshape(5, 6).T).T,
                               rtol=1e-10)


def test_regularized_square_loss_is_fused_and_factored_once():
    A, Y = G.const(np.tanh(RNG.normal(size=(50, 6)))), G.const(RNG.normal(size=(50, 3)))
    W = G.var("W", (6, 3))
    f = 0.5 * G.sum((A @ W - Y) ** 2) / 50 + 0.5 * 1e-2 * G.sum(W * W)
    feed = {"W": RNG.normal(size=(6, 3))}
    inverse = rop.inverse_hessian(f, W, feed)
    assert any("regularized Gram" in note for note in inverse.notes)
    source = inverse._solve._programs[None][0].source  # what a query runs
    assert "solve" not in source and "inv" not in source  # the factor is a constant
    v = RNG.normal(size=(6, 3))
    np.testing.assert_allclose(inverse(v).x.ravel(), np.linalg.solve(_dense(f, W, feed),
                                                                      v.ravel()), rtol=1e-10)


def test_low_rank_plus_l2_uses_the_push_through_identity():
    X, Y = RNG.normal(size=(6, 12)), np.eye(3)[RNG.integers(0, 3, 6)]
    W = G.var("W", (12, 3))
    z = G.const(X) @ W  # linear in W: H = J^T D J + lam I exactly, rank 18 < 36 plus lam I
    f = G.softmax_cross_entropy(z, G.const(Y)) + 0.5 * 0.1 * G.sum(W * W)
    feed = {"W": 0.1 * RNG.normal(size=(12, 3))}
    inverse = rop.inverse_hessian(f, W, feed, method="low-rank", output=z)
    assert "push-through" in inverse.notes[-1]
    v = RNG.normal(size=(12, 3))
    np.testing.assert_allclose(inverse(v).x.ravel(), np.linalg.solve(_dense(f, W, feed),
                                                                      v.ravel()), rtol=1e-9)
    hidden = G.tanh(G.const(X) @ W) @ G.const(RNG.normal(size=(3, 3)))
    g = G.sum(hidden**2) + 0.05 * G.sum(W * W)  # not J^T D J + c I: refused as such
    with pytest.raises(G.NotInvertibleError, match="not J\\^T D J \\+ c I"):
        rop.inverse_hessian(g, W, feed, method="low-rank", output=hidden)


def test_auto_prefers_the_cheapest_route_and_says_why():
    loss, params, feed = _mlp(seed=2)
    assert rop.inverse_hessian(loss, params, feed, tear_limit=0).method.startswith(
        "dense (structural:")
    fallback = rop.inverse_hessian(loss, params, feed, tear_limit=0, dense_bytes=0)
    assert fallback.method.startswith("cg (structural:") and "dense:" in fallback.method
    v = [np.ones(p.shape) for p in params]
    np.testing.assert_allclose(_flat(fallback(v).x), np.linalg.solve(_dense(loss, params,
                                                                            feed), _flat(v)),
                               rtol=1e-7)


def test_a_singular_point_is_refused_at_setup_with_its_rank():
    X = G.const(RNG.normal(size=(2, 4)))  # fewer samples than unknowns
    t = G.var("t", (4,))
    f = 0.5 * G.sum((X @ t) ** 2)
    with pytest.raises(G.NotInvertibleError, match="rank 2 of 4"):
        rop.inverse_hessian(f, t, {"t": np.zeros(4)}, method="dense")


def test_blocks_report_the_residual_against_the_full_hessian():
    loss, params, feed = _mlp(seed=5)
    v = [RNG.normal(size=p.shape) for p in params]
    blocks = rop.inverse_hvp(loss, params, v, feed, blocks=True)
    H = _dense(loss, params, feed)
    true = np.linalg.norm(H @ _flat(blocks.x) - _flat(v)) / np.linalg.norm(_flat(v))
    assert blocks.method.startswith("block-diagonal approximation")
    assert blocks.full_residual == pytest.approx(true, rel=1e-6) and true > 1e-3
