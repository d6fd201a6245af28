"""Threshold units and the perceptron rule (examples/threshold_units.py, examples/perceptron.py).

Expected values come from Python's own boolean operators and from hand-computed Novikoff bounds,
never from the examples' output.
"""

import itertools

import numpy as np
import perceptron as P
import pytest
import threshold_units as TU

BOOLEAN = {
    "AND": lambda x: int(bool(x[0] and x[1])),
    "OR": lambda x: int(bool(x[0] or x[1])),
    "NOT": lambda x: int(not x[0]),
}
ARITY = {"AND": 2, "OR": 2, "NOT": 1}

# By hand, on augmented inputs (-1, x): R^2 = 1 + arity; every gate's unit has raw margin 1/2,
# so (R / gamma)^2 = R^2 |(theta, w)|^2 / (1/2)^2.
HAND_BOUNDS = {"AND": 3 * 4.25 / 0.25, "OR": 3 * 2.25 / 0.25, "NOT": 2 * 1.25 / 0.25}


def test_gate_weights_are_the_classic_ones():
    assert TU.GATES == {"AND": ((1, 1), 1.5), "OR": ((1, 1), 0.5), "NOT": ((-1,), -0.5)}


@pytest.mark.parametrize("gate", ["AND", "OR", "NOT"])
def test_truth_table_is_the_boolean_function(gate):
    inputs = list(itertools.product((0, 1), repeat=ARITY[gate]))
    assert TU.truth_table(gate) == [(x, BOOLEAN[gate](x)) for x in inputs]


def test_threshold_is_strict():
    assert TU.threshold_unit((1, 1), 2.0, (1, 1)) == 0
    assert TU.threshold_unit((1, 1), 1.999, (1, 1)) == 1


@pytest.mark.parametrize("gate", ["AND", "OR", "NOT"])
def test_perceptron_learns_gate_within_novikoff_bound(gate):
    X, T, w_sep = P.gate_data(gate)
    w, updates, converged, _ = P.train_perceptron(X, T, max_epochs=100)
    bound = P.novikoff_bound(X, T, w_sep)
    assert bound == pytest.approx(HAND_BOUNDS[gate])
    assert converged
    assert 0 < updates <= bound  # w = 0 misclassifies every positive example, so updates > 0
    # the learned augmented w = (theta, w_1, ...) is a threshold unit computing the gate
    for x in itertools.product((0, 1), repeat=ARITY[gate]):
        assert TU.threshold_unit(w[1:], w[0], x) == BOOLEAN[gate](x)


def test_novikoff_bound_rejects_a_non_separating_vector():
    X, T, _ = P.gate_data("AND")
    with pytest.raises(ValueError):
        P.novikoff_bound(X, T, (0.5, 1, 1))  # OR's unit (theta, w1, w2) fires on (0, 1)


@pytest.mark.parametrize("seed", range(5))
def test_perceptron_converges_on_separable_random_data(seed):
    rng = np.random.default_rng(seed)
    normal = rng.normal(size=2)
    normal /= np.linalg.norm(normal)
    offset = rng.uniform(-0.3, 0.3)
    X = rng.uniform(-1, 1, size=(200, 2))
    X = X[np.abs(X @ normal - offset) >= 0.1]  # keep a margin around the hyperplane
    T = (X @ normal > offset).astype(int)
    assert 0 < T.sum() < len(T)  # both classes present, so the problem is not trivial
    w, updates, converged, _ = P.train_perceptron(X, T, max_epochs=10_000)
    assert converged
    assert updates <= P.novikoff_bound(X, T, np.array([offset, *normal]))
    assert np.array_equal((X @ w[1:] > w[0]).astype(int), T)


def test_perceptron_never_settles_on_xor():
    X = np.array(list(itertools.product((0, 1), repeat=2)))
    T = np.array([int(a != b) for a, b in X])
    epochs = 1000
    w, updates, converged, history = P.train_perceptron(X, T, max_epochs=epochs)
    assert not converged
    assert len(history) == epochs
    assert updates >= epochs  # every epoch had at least one mistake
    start, period = P.find_cycle(history)
    assert period >= 1
    assert history[start] == history[start + period]
    assert any(TU.threshold_unit(w[1:], w[0], x) != t for x, t in zip(X, T))


def test_find_cycle():
    assert P.find_cycle([(0,), (1,), (2,), (1,)]) == (1, 2)
    assert P.find_cycle([(0,), (1,), (2,)]) is None


def test_xor_constraints_match_xor():
    rows = P.xor_constraints()
    assert [(x, t) for x, t, _ in rows] == [((a, b), int(a != b))
                                            for a, b in itertools.product((0, 1), repeat=2)]
    for _, t, text in rows:
        assert ("<=" in text) == (t == 0)  # a unit that must stay off needs w.x <= theta


def test_no_threshold_unit_on_a_grid_computes_xor():
    grid = np.linspace(-2, 2, 17)
    inputs = list(itertools.product((0, 1), repeat=2))

    def computes(fn, w1, w2, theta):
        return all(TU.threshold_unit((w1, w2), theta, x) == fn(x) for x in inputs)

    units = list(itertools.product(grid, repeat=3))
    # the grid is rich enough to hold AND and OR units, yet none computes XOR
    assert any(computes(BOOLEAN["AND"], *u) for u in units)
    assert any(computes(BOOLEAN["OR"], *u) for u in units)
    assert not any(computes(lambda x: int(x[0] != x[1]), *u) for u in units)


def test_threshold_units_main_prints_tables(capsys):
    TU.main()
    out = capsys.readouterr().out
    assert "x1  x2" in out
    for gate in ("AND", "OR", "NOT"):
        assert f"{gate}:" in out


def test_perceptron_main_reports_bounds_and_xor_cycle(capsys):
    P.main()
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    for gate, bound in HAND_BOUNDS.items():
        assert f"{bound:.2f}" in lines[gate]
    assert "converged: False" in out
    assert "cycle" in out
    assert "w1 + w2 <= theta" in out
