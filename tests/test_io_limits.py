"""graph.io's limits and fuzzing: save and load share their limits, variadic nodes are
bounded in inputs and in edges (refused quickly), and any mutation of a file loads or
raises a GraphFileError."""

import inspect
import json
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import graphs

import graph as G
import rop
from graph import io, ops
from graph.io import GraphFileError, dumps, load, loads, save
from graph.op import REGISTRY


def reject(doc, match, **limits):
    text = doc if isinstance(doc, (str, bytes)) else json.dumps(doc)
    with pytest.raises(GraphFileError, match=match):
        loads(text, **limits)


# -- save and load share their limits -----------------------------------------------------
def test_save_and_load_have_the_same_limits_and_defaults():
    keywords = {"max_bytes", "max_nodes", "max_entries", "max_edges", "max_inputs"}
    for function in (dumps, loads, load):
        parameters = inspect.signature(function).parameters
        assert keywords <= parameters.keys()
        assert {k: parameters[k].default for k in keywords} == {
            k: getattr(io, k.upper()) for k in keywords}


def chain(length):
    y = G.var("x")
    for _ in range(length):
        y = ops.exp(y)
    return y


def test_save_refuses_a_graph_load_would_refuse(tmp_path):
    f = chain(10)
    with pytest.raises(GraphFileError, match=r"^cannot save: 11 nodes, over the limit of 10 "
                       r"\(max_nodes\); load would refuse the file: pass a larger max_nodes= to "
                       r"save or dumps, and to load or loads$"):
        dumps(f, max_nodes=10)
    with pytest.raises(GraphFileError, match=r"^cannot save node 2: the nodes up to here have 2 "
                       r"inputs, over the limit of 1 \(max_edges\)"):
        save(f, tmp_path / "f.json", max_edges=1)
    assert not (tmp_path / "f.json").exists()
    with pytest.raises(GraphFileError, match=r"^cannot save: \d+ bytes, over the limit of 500"):
        dumps(f, max_bytes=500)
    with pytest.raises(GraphFileError, match=r"^cannot save node 0: shape \(2, 3\) has 6 "):
        dumps(G.var("x", (2, 3)), max_entries=5)
    with pytest.raises(GraphFileError, match=r"^cannot save node 1: concatenate has 3 inputs"):
        dumps(ops.concatenate([G.var("v", (2,))] * 3), max_inputs=2)
    save(f, tmp_path / "f.json", max_nodes=11)
    assert G.pretty(load(tmp_path / "f.json", max_nodes=11)) == G.pretty(f)


LIMITS = ["max_bytes", "max_nodes", "max_entries", "max_edges", "max_inputs"]


@given(graphs(max_nodes=5), st.dictionaries(st.sampled_from(LIMITS), st.integers(0, 40)))
def test_dumps_refuses_exactly_what_loads_refuses(g, limits):
    if "max_bytes" in limits:
        limits["max_bytes"] *= 50
    try:
        text = dumps(g.output, **limits)
    except GraphFileError as error:
        with pytest.raises(GraphFileError) as refused:  # the same text, read with the same limits
            loads(dumps(g.output), **limits)
        saving = str(error).replace("cannot save node", "node").replace("cannot save:", "file:")
        if "(max_bytes)" not in str(refused.value):  # loads checks the size first, dumps last
            assert saving.split(";")[0] == str(refused.value).split(";")[0]
    else:
        assert dumps(loads(text, **limits)) == text


# -- variadic ops: the inputs of one node and of all nodes are bounded --------------------
def concatenations(inputs_per_node):
    """The text of a file with one variable and concatenate nodes of the given numbers of
    inputs, each input the variable: written by hand, as a hostile file would be."""
    lines = ['{"op": "var", "name": "x", "shape": [1], "dtype": "float64"}']
    for count in inputs_per_node:
        lines.append(f'{{"op": "concatenate", "inputs": [{", ".join(["0"] * count)}], '
                     f'"params": {{"axis": 0}}, "shape": [{count}], "dtype": "float64"}}')
    return (f'{{"format": "rop-graph", "version": 1, "single": true, '
            f'"outputs": [{len(lines) - 1}], "nodes": [\n{",".join(lines)}\n]}}')


