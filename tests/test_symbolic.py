"""graph.symbolic: to_sympy refuses expressions too deep for sympy with a GraphError (never a
RecursionError), and whatever it accepts can be printed under the default recursion limit;
from_sympy reads back every op sympy has a function for."""

import sys

import numpy as np
import pytest
import sympy

import graph as G
from graph import ops
from graph.symbolic import MAX_SYMPY_DEPTH, sympy_depth, sympy_values

x = G.var("x")


def chain(step, depth, start=x):
    y = start
    for _ in range(depth):
        y = step(y)
    return y


def printed_with_frames_in_use(expr, frames=300):
    """str(expr) called ``frames`` calls down, as from inside a deep caller."""
    return printed_with_frames_in_use(expr, frames - 1) if frames else str(expr)


@pytest.fixture
def default_recursion_limit():
    """Python's default limit, which MAX_SYMPY_DEPTH was measured against."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(limit)


def test_shallow_graph_converts_and_prints():
    expr = G.to_sympy(chain(ops.tanh, 50))
    assert str(expr) == "tanh(" * 50 + "x" + ")" * 50
    assert sympy_depth([expr]) == 51


def test_too_deep_to_build_is_a_graph_error_naming_the_depth(default_recursion_limit):
    deep = chain(ops.tanh, 400)
    for convert in (G.to_sympy, lambda f: G.to_sympy(f, max_depth=None), sympy_values):
        with pytest.raises(G.GraphError, match=r"graph 400 ops deep.*evaluate.*"
                                               r"sys\.setrecursionlimit") as error:
            convert(deep)
        assert not isinstance(error.value, RecursionError)


def test_too_deep_to_print_is_refused_unless_max_depth_is_none():
    deep = chain(ops.tanh, 150)
    with pytest.raises(G.GraphError, match=r"nested 151 levels deep, more than max_depth=100"):
        G.to_sympy(deep)
    with pytest.raises(G.GraphError, match="nested 151 levels deep, more than max_depth=120"):
        G.to_sympy(deep, max_depth=120)
    assert sympy_depth([G.to_sympy(deep, max_depth=None)]) == 151
    assert G.to_sympy(deep, max_depth=151) is not None
    matrix = chain(ops.tanh, 150, G.var("A", (2, 2)))
    with pytest.raises(G.GraphError, match="nested 151 levels deep"):
        G.to_sympy(matrix)


def test_small_graphs_unchanged():
    a = sympy.Symbol("a", real=True)
    assert G.to_sympy(ops.tanh(x) * 2) == 2 * sympy.tanh(sympy.Symbol("x", real=True))
    [value] = sympy_values(ops.exp(x), {x: np.array(a, dtype=object)})
    assert value[()] == sympy.exp(a)


STEPS = {
    "tanh": ops.tanh, "exp": ops.exp, "sigmoid": ops.sigmoid, "sqrt": ops.sqrt,
    "tanh + x": lambda y: ops.tanh(y) + x, "sin * x": lambda y: ops.sin(y) * x,
    "sign * x": lambda y: ops.sign(y) * x,
    "x / y": lambda y: x / (y + 1.0), "y ** x": lambda y: y ** x,
    "square + x": lambda y: ops.square(y) + x, "max": lambda y: ops.maximum(ops.exp(y), x),
    "exp(tanh * x + 1)": lambda y: ops.exp(ops.tanh(y) * x + 1.0),
}


@pytest.mark.parametrize("name", sorted(STEPS))
def test_every_accepted_expression_prints(name, default_recursion_limit):
    """Deeper and deeper graphs: each one accepted prints, until one is refused."""
    y = x
    for _ in range(1, 4 * MAX_SYMPY_DEPTH):
        y = STEPS[name](y)
        try:
            expr = G.to_sympy(y)
        except G.GraphError as error:
            assert "levels deep" in str(error) or "ops deep" in str(error)
            return
        assert printed_with_frames_in_use(expr)
    assert sympy_depth([expr]) <= MAX_SYMPY_DEPTH  # never refused: it stays shallow


def test_sympy_depth_counts_shared_parts_once_per_path():
    a, b = sympy.symbols("a b")
    assert sympy_depth([]) == 0
    assert sympy_depth([a]) == 1
    assert sympy_depth([a + sympy.tanh(b)]) == 3
    inner = a
    for _ in range(5000):  # 2**5000 paths through shared parts, deeper than recursion goes
        inner = sympy.Basic(inner, inner)
    assert sympy_depth([inner, a]) == 5001


# -- from_sympy reads back every op sympy has a function for --------------------------------
READ_BACK = [ops.arcsin, ops.arccos, ops.erf, ops.erfinv, ops.log1p, ops.expm1, ops.arctan,
             ops.sinh, ops.cosh, ops.arcsinh, ops.stop_gradient, ops.arctan2]


@pytest.mark.parametrize("op", READ_BACK, ids=lambda op: op.name)
def test_to_sympy_and_from_sympy_give_the_op_back(op):
    scalars = [G.var(f"x{i}") for i in range(op.arity)]
    expr = G.to_sympy(op(*scalars))
    vectors = [G.var(f"v{i}", (5,)) for i in range(op.arity)]  # the expression broadcasts
    back = G.from_sympy(expr, {sympy.Symbol(s.name, real=True): v
                               for s, v in zip(scalars, vectors)})
    assert back.op is op and back.inputs == tuple(vectors)
    rng = np.random.default_rng(1)
    points = [op.input_domain(i).sample(rng, (5,)) for i in range(op.arity)]
    # an independent value: sympy's own evaluation of the expression, with 30 digits
    expected = [float(expr.xreplace({sympy.Symbol(s.name, real=True): sympy.Float(p[k], 30)
                                     for s, p in zip(scalars, points)}).evalf(30))
                for k in range(5)]
    got = G.evaluate(back, {v.name: p for v, p in zip(vectors, points)})
    np.testing.assert_allclose(got, expected, rtol=1e-14)


A, B = sympy.symbols("a b", real=True)


# to_sympy writes log1p and expm1 as log(1 + u) and exp(u) - 1: read back as the ops, a tiny u
# is not lost to 1 + u == 1 (log and exp would give 0 on all of these)
@pytest.mark.parametrize("expr, a", [(sympy.log(1 + A), 1e-20), (sympy.exp(A) - 1, 1e-20),
                                     (sympy.log(sympy.exp(A) + 1), -50.0),
                                     (sympy.exp(A) - 1 + B, 1e-20)], ids=str)
def test_from_sympy_keeps_small_arguments_accurate(expr, a):
    b = 3e-21
    node = G.from_sympy(expr, {A: G.var("x"), B: G.var("y")})
    expected = float(expr.xreplace({A: sympy.Float(a, 30), B: sympy.Float(b, 30)}).evalf(30))
    assert float(G.evaluate(node, {"x": a, "y": b})) == pytest.approx(expected, rel=1e-15)


def test_from_sympy_reads_sympys_code_generation_functions():
    from sympy.codegen.cfunctions import expm1, hypot, log1p

    a, b = sympy.symbols("a b", real=True)
    x, y = G.var("x"), G.var("y")
    node = G.from_sympy(hypot(a, b) + log1p(a) - expm1(b), {a: x, b: y})
    assert {n.op.name for n in G.topo_order([node])} >= {"hypot", "log1p", "expm1"}
    huge = G.evaluate(G.from_sympy(hypot(a, b), {a: x, b: y}), {"x": 3e200, "y": 4e200})
    assert float(huge) == pytest.approx(5e200, rel=1e-15)  # no overflow of a**2 + b**2


def test_from_sympy_refuses_a_function_without_an_op():
    a = sympy.Symbol("a", real=True)
    with pytest.raises(G.GraphError, match="no op for sympy floor"):
        G.from_sympy(sympy.floor(a), {a: x})
