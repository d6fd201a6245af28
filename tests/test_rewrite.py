"""The rewrites compile() applies: each one proved to keep values on random graphs, and
shown to fire where it should."""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import graphs, scalar_of, usable

import graph as G
import rop
from graph import ops
from graph.op import construction_rewrites
from graph.rewrite import cse, optimize, resimplify

RTOL = 1e-12  # merged constant factors round once instead of twice: a few ulps


def interpret(outputs, feed):
    """Reference evaluation: every node as built, op by op, no rewriting, no compilation."""
    values = {}
    for node in G.topo_order(outputs):
        if node.is_var:
            values[node] = np.asarray(feed[node.name], dtype=float)
        elif node.is_const:
            values[node] = node.value
        else:
            values[node] = node.op.numpy(*(values[x] for x in node.inputs), **node.params)
    return [np.asarray(values[n]) for n in outputs]


def assert_same(a_list, b_list):
    for a, b in zip(a_list, b_list):
        scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
        assert a.shape == b.shape and np.max(np.abs(a - b), initial=0.0) <= RTOL * scale


def _raw_graphs(data):
    """A random graph and its derivative graphs exactly as written: no construction-time
    rewrites, so the rewrites under test are compared with an independent reference."""
    with construction_rewrites(False):
        g = data.draw(graphs())
        f = scalar_of(g)
        v = [G.const(np.full(x.shape, 0.7)) for x in g.inputs]
        outputs = [g.output, f, *rop.grad(f, g.inputs), *rop.hvp(f, g.inputs, v)]
    return g, outputs


@given(st.data())
def test_compiled_programs_equal_the_unrewritten_graph(data):
    g, outputs = _raw_graphs(data)
    point = g.point()
    assume(usable(g, point))
    assert_same(G.compile(outputs)(point), interpret(outputs, point))


@given(st.data())
def test_each_rewrite_keeps_values(data):
    g, outputs = _raw_graphs(data)
    point = g.point()
    assume(usable(g, point))
    reference = interpret(outputs, point)
    for rewrite in (cse, resimplify, optimize):
        assert_same(interpret(rewrite(outputs), point), reference)


def test_cse_shares_the_forward_pass_between_gradient_and_hvp():
    x, W = G.var("x", (5, 3)), G.var("W", (3, 2))
    loss = ops.sum(ops.tanh(x @ W) ** 2)
    gradient = rop.grad(loss, W)
    hv = rop.hvp(loss, W, G.var("V", (3, 2)))
    both = G.compile([gradient, hv])
    assert sum(n.op is ops.tanh for n in both.nodes) == 1
    assert len(both.nodes) < len(G.compile(gradient).nodes) + len(G.compile(hv).nodes)


def test_identities_and_constant_folding():
    x = G.var("x", (2, 3))
    program = G.compile([
        ops.reshape(ops.reshape(x, shape=(3, 2)), shape=(6,)),
        ops.transpose(ops.transpose(x)),
        ops.neg(ops.neg(x)) * G.const(2.0) * G.const(3.0),
        ops.sum(ops.broadcast_to(G.var("b", (3,)), shape=(4, 3)), axis=0),
        x - 0.0,
        x + x,
    ])
    names = [n.op.name for n in program.nodes if not (n.is_var or n.is_const)]
    assert names.count("reshape") == 1 and "transpose" not in names and "neg" not in names
    assert "broadcast_to" not in names and "sub" not in names
    # x + x became 2 x; the one add left is sum(broadcast(b)) -> 4 b + 0.0, whose + 0.0
    # turns -0.0 into +0.0 as numpy's sum does
    assert names.count("add") == 1
    # (2 * 3) folded into one constant factor: one multiplication for the third output
    assert [n for n in program.nodes if n.is_const and n.size == 1 and n.value == 6.0]
    X, B = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 3.0])
    out = program({"x": X, "b": B})
    np.testing.assert_array_equal(out[0], X.reshape(6))
    np.testing.assert_array_equal(out[3], 4 * B)
    np.testing.assert_array_equal(out[4], X)
    np.testing.assert_array_equal(out[5], 2 * X)


def test_dead_nodes_are_not_computed():
    x, y = G.var("x", (3,)), G.var("y", (3,))
    unused = ops.exp(ops.tanh(x))
    program = G.compile([y * 2.0])
    assert unused not in program.nodes and [v.name for v in program.variables] == ["y"]


def test_multiplying_by_zero_keeps_nan_and_inf():
    x = G.var("x", (3,))
    value = G.evaluate(x * 0.0, {"x": [np.inf, np.nan, 2.0]})
    assert np.isnan(value[0]) and np.isnan(value[1]) and value[2] == 0.0


def test_derivatives_reuse_the_stored_forward_value():
    x = G.var("x", (4,))
    for op in (ops.tanh, ops.exp, ops.sigmoid):
        program = G.compile(rop.hvp(ops.sum(op(x)), x, G.var("v", (4,))))
        assert sum(n.op is op for n in program.nodes) == 1, op.name


def test_intermediates_are_freed_after_their_last_use():
    x, W = G.var("x", (5, 3)), G.var("W", (3, 3))
    h = ops.tanh(ops.tanh(x @ W) @ W)
    source = G.compile(rop.hvp(ops.sum(h * h), W, G.var("V", (3, 3)))).source
    assert "del " in source
    # every computed value is deleted or returned: nothing lingers
    assigned = {line.split(" = ")[0].strip() for line in source.splitlines() if " = " in line}
    deleted = {name.strip() for line in source.splitlines() if line.strip().startswith("del ")
               for name in line.strip()[4:].split(",")}
    returned = source.splitlines()[-1]
    assert all(name in deleted or name in returned for name in assigned)
