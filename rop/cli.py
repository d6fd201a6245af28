"""The ``rop`` command line: demo, check-op, draw, info. Errors are one line, not a traceback.

    rop demo                         the main demo (exact HVP, exact inverse HVP, HF vs GD)
    rop check-op MODULE:NAME         prove a user's op against sympy
    rop draw FILE.json [--grad VAR] [--hvp VAR] -o OUT.svg
    rop info FILE.json               ops, shapes, sizes of a saved graph

Exit status: 0 success, 1 the op is wrong (check-op only), 2 any error. check-op and
``--import MODULE`` import, i.e. run, the user's module; the current directory is searched
for it last, so files there cannot shadow the standard library or installed packages.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import math
import os
import subprocess
import sys
from collections import Counter

import graph as G
from graph.errors import GraphError


def _demo(args):
    from .demo import main

    main(plot=not args.no_plot)
    return 0


@contextlib.contextmanager
def _cwd_searched_last():
    """Let the user's own modules, next to where they run the command, be imported, but
    search that folder last: with it first, a stray ``secrets.py`` there would run the
    moment numpy imports the standard ``secrets``. Removed again afterwards, so that
    main() called repeatedly in one process (the tests) looks in the current folder."""
    cwd = os.getcwd()
    if cwd in sys.path:  # already there (``python -m`` puts it first): Python's choice
        yield
        return
    sys.path.append(cwd)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # the user's module may have removed it
            sys.path.remove(cwd)


def _import(name):
    """Import (run) the user's module ``name``. Whatever its code raises, even SystemExit
    or KeyboardInterrupt, is a one-line error: the failure is the module's, not ours."""
    importlib.invalidate_caches()  # the module may have been written after we started
    try:
        return importlib.import_module(name)
    except (Exception, SystemExit, KeyboardInterrupt) as error:
        raise ImportError(f"cannot import {name!r}: {type(error).__name__}: {error}") from None


def _check_op(args):
    from .verify import check_op

    module_name, _, attribute = args.target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected MODULE:NAME (e.g. mypackage.ops:softsign), got {args.target!r}")
    op = getattr(_import(module_name), attribute, None)
    if not isinstance(op, G.Op):
        raise ValueError(f"{args.target} is not a graph op (got {type(op).__name__}); define "
                         f"it with graph.define_op or graph.elementwise_op")
    try:
        report = check_op(op)
    except G.RuleCheckError as failure:
        print(f"FAILED check_op({op.name}):\n{failure}")
        return 1
    print(report)
    print(f"OK: every rule of {op.name!r} agrees with sympy")
    return 0


def _load(path):
    from graph.io import GraphFileError, load

    try:
        loaded = load(path)
    except GraphFileError as error:
        if "unknown op" not in str(error):
            raise
        # the likely cause: an op defined in the user's module, which the loader never imports
        raise GraphFileError(f"{path}: {error} (if a module of yours defines it, add "
                             f"--import MODULE)") from None
    return loaded if isinstance(loaded, list) else [loaded]


def _variable(nodes, name):
    found = {v.name: v for v in G.variables(nodes)}
    if name not in found:
        raise ValueError(f"no variable named {name!r} in the graph (it has: "
                         f"{', '.join(found) or 'none'})")
    return found[name]


def _draw(args):
    from . import grad, hvp

    nodes = _load(args.file)
    if not nodes:
        raise ValueError(f"{args.file} has no outputs: nothing to draw")
    original = list(nodes)
    scalar = nodes[0]
    if (args.grad or args.hvp) and scalar.shape != ():
        raise ValueError(f"--grad/--hvp need a scalar output; the first output has shape "
                         f"{scalar.shape}")
    if args.grad:
        nodes = [grad(scalar, _variable(original, args.grad))]
    if args.hvp:
        wrt = _variable(original, args.hvp)
        nodes = [hvp(scalar, wrt, G.var(f"v_{wrt.name}", wrt.shape))]
    highlight = original if (args.grad or args.hvp) else None
    # the graphviz package copies dot's stderr to ours, and on failure its error holds the
    # same text: hold it back, so that a failure stays one line; warnings still get through
    held = io.StringIO()
    try:
        with contextlib.redirect_stderr(held):
            path = G.draw(nodes, args.output, highlight=highlight, max_nodes=args.max_nodes)
    except subprocess.CalledProcessError as error:
        detail = (error.stderr or b"").decode("utf-8", "replace").strip()
        raise RuntimeError(f"Graphviz's dot cannot draw this graph: {detail or error}") from None
    sys.stderr.write(held.getvalue())
    print(f"wrote {path}")
    return 0


