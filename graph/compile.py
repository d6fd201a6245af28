"""compile(outputs): a graph turned once into a reusable straight-line numpy program.

The program is generated Python source, one assignment per node in topological order
(``v7 = np.tanh(v6)``), with each intermediate deleted after its last use; calling it does
no graph walking, dictionary lookups or dispatch. Before generation the graph is rewritten
(graph.rewrite.optimize): common subexpressions merged, constants folded, identities
simplified; nodes the outputs do not need are never visited.

Fed dask arrays, the same program runs on them (numpy hands its functions to dask) and
returns lazy dask arrays; the ops whose forward dask cannot take are run chunk by chunk as
their ``dask`` property says (graph/backends.py). Fed arrays of another Array API namespace,
the program runs node by node with each op's ``array_api`` form and returns that namespace's
arrays.
"""

from __future__ import annotations

import builtins
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from . import backends
from .backends import check_value
from .errors import FeedError
from .feed import resolve_feed
from .leaves import const
from .memory import KEEPING_MEMORY  # noqa: F401 - imported for its effect on malloc
from .node import Node
from .pretty import numbered
from .rewrite import optimize
from .substitute import substitute
from .traverse import as_list, depends_on, restore, topo_order, variables

# The cache keeps recent programs, and so their constants, alive: bounded by count and by
# the bytes of those constants, so that a loop building graphs with new data stays small.
CACHE_PROGRAMS = 128
CACHE_BYTES = 256 * 2**20
_CACHE: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()


class Program:
    """A compiled graph: call it with a feed to get the outputs' values (a list).

    ``program.source`` is the generated Python; ``program.nodes`` the rewritten graph's
    nodes in the order they run.
    """

    def __init__(self, outputs: list[Node]):
        self.outputs = list(outputs)
        variables(self.outputs)  # refuses two variables with one name before any rewrite
        self.rewritten = optimize(self.outputs)
        self.variables = variables(self.rewritten)  # those the rewritten graph still reads
        self.nodes = topo_order(self.rewritten)
        self.nbytes = sum(n.value.nbytes for n in self.nodes if n.value is not None)
        self.source, self._run = _generate(self.nodes, self.variables, self.rewritten)
        self._lazy: Callable | None = None  # the program for dask arrays, made when first fed

    def __call__(self, feed=None, *, check_finite: bool = False) -> list:
        arrays = resolve_feed(self.variables, feed)
        if any(type(a) is not np.ndarray for a in arrays):
            other = self._other_arrays(arrays, check_finite)
            if other is not None:
                return other
        if check_finite:  # the first bad node is reported by name instead of numpy warnings
            with np.errstate(all="ignore"):
                return self._checked(arrays)
        return self._run(*arrays)

    def _other_arrays(self, arrays, check_finite):
        """The outputs for a feed holding dask or Array API arrays (None: numpy only)."""
        if any(backends.is_dask(a) for a in arrays):
            if check_finite:
                raise FeedError("check_finite=True checks every node's value as it is "
                                "computed, which a lazy dask graph does not do: compute the "
                                "outputs, or evaluate on numpy arrays")
            lazy = self._lazy
            if lazy is None:
                lazy = self._lazy = _generate(self.nodes, self.variables, self.rewritten,
                                              lazy=True)[1]
            return lazy(*arrays)
        foreign = [a for a in arrays if backends.is_foreign(a)]
        if not foreign:
            return None
        xp = backends.namespace(foreign)
        arrays = [backends.to_namespace(xp, a, foreign[0]) if isinstance(a, np.ndarray) else a
                  for a in arrays]
        if check_finite:  # the first bad node is reported by name instead of warnings
            with np.errstate(all="ignore"):
                return backends.run_array_api(self, xp, arrays, check_finite)
        return backends.run_array_api(self, xp, arrays)

    def _checked(self, arrays):
        """The same computation, node by node, checking every value for NaN and Inf."""
        values = dict(zip(self.variables, arrays))
        for v, array in values.items():
            check_value(v, array, f"the value fed for variable {v.name!r}")
        lines = None
        for node in self.nodes:
            if node.is_const:
                values[node] = node.value
            elif not node.is_var:
                values[node] = np.asarray(node.op.numpy(*(values[x] for x in node.inputs),
                                                        **node.params))
                if not np.all(np.isfinite(values[node])):
                    lines = lines or numbered(self.rewritten)
                    check_value(node, values[node], "node " + lines[node])
        return [np.asarray(values[n]) for n in self.rewritten]


