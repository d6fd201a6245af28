"""The generator of docs/api.md: which names are public, how their signatures are written,
and where each goes. Run it after changing the public API:  python docs/gen_api.py

Ops are listed by their defining module, and public names no section lists go to "Other
public names": adding an op or a function needs no edit here. tests/test_api_docs.py checks
docs/api.md is what this writes, and every signature in it against the code."""

from __future__ import annotations

import importlib
import inspect
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: this checkout's packages

import graph  # noqa: E402 - after the path is set
import graph.io  # noqa: E402
import rop  # noqa: E402

API = ROOT / "docs" / "api.md"
TABLE_HEADER = "| name | signature | description |"


# -- the public names -----------------------------------------------------------------------
def public_names() -> list[str]:
    adapters = importlib.import_module("rop.scipy")  # optional: rop does not import it
    names = [f"graph.{n}" for n in graph.__all__]
    names += [f"rop.{n}" for n in rop.__all__]
    names += [f"rop.optim.{n}" for n in rop.optim.__all__]
    names += [f"rop.scipy.{n}" for n, obj in vars(adapters).items()
              if not n.startswith("_") and inspect.isfunction(obj)
              and obj.__module__ == "rop.scipy"]
    return names


def resolve(qualname: str):
    """(object, owning class or None) for a dotted name. Attributes win over submodules of
    the same name (``graph.evaluate`` is the function, not the module graph/evaluate.py);
    a submodule not imported yet (``rop.scipy``) is imported."""
    parts = qualname.split(".")
    obj, owner = importlib.import_module(parts[0]), None
    for i, attribute in enumerate(parts[1:], start=2):
        owner = obj if inspect.isclass(obj) else None
        if inspect.ismodule(obj) and not hasattr(obj, attribute):
            obj = importlib.import_module(".".join(parts[:i]))
        else:
            obj = getattr(obj, attribute)
    return obj, owner


def documented(obj) -> bool:
    """Functions, classes, ops and modules carry a docstring; constants do not."""
    return (inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isclass(obj)
            or inspect.ismodule(obj) or isinstance(obj, graph.Op))


def own_docstring(obj) -> str:
    """The docstring written for ``obj`` itself (not inherited, not dataclass-generated)."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__") or ""
        if doc.startswith(obj.__name__ + "("):  # dataclasses invent Name(field, ...)
            return ""
        return inspect.cleandoc(doc)
    return inspect.cleandoc(getattr(obj, "__doc__", None) or "")


# -- signatures as the docs write them ------------------------------------------------------
def plain_signature(obj, owner=None) -> str:
    """``(params)`` of inspect.signature without annotations; ``self`` dropped for a method
    looked up on its class."""
    signature = inspect.signature(obj)
    parameters = list(signature.parameters.values())
    if owner is not None and inspect.isfunction(obj) and parameters and \
            parameters[0].name == "self":
        parameters = parameters[1:]
    parameters = [p.replace(annotation=inspect.Parameter.empty) for p in parameters]
    return str(signature.replace(parameters=parameters,
                                 return_annotation=inspect.Signature.empty))


def op_params(op) -> list[tuple[str, object]]:
    """[(name, default or Parameter.empty)] of an op's keyword params (its normalize's)."""
    if op.normalize is None:
        return []
    parameters = list(inspect.signature(op.normalize).parameters.values())
    if op.arity is None:
        parameters = [p for p in parameters if p.kind is not p.VAR_POSITIONAL]
    else:
        parameters = parameters[op.arity:]  # the operand shapes come first
    return [(p.name, p.default) for p in parameters]


def operand_names(op) -> str:
    """The operands as the op's rules name them: a rule is (g, *operands, out, **params)."""
    if op.arity is None:
        return "*xs"
    rules = [r for r in (op.vjp or ()) + (op.rop or ()) if r is not None]
    for rule in rules:
        try:
            parameters = list(inspect.signature(rule).parameters.values())
        except (TypeError, ValueError):
            continue
        positional = [p.name for p in parameters[1:] if p.kind is p.POSITIONAL_OR_KEYWORD]
        if len(positional) == op.arity:
            return ", ".join(positional)
    return "x" if op.arity == 1 else ", ".join(["x", "y", "z"][:op.arity])


