"""Walking graphs: topological order, the variables a graph reads, dependence, fresh names."""

from __future__ import annotations

from .errors import FeedError, ShapeError
from .node import Node


def topo_order(outputs) -> list[Node]:
    """Every node the outputs depend on, each after its inputs (iterative: no recursion)."""
    order, seen = [], set()
    for root in outputs:
        stack = [(root, False)]
        while stack:
            node, inputs_done = stack.pop()
            if inputs_done:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                # each input once, however often it repeats (a concatenate of one node
                # a million times is one edge to walk, not a million)
                stack.extend((x, False) for x in reversed(dict.fromkeys(node.inputs))
                             if x not in seen)
    return order


def as_list(nodes) -> tuple[list[Node], bool]:
    """(list of nodes, whether a single node was given)."""
    if isinstance(nodes, Node):
        return [nodes], True
    if isinstance(nodes, (str, bytes)) or not hasattr(nodes, "__iter__"):
        raise TypeError(f"expected a graph node or a list of them, got {type(nodes).__name__}: "
                        f"{nodes!r}")
    nodes = list(nodes)
    bad = [x for x in nodes if not isinstance(x, Node)]
    if bad:
        raise TypeError(f"expected graph nodes, got {type(bad[0]).__name__}: {bad[0]!r}")
    return nodes, False


def restore(values, single: bool):
    """The caller's structure back: the one value for a single node, else the list."""
    return values[0] if single else list(values)


def variables(outputs) -> list[Node]:
    """The variables the outputs depend on, in topological order (names are unique)."""
    found = [n for n in topo_order(as_list(outputs)[0]) if n.is_var]
    by_name: dict[str, Node] = {}
    for v in found:
        if by_name.setdefault(v.name, v) is not v:
            raise FeedError(f"two different variables are named {v.name!r} in one graph: "
                            f"{by_name[v.name]!r} and {v!r}; give them distinct names")
    return found


def depends_on(outputs, sources) -> set:
    """The nodes among ``outputs``' ancestors that depend on one of ``sources``."""
    found = set(sources)
    for node in topo_order(outputs):
        if any(x in found for x in node.inputs):
            found.add(node)
    return found


def match_variables(outputs, nodes, caller: str) -> list[Node]:
    """``nodes`` with each variable replaced by the variable of the same name that the
    outputs' graph reads, if it has one: variables are identified by name, as feeds are
    (a graph loaded from a file has new variable objects). Differing shapes are refused."""
    graph_variables = {v.name: v for v in variables(outputs)}
    matched = []
    for node in nodes:
        same_name = graph_variables.get(node.name) if node.is_var else None
        if same_name is not None and same_name is not node:
            if (same_name.shape, same_name.dtype) != (node.shape, node.dtype):
                raise ShapeError(
                    f"{caller}: the graph's variable {node.name!r} has shape {same_name.shape} "
                    f"and dtype {same_name.dtype}, but the variable {node.name!r} given has "
                    f"shape {node.shape} and dtype {node.dtype}")
            node = same_name
        matched.append(node)
    return matched


def fresh_names(graph_nodes, stem: str, count: int) -> list[str]:
    """``count`` variable names starting with ``stem`` that the graph does not use."""
    taken = {v.name for v in variables(graph_nodes)}
    names, i = [], 0
    while len(names) < count:
        name = stem if i == 0 else f"{stem}{i}"
        if name not in taken:
            names.append(name)
            taken.add(name)
        i += 1
    return names