def _generate(order, inputs, outputs, lazy=False):
    """(source, function) of the straight-line program computing ``outputs``; ``lazy``: for
    dask arrays, with the ops dask cannot dispatch run as their ``dask`` property says, and
    the outputs returned as they are (``asarray`` would compute them)."""
    names = {v: f"x{i}" for i, v in enumerate(inputs)}
    namespace = {"np": np, "asarray": np.asarray, "as_dask": backends.as_dask}
    last_use = {}
    for i, node in enumerate(order):
        for x in node.inputs:
            last_use[x] = i
    keep = set(outputs)
    dead_after = {}
    for node, i in last_use.items():
        if node not in keep and not node.is_var and not node.is_const:
            dead_after.setdefault(i, []).append(node)
    body = []
    for i, node in enumerate(order):
        if node.is_var:
            continue
        if node.is_const:
            names[node] = f"c{i}"
            # a 0-d constant as a numpy scalar: scalar arithmetic skips array dispatch
            namespace[f"c{i}"] = node.value[()] if node.ndim == 0 else node.value
            continue
        names[node] = f"v{i}"
        args = [names[x] for x in node.inputs]
        if lazy and node.size > max(x.size for x in node.inputs):
            args = [f"as_dask({a})" for a in args]  # made by dask where it is used
        if lazy and node.op.dask != "native":
            namespace[f"f{i}"] = functools.partial(backends.dask_forward, node.op, node.params,
                                                   node.shape, node.dtype)
            expression = f"f{i}({', '.join(args)})"
        elif node.op.code is not None:
            expression = node.op.code(*args, **node.params)
        else:
            namespace[f"f{i}"] = functools.partial(node.op.numpy, **node.params)
            expression = f"f{i}({_arguments(args)})"
        body.append(f"    v{i} = {expression}")
        dead = [names[x] for x in dead_after.get(i, [])]
        if dead:  # free intermediates after their last use: peak memory stays low
            body.append(f"    del {', '.join(dead)}")
    returned = ", ".join(names[n] if lazy else f"asarray({names[n]})" for n in outputs)
    source = "\n".join([f"def program({', '.join(names[v] for v in inputs)}):", *body,
                        f"    return [{returned}]"])
    exec(builtins.compile(source, "<rop program>", "exec"), namespace)  # our own source
    return source, namespace["program"]


def _arguments(names) -> str:
    """An argument list, with runs of one name repeated written once: a variadic op over
    the same node a million times stays one short line of source."""
    parts, i = [], 0
    while i < len(names):
        j = i
        while j < len(names) and names[j] == names[i]:
            j += 1
        parts.append(names[i] if j - i < 4 else f"*[{names[i]}] * {j - i}")
        parts.extend([names[i]] * (j - i - 1) if j - i < 4 else [])
        i = j
    return ", ".join(parts)


def compile(outputs) -> Program:
    """Compile a node or list of nodes into a reusable :class:`Program` (cached).

    The cache holds the most recent programs, at most ``CACHE_PROGRAMS`` of them and
    ``CACHE_BYTES`` of their constants; :func:`clear_cache` empties it. Safe to call from
    several threads.

    >>> import graph as G
    >>> x = G.var("x")
    >>> run = G.compile([x * x, x + 1])
    >>> [float(v) for v in run({"x": 3.0})]
    [9.0, 4.0]
    """
    nodes, _ = as_list(outputs)
    key = tuple(nodes)
    with _CACHE_LOCK:
        program = _CACHE.get(key)
        if program is not None:
            _CACHE.move_to_end(key)
            return program
    program = Program(nodes)  # outside the lock: two threads may both compile, harmlessly
    with _CACHE_LOCK:
        _CACHE[key] = program
        total = sum(p.nbytes for p in _CACHE.values())
        while _CACHE and (len(_CACHE) > CACHE_PROGRAMS or total > CACHE_BYTES):
            _, evicted = _CACHE.popitem(last=False)
            total -= evicted.nbytes
    return program


def clear_cache() -> None:
    """Forget every cached program (and the constants it keeps alive)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def specialize(outputs, feed, keep) -> list:
    """The outputs at the point ``feed`` as functions of the variables ``keep`` only: every
    node that does not depend on ``keep`` is evaluated once and becomes a constant (partial
    evaluation). Compiling the result gives a program that redoes only what ``keep`` moves.

    >>> import graph as G
    >>> x, v = G.var("x", (2,)), G.var("v", (2,))
    >>> [y] = specialize([G.exp(x) * v], {"x": [0.0, 1.0]}, keep=[v])
    >>> [n.op.name for n in G.topo_order([y]) if n.inputs]
    ['mul']
    """
    nodes, _ = as_list(outputs)
    moving = depends_on(nodes, keep)
    frontier = list(dict.fromkeys(
        x for n in topo_order(nodes) if n in moving for x in n.inputs
        if x not in moving and not x.is_const))
    frontier += [n for n in nodes if n not in moving and not n.is_const]
    if not frontier:
        return nodes
    values = compile(frontier)(feed)
    return substitute(nodes, {n: const(v) for n, v in zip(frontier, values)})


def evaluate(outputs, feed=None, *, check_finite: bool = False):
    """Compute the value of one node (or a list of nodes) with numpy; fed dask arrays, lazy
    dask arrays; fed arrays of another Array API namespace, that namespace's arrays.

    Args:
        outputs: a node or a list of nodes.
        feed: values of the variables, keyed by variable node or by name. Variables the
            outputs do not use are ignored. See docs/scaling.md for dask and Array API
            arrays.
        check_finite: raise DomainError naming the first node whose value has a NaN or Inf.

    >>> import graph as G
    >>> x = G.var("x", (2,))
    >>> G.evaluate(G.sum(x * x), {"x": [1.0, 2.0]})
    array(5.)
    """
    nodes, single = as_list(outputs)
    return restore(compile(nodes)(feed, check_finite=check_finite), single)
