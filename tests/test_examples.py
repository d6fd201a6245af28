"""The examples not exercised elsewhere run and show what they claim."""

import importlib.util
import shutil

import draw_graphs
import numpy as np
import pearlmutter_hvp


def test_pearlmutter_example_shows_finite_differences_losing_digits(capsys):
    errors = pearlmutter_hvp.main(plot=False)
    central, forward = np.array(errors["central"]), np.array(errors["forward"])
    assert central.min() > 1e-13  # no step size recovers all digits ...
    assert central.min() < 1e-6  # ... though a good one gets about half of them
    assert central[-1] > 100 * central.min() and forward[-1] > 100 * forward.min()  # round-off
    assert central.min() < forward.min()  # O(r^2) truncation beats O(r)
    out = capsys.readouterr().out
    assert "forward-over-reverse vs reverse-over-reverse" in out and "best finite" in out


def test_draw_graphs_example_writes_every_drawing(tmp_path, capsys):
    draw_graphs.main(["--out", str(tmp_path)])
    written = sorted(p.name for p in tmp_path.iterdir())
    renders = shutil.which("dot") and importlib.util.find_spec("graphviz") is not None
    suffix = ".svg" if renders else ".dot"
    for stem in ("loss", "grad", "hvp", "inverse"):
        assert f"{stem}{suffix}" in written, written
    out = capsys.readouterr().out
    assert "\\tanh" in out  # the LaTeX of a derivative
