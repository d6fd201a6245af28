"""Graphs on dask arrays: a compiled program fed dask arrays builds a lazy dask graph, computed
chunk by chunk on a LocalCluster (two worker processes, started and closed here), equal to
numpy's values to round-off; rop.optim's Objective and HessianFree on dask data."""

import numpy as np
import pytest

import graph as G
import rop
from graph.backends import dask_worker_environment
from rop.models import feed_of, flat, mlp, mlp_layers, mlp_values
from rop.optim import HessianFree, Objective, minimize

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("dask.distributed")

RTOL = 1e-12  # float64: chunked sums and products differ from numpy's by round-off only
N, SIZES, CHUNK = 600, [5, 7, 3], 100


@pytest.fixture(scope="module")
def client():
    with dask.config.set({"distributed.nanny.pre-spawn-environ": dask_worker_environment()}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


def _never_compute(*args, **kwargs):
    raise AssertionError("something was computed while the dask graph was being built")


def _relative(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))


def _mlp_problem(n=N, seed=0):
    """Loss, gradient, HVP and Gauss-Newton product graphs of a tanh MLP with a softmax
    cross-entropy loss over n examples, and a feed of numpy arrays."""
    rng = np.random.default_rng(seed)
    layers = mlp_layers(SIZES)
    x, y = G.var("X", (n, SIZES[0])), G.var("Y", (n, SIZES[-1]))
    out = mlp(x, layers)
    loss = G.softmax_cross_entropy(out, y) + 1e-3 * G.sum(layers[0][0] ** 2)
    params = flat(layers)
    vs = [G.var("v" + p.name, p.shape) for p in params]
    outputs = [loss, *rop.grad(loss, params), *rop.hvp(loss, params, vs),
               *rop.ggn_vp(loss, out, params, vs)]
    feed = feed_of(layers, mlp_values(SIZES, rng))
    labels = rng.integers(SIZES[-1], size=n)
    feed.update(X=rng.normal(size=(n, SIZES[0])), Y=np.eye(SIZES[-1])[labels])
    feed.update({v.name: rng.normal(size=v.shape) for v in vs})
    return outputs, feed


def _chunked(feed):
    return {k: da.from_array(v, chunks=(CHUNK, -1)) if k in ("X", "Y") else v
            for k, v in feed.items()}


def test_loss_gradient_hvp_and_ggn_on_the_cluster_equal_numpy(client):
    outputs, feed = _mlp_problem()
    expected = G.evaluate(outputs, feed)
    with dask.config.set(scheduler=_never_compute):
        lazy = G.evaluate(outputs, _chunked(feed))
    assert all(isinstance(v, da.Array) for v in lazy)
    got = dask.compute(*lazy)  # on the two workers
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert _relative(a, b) <= RTOL


