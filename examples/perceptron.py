"""The perceptron rule learns AND, OR and NOT, and provably cannot learn XOR (docs/math.md §18).

Fold the threshold into the weights with a constant input x_0 = -1 and weight w_0 = theta, so
that w . x > theta becomes w . x > 0 on the augmented vectors. The rule, applied to one example
at a time, is

    w <- w + (T - S) x        (T the target, S = [w . x > 0] the unit's output)

which changes w only on a mistake, by +x (missed a 1) or -x (false alarm). Novikoff: if some
unit-norm u separates the data with margin gamma = min_i y_i u . x_i > 0 (y = 2T - 1) and
R = max_i |x_i|, then starting from w = 0 the rule makes at most (R / gamma)^2 updates.

XOR has no separating w, so the rule never has an error-free epoch; with integer inputs the
weights stay integer and bounded, so the epoch-start weight state repeats: a cycle.

Run:  python examples/perceptron.py
"""

import numpy as np
from threshold_units import GATES, truth_table


def augment(X):
    """Prepend the bias input x_0 = -1 to every row of X."""
    X = np.asarray(X, dtype=float)
    return np.hstack([-np.ones((len(X), 1)), X])


def train_perceptron(X, T, max_epochs=100):
    """Run the perceptron rule from w = 0, cycling through (X, T) in order.

    Returns (w, updates, converged, history): w = (theta, w_1, ..., w_n) on the augmented
    inputs, the number of weight updates, whether an epoch passed without a mistake, and the
    weight vector (as a tuple) at the start of every epoch that was run.
    """
    Xa, T = augment(X), np.asarray(T)
    w = np.zeros(Xa.shape[1])
    updates, history = 0, []
    for _ in range(max_epochs):
        history.append(tuple(w))
        mistakes = 0
        for x, t in zip(Xa, T):
            s = int(w @ x > 0)
            if s != t:
                w = w + (t - s) * x
                mistakes += 1
        updates += mistakes
        if mistakes == 0:
            return w, updates, True, history
    return w, updates, False, history


def find_cycle(history):
    """(first epoch, period) of the first repeated epoch-start state, or None.

    The rule is deterministic, so once an epoch starts from a state seen before, every later
    epoch repeats too: the weights cycle forever. (Training stops at the first error-free
    epoch, so a converged run never repeats a state.)
    """
    seen = {}
    for epoch, state in enumerate(history):
        if state in seen:
            return seen[state], epoch - seen[state]
        seen[state] = epoch
    return None


def novikoff_bound(X, T, w_sep):
    """(R / gamma)^2 for the separating augmented vector w_sep = (theta, w_1, ..., w_n).

    gamma is the margin of the unit vector w_sep / |w_sep| on the augmented data, R the largest
    augmented input norm. Raises ValueError if w_sep does not separate the data.
    """
    Xa = augment(X)
    y = 2 * np.asarray(T) - 1
    u = np.asarray(w_sep, dtype=float) / np.linalg.norm(w_sep)
    gamma = np.min(y * (Xa @ u))
    if gamma <= 0:
        raise ValueError(f"w_sep does not separate the data (margin {gamma:.3g})")
    R = np.max(np.linalg.norm(Xa, axis=1))
    return (R / gamma) ** 2


def gate_data(gate):
    """(X, T) from the gate's truth table, and its threshold unit as augmented w_sep."""
    table = truth_table(gate)
    X = np.array([x for x, _ in table])
    T = np.array([s for _, s in table])
    w, theta = GATES[gate]
    return X, T, np.array([theta, *w])


XOR_X = np.array([(0, 0), (0, 1), (1, 0), (1, 1)])
XOR_T = np.array([0, 1, 1, 0])


def xor_constraints():
    """The condition each XOR row puts on a unit S = [w1 x1 + w2 x2 > theta].

    Returns [(x, target, constraint)]. Rows 2 and 3 add to w1 + w2 > 2 theta, and row 1
    says theta >= 0, so w1 + w2 > 2 theta >= theta, contradicting row 4: no unit computes XOR.
    """
    return [
        ((0, 0), 0, "w1*0 + w2*0 <= theta   =>  theta >= 0"),
        ((0, 1), 1, "w1*0 + w2*1 >  theta   =>  w2 > theta"),
        ((1, 0), 1, "w1*1 + w2*0 >  theta   =>  w1 > theta"),
        ((1, 1), 0, "w1*1 + w2*1 <= theta   =>  w1 + w2 <= theta"),
    ]


def main(max_epochs=100):
    print("Perceptron rule w <- w + (T - S) x, bias folded in as x_0 = -1, w_0 = theta\n")
    print(f"{'gate':>4} {'updates':>8} {'bound (R/gamma)^2':>18}   learned (theta, w)")
    for gate in GATES:
        X, T, w_sep = gate_data(gate)
        w, updates, converged, _ = train_perceptron(X, T, max_epochs)
        bound = novikoff_bound(X, T, w_sep)
        assert converged and updates <= bound, (gate, updates, bound)
        print(f"{gate:>4} {updates:>8} {bound:>18.2f}   {tuple(float(v) for v in w)}")

    print(f"\nXOR, {max_epochs} epochs:")
    _, updates, converged, history = train_perceptron(XOR_X, XOR_T, max_epochs)
    print(f"  converged: {converged} (no epoch without a mistake), updates: {updates}")
    start, period = find_cycle(history)
    print(f"  cycle: the weights (theta, w1, w2) = {tuple(float(v) for v in history[start])} "
          f"at the start of epoch {start}\n  recur every {period} epoch(s), so the rule never "
          f"settles")
    print("\n  Why: a unit S = [w1 x1 + w2 x2 > theta] computing XOR needs")
    for x, t, constraint in xor_constraints():
        print(f"    x = {x}, T = {t}:  {constraint}")
    print("  Adding rows 2 and 3: w1 + w2 > 2 theta >= theta (row 1), contradicting row 4.")


if __name__ == "__main__":
    main()
