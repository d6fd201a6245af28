"""Pictures of graphs: Graphviz DOT text (to_dot), rendered SVG/PNG files (draw), LaTeX (to_latex).

Variables are blue ellipses, constants yellow rounded boxes, ops white boxes, and the outputs
have a thick red border. ``to_dot(transformed, highlight=original)`` fills grey the nodes a
transformed graph (a gradient, an HVP, an inverse) shares with the original graph.

>>> import graph as G
>>> from graph.draw import to_dot
>>> x = G.var("x", (3,))
>>> dot = to_dot(G.sum(G.tanh(x)))
>>> [line.strip() for line in dot.splitlines() if " -> " in line]
['n0 -> n1;', 'n1 -> n2;']
"""

from __future__ import annotations

import html
import pathlib
from collections import Counter, deque

from .pretty import _const_summary, describe
from .traverse import as_list, topo_order

INSTALL_HINT = ('install the Python package with  pip install "rop[draw]"  and the Graphviz '
                'program "dot" with  apt-get install graphviz  (macOS: brew install graphviz)')
FORMATS = ("svg", "png", "pdf")
MAX_LATEX_ENTRIES = 64  # entries of any node: sympy work grows with them
MAX_LATEX_OPS = 10_000  # operations in the printed expression (a tree: shared parts repeat)
CHAIN_SHOWN = 6  # longest list of ops written out in a collapsed chain's label

SHAPE = {"var": "ellipse", "const": "box", "op": "box", "chain": "box3d"}
STYLE = {"var": "filled", "const": "rounded,filled", "op": "filled", "chain": "filled"}
FILL = {"var": "#cfe6ff", "const": "#fff2b3", "op": "#ffffff", "chain": "#ffffff"}
SHARED_FILL = "#cccccc"
OUTPUT_BORDER = {"penwidth": "3", "color": "#c0392b"}
KEY = {"var": "ellipse: variable", "const": "rounded: constant", "op": "box: op",
       "chain": "3-d box: chain of ops", "output": "red border: output",
       "shared": "grey: also in the original graph"}