def test_the_data_axis_stays_chunked_through_the_forward_pass(client):
    x = G.var("X", (N, 4))
    w = G.var("W", (4, 3))
    hidden = G.erf(G.tanh(x @ w))  # erf runs chunk by chunk (dask="blocks")
    feed = {"X": np.random.default_rng(1).normal(size=(N, 4)), "W": np.ones((4, 3)) / 4}
    lazy = G.evaluate(hidden, _chunked(feed))
    assert lazy.numblocks == (N // CHUNK, 1)
    assert _relative(lazy.compute(), G.evaluate(hidden, feed)) <= RTOL


def test_ops_dask_cannot_dispatch_run_by_blocks_and_agree_with_numpy(client):
    rng = np.random.default_rng(2)
    x = G.var("X", (N, 6))
    images = G.reshape(x, shape=(N, 1, 6))
    features = G.conv1d(images, G.const(rng.normal(size=(2, 1, 3))))  # per sample
    picked = G.take(x, [5, 0, 2], axis=1)  # a gather, and scatter_add in its VJP
    part = x[:, 1:4]  # getitem; scatter in its VJP
    loss = G.sum(G.erf(features) ** 2) + G.sum(picked * part) + G.sum(G.erfinv(0.5 * G.tanh(x)))
    outputs = [loss, rop.grad(loss, x)]
    feed = {"X": rng.normal(size=(N, 6))}
    got = dask.compute(*G.evaluate(outputs, _chunked(feed)))
    for a, b in zip(got, G.evaluate(outputs, feed)):
        assert _relative(a, b) <= RTOL


def test_float32_stays_float32_on_dask(client):
    x, w = G.var("X", (N, 3), np.float32), G.var("W", (3,), np.float32)
    loss = G.mean(G.tanh(x @ w) ** 2) * 0.5
    feed = {"X": np.random.default_rng(3).normal(size=(N, 3)).astype(np.float32),
            "W": np.ones(3, np.float32)}
    lazy = G.evaluate([loss, rop.grad(loss, w)], _chunked(feed))
    assert [v.dtype for v in lazy] == [np.float32, np.float32]
    got = dask.compute(*lazy)
    expected = G.evaluate([loss, rop.grad(loss, w)], feed)
    for a, b in zip(got, expected):
        assert a.dtype == np.float32
        assert _relative(a, b) <= 1e-5  # float32 round-off of a 600-term sum


def test_dask_feeds_are_checked_like_numpy_ones():
    x = G.var("x", (4, 2))
    with pytest.raises(G.ShapeError, match="expects shape"):
        G.evaluate(x * 2.0, {"x": da.ones((4, 3), chunks=2)})
    with pytest.raises(G.FeedError, match="complex"):
        G.evaluate(x * 2.0, {"x": da.ones((4, 2), chunks=2, dtype=complex)})
    with pytest.raises(G.FeedError, match="truncated"):
        G.evaluate(G.var("k", (2,), np.int64) * 2, {"k": da.ones(2, chunks=1)})
    lazy = G.evaluate(x * 2.0, {"x": da.ones((4, 2), chunks=2, dtype=np.int32)})  # cast lazily
    assert lazy.dtype == np.float64 and float(lazy.sum().compute()) == 16.0
    with pytest.raises(G.FeedError, match="check_finite"):
        G.evaluate(x * 2.0, {"x": da.ones((4, 2), chunks=2)}, check_finite=True)


def test_check_op_refuses_a_native_forward_that_computes_its_operands():
    import math

    computes = G.elementwise_op(
        "erf_vectorized_test",
        numpy=lambda x: np.vectorize(math.erf, otypes=[float])(x).astype(x.dtype),
        sympy=__import__("sympy").erf, deriv=lambda x, out: G.exp(-(x * x)) * 1.1283791670955126,
        inverse=G.NoInverse("test"), doc="erf through np.vectorize, declared native",
        dask="native", replace=True)
    with pytest.raises(G.RuleCheckError, match="dask forward"):
        rop.check_op(computes)


def _objective(data, n=N):
    layers = mlp_layers(SIZES, prefix="o")

    def build(m):
        x, y = G.var("x", (m, SIZES[0])), G.var("y", (m, SIZES[-1]))
        out = mlp(x, layers)
        return G.softmax_cross_entropy(out, y), out

    return Objective(build, flat(layers), data)


def test_objective_and_hessian_free_on_dask_data_follow_the_numpy_run(client):
    _, feed = _mlp_problem()
    data = {"x": feed["X"], "y": feed["Y"]}
    in_memory, on_cluster = _objective(data), _objective(
        {k: da.from_array(v, chunks=(CHUNK, -1)) for k, v in data.items()})
    theta = in_memory.flatten(flat(mlp_values(SIZES, np.random.default_rng(4))))
    v = np.random.default_rng(5).normal(size=theta.size)
    batch = np.arange(50, 150)
    assert abs(on_cluster.value(theta) - in_memory.value(theta)) <= RTOL * in_memory.value(theta)
    for kind in ("gradient", "hvp", "ggn_vp"):
        args = (theta,) if kind == "gradient" else (theta, v)
        for where in (None, batch):
            assert _relative(getattr(on_cluster, kind)(*args, where),
                             getattr(in_memory, kind)(*args, where)) <= RTOL
    runs = [minimize(o, theta, HessianFree(batch_size=200), max_iter=4) for o in
            (in_memory, on_cluster)]
    losses = [[r["loss"] for r in run.history] for run in runs]
    assert losses[1][-1] < losses[1][0]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-9)


def test_objective_refuses_bad_dask_data_where_it_is_given():
    x = np.ones((N, SIZES[0]))
    x[7, 2] = np.nan
    with pytest.raises(G.DomainError, match=r"1 NaN or infinite entries, the first at index "
                                            r"\(7, 2\)"):
        _objective({"x": da.from_array(x, chunks=CHUNK), "y": np.ones((N, SIZES[-1]))})
    objective = _objective({"x": da.ones((N, SIZES[0]), chunks=CHUNK),
                            "y": da.ones((N, SIZES[-1]), chunks=CHUNK)})
    with pytest.raises(ValueError, match="give a batch"):
        objective.per_example_gradient_squares(np.zeros(objective.size))


def test_the_large_data_example_trains_in_quick_mode(capsys):
    import dask_training

    run = dask_training.main(["--quick"])
    history = run["result"].history
    assert len(history) == 4 and history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert run["throughput"] > 0
    out = capsys.readouterr().out
    assert "M examples/s" in out and "noise floor" in out
