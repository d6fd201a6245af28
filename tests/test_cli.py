"""The command line: rop demo, check-op, draw, info; --help everywhere; one-line errors."""

import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graph as G
from graph.io import save
from rop.cli import main

GOOD_OP = '''
import numpy as np, sympy, graph as G
softsign = G.elementwise_op(
    "softsign_cli_test", numpy=lambda x: x / (1 + np.abs(x)),
    sympy=lambda x: x / (1 + sympy.Abs(x)),
    deriv=lambda x, out: 1 / (1 + G.abs(x)) ** 2,
    inverse=lambda out, x: out / (1 - G.abs(out)),
    doc="out = x / (1 + |x|)")
wrong = G.op.Op(
    "softsign_cli_wrong", arity=1, numpy=softsign.numpy, shape=lambda s: s,
    sympy=softsign.sympy, rop=softsign.rop, vjp=lambda g, x, *, out: g / (1 + G.abs(x)),
    inverse=G.NoInverse("test"), domain=G.REALS, examples=[G.Example(((2,),))],
    doc="softsign with a wrong vjp")
not_an_op = 3
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_ops.py").write_text(textwrap.dedent(GOOD_OP))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_ops"
    sys.modules.pop("my_ops", None)


@pytest.fixture
def saved_graph(tmp_path):
    x, W = G.var("x", (4, 3)), G.var("W", (3, 2))
    path = tmp_path / "loss.json"
    save(G.sum(G.tanh(x @ W) ** 2), str(path))
    return path


def test_check_op_exit_status(user_module, capsys):
    assert main(["check-op", f"{user_module}:softsign"]) == 0
    assert "OK: every rule of 'softsign_cli_test' agrees" in capsys.readouterr().out
    assert main(["check-op", f"{user_module}:wrong"]) == 1
    assert "vjp of 'softsign_cli_wrong'" in capsys.readouterr().out


def test_one_line_errors(user_module, capsys):
    for argv in (["check-op", f"{user_module}:not_an_op"], ["check-op", "no_such_module:x"],
                 ["check-op", "missing_colon"], ["info", "does/not/exist.json"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"rop {argv[0]}: error: ") and err.count("\n") == 1, err


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