def _info(args):
    nodes = _load(args.file)
    order = G.topo_order(nodes)
    ops = Counter(n.op.name for n in order if n.inputs)
    variables = [n for n in order if n.is_var]
    constants = [n for n in order if n.is_const]
    print(f"{args.file}: {len(order)} nodes, {len(nodes)} output(s)")
    for i, out in enumerate(nodes):
        print(f"  output {i}: {out.op.name} {out.shape} {out.dtype}")
    # exact sizes: a saved shape such as (0, 10**30, 10**30) is legal, but overflows int64
    print(f"  variables ({sum(math.prod(v.shape) for v in variables)} entries):")
    for v in variables:
        print(f"    {v.name}: {v.shape} {v.dtype}")
    size = sum(c.value.nbytes for c in constants if c.value is not None)
    print(f"  constants: {len(constants)} ({size} bytes)")
    print("  ops: " + ", ".join(f"{name} x{count}" for name, count in ops.most_common()))
    return 0


def _add_import_option(command):
    command.add_argument(
        "--import", dest="imports", action="append", default=[], metavar="MODULE",
        help="import (that is, run) MODULE first, e.g. one that defines ops with "
        "graph.define_op; the current directory is searched last; repeatable")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="rop", description="Exact derivatives of computational graphs: demo and tools.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser("demo", help="run the main demo (under a minute)",
                               description="An MLP's exact HVP against finite differences, its "
                               "exact inverse HVP against a dense solve, Hessian-free against "
                               "gradient descent.")
    demo.add_argument("--no-plot", action="store_true", help="do not write rop_demo.png")
    demo.set_defaults(run=_demo)
    check = commands.add_parser("check-op", help="prove an op's rules against sympy",
                                description="Import MODULE (this runs its code; the current "
                                "directory is searched last) and check the op NAME defined in it "
                                "with rop.check_op. Exit status 0 if every rule holds, 1 if one "
                                "disagrees with sympy (or raises, or gives a wrong shape), 2 on "
                                "any error.")
    check.add_argument("target", metavar="MODULE:NAME")
    _add_import_option(check)
    check.set_defaults(run=_check_op)
    draw = commands.add_parser("draw", help="draw a saved graph (SVG or PNG)",
                               description="Draw the graph in FILE.json (see docs/file_format.md), "
                               "or its gradient or HVP graph with the shared nodes highlighted.")
    draw.add_argument("file", metavar="FILE.json")
    draw.add_argument("--grad", metavar="VAR", help="draw the gradient with respect to VAR")
    draw.add_argument("--hvp", metavar="VAR", help="draw the HVP graph with respect to VAR")
    draw.add_argument("-o", "--output", required=True, metavar="OUT.svg")
    draw.add_argument("--max-nodes", type=int, default=200, help="collapse beyond this size")
    _add_import_option(draw)
    draw.set_defaults(run=_draw)
    info = commands.add_parser("info", help="describe a saved graph",
                               description="Ops, shapes and sizes of the graph in FILE.json.")
    info.add_argument("file", metavar="FILE.json")
    _add_import_option(info)
    info.set_defaults(run=_info)
    return top


# errors whose messages are written for the user (graph.draw's RuntimeError says what to
# install); any other exception is a surprise, and its type name helps more than its text
_EXPECTED = (GraphError, OSError, ValueError, ImportError, RuntimeError)


def _one_line(error: Exception) -> str:
    """The first line of the error's message, with its type name where that helps."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    if isinstance(error, _EXPECTED) and text:
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def main(argv=None) -> int:
    """Run the command; 0 success, 1 check-op found the op wrong, 2 any error."""
    args = parser().parse_args(argv)  # a bad argument: argparse prints the usage, exits 2
    try:
        with _cwd_searched_last():
            for module in getattr(args, "imports", ()):  # demo has no --import
                _import(module)
            return args.run(args)
    # any failure, ours or in the user's code, is one line: docs/cli.md promises no traceback
    except Exception as error:
        print(f"rop {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