def op_call_form(name: str, op) -> str:
    operands = operand_names(op)
    params = [n if d is inspect.Parameter.empty else f"{n}={d!r}" for n, d in op_params(op)]
    if not params:
        return f"graph.{name}({operands})"
    star = "" if op.arity is None else "*, "  # after *xs, params are keyword-only already
    return f"graph.{name}({operands}, {star}{', '.join(params)})"


# -- generating docs/api.md -----------------------------------------------------------------
# (title, introduction, entries). An entry is a qualified name (a heading with its signature
# and the first paragraph of its docstring), or ("table", [names]) for a signature table.
# NOTES add a sentence after an entry's docstring; ALIASES list other public names of the
# same object, shown in its heading.

# the modules of graph/ops in the order the reference shows them, with their titles
FAMILY_TITLES = [
    ("elementwise", "Elementwise"),
    ("arith", "Arithmetic (numpy broadcasting)"),
    ("structure", "Structure"),
    ("reduce", "Reductions and broadcasting"),
    ("reductions", "More reductions"),
    ("linalg", "Linear algebra"),
    ("decompositions", "Linear algebra: factorizations and determinants"),
    ("conv", "Convolutions"),
    ("contract", "Tensor contractions"),
    ("indexing", "Integer-array indexing"),
    ("special", "Special functions"),
    ("guards", "Guards (identity ops that check a condition an answer relies on, when "
               "evaluated)"),
    ("composite", "Composites (functions of the ops above: they need no rules of their own)"),
]


def op_families() -> list[tuple[str, list[str]]]:
    """[(title, names)]: every op and op-level function graph exports, by defining module."""
    families = []
    for module_name, title in FAMILY_TITLES:
        module = importlib.import_module(f"graph.ops.{module_name}")
        defined = {id(obj) for obj in vars(module).values()
                   if getattr(obj, "module" if isinstance(obj, graph.Op) else "__module__",
                              None) == module.__name__}
        names = [f"graph.{n}" for n in graph.ops.__all__ if id(getattr(graph, n)) in defined]
        families.append((title, names))
    return families


