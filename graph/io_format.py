"""The graph file format's constants, its error, and the limits that save and load share
(docs/file_format.md)."""

from __future__ import annotations

import math

import numpy as np

from .errors import GraphError

FORMAT = "rop-graph"
VERSION = 1
# limits of a file, the same for writing and reading (see _Limits)
MAX_BYTES = 128 * 2**20  # size of the text: a million simple nodes take about 80 MiB
MAX_NODES = 1_000_000
MAX_EDGES = 4_000_000  # input references of all nodes together
MAX_INPUTS = 2**16  # input references of one node (of a variadic op: concatenate)
MAX_ENTRIES = 2**24  # entries of any declared shape, and of all constants together
MAX_NDIM = 32
INLINE = 64  # finite constants up to this many entries are written as nested lists
DTYPES = {name: np.dtype(name) for name in ("bool", "float16", "float32", "float64")}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}  # native byte order only
NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
FIELDS = {"var": ({"op", "name", "shape", "dtype"}, ()),  # (required, optional) of an entry
          "const": ({"op", "shape", "dtype"}, {"data", "base64"})}
OP_FIELDS = ({"op", "inputs", "params", "shape", "dtype"}, ())


class GraphFileError(GraphError, ValueError):
    """A graph file that cannot be loaded: malformed, unsupported, inconsistent or too big.

    The message names the offending entry, e.g. ``node 7: unknown op 'foo'``. Saving a graph
    over a limit of the format raises it too: load would refuse the file.
    """


class Limits:
    """The limits of a file, counted entry by entry: dumps counts the entries it writes as
    loads counts those it reads, so dumps refuses a graph exactly where load would refuse."""

    def __init__(self, writing, max_bytes, max_nodes, max_entries, max_edges, max_inputs):
        self.max = dict(bytes=max_bytes, nodes=max_nodes, entries=max_entries, edges=max_edges,
                        inputs=max_inputs)
        self.how = ("load would refuse the file: pass a larger max_{0}= to save or dumps, and "
                    "to load or loads" if writing else "if the file is trusted, pass a larger "
                    "max_{0}= to load or loads")
        self.edges = self.constants = 0

    def check(self, key, count, what):
        if count > self.max[key]:
            raise GraphFileError(f"{what}, over the limit of {self.max[key]} (max_{key}); "
                                 + self.how.format(key))

    def entry(self, entry):
        """Count a node's entry, whose shape is valid, before any work on its data or inputs."""
        size = math.prod(entry["shape"])
        self.check("entries", size, f"shape {tuple(entry['shape'])} has {size} entries")
        if entry["op"] == "const":
            self.constants += size
            self.check("entries", self.constants, f"the constants up to here hold "
                                                  f"{self.constants} entries")
        if isinstance(entry.get("inputs"), list):
            count = len(entry["inputs"])
            self.check("inputs", count, f"{entry['op']} has {count} inputs")
            self.edges += count  # a variadic op can refer to one node millions of times
            self.check("edges", self.edges, f"the nodes up to here have {self.edges} inputs")


def encode_param(value):
    """A param as JSON: tuples are arrays; slices and non-finite floats are tagged objects.

    >>> encode_param((slice(0, 2, 1), 1, float("-inf")))
    [{'slice': [0, 2, 1]}, 1, {'float': '-inf'}]
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, tuple):
        return [encode_param(v) for v in value]
    if isinstance(value, slice):
        return {"slice": [encode_param(v) for v in (value.start, value.stop, value.step)]}
    raise TypeError(f"cannot save a param of type {type(value).__name__}: {value!r}")