def quoted(text) -> str:
    r"""A DOT double-quoted string, backslashes and quotes escaped: ``a"b`` -> ``"a\"b"``."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _html_label(title: str, subtitle: str) -> str:
    """An HTML-like DOT label: a bold line and a small one; <, >, & and quotes escaped."""
    return (f'<<b>{html.escape(title)}</b><br/>'
            f'<font point-size="9">{html.escape(subtitle)}</font>>')


def _kind(members) -> str:
    node = members[-1]
    if len(members) > 1:
        return "chain"
    return "var" if node.is_var else "const" if node.is_const else "op"


def _shape_text(node) -> str:
    return str(node.shape) + ("" if node.dtype.kind == "f" else f" {node.dtype}")


def _chain_text(members) -> str:
    """``tanh → mul → neg (3 ops)``; long chains show their ends: ``a → b → c → … → y → z``."""
    names = [m.op.name for m in members]
    if len(names) > CHAIN_SHOWN:
        names = names[:3] + ["…"] + names[-2:]
    return f"{' → '.join(names)} ({len(members)} ops)"


def _label(members) -> str:
    node, kind = members[-1], _kind(members)
    if kind == "var":
        title = node.name
    elif kind == "const":
        title = _const_summary(node.value)
    else:
        title = node.op.name if kind == "op" else _chain_text(members)
    subtitle = f"{kind} {_shape_text(node)}" if kind in ("var", "const") else _shape_text(node)
    return _html_label(title, subtitle)


def _chains(order, outputs) -> dict:
    """node -> first node of its chain. A chain continues through an op whose only
    non-constant input is an op used by nothing else and not itself an output."""
    consumers = Counter(x for node in order for x in dict.fromkeys(node.inputs))
    first = {}
    for node in order:
        inputs = [x for x in dict.fromkeys(node.inputs) if not x.is_const]
        joins = (len(inputs) == 1 and not node.is_var and not inputs[0].is_var
                 and consumers[inputs[0]] == 1 and inputs[0] not in outputs)
        first[node] = first[inputs[0]] if joins else node
    return first


def _box_inputs(members, box_of) -> list:
    """[(input box, argument position or None)] feeding a box, in argument order. Positions
    label the edges of multi-input ops, where order matters (sub, div, matmul)."""
    if len(members) == 1:
        node = members[0]
        numbered = len(node.inputs) > 1
        return [(box_of[x], i if numbered else None) for i, x in enumerate(node.inputs)]
    inside = set(members)
    sources = [box_of[x] for m in members for x in m.inputs if x not in inside]
    return [(source, None) for source in dict.fromkeys(sources)]


def _nearest(inputs, starts, limit) -> list:
    """The first ``limit`` boxes in breadth-first order from the outputs towards the inputs."""
    seen = dict.fromkeys(starts)
    queue = deque(seen)
    while queue and len(seen) < limit:
        for source, _ in inputs[queue.popleft()]:
            if source not in seen:
                seen[source] = None
                queue.append(source)
    return list(seen)[:limit]


def _node_line(ident, members, ids, *, output, shared) -> str:
    kind = _kind(members)
    classes = [kind] + ["output"] * output + ["shared"] * shared
    tooltip = "\n".join(f"{ids[m]} = {describe(m, ids)}" for m in members[-CHAIN_SHOWN:])
    attrs = {"shape": SHAPE[kind], "style": STYLE[kind],
             "fillcolor": SHARED_FILL if shared else FILL[kind], "class": " ".join(classes),
             "tooltip": tooltip, **(OUTPUT_BORDER if output else {})}
    rest = ", ".join(f"{k}={quoted(v)}" for k, v in attrs.items())
    return f"  {ident} [label={_label(members)}, {rest}];"


def _header(title, kinds) -> list:
    key = " · ".join(KEY[k] for k in KEY if k in kinds)
    small_key = f'<<font point-size="9">{html.escape(key)}</font>>'
    label = _html_label(title, key) if title else small_key
    return ["digraph rop {",
            f"  graph [label={label}, labelloc=t, fontname=Helvetica];",
            '  node [fontname=Helvetica, fontsize=11, margin="0.15,0.05"];',
            '  edge [color="#555555", arrowsize=0.7, fontsize=8, fontcolor="#888888"];']


def to_dot(nodes, *, highlight=None, max_nodes=200, title=None) -> str:
    """Graphviz DOT source for the graph behind a node or list of nodes (the outputs).

    ``highlight``: a node or list of nodes; every node of *its* graph that this graph also
    uses is drawn grey, e.g. ``to_dot(rop.grad(loss, W), highlight=loss)``. Graphs with more
    than ``max_nodes`` nodes collapse chains of single-input ops into one box; if that is not
    enough, only the ``max_nodes`` boxes nearest the outputs are drawn, plus a note.
    The text depends only on the graph, so the same graph always gives the same text.

    >>> import graph as G
    >>> x = G.var("x")
    >>> [line.split()[0] for line in to_dot(G.exp(x), highlight=x).splitlines()
    ...  if "shared" in line]
    ['n0']
    """
    if max_nodes < 1:
        raise ValueError(f"to_dot: max_nodes must be at least 1, got {max_nodes}")
    outputs, _ = as_list(nodes)
    order = topo_order(outputs)
    shared = set() if highlight is None else set(topo_order(as_list(highlight)[0]))
    box_of = _chains(order, set(outputs)) if len(order) > max_nodes else {n: n for n in order}
    boxes = {}  # first node of a box -> its nodes, in topological order
    for node in order:
        boxes.setdefault(box_of[node], []).append(node)
    inputs = {box: _box_inputs(members, box_of) for box, members in boxes.items()}
    drawn = set(_nearest(inputs, [box_of[o] for o in outputs], max_nodes))
    shown = [box for box in boxes if box in drawn]  # topological order: stable text
    ids = {node: f"n{i}" for i, node in enumerate(order)}
    output_boxes = {box_of[o] for o in outputs}

    kinds = {_kind(boxes[b]) for b in shown} | {"output"} | ({"shared"} if shared else set())
    lines = _header(title, kinds)
    for box in shown:
        lines.append(_node_line(ids[box], boxes[box], ids, output=box in output_boxes,
                                shared=all(m in shared for m in boxes[box])))
    for box in shown:
        for source, position in inputs[box]:
            if source in drawn:
                extra = "" if position is None else f" [headlabel={quoted(position)}]"
                lines.append(f"  {ids[source]} -> {ids[box]}{extra};")
    lines += _note(boxes, inputs, shown, ids)
    return "\n".join(lines + ["}"]) + "\n"


def _note(boxes, inputs, shown, ids) -> list:
    """The "… N more nodes not drawn" node, with dashed edges to the boxes it feeds."""
    drawn = set(shown)
    hidden = sum(len(members) for box, members in boxes.items() if box not in drawn)
    if not hidden:
        return []
    fed = [box for box in shown if any(source not in drawn for source, _ in inputs[box])]
    return ([f"  more [label={quoted(f'… {hidden} more nodes not drawn')}, shape=note, "
             'style=dashed, class="note"];']
            + [f'  more -> {ids[box]} [style=dashed, color="#bbbbbb"];' for box in fed])


def _graphviz():
    try:
        import graphviz  # optional: only drawing needs it
    except ImportError as err:
        raise RuntimeError(f"drawing graphs needs the graphviz package: {INSTALL_HINT}") from err
    return graphviz


def draw(nodes, path, **to_dot_options) -> pathlib.Path:
    """Render the graph to ``path``, an .svg, .png or .pdf file; returns the path written.

    Takes the options of :func:`to_dot`, e.g. ``draw(g, "grad.svg", highlight=loss)``.
    Needs the graphviz Python package and the Graphviz program ``dot`` (RuntimeError
    saying how to install them otherwise).
    """
    path = pathlib.Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"draw: cannot tell the format of {str(path)!r}: "
                         f"use a file name ending in {', '.join('.' + f for f in FORMATS)}")
    graphviz = _graphviz()
    dot = to_dot(nodes, **to_dot_options)
    try:
        data = graphviz.Source(dot).pipe(format=fmt)
    except graphviz.ExecutableNotFound as err:
        raise RuntimeError(f"drawing graphs needs the Graphviz program dot: {INSTALL_HINT}") \
            from err
    path.write_bytes(data)
    return path


def _unrolled_size(roots, children) -> int:
    """Size of the trees below ``roots`` when shared parts are written out each time they are
    used, as in a printed formula; computed on the shared structure, each part visited once."""
    size, stack = {}, [(root, False) for root in roots]
    while stack:
        item, ready = stack.pop()
        if ready:
            size[item] = 1 + sum(size[c] for c in children(item))
        elif item not in size:
            stack.append((item, True))
            stack.extend((c, False) for c in children(item) if c not in size)
    return sum(size[root] for root in roots)


def _check_printable(size):
    if size > MAX_LATEX_OPS:
        raise ValueError(f"to_latex: the formula would have about {size} operations, more than "
                         f"{MAX_LATEX_OPS}; draw the graph with to_dot instead")


def to_latex(node) -> str:
    r"""LaTeX of a small graph through sympy; ValueError for graphs too big to print.

    >>> import graph as G
    >>> print(to_latex(G.tanh(G.var("x")) ** 2))
    \tanh^{2}{\left(x \right)}
    """
    import sympy

    from .symbolic import to_sympy

    big = next((n for n in topo_order([node]) if n.size > MAX_LATEX_ENTRIES), None)
    if big is not None:
        raise ValueError(f"to_latex: {big!r} has {big.size} entries, more than "
                         f"{MAX_LATEX_ENTRIES}; draw the graph with to_dot instead")
    # refuse before sympy runs when the graph, unrolled, is already too big; then measure
    # what sympy built (a matmul entry, say, is a sum over a whole row and column)
    _check_printable(_unrolled_size([node], lambda n: n.inputs))
    expr = to_sympy(node)
    if isinstance(expr, sympy.MatrixBase):
        entries = list(expr)
    elif isinstance(expr, sympy.NDimArray):
        entries = sympy.flatten(expr.tolist())
    else:
        entries = [expr]
    _check_printable(_unrolled_size(entries, lambda e: e.args))
    return sympy.latex(expr)
