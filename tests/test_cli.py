"""The command line: rop demo, check-op, draw, info; --help everywhere; one-line errors."""

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
from rop.cli import main

REPO = pathlib.Path(__file__).resolve().parents[1]

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
    inverse=G.NoInverse("test"), domain=G.REALS, examples=[G.Example(((2,),))],
    doc="softsign with a wrong vjp")
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


@pytest.fixture
def saved_graph(tmp_path):
    x, W = G.var("x", (4, 3)), G.var("W", (3, 2))
    path = tmp_path / "loss.json"
    save(G.sum(G.tanh(x @ W) ** 2), str(path))
    return path


def test_check_op_exit_status(user_modules, capsys):
    module = user_modules("my_ops", GOOD_OP)
    assert main(["check-op", f"{module}:softsign"]) == 0
    assert "OK: every rule of 'softsign_cli_" in capsys.readouterr().out
    assert main(["check-op", f"{module}:wrong"]) == 1
    assert "vjp of 'softsign_cli_wrong_" in capsys.readouterr().out


def test_one_line_errors(user_modules, capsys):
    module = user_modules("my_ops", GOOD_OP)
    for argv, expected in ((["check-op", f"{module}:not_an_op"], "is not a graph op"),
                           (["check-op", "no_such_module:x"], "No module named"),
                           (["check-op", "missing_colon"], "expected MODULE:NAME"),
                           (["info", "does/not/exist.json"], "cannot read the file")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"rop {argv[0]}: error: ") and err.count("\n") == 1, err
        assert expected in err, err  # the error meant, not e.g. "already registered"


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


def test_info_describes_the_graph(saved_graph, capsys):
    assert main(["info", str(saved_graph)]) == 0
    out = capsys.readouterr().out
    assert "W: (3, 2) float64" in out and "x: (4, 3) float64" in out
    assert "tanh x1" in out and "matmul x1" in out


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
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
