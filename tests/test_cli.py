"""The command line: rop demo, check-op, draw, info; --help everywhere; one-line errors."""

import importlib.util
import json
import pathlib
import shutil
import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pytest

import graph as G
from graph.io import save
from graph.op import REGISTRY
from rop import cli
from rop.cli import main

REPO = pathlib.Path(__file__).resolve().parents[1]
HAS_DOT = shutil.which("dot") is not None

# {tag} makes the op names unique to one test: define_op refuses a second registration
GOOD_OP = '''
import numpy as np, sympy, graph as G
softsign = G.elementwise_op(
    "softsign_cli_{tag}", numpy=lambda x: x / (1 + np.abs(x)),
    sympy=lambda x: x / (1 + sympy.Abs(x)),
    deriv=lambda x, out: 1 / (1 + G.abs(x)) ** 2,
    inverse=lambda out, x: out / (1 - G.abs(out)),
    doc="out = x / (1 + |x|)")
wrong = G.op.Op(
    "softsign_cli_wrong_{tag}", arity=1, numpy=softsign.numpy, shape=lambda s: s,
    sympy=softsign.sympy, rop=softsign.rop, vjp=lambda g, x, *, out: g / (1 + G.abs(x)),
    inverse=G.NoInverse("test"), batch=softsign.batch, domain=G.REALS,
    examples=[G.Example(((2,),))], doc="softsign with a wrong vjp")
not_an_op = 3
'''


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    """``write(stem, source)`` puts a module in a fresh current directory and returns its
    name. Names (and the ``{tag}`` in the source) are unique to the test, and teardown
    forgets the modules and the ops they registered, so that the tests pass in any order
    and when run repeatedly in one process."""
    tag = uuid.uuid4().hex[:12]

    def write(stem, source):
        (tmp_path / f"{stem}_{tag}.py").write_text(textwrap.dedent(source).replace("{tag}", tag))
        return f"{stem}_{tag}"

    monkeypatch.chdir(tmp_path)  # rop finds the user's modules in the current directory
    yield write
    for name in [name for name in sys.modules if tag in name]:
        del sys.modules[name]
    for name in [name for name in REGISTRY if tag in name]:
        del REGISTRY[name]


def run(argv, capsys):
    """main(argv) as (status, stdout, stderr); anything escaping main fails the test, even
    SystemExit or KeyboardInterrupt (which would otherwise stop pytest itself)."""
    try:
        status = main(argv)
    except BaseException as escaped:  # noqa: B036 - the point is to catch everything
        pytest.fail(f"main({argv}) raised {escaped!r} instead of returning a status")
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(argv, capsys, *expected):
    status, _, err = run(argv, capsys)
    assert status == 2, (argv, status, err)
    assert err.startswith(f"rop {argv[0]}: error: ") and err.count("\n") == 1, err
    for text in expected:
        assert text in err, err
    return err


@pytest.fixture
def saved_graph(tmp_path):
    x, W = G.var("x", (4, 3)), G.var("W", (3, 2))
    path = tmp_path / "loss.json"
    save(G.sum(G.tanh(x @ W) ** 2), str(path))
    return path


def write_graph_file(path, nodes, outputs):
    """A graph file written by hand (docs/file_format.md), for files save never writes."""
    path.write_text(json.dumps({"format": "rop-graph", "version": 1, "outputs": outputs,
                                "nodes": nodes}))
    return str(path)


def test_check_op_exit_status(user_modules, capsys):
    module = user_modules("my_ops", GOOD_OP)
    status, out, _ = run(["check-op", f"{module}:softsign"], capsys)
    assert status == 0 and "OK: every rule of 'softsign_cli_" in out
    status, out, _ = run(["check-op", f"{module}:wrong"], capsys)
    assert status == 1 and "vjp of 'softsign_cli_wrong_" in out


def test_one_line_errors(user_modules, capsys):
    module = user_modules("my_ops", GOOD_OP)
    assert_one_line_error(["check-op", f"{module}:not_an_op"], capsys, "is not a graph op")
    assert_one_line_error(["check-op", "no_such_module:x"], capsys, "No module named")
    for target in ("missing_colon", ":x", "mod:"):
        assert_one_line_error(["check-op", target], capsys, "expected MODULE:NAME")
    assert_one_line_error(["check-op", "..:x"], capsys, "cannot import '..'")
    assert_one_line_error(["info", "does/not/exist.json"], capsys, "cannot read the file")


@pytest.mark.parametrize("source, expected", [
    ("def f(:\n", "SyntaxError"),
    ("1 / 0\n", "ZeroDivisionError: division by zero"),
    ("raise SystemExit(7)\n", "SystemExit: 7"),
    ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    ("raise RuntimeError('first line\\nsecond line')\n", "RuntimeError: first line"),
], ids=["syntax-error", "raises", "system-exit", "keyboard-interrupt", "two-line-message"])
def test_a_module_failing_at_import_is_a_one_line_error(user_modules, capsys, source, expected):
    module = user_modules("broken", source)
    assert_one_line_error(["check-op", f"{module}:x"], capsys, f"cannot import '{module}'",
                          expected)


def test_check_op_does_not_let_the_current_directory_shadow_the_standard_library(tmp_path):
    # numpy imports the standard secrets module lazily; a secrets.py in the current
    # directory must not be what it gets. A fresh interpreter, so that secrets is not yet
    # imported, with -I so that Python itself does not put the directory first.
    marker = tmp_path / "secrets_ran"
    (tmp_path / "secrets.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nraise RuntimeError('the local secrets.py ran')\n")
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); from rop.cli import main; "
            f"sys.exit(main(['check-op', 'graph.ops:tanh']))")
    result = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path,
                            capture_output=True, text=True)
    assert not marker.exists(), result.stderr
    assert result.returncode == 0, result.stderr
    assert "OK: every rule of 'tanh' agrees" in result.stdout


