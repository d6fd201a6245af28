"""graph/draw.py: DOT text (checked by parsing the lines it emits), rendering, LaTeX."""

import importlib.util
import re
import shutil
import sys
import time

import numpy as np
import pytest

import graph as G
import rop
from graph.draw import draw, to_dot, to_latex
from rop.models import flat, mlp, mlp_layers

NODE_LINE = re.compile(r"^  (n\d+|more) \[label=(<.*>|\"(?:[^\"\\]|\\.)*\"), (.*)\];$")
EDGE_LINE = re.compile(r"^  (n\d+|more) -> (n\d+)( \[.*\])?;$")
ATTR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
HAVE_GRAPHVIZ = importlib.util.find_spec("graphviz") is not None and shutil.which("dot")
needs_graphviz = pytest.mark.skipif(
    not HAVE_GRAPHVIZ, reason='rendering needs pip install "rop[draw]" and apt-get install '
                              'graphviz (the Python package or the dot program is missing)')


def parse(dot):
    """{node id: {"label": ..., attribute: value}} and [(source, target)] of a DOT text."""
    nodes, edges = {}, []
    for line in dot.splitlines():
        if match := NODE_LINE.match(line):
            ident, label, rest = match.groups()
            assert ident not in nodes, f"node {ident} stated twice"
            nodes[ident] = {"label": label, **dict(ATTR.findall(rest))}
        elif match := EDGE_LINE.match(line):
            edges.append(match.group(1, 2))
    return nodes, edges


def classes(attrs):
    return set(attrs["class"].split())


def small_graph():
    x, W = G.var("x", (3,)), G.var("W", (3, 2))
    return G.sum(G.tanh(x @ W) * 2.0), (x, W)


def mlp_loss(sizes):
    layers = mlp_layers(sizes)
    x = G.const(np.linspace(-1, 1, 5 * sizes[0]).reshape(5, sizes[0]))
    target = G.const(np.ones((5, sizes[-1])))
    return G.sum((mlp(x, layers) - target) ** 2), layers


def test_every_node_is_drawn_with_its_op_shape_and_name():
    y, _ = small_graph()
    order = G.topo_order([y])
    nodes, edges = parse(to_dot(y))
    assert len(nodes) == len(order)
    for i, node in enumerate(order):
        label = nodes[f"n{i}"]["label"]
        word = node.name if node.is_var else "const" if node.is_const else node.op.name
        assert f"<b>{word}</b>" in label or (node.is_const and "const" in label), label
        assert str(node.shape) in label
    assert sorted(edges) == sorted((f"n{order.index(x)}", f"n{i}")
                                   for i, node in enumerate(order) for x in node.inputs)


def test_kinds_and_outputs_have_distinct_styles():
    y, (x, W) = small_graph()
    nodes, _ = parse(to_dot([y, x]))  # a variable can be an output too
    look = {}
    for attrs in nodes.values():
        kind = (classes(attrs) - {"output"}).pop()
        look.setdefault(kind, set()).add((attrs["shape"], attrs["style"], attrs["fillcolor"]))
    assert set(look) == {"var", "const", "op"}
    assert all(len(styles) == 1 for styles in look.values())
    assert len(set.union(*look.values())) == 3
    outputs = {i for i, attrs in nodes.items() if "output" in classes(attrs)}
    assert outputs == {"n0", f"n{len(nodes) - 1}"}  # x is first in topological order, y last
    assert {nodes[i].get("penwidth") for i in outputs} == {"3"}
    assert all("penwidth" not in attrs for i, attrs in nodes.items() if i not in outputs)


def test_highlight_marks_exactly_the_nodes_shared_with_the_original():
    loss, layers = mlp_loss([3, 4, 2])
    grad = rop.grad(loss, layers[0][0])
    original = set(G.topo_order([loss]))
    order = G.topo_order([grad])
    expected = {f"n{i}" for i, node in enumerate(order) if node in original}
    assert 0 < len(expected) < len(order)  # the gradient reuses some nodes and adds others
    for highlight in (loss, [loss]):
        nodes, _ = parse(to_dot(grad, highlight=highlight))
        shared = {i for i, attrs in nodes.items() if "shared" in classes(attrs)}
        assert shared == expected
        assert {nodes[i]["fillcolor"] for i in shared} == {"#cccccc"}
        assert "#cccccc" not in {nodes[i]["fillcolor"] for i in nodes if i not in shared}
    assert not any("shared" in classes(a) for a in parse(to_dot(grad))[0].values())


def deep_chain(n):
    x = G.var("x", (4,))
    y = x
    for i in range(n):
        y = (G.tanh, G.sin, G.exp, G.neg)[i % 4](y)
    return x, y


def test_long_chains_collapse_into_one_box():
    x, y = deep_chain(500)
    out = G.sum(y)
    nodes, edges = parse(to_dot(out, max_nodes=50))
    assert len(nodes) == 2 and edges == [("n0", "n1")]
    chain = nodes["n1"]
    assert classes(chain) == {"chain", "output"} and chain["shape"] == "box3d"
    assert "tanh → sin → exp → … → neg → sum (501 ops)" in chain["label"]
    assert chain["tooltip"].endswith("n501 = sum(n500, axis=(0,), keepdims=False)  ()")
    # a graph within the limit is drawn node by node
    assert len(parse(to_dot(out, max_nodes=1000))[0]) == 502


def test_outputs_are_not_swallowed_by_chains():
    x, y = deep_chain(300)
    middle = G.topo_order([y])[150]
    nodes, _ = parse(to_dot([y, middle], max_nodes=20))
    outputs = [attrs for attrs in nodes.values() if "output" in classes(attrs)]
    assert len(nodes) == 3 and len(outputs) == 2
    assert sorted(re.search(r"\((\d+) ops\)", a["label"]).group(1) for a in outputs) == \
        ["150", "150"]


