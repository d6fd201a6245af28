"""What define_op checks before it registers an op: every rule present, of the right count
and callable as the conventions say, on examples the op's own shape rule accepts. Each
mistake is a TypeError naming the op and what to add or change (docs/new_op.md), raised
where the op is defined rather than deep inside check_op or a transformation."""

from __future__ import annotations

import difflib
import inspect

import numpy as np

from .domains import Example, NoInverse

# what each required keyword is, said where it is missing
HOW = {
    "arity": "arity=N, the number of operands (None: any number; rules then get index=i)",
    "numpy": "numpy=f(*arrays, **params) -> array, the forward computation",
    "shape": "shape=f(*operand_shapes, **params) -> the output shape, raising graph.ShapeError "
             "for operands that do not fit",
    "sympy": "sympy=f(*object_arrays, **params) -> an object array of sympy expressions "
             "(graph.sympy_elementwise(fn, nin) lifts a function of scalars)",
    "rop": "rop=(one rule per operand): rule(dx, *inputs, out=node, **params) -> that "
           "operand's contribution to R{out}, a node (None: zero)",
    "vjp": "vjp=(one rule per operand): rule(g, *inputs, out=node, **params) -> that "
           "operand's cotangent, a node (None: zero)",
    "inverse": "inverse=(one rule per operand): rule(out, *inputs, **params) -> that operand "
               "solved from out, or graph.NoInverse('why it cannot be')",
    "batch": "batch=rule(*inputs, batched=flags, **params) -> the op on inputs of which those "
             "flagged carry a leading batch axis, the result leading with it too "
             "(graph.elementwise_op and graph.broadcast_op supply it)",
    "domain": "domain=graph.Interval where checks sample the operands (or one per operand), "
              "e.g. graph.REALS or graph.POSITIVE",
    "examples": "examples=[graph.Example(operand_shapes, params)], small shapes on which "
                "rop.check_op proves the rules, e.g. [graph.Example(((2,),))]",
    "doc": "doc='out = formula; domain -> image; injective, or the branch its inverse takes'",
    "axis_map": "axis_map=f(i, axis, *operand_shapes, **params) -> the output axis along which "
                "operand i's axis runs unmixed, or None",
}


def check_spec(name: str, spec: dict, required, accepted) -> None:
    """Every required keyword given, no unknown one (with the likely intended name)."""
    missing = [k for k in required if k not in spec]
    if missing:
        raise TypeError(f"define_op({name!r}) is missing {', '.join(missing)}: every op carries "
                        f"every rule (docs/new_op.md). Add " + "; ".join(HOW[k] for k in missing))
    for key in spec:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise TypeError(f"define_op({name!r}): unknown keyword {key!r}{hint}; the keywords "
                            f"are {', '.join(accepted)}")


def check_definition(op) -> None:
    """The rules' counts and call signatures, the domain, the examples and the properties
    of a freshly built op, before it is registered."""
    where = f"define_op({op.name!r})"
    if op.arity is not None and (not isinstance(op.arity, int) or op.arity < 1):
        raise TypeError(f"{where}: arity must be a positive int (or None for any number of "
                        f"operands), got {op.arity!r}")
    n = 1 if op.arity is None else op.arity
    for kind in ("rop", "vjp", "inverse"):
        _check_rule_tuple(op, where, kind, n)
    if not callable(op.batch):
        raise TypeError(f"{where}: batch must be one function, not {type(op.batch).__name__}. "
                        f"Give {HOW['batch']}")
    if not isinstance(op.doc, str) or not op.doc.strip():
        raise TypeError(f"{where}: doc is empty. Give {HOW['doc']}")
    _check_domain(op, where)
    if not op.examples:
        raise TypeError(f"{where}: examples is empty, so rop.check_op would prove nothing. "
                        f"Give {HOW['examples']}")
    called = set()  # binding depends only on how many operands and which params
    for example in op.examples:
        shapes, params = _check_example(op, where, example)
        if (len(shapes), *sorted(params)) not in called:
            _check_signatures(op, where, example, shapes, params)
            called.add((len(shapes), *sorted(params)))
    if op.elementwise and n > 1 and not op.broadcasts and any(
            len({tuple(s) for s in ex.shapes}) > 1 for ex in op.examples):
        raise TypeError(f"{where}: an elementwise op whose operands differ in shape broadcasts "
                        f"them; add broadcasts=True (graph.broadcast_op does), so that inverses "
                        f"are never asked to solve for a broadcast operand")
    for i in (*_indices(op.linear), *op.multilinear, *op.const_inputs):
        if op.arity is not None and not 0 <= i < n:
            raise TypeError(f"{where}: operand index {i} in linear, multilinear or "
                            f"const_inputs, but the op has {n} operand(s)")