def test_unexpected_exceptions_are_one_line_errors(monkeypatch, saved_graph, capsys):
    def fails(args):
        raise IndexError("first\nsecond")

    monkeypatch.setattr(cli, "_info", fails)
    assert_one_line_error(["info", str(saved_graph)], capsys, "IndexError: first")
    monkeypatch.setattr(cli, "_info", lambda args: {}["missing"])
    assert_one_line_error(["info", str(saved_graph)], capsys, "KeyError: 'missing'")


def test_info_of_a_huge_shape_with_no_entries(tmp_path, capsys):
    # legal (no entries), but its size overflows a 64-bit integer
    path = write_graph_file(tmp_path / "huge.json", [
        {"op": "var", "name": "x", "shape": [0, 10**30, 10**30], "dtype": "float64"}], [0])
    status, out, err = run(["info", path], capsys)
    assert status == 0, err
    assert "variables (0 entries)" in out and "x: (0, 10" in out


def test_draw_a_file_without_outputs(tmp_path, capsys):
    path = write_graph_file(tmp_path / "empty.json", [
        {"op": "var", "name": "x", "shape": [2], "dtype": "float64"}], [])
    assert_one_line_error(["draw", path, "-o", str(tmp_path / "out.svg")], capsys,
                          "has no outputs")


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed: nothing can fail in it")
def test_draw_a_name_dot_cannot_read(tmp_path, capsys):
    pytest.importorskip("graphviz")
    path = write_graph_file(tmp_path / "nul.json", [
        {"op": "var", "name": "a\0b", "shape": [2], "dtype": "float64"}], [0])
    assert_one_line_error(["draw", path, "-o", str(tmp_path / "out.svg")], capsys,
                          "Graphviz's dot cannot draw this graph")


CUBE_OP = '''
import graph as G
cube = G.elementwise_op(
    "cube_cli_{tag}", numpy=lambda x: x ** 3, sympy=lambda x: x ** 3,
    deriv=lambda x, out: 3 * x ** 2, inverse=G.NoInverse("not needed"), doc="out = x**3")
'''


def test_import_option_loads_user_ops(user_modules, tmp_path, capsys):
    module = user_modules("cube_ops", CUBE_OP)
    op_name = f"cube_cli_{module.rsplit('_', 1)[1]}"  # the test's unique tag
    # save a graph with the user's op, then forget the op, as a new process would
    spec = importlib.util.spec_from_file_location(module, tmp_path / f"{module}.py")
    spec.loader.exec_module(ops := importlib.util.module_from_spec(spec))
    path = str(tmp_path / "cube.json")
    save(G.sum(ops.cube(G.var("x", (3,)))), path)
    del REGISTRY[op_name]

    assert_one_line_error(["info", path], capsys, f"unknown op '{op_name}'", "--import MODULE")
    status, out, err = run(["info", path, "--import", module], capsys)
    assert status == 0, err
    assert f"{op_name} x1" in out and "x: (3,) float64" in out
    assert_one_line_error(["info", path, "--import", "no_such_module"], capsys,
                          "cannot import 'no_such_module'")
    if HAS_DOT and importlib.util.find_spec("graphviz"):
        drawn = tmp_path / "cube.svg"
        status, _, err = run(["draw", path, "--import", module, "-o", str(drawn)], capsys)
        assert status == 0 and "<svg" in drawn.read_text(), err
    status, out, err = run(["check-op", "--import", module, f"{module}:cube"], capsys)
    assert status == 0 and f"OK: every rule of '{op_name}'" in out, err


def test_info_describes_the_graph(saved_graph, capsys):
    assert main(["info", str(saved_graph)]) == 0
    out = capsys.readouterr().out
    assert "W: (3, 2) float64" in out and "x: (4, 3) float64" in out
    assert "tanh x1" in out and "matmul x1" in out


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_draw_graph_gradient_and_hvp(saved_graph, tmp_path, capsys):
    pytest.importorskip("graphviz")
    for extra in ([], ["--grad", "W"], ["--hvp", "W"]):
        out = tmp_path / f"drawn{len(extra)}{extra[-1] if extra else ''}.svg"
        assert main(["draw", str(saved_graph), *extra, "-o", str(out)]) == 0
        assert "<svg" in out.read_text()
    assert main(["draw", str(saved_graph), "--grad", "nope", "-o", str(tmp_path / "a.svg")]) == 2
    assert "no variable named 'nope'" in capsys.readouterr().err


def test_help_everywhere():
    for argv in ([], ["demo"], ["check-op"], ["draw"], ["info"]):
        result = subprocess.run([sys.executable, "-m", "rop", *argv, "--help"],
                                capture_output=True, text=True)
        assert result.returncode == 0 and "usage: rop" in result.stdout
        if argv and argv[0] != "demo":  # says that importing runs the module
            assert "import (that is, run) MODULE" in " ".join(result.stdout.split())


def test_demo_runs_and_reports(capsys):
    assert main(["demo", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "best:" in out and "certificate" in out and "Hessian-free" in out
    lines = [line for line in out.splitlines() if "relative error" in line and "cond" in line]
    error = float(lines[0].split("relative error ")[1].split(" ")[0])
    assert error < 1e-6 and np.isfinite(error)
    final = {line.split("loss")[0].strip(): float(line.split("-> ")[1].split(" ")[0])
             for line in out.splitlines() if "->" in line}
    assert final["Hessian-free"] < final["gradient descent"]  # at equal evaluation budget