@pytest.mark.parametrize("max_nodes", [7, 60, 61, 150])
def test_big_graphs_draw_the_nodes_nearest_the_outputs_and_a_note(max_nodes):
    loss, layers = mlp_loss([3, 4, 4, 4, 4, 4, 2])
    params = flat(layers)
    hvp = rop.hvp(loss, params, [np.ones(p.shape) for p in params])
    total = len(G.topo_order(hvp))
    nodes, edges = parse(to_dot(hvp, highlight=loss, max_nodes=max_nodes))
    note = nodes.pop("more")
    assert len(nodes) == max_nodes
    assert max_nodes < 50 or any("chain" in classes(a) for a in nodes.values())
    hidden = int(re.search(r"… (\d+) more nodes not drawn", note["label"]).group(1))
    drawn = sum(int(m.group(1)) if (m := re.search(r"\((\d+) ops\)", a["label"])) else 1
                for a in nodes.values())
    assert hidden + drawn == total
    assert all(target in nodes for _, target in edges)
    assert sum(source == "more" for source, _ in edges) > 0
    # the outputs come first: every output is drawn when there is room
    outputs = sum("output" in classes(a) for a in nodes.values())
    assert outputs == min(len(params), max_nodes)


def test_same_graph_same_text():
    def build():
        loss, layers = mlp_loss([3, 4, 2])
        return rop.hvp(loss, flat(layers), [np.ones(p.shape) for p in flat(layers)]), loss

    (h1, l1), (h2, l2) = build(), build()
    assert to_dot(h1, highlight=l1, max_nodes=40) == to_dot(h2, highlight=l2, max_nodes=40)
    assert to_dot(h1, title="t") == to_dot(h1, title="t")


def test_labels_are_escaped():
    odd = G.var('a"b', ())
    weird = G.var("c\\d<e>&", ())
    dot = to_dot(odd * weird, title='say "hi" <now>')
    nodes, _ = parse(dot)
    assert "<b>a&quot;b</b>" in nodes["n0"]["label"]
    assert "<b>c\\d&lt;e&gt;&amp;</b>" in nodes["n1"]["label"]
    assert nodes["n0"]["tooltip"] == "n0 = var 'a\\\"b'  ()"
    assert nodes["n1"]["tooltip"] == "n1 = var 'c\\\\\\\\d<e>&'  ()"  # repr doubles it too
    assert "say &quot;hi&quot; &lt;now&gt;" in dot
    # whatever is left once labels and quoted strings are removed has no stray quotes
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", re.sub(r"label=<.*?>>?(?=[,\]])", "", dot))
    assert '"' not in bare and "<" not in bare.replace("->", "")


@needs_graphviz
def test_escaped_labels_render():
    import graphviz

    svg = graphviz.Source(to_dot(G.var('a"b', ()) * G.var("c<d>", ()))).pipe(format="svg")
    assert b"a&quot;b" in svg and b"c&lt;d&gt;" in svg


@needs_graphviz
@pytest.mark.parametrize("suffix", ["svg", "png"])
def test_draw_writes_svg_and_png(tmp_path, suffix):
    loss, layers = mlp_loss([3, 4, 2])
    path = draw(rop.grad(loss, layers[0][0]), tmp_path / f"grad.{suffix}", highlight=loss,
                title="gradient")
    assert path == tmp_path / f"grad.{suffix}"
    data = path.read_bytes()
    if suffix == "svg":
        assert b"<svg" in data and b"gradient" in data
    else:
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


def test_draw_without_the_graphviz_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # makes `import graphviz` fail
    with pytest.raises(RuntimeError, match=r'pip install "rop\[draw\]".*apt-get install graphviz'):
        draw(G.var("x"), tmp_path / "x.svg")
    assert not (tmp_path / "x.svg").exists()


@pytest.mark.skipif(importlib.util.find_spec("graphviz") is None,
                    reason='needs the graphviz Python package (pip install "rop[draw]")')
def test_draw_without_the_dot_program_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot on the path
    with pytest.raises(RuntimeError, match=r"dot.*apt-get install graphviz"):
        draw(G.var("x"), tmp_path / "x.png")


def test_draw_refuses_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match=r"\.svg"):
        draw(G.var("x"), tmp_path / "x.gif")


def test_max_nodes_must_be_positive():
    with pytest.raises(ValueError, match="max_nodes"):
        to_dot(G.var("x"), max_nodes=0)


def test_latex_of_small_graphs():
    x, a, b = G.var("x"), G.var("a"), G.var("b")
    assert "\\tanh" in to_latex(G.tanh(x) ** 2)
    derivative = to_latex(rop.grad(G.tanh(a * b), a))
    assert "\\tanh" in derivative and "b" in derivative
    M = G.var("M", (2, 2))
    assert "\\begin{matrix}" in to_latex(M @ M)


def test_latex_refuses_big_graphs_quickly():
    with pytest.raises(ValueError, match="100 entries"):
        to_latex(G.sum(G.tanh(G.var("x", (10, 10)))))
    y = G.var("x")
    for _ in range(60):  # a small graph whose formula doubles at each step
        y = y * y + G.tanh(y)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="operations"):
        to_latex(y)
    X = G.var("X", (8, 8))  # few nodes, but each matmul multiplies the formula's size by 8
    with pytest.raises(ValueError, match="operations"):
        to_latex(X @ X @ X @ X @ X @ X)
    assert time.perf_counter() - start < 30
