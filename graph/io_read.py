"""Reading graph files: every entry checked against the ones before it, every node rebuilt
with ``Op.make`` (no folding, no simplification); nothing in a file is run."""

from __future__ import annotations

import base64
import binascii
import json
import math
from reprlib import repr as _short  # a repr cut short: file contents may be huge

import numpy as np

from .io_format import (
    DTYPES,
    FIELDS,
    FORMAT,
    MAX_NDIM,
    NONFINITE,
    OP_FIELDS,
    VERSION,
    GraphFileError,
    encode_param,
)
from .leaves import const, var
from .op import REGISTRY
from .shapes import PARAM_DEPTH


def read(text, limits):
    doc = _parse(text, limits)
    _check_header(doc, limits)
    reader = _Reader(doc.get("allow_nonfinite", False), limits)
    for i, entry in enumerate(doc["nodes"]):
        try:
            reader.add(entry)
        except GraphFileError as error:
            raise GraphFileError(f"node {i}: {error}") from None
    return _outputs(doc, reader.nodes)


def _parse(text, limits):
    if not isinstance(text, (str, bytes, bytearray)):
        raise GraphFileError(f"file: expected str or bytes, got {type(text).__name__}")
    limits.check("bytes", len(text), f"file: {len(text)} bytes")  # characters of a str
    if not isinstance(text, str):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as error:
            raise GraphFileError(f"file: not UTF-8 text: {error}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise GraphFileError(f"file: not valid JSON: {error}") from None


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON; non-finite floats are written as {{\"float\": ...}}")


def _check_header(doc, limits):
    if not isinstance(doc, dict):
        raise GraphFileError("file: expected a JSON object at the top level")
    if doc.get("format") != FORMAT:
        raise GraphFileError(f"file: \"format\" is {_short(doc.get('format'))}, not {FORMAT!r}")
    version = doc.get("version")
    if type(version) is not int or version != VERSION:
        raise GraphFileError(f"file: unsupported format version {_short(version)} "
                             f"(this reader reads version {VERSION})")
    _check_fields(doc, {"format", "version", "nodes", "outputs"}, {"single", "allow_nonfinite"},
                  "file: ")
    for key in ("single", "allow_nonfinite"):
        if not isinstance(doc.get(key, False), bool):
            raise GraphFileError(f"file: {key!r} must be true or false")
    if not isinstance(doc["nodes"], list):
        raise GraphFileError("file: \"nodes\" must be a list")
    limits.check("nodes", len(doc["nodes"]), f"file: {len(doc['nodes'])} nodes")


def _outputs(doc, nodes):
    indices = doc["outputs"]
    if not isinstance(indices, list) or not all(_is_index(j, len(nodes)) for j in indices):
        raise GraphFileError(f"outputs: must be a list of node indices below {len(nodes)}, "
                             f"got {_short(indices)}")
    outputs = [nodes[j] for j in indices]
    if doc.get("single", False):
        if len(outputs) != 1:
            raise GraphFileError(f"outputs: a single output is marked, but {len(outputs)} given")
        return outputs[0]
    return outputs


class _Reader:
    """Rebuilds nodes one entry at a time, each checked against the nodes before it."""

    def __init__(self, allow_nonfinite, limits):
        self.nodes = []
        self.allow_nonfinite = allow_nonfinite
        self.limits = limits

    def add(self, entry):
        if not isinstance(entry, dict) or not isinstance(entry.get("op"), str):
            raise GraphFileError("expected an object with an \"op\" name")
        name = entry["op"]
        if name not in FIELDS and name not in REGISTRY:
            raise GraphFileError(f"unknown op {_short(name)}")
        _check_fields(entry, *FIELDS.get(name, OP_FIELDS))
        shape, dtype = self.shape(entry["shape"]), _dtype(entry["dtype"])
        self.limits.entry(entry)
        if name == "var":
            if not isinstance(entry["name"], str) or not entry["name"]:
                raise GraphFileError(f"a variable needs a non-empty string name, got "
                                     f"{_short(entry['name'])}")
            node = var(entry["name"], shape, dtype)
        elif name == "const":
            node = self.const(entry, shape, dtype)
        else:
            node = self.apply(REGISTRY[name], entry, shape, dtype)
        self.nodes.append(node)

    def shape(self, value):
        if not (isinstance(value, list) and len(value) <= MAX_NDIM
                and all(type(d) is int and d >= 0 for d in value)):
            raise GraphFileError(f"shape must be a list of at most {MAX_NDIM} non-negative "
                                 f"ints, got {_short(value)}")
        return tuple(value)

    def const(self, entry, shape, dtype):
        if ("data" in entry) == ("base64" in entry):
            raise GraphFileError("a constant needs exactly one of \"data\" and \"base64\"")
        if "data" in entry:
            array = _decode_lists(entry["data"], shape, dtype)
        else:
            array = _decode_base64(entry["base64"], shape, dtype)
        if not self.allow_nonfinite and not np.all(np.isfinite(array)):
            raise GraphFileError("a constant holds NaN or Inf values, but the file does not "
                                 "set \"allow_nonfinite\": true")
        return const(array, dtype)  # dtype given: const() turns bool arrays into floats

    def apply(self, op, entry, shape, dtype):
        inputs = self.inputs(op, entry["inputs"])
        node = _rebuild(op, inputs, _decode_params(entry["params"]))
        if node.shape != shape or node.dtype != dtype:
            raise GraphFileError(f"recorded as {shape} {dtype}, but {op.name} of "
                                 f"{', '.join(x.label() for x in inputs)} gives "
                                 f"{node.shape} {node.dtype}")
        return node

    def inputs(self, op, indices):
        count = len(self.nodes)
        if not isinstance(indices, list) or not all(type(j) is int for j in indices):
            raise GraphFileError(f"inputs must be a list of node indices, got {_short(indices)}")
        if op.arity is None and not indices:
            raise GraphFileError(f"{op.name} needs at least one input")
        if op.arity is not None and len(indices) != op.arity:
            raise GraphFileError(f"{op.name} takes {op.arity} input(s), got {len(indices)}")
        for j in indices:
            if not _is_index(j, count):  # only earlier nodes: the graph cannot have a cycle
                raise GraphFileError(f"input {j} is not an earlier node (0 to {count - 1})")
        inputs = [self.nodes[j] for j in indices]
        for i in op.const_inputs:
            if not inputs[i].is_const:
                raise GraphFileError(f"{op.name}: input {i} must be a constant")
        return inputs


def _rebuild(op, inputs, params):
    """``op.make`` of the inputs, after checking that the params are already normalized:
    save writes the params the API produced, so anything else was not written by save."""
    if op.normalize is None and params:
        raise GraphFileError(f"{op.name} takes no params, got {_short(params)}")
    if op.normalize is not None:
        normal = _run(op, op.normalize, [x.shape for x in inputs], params)
        if _run(op, _canonical, [normal]) != _canonical(params):
            raise GraphFileError(f"{op.name} params {_short(params)} are not in normal form "
                                 f"(expected {_short(normal)})")
    return _run(op, op.make, [inputs, params])


def _run(op, function, args, kwargs=None):
    """``function(*args, **kwargs)``, where the function is (or calls) the op's own code.
    (The file's params are passed as a dict: as keywords, they could clash with ours.)"""
    try:
        return function(*args, **(kwargs or {}))
    # the op's code is not ours: whatever it raises means that the params or operand shapes
    # do not fit the op
    except Exception as error:
        raise GraphFileError(f"invalid {op.name} node: {type(error).__name__}: {error}") from None


def _canonical(params) -> str:
    # JSON text tells true from 1 from 1.0, which == does not
    return json.dumps({k: encode_param(v) for k, v in params.items()}, sort_keys=True)


def _decode_params(value):
    if not isinstance(value, dict):
        raise GraphFileError(f"params must be an object, got {_short(value)}")
    return {key: _decode_param(key, v, 0) for key, v in value.items()}


def _decode_param(key, value, depth):
    """The inverse of :func:`_encode_param`; ``key`` names the param in errors."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list) and depth < PARAM_DEPTH:
        return tuple(_decode_param(key, v, depth + 1) for v in value)
    if isinstance(value, dict) and len(value) == 1:
        (tag, inner), = value.items()
        if tag == "float" and isinstance(inner, str) and inner in NONFINITE:
            return NONFINITE[inner]
        if tag == "slice" and isinstance(inner, list) and len(inner) == 3 and \
                all(v is None or type(v) is int for v in inner):
            return slice(*inner)
    raise GraphFileError(f"param {key!r}: unsupported value {_short(value)}")


def _decode_lists(data, shape, dtype):
    """An array from nested lists, checked level by level against the shape (no recursion)."""
    level = [data]
    for depth, size in enumerate(shape):
        if not all(isinstance(x, list) and len(x) == size for x in level):
            raise GraphFileError(f"data does not match shape {shape} at depth {depth}")
        level = [y for x in level for y in x]
    kind = bool if dtype.kind == "b" else float  # save writes floats as floats, never ints
    if not all(type(x) is kind for x in level):
        raise GraphFileError(f"data entries of a {dtype} constant must be {kind.__name__}s")
    exact = np.array(level, dtype=kind)  # float64 (or bool): holds the JSON values exactly
    with np.errstate(over="ignore"):
        array = exact.astype(dtype)
    if not np.array_equal(array, exact):
        raise GraphFileError(f"data holds values that are not exactly {dtype} numbers")
    return array.reshape(shape)


def _decode_base64(text, shape, dtype):
    """An array from the base64 of its little-endian bytes in C order."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (TypeError, ValueError, binascii.Error) as error:
        raise GraphFileError(f"base64: {error}") from None
    needed = math.prod(shape) * dtype.itemsize
    if len(raw) != needed:
        raise GraphFileError(f"base64 data has {len(raw)} bytes where a {dtype} array of "
                             f"shape {shape} has {needed}")
    if dtype.kind == "b" and raw.translate(None, b"\0\1"):
        raise GraphFileError("base64 data of a bool constant has bytes other than 0 and 1")
    return np.frombuffer(raw, dtype.newbyteorder("<")).reshape(shape).astype(dtype)


def _dtype(name):
    if not isinstance(name, str) or name not in DTYPES:
        raise GraphFileError(f"dtype must be one of {', '.join(DTYPES)}, got {_short(name)}")
    return DTYPES[name]


def _check_fields(entry, required, optional=(), where=""):
    missing = sorted(required - entry.keys())
    unknown = sorted(entry.keys() - required - set(optional))
    if missing:
        raise GraphFileError(f"{where}missing field(s) {', '.join(missing)}")
    if unknown:
        raise GraphFileError(f"{where}unknown field(s) {', '.join(map(_short, unknown))}")


def _is_index(j, count) -> bool:
    return type(j) is int and 0 <= j < count


