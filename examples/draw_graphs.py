"""Pictures of graphs and their transformations: an MLP loss, its gradient, its Hessian-vector
product and an inverse, drawn with Graphviz; the nodes a transformed graph shares with the
original are grey. Also prints the LaTeX of a small derivative and of an inverse.

Run:  python examples/draw_graphs.py --out drawings/
(SVG files with graphviz installed: pip install "rop[draw]" and apt-get install graphviz;
otherwise the .dot files, which any Graphviz viewer opens)
"""

import argparse
import pathlib

import numpy as np

import graph as G
import rop
from graph.draw import draw, to_dot, to_latex
from rop.models import flat, mlp, mlp_layers


def drawings():
    """[(file stem, graph, highlight, title)] for each picture."""
    layers = mlp_layers([3, 4, 2])
    x = G.const(np.linspace(-1.0, 1.0, 15).reshape(5, 3))
    loss = G.sum((mlp(x, layers) - G.const(np.eye(5, 2))) ** 2)
    params = flat(layers)
    grads = rop.grad(loss, params)
    hvps = rop.hvp(loss, params, [np.ones(p.shape) for p in params])
    u = G.var("u", (3,))
    y = G.exp(u) * 2.0 + 1.0
    z, u_of_z = rop.inverse(y, u)
    return [("loss", loss, None, "MLP 3-4-2 squared error"),
            ("grad", grads, loss, "gradient of the loss (grey: nodes of the loss)"),
            ("hvp", hvps, loss, "Hessian-vector product (grey: nodes of the loss)"),
            ("inverse", u_of_z, y, f"inverse of y = exp(u) * 2 + 1: u as a function of {z.name}")]


def write(out: pathlib.Path) -> list[pathlib.Path]:
    """Draw every picture into ``out`` as SVG, or write its DOT source if graphviz is missing."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, nodes, highlight, title in drawings():
        try:
            written.append(draw(nodes, out / f"{stem}.svg", highlight=highlight, title=title))
        except RuntimeError as err:  # graphviz missing: the DOT text is still useful
            if not written:
                print(f"cannot render ({err}); writing .dot files instead")
            path = out / f"{stem}.dot"
            path.write_text(to_dot(nodes, highlight=highlight, title=title))
            written.append(path)
    return written


def formulas():
    """LaTeX of d tanh(a*b) / da and of the inverse of y = exp(u) * 2 + 1 (scalar u)."""
    a, b, u = G.var("a"), G.var("b"), G.var("u")
    _, u_of_z = rop.inverse(G.exp(u) * 2.0 + 1.0, u)
    return {"d tanh(a b) / da": to_latex(rop.grad(G.tanh(a * b), a)),
            "inverse of exp(u) * 2 + 1": to_latex(u_of_z)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("drawings"),
                        help="output directory (default: drawings/)")
    args = parser.parse_args(argv)
    for path in write(args.out):
        print(f"wrote {path}")
    for what, latex in formulas().items():
        print(f"{what}:  {latex}")


if __name__ == "__main__":
    main()