@given(st.lists(st.integers(1, 50), min_size=1, max_size=6), st.integers(1, 60),
       st.integers(1, 120))
def test_variadic_nodes_over_a_limit_are_refused(counts, max_inputs, max_edges):
    text = concatenations(counts)
    edges = np.cumsum(counts)
    over = [i for i, c in enumerate(counts) if c > max_inputs or edges[i] > max_edges]
    if not over:
        assert loads(text, max_inputs=max_inputs, max_edges=max_edges).shape == (counts[-1],)
        return
    node = over[0] + 1
    match = (rf"^node {node}: concatenate has {counts[over[0]]} inputs, over the limit of "
             rf"{max_inputs} \(max_inputs\)" if counts[over[0]] > max_inputs else
             rf"^node {node}: the nodes up to here have {edges[over[0]]} inputs, over the "
             rf"limit of {max_edges} \(max_edges\)")
    reject(text, match, max_inputs=max_inputs, max_edges=max_edges)


def test_a_huge_variadic_node_is_refused_quickly():
    # the input count is checked before any work per input: rebuilding, compiling or
    # differentiating a node with millions of inputs costs far more than reading its entry
    text = concatenations([2_000_000])  # 6 MB; 64 MiB would hold ten times as many
    start = time.perf_counter()
    reject(text, r"^node 1: concatenate has 2000000 inputs, over the limit of 65536 "
                 r"\(max_inputs\); if the file is trusted, pass a larger max_inputs= to load")
    assert time.perf_counter() - start < 2.0
    reject(concatenations([io.MAX_INPUTS] * 3), r"^node 3: the nodes up to here have 196608 "
           r"inputs, over the limit of 150000 \(max_edges\)", max_edges=150_000)


# -- fuzzing: any mutation loads or raises GraphFileError, quickly ------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**20) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["var", "const", "mul", "sum", "float64", "nan"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["op", "slice", "float", "data", "x"]), inner,
                      max_size=3),
    max_leaves=10)


def json_paths(value, path=()):
    """Every (path to a container, key) in a JSON document."""
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield path, key
        yield from json_paths(child, path + (key,))


@st.composite
def mutated_files(draw):
    g = draw(graphs(max_nodes=5))
    nodes = g.output if draw(st.booleans()) else rop.grad(ops.sum(g.output), g.inputs)
    text = dumps(nodes)
    kind = draw(st.sampled_from(["chars", "digits", "delete", "truncate", "document",
                                 "value", "params", "inputs", "op"]))
    if kind in ("chars", "digits"):  # digits keep the JSON valid but change every number
        chars = list(text)
        spots = [i for i, c in enumerate(chars) if kind == "chars" or c.isdigit()]
        for _ in range(draw(st.integers(1, 5))):
            new = draw(st.characters() if kind == "chars" else st.sampled_from("0123456789-"))
            chars[draw(st.sampled_from(spots))] = new
        return "".join(chars)
    if kind == "delete":
        start = draw(st.integers(0, len(text) - 1))
        return text[:start] + text[start + draw(st.integers(1, 40)):]
    if kind == "truncate":
        return text[:draw(st.integers(0, len(text) - 1))]
    if kind == "document":
        return json.dumps(draw(JSON_VALUES))
    doc = json.loads(text)
    node = draw(st.sampled_from(doc["nodes"]))
    if kind == "inputs" and "inputs" in node:
        node["inputs"] = draw(st.lists(st.integers(-2, len(doc["nodes"]) + 2), max_size=4))
    elif kind == "op" and "inputs" in node:
        node["op"] = draw(st.sampled_from(sorted(REGISTRY)) | st.text(max_size=10))
    elif kind == "params" and node.get("params"):
        node["params"][draw(st.sampled_from(sorted(node["params"])))] = draw(JSON_VALUES)
    else:
        path, key = draw(st.sampled_from(list(json_paths(doc))))
        container = doc
        for step in path:
            container = container[step]
        container[key] = draw(JSON_VALUES)
    return json.dumps(doc)


@given(mutated_files())
def test_mutated_files_load_or_raise_graph_file_error(text):
    start = time.perf_counter()
    try:
        result = loads(text)
    except GraphFileError:
        pass
    else:
        G.pretty(result)  # a loaded graph is a usable graph
    assert time.perf_counter() - start < 5.0