def _indices(linear):
    return () if linear is True else tuple(linear)


def _check_rule_tuple(op, where, kind, n):
    rules = getattr(op, kind)
    if rules is None or isinstance(rules, NoInverse):  # zero for every operand, or no inverse
        return
    per = "one rule, called with index=i for operand i" if op.arity is None else \
        f"a tuple of {n} rule(s), one per operand (None where {_none_means(kind)})"
    if len(rules) != (1 if op.arity is None else n):
        raise TypeError(f"{where}: {kind} gives {len(rules)} rule(s) for {n} operand(s); give "
                        f"{per}. {HOW[kind]}")
    for i, rule in enumerate(rules):
        if not (rule is None or callable(rule) or kind == "inverse" and isinstance(rule,
                                                                                   NoInverse)):
            raise TypeError(f"{where}: {kind}[{i}] is {rule!r}, not a function. {HOW[kind]}")


def _none_means(kind):
    return "it cannot be solved for" if kind == "inverse" else "the derivative is zero"


def _check_domain(op, where):
    n = op.arity or 1
    if op.arity is not None and len(op.domain) != n:
        raise TypeError(f"{where}: domain gives {len(op.domain)} entries for {n} operand(s); "
                        f"give one interval, or one per operand. {HOW['domain']}")
    for d in op.domain:
        if not all(hasattr(d, a) for a in ("lo", "hi", "sample")):
            raise TypeError(f"{where}: domain entry {d!r} is not an interval. {HOW['domain']}")


def _check_example(op, where, example):
    if not isinstance(example, Example):
        raise TypeError(f"{where}: examples holds {example!r}, not a graph.Example; write "
                        f"graph.Example(shapes, params), e.g. graph.Example(((2,), (2,)))")
    shapes = example.shapes
    if not isinstance(shapes, tuple) or not all(_is_shape(s) for s in shapes):
        raise TypeError(f"{where}: {example} must give one shape (a tuple of ints) per "
                        f"operand: graph.Example(((2,),)) is one operand of shape (2,), not "
                        f"graph.Example((2,))")
    if (len(shapes) != op.arity) if op.arity is not None else not shapes:
        raise TypeError(f"{where}: {example} gives {len(shapes)} operand shape(s) for an op "
                        f"of arity {op.arity}")
    params = dict(example.params)
    try:
        if op.normalize is not None:
            params = op.normalize(*shapes, **params)
        out = op.shape(*shapes, **params)
    except Exception as error:
        raise TypeError(f"{where}: its own shape rule (or normalize) rejects its example "
                        f"{example}: {type(error).__name__}: {error}. Fix the example or "
                        f"the rule") from None
    if not _is_shape(out):
        raise TypeError(f"{where}: the shape rule returns {out!r} for {example}; it must "
                        f"return the output shape, a tuple of ints")
    return shapes, params


def _is_shape(s):
    return isinstance(s, tuple) and all(isinstance(d, (int, np.integer)) and d >= 0 for d in s)


def _check_signatures(op, where, example, shapes, params):
    """Each rule can be called as the conventions call it, with this example's params."""
    inputs = [f"x{i}" for i in range(len(shapes))]
    rule_params = dict(params, index=0) if op.arity is None else params
    calls = []
    for i in range(1 if op.arity is None else len(shapes)):
        calls += [(f"rop[{i}]", op._rule(op.rop, i), ("dx", *inputs), dict(rule_params, out=0)),
                  (f"vjp[{i}]", op._rule(op.vjp, i), ("g", *inputs), dict(rule_params, out=0))]
        inverse = op.inverse_rule(i)
        if callable(inverse):
            calls.append((f"inverse[{i}]", inverse, ("out", *inputs), rule_params))
    calls.append(("batch", op.batch, tuple(inputs), dict(params, batched=())))
    if op.axis_map is not None:
        calls.append(("axis_map", op.axis_map, ("i", "axis", *shapes), params))
    for what, rule, args, keywords in calls:
        refusal = None if rule is None else _refusal(rule, args, keywords)
        if refusal is not None:
            shown = ", ".join([*map(str, args), *(f"{k}=..." for k in keywords)])
            kind = what.split("[")[0]
            raise TypeError(f"{where}: {what} cannot be called as {kind}({shown}), as it is "
                            f"for {example} ({refusal}). {HOW[kind]}")


def _refusal(fn, args, keywords) -> str | None:
    """Why ``fn`` cannot be called with these arguments, or None if it can."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return None
    try:
        signature.bind(*args, **keywords)
    except TypeError as error:
        return str(error)
    return None
