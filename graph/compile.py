"""compile(outputs): a graph turned once into a reusable straight-line numpy program."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .evaluate import as_list, check_value, resolve_feed, topo_order, variables
from .node import Node
from .pretty import numbered
from .rewrite import cse

_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 128


class Program:
    """A compiled graph: call it with a feed to get the outputs' values (a list)."""

    def __init__(self, outputs: list[Node]):
        self.outputs = list(outputs)
        self.variables = variables(self.outputs)
        canonical = cse(self.outputs)  # a gradient and its HVP share one forward pass
        order = topo_order(canonical)
        slot = {node: i for i, node in enumerate(order)}
        last_use = {}
        for i, node in enumerate(order):
            for x in node.inputs:
                last_use[x] = i
        keep = set(canonical)
        frees = [[] for _ in order]
        for node, i in last_use.items():
            if node not in keep:
                frees[i].append(slot[node])
        self._size = len(order)
        self._consts = [(slot[n], n.value) for n in order if n.is_const]
        self._var_slots = [slot[v] for v in self.variables]
        self._steps = [(slot[n], n.op.numpy, tuple(slot[x] for x in n.inputs), n.params,
                        tuple(frees[i]), n) for i, n in enumerate(order) if n.inputs]
        self._out_slots = [slot[n] for n in canonical]
        self._order = order

    def __call__(self, feed=None, *, check_finite: bool = False) -> list[np.ndarray]:
        if check_finite:  # the first bad node is reported by name instead of numpy warnings
            with np.errstate(all="ignore"):
                return self._run(feed, True)
        return self._run(feed, False)

    def _run(self, feed, check_finite):
        values = [None] * self._size
        for i, value in self._consts:
            values[i] = value
        for i, array in zip(self._var_slots, resolve_feed(self.variables, feed)):
            values[i] = array
            if check_finite:
                check_value(self._order[i], array, f"the value fed for variable {self._order[i].name!r}")
        for i, fn, args, params, frees, node in self._steps:
            values[i] = fn(*[values[a] for a in args], **params)
            if check_finite:
                check_value(node, np.asarray(values[i]), self._describe(node))
            for f in frees:
                values[f] = None
        return [np.asarray(values[i]) for i in self._out_slots]

    def _describe(self, node):
        lines = numbered(self.outputs)
        return "node " + lines[node]


def compile(outputs) -> Program:  # noqa: A001 - the name users expect
    """Compile a node or list of nodes into a reusable :class:`Program` (cached).

    >>> import graph as G
    >>> x = G.var("x")
    >>> run = G.compile([x * x, x + 1])
    >>> [float(v) for v in run({"x": 3.0})]
    [9.0, 4.0]
    """
    nodes, _ = as_list(outputs)
    key = tuple(nodes)
    program = _CACHE.get(key)
    if program is None:
        program = Program(nodes)
        _CACHE[key] = program
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return program