SECTIONS = [
    ("graph: building graphs",
     ("`import graph as G`. A graph is made of `Node`s; variables and constants are its "
      "leaves, ops (below) build the rest."),
     ["graph.var", "graph.const", "graph.as_node", "graph.Node",
      ("table", ["graph.Node.label"])]),
    ("graph: evaluating and compiling", "",
     ["graph.evaluate", "graph.compile", "graph.clear_cache", "graph.specialize", "graph.Program",
      ("table", ["graph.Program.__call__"]),
      "graph.topo_order", "graph.variables"]),
    ("graph: inspecting and transforming graphs", "",
     ["graph.pretty", "graph.substitute", "graph.to_sympy", "graph.from_sympy"]),
    ("graph: drawing",
     ("`draw` needs the graphviz package and the Graphviz program `dot`; `to_dot` and "
      "`to_latex` need neither."),
     ["graph.to_dot", "graph.draw", "graph.to_latex"]),
    ("graph: ops",
     ("Every op is a `graph.Op` object, callable with its operands and keyword params "
      "(`G.sum(x, axis=0)`); the same names are in `graph.ops`. The signature column shows "
      "the call form; Python operators call `add sub mul div pow matmul neg getitem "
      "transpose` (`take` for an integer-array index). `sum_to`, `expand_to`, the "
      "composites, and `einsum`, `take`, `scatter_add` (which build the ops of those names, "
      "taking numpy's positional arguments) are plain functions."),
     ["graph.ops", "op families"]),
    ("graph.linalg: linear algebra",
     ("numpy.linalg's names for the matrix ops above (`G.linalg.inv is G.inv`), and "
      "`slogdet`, which returns two nodes."),
     ["graph.linalg", ("table", ["graph.linalg.inv", "graph.linalg.solve",
                                 "graph.linalg.cholesky", "graph.linalg.det",
                                 "graph.linalg.slogdet"])]),
    ("graph: defining ops", "See [new_op.md](new_op.md) for a worked example.",
     ["graph.define_op", "graph.elementwise_op", "graph.Op",
      ("table", ["graph.Op.make", "graph.Op.apply_rop", "graph.Op.apply_vjp",
                 "graph.Op.apply_inverse"]),
      "graph.all_ops", "graph.construction_rewrites", "graph.NoInverse", "graph.Example",
      "graph.Interval",
      "graph.broadcast_op", "graph.sympy_elementwise",
      ("constants", ["graph.REALS", "graph.POSITIVE", "graph.UNIT"])]),
    ("graph: errors",
     ("Every error rop raises is a `GraphError`, and also the builtin exception users "
      "already catch (`ValueError`, `KeyError`, ...)."),
     [("table", ["graph.GraphError", "graph.ShapeError", "graph.OutOfBoundsError",
                 "graph.AxisError", "graph.DomainError", "graph.CertificateError",
                 "graph.FeedError", "graph.MissingRuleError", "graph.NotInvertibleError",
                 "graph.RuleCheckError", "graph.GraphFileError", "rop.optim.NonFiniteError"])]),
    ("graph: saving and loading",
     ("`G.save` and `G.load` (defined in graph/io.py). The format and the checks loading "
      "makes are in [file_format.md](file_format.md)."),
     ["graph.save", "graph.load", "graph.dumps", "graph.loads"]),
    ("rop: derivatives",
     ("`import rop`. Every transformation takes and returns graph nodes (a list for a "
      "list); directions and cotangents may be arrays or nodes."),
     ["rop.grad", "rop.vjp", "rop.jvp", "rop.hvp", "rop.ggn_vp", "rop.hessian", "rop.jacobian",
      "rop.vmap", "rop.fd_hvp"]),
    ("rop: inverses", "",
     ["rop.inverse", "rop.inverse_hvp", "rop.InverseHVP", "rop.inverse_hessian",
      "rop.InverseHessian", "rop.inverse_hvp_graph",
      "rop.newton_step", "rop.inverse_ggn_vp"]),
    ("rop: conjugate gradient", "", ["rop.cg", "rop.CGResult"]),
    ("rop: checking", "", ["rop.check_op", "rop.check_grads"]),
    ("rop.optim: optimization",
     ("`from rop.optim import ...`; the names whose heading shows a `rop.` alias are also "
      "in `rop`."),
     ["rop.optim", "rop.optim.Objective",
      ("table", ["rop.optim.Objective.from_graph", "rop.optim.Objective.value",
                 "rop.optim.Objective.value_and_gradient", "rop.optim.Objective.gradient",
                 "rop.optim.Objective.output", "rop.optim.Objective.hvp",
                 "rop.optim.Objective.ggn_vp", "rop.optim.Objective.inverse_hvp",
                 "rop.optim.Objective.per_example_gradient_squares",
                 "rop.optim.Objective.flatten", "rop.optim.Objective.unflatten",
                 "rop.optim.Objective.feed", "rop.optim.Objective.batch_size",
                 "rop.optim.Objective.batches", "rop.optim.Objective.graph"]),
      "rop.optim.minimize", "rop.optim.OptimizeResult", "rop.optim.HessianFree",
      "rop.optim.Newton", "rop.optim.GradientDescent", "rop.optim.Adam",
      "rop.optim.NonFiniteError", "rop.optim.Optimizer",
      ("table", ["rop.optim.Optimizer.init", "rop.optim.Optimizer.step"]),
      "rop.optim.levenberg_marquardt", "rop.optim.armijo", ("constants", ["rop.optim.COST"])]),
    ("rop.scipy: SciPy adapters",
     ("`import rop.scipy` (not imported by `import rop`; needs scipy). Vectors are flat "
      "float64: the `wrt` tensors raveled and concatenated in order."),
     ["rop.scipy.hessian_operator", "rop.scipy.ggn_operator",
      "rop.scipy.inverse_hessian_operator", "rop.scipy.minimize"]),
]

