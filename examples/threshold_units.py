"""Boolean gates as threshold units (docs/math.md §18).

A threshold unit fires when the weighted sum of its inputs exceeds its threshold:

    S(x) = 1 if w . x > theta else 0

With the right (w, theta) a single unit computes AND, OR and NOT:

    AND: w = (1, 1), theta = 3/2    fires only when both inputs are on
    OR:  w = (1, 1), theta = 1/2    fires when at least one input is on
    NOT: w = -1,     theta = -1/2   fires only when its input is off

Run:  python examples/threshold_units.py
"""

import itertools

import numpy as np

GATES = {
    "AND": ((1.0, 1.0), 1.5),
    "OR": ((1.0, 1.0), 0.5),
    "NOT": ((-1.0,), -0.5),
}


def threshold_unit(w, theta, x):
    """S = 1 if w . x > theta else 0 (strict inequality: w . x = theta does not fire)."""
    return int(np.dot(w, x) > theta)


def gate_inputs(gate):
    """All binary input vectors of the gate, in counting order: (0, 0), (0, 1), ..."""
    n_inputs = len(GATES[gate][0])
    return list(itertools.product((0, 1), repeat=n_inputs))


def truth_table(gate):
    """[(x, S(x)) for every binary input x] of the named gate's threshold unit."""
    w, theta = GATES[gate]
    return [(x, threshold_unit(w, theta, x)) for x in gate_inputs(gate)]


def format_table(gate):
    """A readable truth table: one column per input, the weighted sum w . x, the output."""
    w, theta = GATES[gate]
    names = [f"x{i + 1}" for i in range(len(w))]
    header = "  ".join(names) + f" |  w.x | {gate}"
    lines = [f"{gate}: w = {w}, theta = {theta}   (fires iff w.x > theta)", header,
             "-" * len(header)]
    for x, s in truth_table(gate):
        cells = "  ".join(f"{v:>{len(n)}}" for v, n in zip(x, names))
        weighted = np.dot(w, x) + 0.0  # + 0.0 turns NOT's -0.0 into 0.0
        lines.append(f"{cells} | {weighted:+4.1f} | {s:>{len(gate)}}")
    return "\n".join(lines)


def main():
    for gate in GATES:
        print(format_table(gate))
        print()


if __name__ == "__main__":
    main()
