"""Saving and loading graphs as JSON, in the versioned format of docs/file_format.md.

Loading never runs code from the file: ops are looked up by name in ``graph.op.REGISTRY``
only, every entry is checked against the ones before it, and every node is rebuilt with
``Op.make`` (no folding, no simplification), so the loaded graph is the saved one, node for
node. Every load error is a :class:`GraphFileError` naming the offending entry. Saving
checks the limits that loading checks, so a file that save writes, load reads back.

>>> import graph as G
>>> x = G.var("x", (2,))
>>> y = loads(dumps(G.sum(G.tanh(x))))
>>> print(G.pretty(y))
n0 = var 'x'  (2,)
n1 = tanh(n0)  (2,)
n2 = sum(n1, axis=(0,), keepdims=False)  ()
outputs: n2
"""

from __future__ import annotations

import base64
import json
import os

import numpy as np

from .io_format import (
    DTYPE_NAMES,
    DTYPES,
    FORMAT,
    INLINE,
    MAX_BYTES,
    MAX_EDGES,
    MAX_ENTRIES,
    MAX_INPUTS,
    MAX_NODES,
    VERSION,
    GraphFileError,
    Limits,
    encode_param,
)
from .io_read import read
from .op import REGISTRY
from .traverse import as_list, topo_order


# -- writing ------------------------------------------------------------------------------
def dumps(nodes, *, max_bytes=MAX_BYTES, max_nodes=MAX_NODES, max_entries=MAX_ENTRIES,
          max_edges=MAX_EDGES, max_inputs=MAX_INPUTS) -> str:
    """The JSON text of a node (or a list of nodes) and everything it depends on; a
    GraphFileError if the text is over a limit (as for :func:`loads`): load would refuse it.

    >>> import graph as G
    >>> dumps(G.var("x")).splitlines()[1]
    '  {"op": "var", "name": "x", "shape": [], "dtype": "float64"}'
    """
    outputs, single = as_list(nodes)
    order = topo_order(outputs)
    limits = Limits(True, max_bytes, max_nodes, max_entries, max_edges, max_inputs)
    limits.check("nodes", len(order), f"cannot save: {len(order)} nodes")
    index = {node: i for i, node in enumerate(order)}
    entries = [_encode_node(n, index) for n in order]
    for i, entry in enumerate(entries):
        try:
            limits.entry(entry)
        except GraphFileError as error:
            raise GraphFileError(f"cannot save node {i}: {error}") from None
    nonfinite = any(n.value is not None and not np.all(np.isfinite(n.value)) for n in order)
    header = {"format": FORMAT, "version": VERSION, "single": single,
              "allow_nonfinite": nonfinite, "outputs": [index[n] for n in outputs]}
    # one node per line: the file stays readable and diffs well
    body = ",\n  ".join(json.dumps(entry, allow_nan=False) for entry in entries)
    text = json.dumps(header)[:-1] + f', "nodes": [\n  {body}\n]}}\n'
    limits.check("bytes", len(text), f"cannot save: {len(text)} bytes")  # ASCII text
    return text


def save(nodes, path, **limits) -> None:
    """Write :func:`dumps` of ``nodes`` to the file ``path``; ``limits`` as for dumps."""
    text = dumps(nodes, **limits)  # before opening: a refused graph leaves no file behind
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)


def _encode_node(node, index) -> dict:
    entry = {"op": node.op.name}
    if node.is_var:
        entry["name"] = node.name
    elif not node.is_const:
        if REGISTRY.get(node.op.name) is not node.op:
            raise TypeError(f"cannot save {node!r}: its op is not the registered {node.op.name!r}")
        entry["inputs"] = [index[x] for x in node.inputs]
        entry["params"] = {key: encode_param(value) for key, value in node.params.items()}
    entry["shape"] = list(node.shape)
    if node.dtype not in DTYPE_NAMES:
        raise TypeError(f"cannot save {node!r}: dtype {node.dtype} is not one of "
                        f"{', '.join(DTYPES)}")
    entry["dtype"] = DTYPE_NAMES[node.dtype]
    if node.is_const:
        entry.update(_encode_array(node.value))
    return entry


def _encode_array(value) -> dict:
    # nested lists are readable; JSON numbers hold finite floats exactly (repr round-trips),
    # while raw bytes also keep NaN payloads and infinities
    if value.size <= INLINE and np.all(np.isfinite(value)):
        return {"data": value.tolist()}
    little = value.astype(value.dtype.newbyteorder("<"), copy=False)
    return {"base64": base64.b64encode(little.tobytes()).decode("ascii")}


# -- reading ------------------------------------------------------------------------------
def load(path, *, max_bytes=MAX_BYTES, max_nodes=MAX_NODES, max_entries=MAX_ENTRIES,
         max_edges=MAX_EDGES, max_inputs=MAX_INPUTS):
    """Read a graph file written by :func:`save`: the output node, or the list of them.
    The limits are those of :func:`loads`."""
    limits = Limits(False, max_bytes, max_nodes, max_entries, max_edges, max_inputs)
    try:
        with open(path, "rb") as file:
            data = file.read(max_bytes + 1)  # one byte more than allowed: enough to refuse
            size = max(len(data), os.fstat(file.fileno()).st_size)  # to report, not to read
    except OSError as error:
        raise GraphFileError(f"{path}: cannot read the file: {error}") from error
    limits.check("bytes", size, f"file: {size} bytes")
    return read(data, limits)


def loads(text, *, max_bytes=MAX_BYTES, max_nodes=MAX_NODES, max_entries=MAX_ENTRIES,
          max_edges=MAX_EDGES, max_inputs=MAX_INPUTS):
    """The graph in ``text`` (str or UTF-8 bytes): the output node, or the list of them.

    A GraphFileError names what is wrong, e.g. a limit exceeded: max_bytes of text, max_nodes,
    max_entries of a shape and of all constants, max_inputs of a node and max_edges in all.

    >>> loads('{"format": "rop-graph", "version": 1, "outputs": [0], "nodes": [{"op": "x"}]}')
    Traceback (most recent call last):
    graph.io_format.GraphFileError: node 0: unknown op 'x'
    """
    return read(text, Limits(False, max_bytes, max_nodes, max_entries, max_edges, max_inputs))

