"""Graph rewrites: common-subexpression elimination (more passes join it with the speed work)."""

from __future__ import annotations

from .traverse import as_list, topo_order

SMALL_CONST = 4096  # constants up to this many entries are compared by value


def _hashable(value):
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    if isinstance(value, (tuple, list)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def node_key(node, inputs):
    """Two nodes with equal keys compute the same value."""
    if node.is_var:
        return ("var", id(node))
    if node.is_const:
        if node.size <= SMALL_CONST:
            return ("const", node.shape, node.dtype.str, node.value.tobytes())
        return ("const-id", id(node))
    params = {k: v for k, v in node.params.items() if k != "context"}  # only for messages
    return (node.op.name, tuple(id(x) for x in inputs), _hashable(params))


def cse(outputs):
    """The outputs with every repeated computation (same op, same inputs, same params, or
    equal small constants) replaced by one node.

    >>> import graph as G
    >>> x = G.var("x")
    >>> a, b = cse([G.exp(x) + 1.0, G.exp(x) * 2.0])
    >>> a.inputs[0] is b.inputs[0]
    True
    """
    nodes, single = as_list(outputs)
    canonical, seen = {}, {}
    for node in topo_order(nodes):
        inputs = tuple(canonical[x] for x in node.inputs)
        key = node_key(node, inputs)
        if key not in seen:
            changed = any(a is not b for a, b in zip(inputs, node.inputs))
            seen[key] = node.op.make(inputs, node.params, node.shape) if changed else node
        canonical[node] = seen[key]
    result = [canonical[n] for n in nodes]
    return result[0] if single else result



def resimplify(outputs):
    """The outputs rebuilt through their ops, so that every construction-time rewrite
    (constant folding, identities such as ``x * 1``, dropped broadcasts, merged constant
    factors) applies to nodes whose inputs changed or that were built without them."""
    nodes, single = as_list(outputs)
    new = {}
    for node in topo_order(nodes):
        if node.inputs:
            rebuilt = node.op(*(new[x] for x in node.inputs), **node.params)
            new[node] = node if _same(rebuilt, node) else rebuilt
        else:
            new[node] = node
    result = [new[n] for n in nodes]
    return result[0] if single else result


def _same(a, b) -> bool:
    """The rebuilt node is the original one again (keeping it keeps the graph's identity)."""
    return a.op is b.op and a.params == b.params and len(a.inputs) == len(b.inputs) and \
        all(x is y for x, y in zip(a.inputs, b.inputs))


def optimize(outputs):
    """The rewrites compile() applies: resimplify, then merge common subexpressions, until
    nothing changes (two rounds suffice in practice; at most four are run)."""
    nodes, single = as_list(outputs)
    for _ in range(4):
        rewritten = cse(resimplify(nodes))
        if all(a is b for a, b in zip(rewritten, nodes)):
            break  # nodes are immutable: the same outputs are the same graph
        nodes = rewritten
    return nodes[0] if single else nodes
