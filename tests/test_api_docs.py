"""docs/api.md stays in sync with the code.

1. every public name (``graph.__all__``, ``rop.__all__``, ``rop.optim.__all__``, the public
   functions of ``rop.scipy``, and ``graph.io``'s save, load, dumps, loads, GraphFileError)
   appears in docs/api.md, in backticks, in a heading or in the first cell of a table row;
2. every public function, class, op and module among them has a docstring whose first line
   is not empty (a dataclass's generated ``Name(field, ...)`` docstring does not count);
3. every signature shown in docs/api.md matches the real object. Signatures are written in
   exactly two places, so the check is mechanical:

   * each line of a ```text block: ``qualified.name(params)``, compared character for
     character with ``inspect.signature`` without annotations (``self`` dropped for
     methods); or ``class qualified.Name(Base, ...)`` for exception classes, compared with
     their bases;
   * the ``signature`` column of tables headed ``| name | signature | description |``: the
     same forms, and for an op (a ``graph.Op``, which inspect sees as ``(*inputs,
     **params)``) its call form ``graph.sum(x, *, axis=None, keepdims=False)``: as many
     operands as the op's arity (``*xs`` when variadic), then exactly the keyword params of
     the op's ``normalize``, with its defaults.

docs/api.md is generated from SECTIONS below:  python tests/api_reference.py
(regenerate after changing a public signature or docstring; add new public names to
SECTIONS).
"""

from __future__ import annotations

import ast
import inspect
import re

import pytest
from api_reference import (
    API,
    TABLE_HEADER,
    documented,
    op_params,
    own_docstring,
    plain_signature,
    public_names,
    resolve,
)

import graph


def check_signature(text: str):
    """Raise AssertionError unless ``text`` is the true signature of the object it names."""
    match = re.fullmatch(r"(class )?([A-Za-z_][\w.]*)(\(.*\))", text.strip())
    assert match, f"not a signature: {text!r}"
    is_class, qualname, shown = match.groups()
    obj, owner = resolve(qualname)
    if is_class:
        assert inspect.isclass(obj), f"{qualname} is not a class"
        bases = "(" + ", ".join(b.__name__ for b in obj.__bases__) + ")"
        assert shown == bases, f"{qualname}: docs say bases {shown}, the class has {bases}"
        return
    if isinstance(obj, graph.Op):
        tree = ast.parse(f"def _{shown}: pass").body[0].args
        arity = obj.arity
        if arity is None:
            assert tree.vararg is not None and not tree.args, \
                f"{text}: {obj.name} is variadic, write its operands as *xs"
        else:
            assert tree.vararg is None and len(tree.args) == arity, \
                f"{text}: {obj.name} takes {arity} operand(s)"
        assert tree.kwarg is None and not tree.posonlyargs and not tree.defaults, text
        shown_params = [(a.arg, inspect.Parameter.empty if d is None else ast.literal_eval(d))
                        for a, d in zip(tree.kwonlyargs, tree.kw_defaults)]
        assert shown_params == op_params(obj), \
            f"{text}: {obj.name}'s params are {op_params(obj)}, the docs show {shown_params}"
        return
    real = plain_signature(obj, owner)
    assert shown == real, f"{qualname}: docs show {shown}, the code has {real}"


# -- reading docs/api.md --------------------------------------------------------------------
def text_block_lines(markdown: str) -> list[str]:
    blocks = re.findall(r"```text\n(.*?)```", markdown, flags=re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def table_cells(row: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", row.strip())
    return [c.strip() for c in cells[1:-1]]


def signature_table_rows(markdown: str) -> list[list[str]]:
    rows, inside = [], False
    for line in markdown.splitlines():
        if line.strip() == TABLE_HEADER:
            inside = True
            continue
        if inside and line.startswith("|"):
            if not set(line) <= set("|- "):
                rows.append(table_cells(line))
            continue
        inside = False
    return rows


def mentioned_names(markdown: str) -> set[str]:
    """Backticked names in headings and in the first cell of table rows."""
    found = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            found.update(re.findall(r"`([\w.]+)`", line))
        elif line.startswith("|"):
            cells = table_cells(line)
            if cells:
                found.update(re.findall(r"`([\w.]+)`", cells[0]))
    return found


@pytest.fixture(scope="module")
def markdown():
    return API.read_text(encoding="utf-8")


def test_every_public_name_is_documented(markdown):
    missing = [n for n in public_names() if n not in mentioned_names(markdown)]
    assert not missing, (f"not in docs/api.md: {', '.join(missing)}; add them to SECTIONS in "
                         f"tests/api_reference.py and run  python tests/api_reference.py")


@pytest.mark.parametrize("name", public_names())
def test_public_name_has_a_docstring(name):
    obj, _ = resolve(name)
    if not documented(obj):
        pytest.skip("a constant")
    doc = own_docstring(obj)
    assert doc and doc.splitlines()[0].strip(), f"{name} has no docstring"


def test_signatures_match_the_code(markdown):
    shown = text_block_lines(markdown)
    shown += [row[1].strip("`") for row in signature_table_rows(markdown)
              if len(row) == 3 and row[1].startswith("`")]
    assert len(shown) > 100, "docs/api.md shows suspiciously few signatures"
    failures = []
    for text in shown:
        try:
            check_signature(text)
        except (AssertionError, LookupError, AttributeError, ValueError, SyntaxError) as error:
            failures.append(f"{text}\n    {type(error).__name__}: {error}")
    assert not failures, "signatures in docs/api.md that do not match the code " \
                         "(regenerate: python tests/api_reference.py):\n" + "\n".join(failures)


def test_the_checks_catch_mistakes():
    check_signature("rop.hvp(f, wrt, v, mode='fwd-rev')")
    check_signature("graph.sum(x, *, axis=None, keepdims=False)")
    check_signature("graph.concatenate(*xs, axis=0)")
    check_signature("class graph.ShapeError(GraphError, ValueError)")
    check_signature("rop.optim.Objective.hvp(theta, v, batch=None)")
    for wrong in ("rop.hvp(f, wrt, v, mode='rev-rev')", "rop.hvp(f, wrt, v)",
                  "graph.sum(x, *, axis=None)", "graph.sum(x, y, *, axis=None, keepdims=False)",
                  "graph.concatenate(x, *, axis=0)", "graph.concatenate(*xs, axis=1)",
                  "class graph.ShapeError(ValueError)",
                  "rop.optim.Objective.hvp(self, theta, v, batch=None)"):
        with pytest.raises(AssertionError):
            check_signature(wrong)
