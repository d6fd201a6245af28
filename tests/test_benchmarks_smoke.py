"""Smoke tests of the peer comparison and memory benchmarks: they run end to end on the
small workloads with a tiny time budget, every HVP agrees with the hand-written one, and
rop's peak memory for the medium HVP is within 1.5x of hand-written numpy. Peers (jax,
torch, autograd) are compared when installed and skipped otherwise."""

import math

import compare_peers
import memory
import pytest


@pytest.fixture(scope="module")
def comparison():
    return compare_peers.main(["--quick", "--workloads", "tiny", "rosenbrock", "--rounds", "1",
                               "--sample-seconds", "0.001", "--first-call-repeats", "1"])


def test_compare_peers_returns_ratios_for_every_quantity(comparison, capsys):
    assert set(comparison) == {"tiny", "rosenbrock"}
    for result in comparison.values():
        ratios = result["ratios"]
        for quantity in compare_peers.QUANTITIES:
            assert ratios["numpy (hand)", quantity] == 1.0
            assert math.isfinite(ratios["rop fwd-rev", quantity]) and ratios[
                "rop fwd-rev", quantity] > 0
        assert ratios["rop rev-rev", "hvp"] > 0
        assert result["first_call"]["total"] > 0
        for peer_name in compare_peers.PEERS:  # compared when installed, else skipped
            compared = any(impl.startswith(peer_name) for impl in result["agreement"])
            assert compared != (peer_name in result["skipped"])


def test_all_hvps_agree_with_hand_written(comparison):
    for result in comparison.values():
        assert {"rop fwd-rev", "rop rev-rev"} <= set(result["agreement"])
        for impl, difference in result["agreement"].items():
            assert difference <= 1e-10, (impl, difference)


def test_hand_written_rosenbrock_matches_its_dense_hessian():
    loss, gradient, hvp = compare_peers.rosenbrock_numpy()
    import numpy as np

    w, v, step = np.array([-1.2, 1.0]), np.array([0.3, -0.7]), 1e-6
    fd = (gradient(w + step * v) - gradient(w - step * v)) / (2 * step)
    assert np.allclose(hvp(w, v), fd, rtol=1e-6)
    fd_grad = [(loss(w + step * e) - loss(w - step * e)) / (2 * step) for e in np.eye(2)]
    assert np.allclose(gradient(w), fd_grad, rtol=1e-6)


def test_memory_of_medium_hvp_within_target():
    results = memory.main(["--quick"])
    assert set(results) == {"medium"}
    assert 0 < results["medium"]["ratio"] <= memory.TARGET


@pytest.fixture
def one_blas_thread():
    """numpy is loaded before the benchmarks pin BLAS to one thread: pin it here (threadpoolctl
    comes with scikit-learn, which the digits problems need), or two threads on a loaded
    machine take three times the CPU."""
    pytest.importorskip("sklearn")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def test_hessian_comparison_runs_and_reports_jax_absent(monkeypatch, one_blas_thread):
    import compare_peers
    import hessian_peers
    import influence_functions

    x, t, _, _ = influence_functions.digits()
    small = influence_functions.Classifier("mlp", x[:100], t[:100], hidden=4)
    if compare_peers.peer("jax")[0] is not None:  # installed: compared, and agreeing
        result = hessian_peers.run(rounds=1, repeats=1, model=small)
        assert result["agreement"] < 1e-12 and set(result["ratios"]) == {"first", "steady"}
    monkeypatch.setitem(compare_peers._MODULES, "jax", (None, "ModuleNotFoundError: jax"))
    result = hessian_peers.run(rounds=1, repeats=1, model=small)
    assert result["skipped"] == "ModuleNotFoundError: jax" and result["ratios"] == {}
    assert result["first"]["rop"] > 0 and result["steady"]["rop"] > 0
    assert "jax" not in result["first"] and "jax" not in result["steady"]


def test_inverse_hvp_benchmark_runs_every_problem_and_route(one_blas_thread):
    import bench_inverse_hvp
    import compare_peers

    out = bench_inverse_hvp.main(["--quick"])
    rows = out["rows"]
    assert {r["problem"] for r in rows} == {"logistic", "mlp", "mlp-init", "square-l2 W",
                                            "square W"}
    routes = {r["route"] for r in rows}
    assert {"rop auto", "scipy minres", "rop.cg"} <= routes
    assert ("jax dense" in routes) == (compare_peers.peer("jax")[0] is not None)
    for r in rows:
        assert r["query"] > 0 and r["residual"] < 1e-3, r
        if r["route"].startswith("rop "):  # rop's exact routes: certified, and checked again
            assert r["certificate"] < 1e-8 and r["residual"] < 1e-8, r
    assert len(out["verdicts"]) == len(bench_inverse_hvp.TARGETS) + 2  # + the square net's
    for b in out["blocks"]:  # an approximation: each block exact, the whole far from it
        assert b["certificate"] < 1e-8 and b["full_residual"] > 1e-3


def test_scale_benchmark_agrees_in_quick_mode():
    pytest.importorskip("dask.distributed")
    import bench_scale

    results = bench_scale.main(["--quick"])
    assert results["dask"]["agreement"] <= 1e-12  # clusters and numpy: round-off only
    assert results["float32"]["agreement"] <= 1e-5  # float32 round-off of the HVP
    assert results["float32"]["memory ratio"] < 0.75  # half the bytes, plus fixed overheads
    assert set(results["ratios"]) == set(bench_scale.TARGETS)
    assert all(math.isfinite(r) and r > 0 for r in results["ratios"].values())