ALIASES = {"rop.jvp": ["rop.R"]}
for _name in ("Objective", "minimize", "OptimizeResult", "NonFiniteError", "HessianFree",
              "Newton", "GradientDescent", "Adam"):
    ALIASES[f"rop.optim.{_name}"] = [f"rop.{_name}"]

NOTES = {
    "graph.Node": "Attributes: `op`, `inputs`, `params`, `shape`, `dtype`, `name` (variables), "
                  "`value` (constants); properties `ndim`, `size`, `is_var`, `is_const`, `T`. "
                  "Operators: `+ - * / ** @`, unary `-`, `node[index]`; `print(node)` is "
                  "`graph.pretty(node)`.",
    "graph.Program": "Attributes: `source` (the generated Python), `nodes` (the rewritten "
                     "graph in execution order), `variables` (those it reads), `outputs`.",
    "graph.Op": "Attributes: `name`, `arity` (None: variadic), `numpy`, `shape`, `sympy`, "
                "`rop`, `vjp`, `inverse`, `domain`, `examples`, `doc`, and the optional "
                "`normalize`, `simplify`, `kink_distance`, `code`.",
    "graph.REALS": "The default sampling interval of an operand (`check_op`, property tests).",
    "graph.POSITIVE": "The sampling interval of a positive operand (`log`, `sqrt`, ...).",
    "graph.UNIT": "The sampling interval of an operand in (-1, 1) (`arcsin`, `arccos`).",
    "rop.jvp": "`rop.R` is the same function.",
    "rop.hvp": "`mode=\"fwd-rev\"` (Pearlmutter, the default) or `\"rev-rev\"`; "
               "`batched=True`: `v` holds k directions along a leading axis (rop.vmap).",
    "rop.inverse_hvp": "Methods: `auto` (default: `linear`, falling back to `cg` and saying "
                       "why), `linear`, `functional`, `dense`, `sympy`, `cg` (needs a feed), "
                       "`fd`. `blocks=True`: each tensor's diagonal block of H. `kink_tol`, "
                       "`tear_limit`: see [concepts.md](concepts.md#conditions-and-refusals).",
    "rop.check_op": "Returns a report: `str(report)` lists the identities; `.lines`, "
                    "`.symbolic`, `.numeric` count them.",
    "rop.check_grads": "Returns `{'jvp_vs_fd': error, 'adjoint': error}`.",
    "rop.optim.OptimizeResult": "`.loss` is the last record's loss. Records hold `iteration`, "
                                "`loss`, `gradient_norm`, `cost`, `step_cost`, `time`, and "
                                "optimizer-specific entries.",
    "rop.optim.Optimizer": "Subclass it to add an optimizer; `minimize` calls `init` once "
                           "and `step` per iteration.",
    "rop.optim.COST": "Gradient-equivalents charged per call on the full data; a mini-batch "
                      "of m out of N examples costs m/N of these.",
}

# one-line descriptions for methods without a docstring of their own
METHOD_DOCS = {
    "graph.Program.__call__": "`program(feed)`: the outputs' values, a list of arrays; "
                              "`check_finite=True` raises DomainError at the first NaN or Inf.",
    "rop.optim.Optimizer.init": "Evaluate the starting point; return its record "
                                "(at least `loss` and `gradient_norm`).",
    "rop.optim.Optimizer.step": "Return (the next θ, its record).",
}


def first_paragraph(obj) -> str:
    doc = own_docstring(obj)
    paragraph = doc.split("\n\n")[0].split("\n>>>")[0]
    return markdown_text(" ".join(line.strip() for line in paragraph.splitlines()))


