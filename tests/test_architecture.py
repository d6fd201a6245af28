"""The shape of the codebase, checked: the import graph's circles and where ops are named."""

import ast
import pathlib

import graph as G

ROOT = pathlib.Path(__file__).resolve().parent.parent
# node.py imports graph.ops and graph.pretty inside functions: a node's Python operators
# build op nodes and print(node) shows its graph. The one circle graph/ is allowed.
JUSTIFIED = {("graph.node", "graph.ops"), ("graph.node", "graph.pretty")}


def _modules():
    found = {}
    for package in ("graph", "rop"):
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(name, path, modules):
    """The modules of this project that ``name`` imports, at any depth of its code."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] \
                if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            submodules = [f"{target}.{a.name}" for a in node.names
                          if f"{target}.{a.name}" in modules]
            targets.update(submodules if len(submodules) == len(node.names) else [target])
        elif isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
    return {t for t in targets if t in modules and t != name}


def _cycles(edges):
    """Strongly connected components with more than one module (iterative Tarjan)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_only_import_circle_is_a_nodes_operators():
    modules = _modules()
    edges = {name: {t for t in _imports(name, path, modules) if (name, t) not in JUSTIFIED}
             for name, path in modules.items()}
    assert _cycles(edges) == []
    everything = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycles(everything), "the justified circle should still be seen by the check"
    assert not any(name.startswith("rop") for c in _cycles(everything) for name in c)


def test_no_module_under_rop_names_an_op_by_a_string():
    names = {op.name for op in G.all_ops()}
    offenders = []
    for path in (ROOT / "rop").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                strings = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant)]
                if any(isinstance(s, str) and s in names for s in strings):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders
