"""graph.io: exact round trips of random and derivative graphs, and a loader that refuses
every malformed, inconsistent, oversized or hostile file with a GraphFileError."""

import base64
import json
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given
from strategies import graphs

import graph as G
import rop
from graph import ops
from graph.io import GraphFileError, dumps, load, loads, save


def same_values(a, b):
    """Bitwise-identical arrays (NaN payloads included)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_round_trip(nodes, point=None):
    text = dumps(nodes)
    loaded = loads(text)
    assert G.pretty(loaded) == G.pretty(nodes)
    assert dumps(loaded) == text  # same structure, params and constant bytes
    if point is not None:
        with np.errstate(all="ignore"):
            assert all(same_values(a, b) for a, b in
                       zip(G.evaluate(as_list(nodes), point), G.evaluate(as_list(loaded), point)))
    return loaded


def as_list(nodes):
    return [nodes] if isinstance(nodes, G.Node) else list(nodes)


# -- round trips --------------------------------------------------------------------------
@given(graphs())
def test_random_graphs_round_trip_exactly(g):
    loaded = assert_round_trip(g.output, g.point())
    assert isinstance(loaded, G.Node)


@given(graphs(max_nodes=5))
def test_derivative_graphs_round_trip_exactly(g):
    grads = rop.grad(ops.sum(g.output * g.output), g.inputs)
    loaded = assert_round_trip(grads, g.point())
    assert isinstance(loaded, list) and len(loaded) == len(g.inputs)


def test_large_and_special_constants_round_trip_bitwise():
    rng = np.random.default_rng(1)
    payload_nan = np.array([0x7FF8_0000_DEAD_BEEF], np.uint64).view(np.float64)[0]
    values = [rng.normal(size=(20, 30)),  # base64
              rng.normal(size=(3, 4)).astype(np.float32),  # nested lists
              rng.normal(size=(100,)).astype(np.float16),
              np.array([1.0, -0.0, np.inf, -np.inf, np.nan, payload_nan, 5e-324]),
              rng.integers(0, 2, size=(70,)).astype(bool),
              np.array([True, False]), np.float64(-0.0), np.zeros((0, 3))]
    consts = [G.const(v, dtype=v.dtype) for v in values]
    loaded = assert_round_trip(consts)
    assert all(same_values(a.value, b.value) for a, b in zip(consts, loaded))
    assert json.loads(dumps(consts))["allow_nonfinite"] is True


def test_special_floats_in_params_round_trip():
    x = G.var("x", (3,))
    alphas = [float("nan"), float("inf"), -float("inf"), -0.0, 5e-324, 1.7976931348623157e308,
              0.1]
    nodes = [ops.leaky_relu(x, alpha=a) for a in alphas]
    nodes.append(ops.away_from_kink(x, tol=float("inf"), context="ctx \u00e9\n\"quoted\""))
    loaded = assert_round_trip(nodes)
    for a, node in zip(alphas, loaded):
        assert struct.pack("<d", node.params["alpha"]) == struct.pack("<d", a)
    assert loaded[-1].params["context"] == "ctx \u00e9\n\"quoted\""


def test_structural_params_round_trip():
    x = G.var("x", (4, 3, 2), dtype=np.float32)
    nodes = [x[1:3, ::2], x[-1], ops.transpose(x, axes=(2, 0, 1)),
             ops.scatter(x[0], index=(0,), shape=(4, 3, 2)), ops.reshape(x, shape=(6, 4)),
             ops.concatenate([x, x, x], axis=1), ops.sum(x, axis=(0, 2), keepdims=True),
             ops.broadcast_to(x, shape=(5, 4, 3, 2)), ops.where(G.const([1.0, 0.0]), x, -x),
             ops.solve(G.var("a", (2, 2)), G.var("b", (2,)), context="s"),
             ops.full_rank(G.var("m", (3, 2)), need="columns", context="m")]
    assert_round_trip(nodes)


def test_nodes_that_building_would_fold_or_simplify_are_kept():
    x, c = G.var("x", (2,)), G.const([1.0, 2.0])
    nodes = [ops.add.make([x, G.const(0.0)], {}), ops.mul.make([c, c], {}),
             ops.transpose.make([x], {"axes": (0,)})]
    loaded = assert_round_trip(nodes)
    assert [n.op.name for n in loaded] == ["add", "mul", "transpose"]


def test_a_folded_transpose_computes_the_same_bits_after_loading():
    # the folded constant was a Fortran-ordered view, and matmul rounds differently on it
    # than on the C-ordered array a file loads: constants are stored C-ordered
    rng = np.random.default_rng(0)
    x = G.var("x", (1, 2))
    assert_round_trip(x @ G.const(rng.normal(size=(3, 2))).T, {"x": rng.normal(size=(1, 2))})


def test_shared_nodes_stay_shared():
    x = G.var("x", (3,))
    y = ops.tanh(x)
    z = ops.exp(y)
    f = [y * y + z, z * y]
    loaded = assert_round_trip(f)
    assert len(G.topo_order(loaded)) == len(G.topo_order(f))
    left, right = loaded
    assert left.inputs[0].inputs[0] is left.inputs[0].inputs[1]  # y * y: one y
    assert right.inputs[0] is left.inputs[1]  # z shared by both outputs


def test_save_and_load_files(tmp_path):
    x = G.var("x", (2,))
    save(ops.sum(x), tmp_path / "single.json")
    save([ops.sum(x)], tmp_path / "list.json")
    save([], tmp_path / "empty.json")
    assert isinstance(load(tmp_path / "single.json"), G.Node)
    assert len(load(tmp_path / "list.json")) == 1
    assert load(tmp_path / "empty.json") == []
    with pytest.raises(GraphFileError, match="cannot read"):
        load(tmp_path / "missing.json")
    with pytest.raises(GraphFileError, match="max_bytes"):
        load(tmp_path / "single.json", max_bytes=50)


def test_save_refuses_unsupported_dtypes_and_params():
    with pytest.raises(TypeError, match="dtype int64 is not one of bool, float16"):
        dumps(G.var("x", (), dtype=np.int64))
    bad = ops.exp.make([G.var("x")], {"p": [1, 2]})
    with pytest.raises(TypeError, match="list"):
        dumps(bad)


# -- targeted rejections ------------------------------------------------------------------
def sample_doc():
    """A valid document: node 0 var x, 1 var y, 2 mul, 3 const (base64), 4 add, 5 sum."""
    x, y = G.var("x", (2, 3)), G.var("y", (3,))
    doc = json.loads(dumps(ops.sum(x * y + G.const(np.full((2, 3), 0.5)), axis=1)))
    del doc["nodes"][3]["data"]  # small constants are written as lists: take the other path
    doc["nodes"][3]["base64"] = base64.b64encode(np.full(6, 0.5, "<f8").tobytes()).decode()
    return doc


def reject(doc, match, **limits):
    text = doc if isinstance(doc, (str, bytes)) else json.dumps(doc)
    with pytest.raises(GraphFileError, match=match):
        loads(text, **limits)


def edited(**changes):
    """sample_doc with node fields replaced: edited(node_2={"op": "foo"})."""
    doc = sample_doc()
    for key, fields in changes.items():
        doc["nodes"][int(key.split("_")[1])].update(fields)
    return doc


def test_sample_doc_is_valid():
    f = loads(json.dumps(sample_doc()))
    assert G.evaluate(f, {"x": np.ones((2, 3)), "y": np.ones(3)}).shape == (2,)


def test_rejects_unknown_op():
    reject(edited(node_2={"op": "foo"}), r"^node 2: unknown op 'foo'$")
    reject(edited(node_2={"op": ["mul"]}), r"^node 2: expected an object")


def test_rejects_wrong_arity():
    reject(edited(node_2={"inputs": [0]}), r"^node 2: mul takes 2 input\(s\), got 1")
    reject(edited(node_2={"op": "concatenate", "inputs": [], "params": {"axis": 0}}),
           r"^node 2: concatenate needs at least one input")


def test_rejects_forward_references_and_cycles():
    reject(edited(node_2={"inputs": [0, 4]}), r"^node 2: input 4 is not an earlier node")
    reject(edited(node_2={"inputs": [2, 1]}), r"^node 2: input 2 is not an earlier node")
    reject(edited(node_2={"inputs": [-1, 1]}), r"^node 2: input -1")
    reject(edited(node_2={"inputs": [0, True]}), r"^node 2: inputs must be a list of node")


def test_rejects_shape_mismatches():
    reject(edited(node_2={"shape": [3, 2]}), r"^node 2: recorded as \(3, 2\) float64, but mul")
    reject(edited(node_1={"shape": [4]}), r"^node 2: invalid mul node: ShapeError: mul: operand")
    reject(edited(node_5={"params": {"axis": [0, 1], "keepdims": False}}),
           r"^node 5: recorded as \(2,\)")
    reject(edited(node_3={"shape": [2, 2]}), r"^node 3: base64 data has 48 bytes")


def test_rejects_params_of_wrong_type_or_form():
    reject(edited(node_5={"params": {"axis": [1], "keepdims": 0}}), r"^node 5: sum params .*"
           r"not in normal form")
    reject(edited(node_5={"params": {"axis": 1, "keepdims": False}}), "not in normal form")
    reject(edited(node_5={"params": {"axis": ["1"], "keepdims": False}}), r"^node 5: invalid sum")
    reject(edited(node_5={"params": {"axis": [1]}}), "not in normal form")
    reject(edited(node_5={"params": {"axis": [1], "keepdims": False, "x": 1}}), "invalid sum")
    reject(edited(node_5={"params": {"axis": {"tuple": [1]}, "keepdims": False}}),
           r"^node 5: param 'axis': unsupported value")
    reject(edited(node_5={"params": [1]}), r"^node 5: params must be an object")
    reject(edited(node_2={"params": {"alpha": 1.0}}), r"^node 2: mul takes no params")
    reject(edited(node_2={"params": {}, "extra": 1}), r"^node 2: unknown field\(s\) 'extra'")


def test_rejects_bad_dtypes():
    for dtype in ["int64", "complex128", "float128", "object", 5, None, ["float64"]]:
        reject(edited(node_0={"dtype": dtype}), r"^node 0: dtype must be one of bool, float16")
    reject(edited(node_2={"dtype": "float32"}), r"^node 2: recorded as \(2, 3\) float32")


def test_rejects_constants_that_do_not_match():
    reject(edited(node_3={"base64": "AAAA"}), r"^node 3: base64 data has 3 bytes")
    reject(edited(node_3={"base64": "@@@@"}), r"^node 3: base64")
    reject(edited(node_3={"base64": 7}), r"^node 3: base64")
    reject(edited(node_3={"data": [[0.5] * 3] * 2}), r"^node 3: a constant needs exactly one")
    doc = edited(node_3={"data": [[0.5] * 3, [0.5] * 2]})
    del doc["nodes"][3]["base64"]
    reject(doc, r"^node 3: data does not match shape \(2, 3\) at depth 1")
    doc["nodes"][3]["data"] = [[0.5] * 3, [0.5, 1, 0.5]]
    reject(doc, r"^node 3: data entries of a float64 constant must be floats")
    doc["nodes"][3].update(data=[[0.1] * 3] * 2, dtype="float32")
    reject(doc, r"^node 3: data holds values that are not exactly float32")
    doc["nodes"][3].update(data=[[1e300] * 3] * 2, dtype="float16")
    reject(doc, r"^node 3: data holds values that are not exactly float16")
    bools = json.loads(dumps(G.const(np.ones(100, bool), dtype=bool)))
    bools["nodes"][0]["base64"] = "Ag" + bools["nodes"][0]["base64"][2:]  # first byte 2
    reject(bools, r"^node 0: base64 data of a bool constant")


def test_rejects_nonfinite_constants_unless_allowed():
    doc = json.loads(dumps(G.const([1.0, np.nan])))
    assert doc["allow_nonfinite"] is True
    assert np.isnan(loads(json.dumps(doc)).value[1])
    doc["allow_nonfinite"] = False
    reject(doc, r"^node 0: a constant holds NaN or Inf values")
    del doc["allow_nonfinite"]
    reject(doc, "allow_nonfinite")
    reject('{"format": "rop-graph", "version": 1, "outputs": [], "nodes": [], "x": NaN}',
           "not valid JSON: NaN is not JSON")


def test_rejects_oversized_input():
    text = json.dumps(sample_doc())
    advice = "if the file is trusted, pass a larger max_bytes= to load or loads$"
    reject(text, rf"^file: {len(text)} bytes, over the limit of 100 \(max_bytes\); {advice}",
           max_bytes=100)
    reject(text.encode(), rf"^file: {len(text)} bytes, over the limit of 100", max_bytes=100)
    reject(text, r"^file: 6 nodes, over the limit of 5 \(max_nodes\); .* larger max_nodes=",
           max_nodes=5)
    reject(edited(node_0={"shape": [10**6, 10**6]}), r"^node 0: shape \(1000000, 1000000\) has")
    reject(edited(node_0={"shape": [1] * 33}), r"^node 0: shape must be a list of at most 32")
    reject(dumps([G.const(np.ones(6)), G.const(np.ones(6))]),
           r"^node 1: the constants up to here hold 12 entries, over the limit of 10 "
           r"\(max_entries\)", max_entries=10)
    reject(text, r"^node 0: shape \(2, 3\) has 6 entries, over the limit of 5", max_entries=5)
    reject(text, r"^node 2: mul has 2 inputs, over the limit of 1 \(max_inputs\)", max_inputs=1)
    reject(text, r"^node 4: the nodes up to here have 4 inputs, over the limit of 3 "
                 r"\(max_edges\)", max_edges=3)


def test_load_reports_the_size_of_a_file_over_max_bytes(tmp_path):
    (tmp_path / "big.json").write_text(" " * 1000)
    with pytest.raises(GraphFileError, match=r"^file: 1000 bytes, over the limit of 100 "):
        load(tmp_path / "big.json", max_bytes=100)


def test_rejects_malformed_json():
    for text in ["", "{", "[1, 2", "NaN", '{"format": "rop-graph",}', "\x00", b"\xff\xfe",
                 "[" * 100_000 + "]" * 100_000, "1" * 5000]:
        reject(text, r"^file: (not valid JSON|not UTF-8|expected a JSON object)")
    reject("[]", r"^file: expected a JSON object at the top level")
    with pytest.raises(GraphFileError, match="expected str or bytes"):
        loads(None)


def test_rejects_wrong_or_missing_version_and_fields():
    for version in [2, 0, "1", 1.0, True, None]:
        doc = sample_doc()
        doc["version"] = version
        reject(doc, r"^file: unsupported format version")
    doc = sample_doc()
    del doc["version"]
    reject(doc, r"^file: unsupported format version None")
    doc = sample_doc()
    doc["format"] = "pickle"
    reject(doc, r"^file: \"format\" is 'pickle'")
    doc = sample_doc()
    doc["comment"] = "hi"
    reject(doc, r"^file: unknown field\(s\) 'comment'")
    doc = sample_doc()
    doc["outputs"] = [6]
    reject(doc, r"^outputs: must be a list of node indices below 6")
    doc = sample_doc()
    doc["outputs"], doc["single"] = [5, 5], True
    reject(doc, r"^outputs: a single output is marked, but 2 given")
    doc = sample_doc()
    del doc["nodes"][0]["name"]
    reject(doc, r"^node 0: missing field\(s\) name")
    reject(edited(node_0={"name": ""}), r"^node 0: a variable needs a non-empty string name")


def test_rejects_where_with_a_variable_condition():
    x = G.var("x", (2,))
    doc = json.loads(dumps(ops.where(G.const([1.0, 0.0]), x, -x)))
    doc["nodes"][0] = {"op": "var", "name": "c", "shape": [2], "dtype": "float64"}
    reject(doc, r"where: input 0 must be a constant")


class Exploit:
    """Unpickling this would create the sentinel file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_hostile_payloads_are_rejected_without_running_anything(tmp_path):
    sentinel = tmp_path / "pwned"
    reject(pickle.dumps(Exploit(sentinel)), "^file: not (UTF-8|valid JSON)")
    reject(pickle.dumps(Exploit(sentinel), protocol=0), "^file: not (UTF-8|valid JSON)")
    call = f"__import__('os').system('touch {sentinel}')"
    reject(edited(node_2={"op": call}), r"^node 2: unknown op \"__import__")
    for name in ["__class__", "__init__", "os.system", "builtins.eval", "REGISTRY"]:
        reject(edited(node_2={"op": name}), r"^node 2: unknown op")
    reject(edited(node_5={"params": {"axis": {"__reduce__": call}, "keepdims": False}}),
           "unsupported value")
    reject(edited(node_0={"name": {"py/object": "os.system"}}), "non-empty string name")
    doc = edited(node_3={"base64": call})
    reject(doc, r"^node 3: base64")
    assert not sentinel.exists()
