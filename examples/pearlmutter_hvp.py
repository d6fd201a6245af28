"""Why exact matters: an MLP's Hessian-vector product, exact (Pearlmutter's R-operator applied
to the backprop graph) against finite differences of the gradient for r = 1e-1 ... 1e-12.

Run:  python examples/pearlmutter_hvp.py   (writes pearlmutter_hvp.png when matplotlib is
installed)
"""

import numpy as np

import graph as G
import rop
from rop.models import feed_of, flat, mlp, mlp_layers, mlp_values


def main(plot=True):
    rng = np.random.default_rng(0)
    sizes, batch = [10, 32, 32, 4], 64
    layers = mlp_layers(sizes)
    X, Y = rng.normal(size=(batch, sizes[0])), rng.normal(size=(batch, sizes[-1]))
    loss = G.sum((mlp(G.const(X), layers) - G.const(Y)) ** 2) * (0.5 / batch)
    params = flat(layers)
    feed = feed_of(layers, mlp_values(sizes, rng))
    v = [rng.normal(size=p.shape) for p in params]

    exact = np.concatenate([h.ravel() for h in G.evaluate(rop.hvp(loss, params, v), feed)])
    # a second exact route, double backprop, agrees to round-off
    rev = np.concatenate([h.ravel() for h in
                          G.evaluate(rop.hvp(loss, params, v, mode="rev-rev"), feed)])
    print(f"MLP {'-'.join(map(str, sizes))}, batch {batch}, {exact.size} parameters")
    print(f"exact H v: forward-over-reverse vs reverse-over-reverse, max relative difference "
          f"{np.max(np.abs(exact - rev)) / np.max(np.abs(exact)):.1e}\n")

    steps = [10.0**-k for k in range(1, 13)]
    errors = {"forward": [], "central": []}
    print(f"{'r':>8} {'forward diff':>14} {'central diff':>14}   (max relative error vs exact)")
    for r in steps:
        row = []
        for scheme in errors:
            fd = np.concatenate([h.ravel() for h in
                                 rop.fd_hvp(loss, params, v, feed, r=r, scheme=scheme)])
            errors[scheme].append(np.max(np.abs(fd - exact)) / np.max(np.abs(exact)))
            row.append(errors[scheme][-1])
        print(f"{r:8.0e} {row[0]:14.2e} {row[1]:14.2e}")
    best = min(min(e) for e in errors.values())
    print(f"\nbest finite difference: {best:.1e} relative error; exact: round-off only "
          f"({np.max(np.abs(exact - rev)) / np.max(np.abs(exact)):.0e})")

    if plot:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("(matplotlib not installed: no plot)")
            return errors
        fig, ax = plt.subplots(figsize=(6, 4))
        for scheme, errs in errors.items():
            ax.loglog(steps, errs, "o-", label=f"{scheme} difference")
        ax.axhline(np.finfo(float).eps, color="k", ls="--", label="exact (R-operator): round-off")
        ax.set_xlabel("step r")
        ax.set_ylabel("max relative error of H v")
        ax.set_title("Finite-difference HVPs lose half the digits")
        ax.legend()
        fig.tight_layout()
        fig.savefig("pearlmutter_hvp.png", dpi=120)
        print("wrote pearlmutter_hvp.png")
    return errors


if __name__ == "__main__":
    main()
