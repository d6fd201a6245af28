"""A readable listing of a graph: one numbered line per node, inputs before their users."""

import numpy as np


def _param(value):
    if isinstance(value, slice):
        return f"{value.start}:{value.stop}" + ("" if value.step == 1 else f":{value.step}")
    if isinstance(value, tuple):
        inner = ", ".join(_param(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


def _const_summary(value) -> str:
    if value.size <= 6:
        return np.array2string(value, precision=4, separator=", ").replace("\n", "")
    lo, hi = value.min(), value.max()
    return f"<all {lo:.4g}>" if lo == hi else f"<in [{lo:.4g}, {hi:.4g}]>"


def describe(node, names) -> str:
    """``tanh(n3)  (64, 5)`` for an op node, given the names of its inputs."""
    if node.is_var:
        return f"var {node.name!r}  {node.shape}"
    if node.is_const:
        return f"const {_const_summary(node.value)}  {node.shape}"
    args = [names[x] for x in node.inputs]
    args += [f"{k}={_param(v)}" for k, v in node.params.items()]
    return f"{node.op.name}({', '.join(args)})  {node.shape}"


def numbered(outputs) -> dict:
    """node -> its line ``n4 = mul(n2, n3)  (5,)`` for every node the outputs depend on."""
    from .traverse import topo_order

    names, lines = {}, {}
    for i, node in enumerate(topo_order(outputs)):
        names[node] = f"n{i}"
        lines[node] = f"n{i} = {describe(node, names)}"
    return lines


def pretty(nodes) -> str:
    """The whole graph behind a node (or list of nodes), one line per node.

    >>> import graph as G
    >>> x = G.var("x", (3,))
    >>> print(G.pretty(G.sum(G.tanh(x))))
    n0 = var 'x'  (3,)
    n1 = tanh(n0)  (3,)
    n2 = sum(n1, axis=(0,), keepdims=False)  ()
    outputs: n2
    """
    from .traverse import as_list

    outputs, _ = as_list(nodes)
    lines = numbered(outputs)
    names = {node: line.split(" = ", 1)[0] for node, line in lines.items()}
    return "\n".join(list(lines.values()) + ["outputs: " + ", ".join(names[n] for n in outputs)])