def markdown_text(text: str) -> str:  # :func:`x` and ``x`` -> `x`
    return re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text).replace("``", "`")


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def signature_text(qualname: str) -> str:
    obj, owner = resolve(qualname)
    if isinstance(obj, graph.Op):
        return op_call_form(qualname.removeprefix("graph."), obj)
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return f"class {qualname}(" + ", ".join(b.__name__ for b in obj.__bases__) + ")"
    return qualname + plain_signature(obj, owner)


def description(qualname: str) -> str:
    obj, _ = resolve(qualname)
    text = first_paragraph(obj) if documented(obj) else ""
    return text or METHOD_DOCS.get(qualname, "")


def render_entry(qualname: str) -> list[str]:
    obj, _ = resolve(qualname)
    names = [qualname] + ALIASES.get(qualname, [])
    lines = ["### " + " · ".join(f"`{n}`" for n in names), ""]
    if not inspect.ismodule(obj):
        signatures = [signature_text(qualname)]
        signatures += [signature_text(a) for a in ALIASES.get(qualname, [])
                       if resolve(a)[0] is obj and not inspect.isclass(obj)]
        lines += ["```text", *signatures, "```", ""]
    lines += [description(qualname), ""]
    if qualname in NOTES:
        lines += [NOTES[qualname], ""]
    return lines


def render_table(names) -> list[str]:
    lines = [TABLE_HEADER, "| --- | --- | --- |"]
    for qualname in names:
        lines.append(f"| `{qualname}` | `{signature_text(qualname)}` | "
                     f"{cell(description(qualname))} |")
    return lines + [""]


def render_constants(names) -> list[str]:
    lines = ["| name | value | description |", "| --- | --- | --- |"]
    for qualname in names:
        obj, _ = resolve(qualname)
        lines.append(f"| `{qualname}` | `{obj!r}` | {cell(NOTES.get(qualname, ''))} |")
    return lines + [""]


def leftovers() -> list[str]:
    """Public names no section lists (and no op family holds)."""
    listed = set()
    for _, _, entries in SECTIONS:
        for entry in entries:
            listed.update([entry] if isinstance(entry, str) else entry[1])
    listed.update(n for _, names in op_families() for n in names)
    return [n for n in public_names() if n not in listed and n.split(".")[-1] != "__call__"]


def render() -> str:
    intro = ("Every public name of `graph`, `rop`, `rop.optim`, `rop.scipy` and `graph.io`, "
             "by topic, with its signature (annotations omitted) and the first paragraph of its "
             "docstring; `help(name)` has the rest. Signatures are checked against the code by "
             "`tests/test_api_docs.py`; `docs/gen_api.py` generates this file "
             "(`python docs/gen_api.py`). For the ideas see "
             "[concepts.md](concepts.md); for a tour, [getting_started.md](getting_started.md).")
    lines = ["# API reference", "", intro, "", "## Contents", ""]
    for title, _, _ in SECTIONS:
        anchor = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        lines.append(f"- [{title}](#{anchor})")
    lines.append("")
    for title, intro, entries in SECTIONS:
        lines += [f"## {title}", ""]
        if intro:
            lines += [intro, ""]
        for entry in entries:
            if entry == "op families":
                for family, names in op_families():
                    lines += [f"**{family}**", ""] + render_table(names)
            elif isinstance(entry, str):
                lines += render_entry(entry)
            elif entry[0] == "table":
                lines += render_table(entry[1])
            elif entry[0] == "constants":
                lines += render_constants(entry[1])
            else:
                _, family, names = entry
                lines += [f"**{family}**", ""] + render_table(names)
    others = leftovers()
    if others:
        lines += ["## Other public names", "",
                  "Names not yet placed in a section above (regenerating puts them here).", ""]
        for name in others:
            lines += render_entry(name)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    API.write_text(render(), encoding="utf-8")
    print(f"wrote {API.relative_to(ROOT)}", file=sys.stderr)
