"""Loss, gradient and HVP times of rop against hand-written numpy, jax, torch and autograd.

All run in one process, interleaved in rounds (drift hits all alike), float64, numpy/BLAS,
XLA and torch pinned to one thread. Times are printed as ratios to the hand-written numpy
time of the same quantity, next to rop's targets; every HVP is checked against the
hand-written one. Peers not installed are skipped with a note (pip install -e ".[bench]").
Then (unless --quick or --no-hessian) the dense Hessian against jax's: hessian_peers.py.

Run:  python benchmarks/compare_peers.py [--quick] [--workloads tiny medium ...] [--hessian]
"""

import os
import sys

_PINNED_BEFORE_NUMPY = "numpy" not in sys.modules
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy (or torch, jax) loads its BLAS
_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
if _XLA not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_XLA}".strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections import namedtuple  # noqa: E402
from importlib import metadata  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import handwritten  # noqa: E402

import graph as G  # noqa: E402
import rop  # noqa: E402
from rop.models import flat, mlp_layers  # noqa: E402

WORKLOADS = {"rosenbrock": None, "tiny": ([4, 8, 8, 2], 16), "small": ([64, 64, 64, 10], 64),
             "medium": ([784, 256, 256, 10], 256), "large": ([1024, 1024, 1024, 1024], 1024)}
TARGETS = {"rosenbrock": 10.0, "tiny": 1.2, "small": 1.1, "medium": 1.05, "large": 1.05}
FIRST_CALL_TARGET = 0.050  # seconds, for the medium HVP
QUANTITIES = ("loss", "grad", "hvp")
PEERS = ("jax", "torch", "autograd")
LARGE_ROUNDS = 5  # at most: a large sample is one call of 0.1 - 1.5 s


# A workload: layer sizes (None: Rosenbrock), parameter values and HVP directions (flat
# lists of arrays), data X, Y
Problem = namedtuple("Problem", "title sizes values directions X Y", defaults=(None, None))


# An implementation: {quantity: zero-argument callable}, and a callable giving its HVP arrays
Impl = namedtuple("Impl", "name fns hvp_value")


def make_problem(name, seed=0):
    """The workload's point, direction and data, the same for every implementation."""
    rng = np.random.default_rng(seed)
    if WORKLOADS[name] is None:
        return Problem("2-D Rosenbrock (1 - x)^2 + 100 (y - x^2)^2 at (-1.2, 1)", None,
                       [np.array([-1.2, 1.0])], [rng.normal(size=2)])
    sizes, batch = WORKLOADS[name]
    X, Y = rng.normal(size=(batch, sizes[0])), rng.normal(size=(batch, sizes[-1]))
    values = [t for pair in handwritten.init_mlp(sizes, rng) for t in pair]
    directions = [t for pair in handwritten.init_mlp(sizes, rng) for t in pair]
    title = f"tanh MLP {'-'.join(map(str, sizes))}, batch {batch}"
    return Problem(title, sizes, values, directions, X, Y)


def loss_of(xp, problem, X=None, Y=None):
    """The workload's loss as a function of the parameter list, written once for every
    array module ``xp`` (numpy-like: graph, jax.numpy, torch, autograd.numpy)."""
    if problem.sizes is None:
        def rosenbrock(params):
            w = params[0]
            return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
        return rosenbrock

    def mlp_loss(params):
        a, n = X, len(params) // 2
        for i in range(n):
            a = a @ params[2 * i] + params[2 * i + 1]
            if i < n - 1:
                a = xp.tanh(a)
        return xp.sum((a - Y) ** 2) * (0.5 / X.shape[0])
    return mlp_loss


# -- hand-written numpy and rop -------------------------------------------------------------
def rosenbrock_numpy():
    """Closed-form f, gradient and Hessian-vector product of Rosenbrock's function."""
    def loss(w):
        return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2

    def gradient(w):
        r = w[1] - w[0] ** 2
        return np.array([-2 * (1 - w[0]) - 400 * w[0] * r, 200 * r])

    def hvp(w, v):
        x, y = w
        return np.array([(2 - 400 * y + 1200 * x * x) * v[0] - 400 * x * v[1],
                         -400 * x * v[0] + 200 * v[1]])
    return loss, gradient, hvp


def build_numpy(problem):
    """Hand-written numpy: forward, backprop and Pearlmutter's R-op (closed form for
    Rosenbrock)."""
    p, d, X, Y = problem.values, problem.directions, problem.X, problem.Y
    if problem.sizes is None:
        loss, gradient, hvp = rosenbrock_numpy()
        fns = {"loss": lambda: loss(p[0]), "grad": lambda: gradient(p[0]),
               "hvp": lambda: hvp(p[0], d[0])}
        return Impl("numpy (hand)", fns, lambda: [fns["hvp"]()])
    pp, dd = list(zip(p[::2], p[1::2])), list(zip(d[::2], d[1::2]))
    fns = {"loss": lambda: handwritten.loss(pp, X, Y),
           "grad": lambda: handwritten.gradient(pp, X, Y),
           "hvp": lambda: handwritten.hvp(pp, dd, X, Y)}
    return Impl("numpy (hand)", fns, lambda: [t for pair in fns["hvp"]() for t in pair])


def rop_graph(problem):
    """(loss node, parameter variables, direction variables, feed dict) for rop."""
    if problem.sizes is None:
        params, x, y, data = [G.var("w", (2,))], None, None, {}
    else:
        params = flat(mlp_layers(problem.sizes))
        x, y = G.var("x", problem.X.shape), G.var("y", problem.Y.shape)
        data = {"x": problem.X, "y": problem.Y}
    loss = loss_of(G, problem, x, y)(params)
    vs = [G.var("v_" + p.name, p.shape) for p in params]
    feed = dict(data, **{p.name: a for p, a in zip(params, problem.values)},
                **{v.name: a for v, a in zip(vs, problem.directions)})
    return loss, params, vs, feed


def first_call_cost(problem, mode="fwd-rev"):
    """Seconds spent building the loss graph, rop.hvp, G.compile and the first call."""
    marks = [time.perf_counter()]
    loss, params, vs, feed = rop_graph(problem)
    marks.append(time.perf_counter())
    hvp = rop.hvp(loss, params, vs, mode=mode)
    marks.append(time.perf_counter())
    program = G.compile(hvp)
    marks.append(time.perf_counter())
    program(feed)
    marks.append(time.perf_counter())
    return dict(zip(("graph", "hvp", "compile", "run"), np.diff(marks)), total=marks[-1] - marks[0])


def build_rop(problem):
    """Two rows: loss, gradient and fwd-rev HVP programs; the rev-rev HVP program."""
    loss, params, vs, feed = rop_graph(problem)
    programs = {"loss": G.compile(loss), "grad": G.compile(rop.grad(loss, params)),
                "hvp": G.compile(rop.hvp(loss, params, vs, mode="fwd-rev"))}
    rev_rev = G.compile(rop.hvp(loss, params, vs, mode="rev-rev"))
    return [Impl("rop fwd-rev", {q: (lambda p=p: p(feed)) for q, p in programs.items()},
                 lambda: programs["hvp"](feed)),
            Impl("rop rev-rev", {"hvp": lambda: rev_rev(feed)}, lambda: rev_rev(feed))]


# -- peers ----------------------------------------------------------------------------------
_MODULES = {}


def peer(name):
    """(module, None) for an importable peer, or (None, reason)."""
    if name not in _MODULES:
        try:
            module = importlib.import_module(name)
            if name == "torch":
                module.set_num_threads(1)
                with contextlib.suppress(RuntimeError):  # set already, or work has started
                    module.set_num_interop_threads(1)
            if name == "jax":
                module.config.update("jax_enable_x64", True)
            _MODULES[name] = (module, None)
        except Exception as error:
            _MODULES[name] = (None, f"{type(error).__name__}: {error}".splitlines()[0])
    return _MODULES[name]


def build_jax(problem, jax):
    """jax.jit of the loss, jax.grad and jvp(grad) (forward-over-reverse)."""
    import jax.numpy as jnp

    def f(p, X, Y):
        return loss_of(jnp, problem, X, Y)(p)

    loss, grad = jax.jit(f), jax.jit(jax.grad(f))
    hvp = jax.jit(lambda p, v, X, Y: jax.jvp(lambda q: jax.grad(f)(q, X, Y), (p,), (v,))[1])
    p, v = [jnp.asarray(a) for a in problem.values], [jnp.asarray(a) for a in problem.directions]
    X, Y = (None if a is None else jnp.asarray(a) for a in (problem.X, problem.Y))
    fns = {"loss": lambda: jax.block_until_ready(loss(p, X, Y)),
           "grad": lambda: jax.block_until_ready(grad(p, X, Y)),
           "hvp": lambda: jax.block_until_ready(hvp(p, v, X, Y))}
    return Impl("jax jit", fns, lambda: [np.asarray(t) for t in fns["hvp"]()])


def build_torch(problem, torch):
    """torch eager: loss under no_grad, autograd.grad, and double backward for the HVP."""
    p = [torch.tensor(a, requires_grad=True) for a in problem.values]
    v = [torch.tensor(a) for a in problem.directions]
    data = () if problem.sizes is None else (torch.tensor(problem.X), torch.tensor(problem.Y))
    f = loss_of(torch, problem, *data)
    loss = torch.no_grad()(lambda: f(p))

    def hvp():
        g = torch.autograd.grad(f(p), p, create_graph=True)
        return torch.autograd.grad(g, p, v)

    fns = {"loss": loss, "grad": lambda: torch.autograd.grad(f(p), p), "hvp": hvp}
    return Impl("torch", fns, lambda: [t.detach().numpy() for t in hvp()])


def build_autograd(problem, autograd):
    """autograd: the loss in autograd.numpy, autograd.grad, and make_hvp per point."""
    import autograd.numpy as anp
    from autograd.differential_operators import make_hvp

    f = loss_of(anp, problem, problem.X, problem.Y)
    grad = autograd.grad(f)
    p, v = problem.values, problem.directions
    fns = {"loss": lambda: f(p), "grad": lambda: grad(p),
           "hvp": lambda: make_hvp(f)(p)[0](v)}
    return Impl("autograd", fns, lambda: [np.asarray(t) for t in fns["hvp"]()])


def build_all(problem, peers):
    """Every implementation for ``problem`` and {peer: reason} for the skipped peers."""
    impls, skipped = [build_numpy(problem), *build_rop(problem)], {}
    builders = {"jax": build_jax, "torch": build_torch, "autograd": build_autograd}
    for name in peers:
        module, reason = peer(name)
        if module is None:
            skipped[name] = reason
        else:
            impls.append(builders[name](problem, module))
    return impls, skipped


# -- timing and agreement -------------------------------------------------------------------
def calibrate(fn, sample_seconds):
    """Calls per sample so that one sample lasts about ``sample_seconds`` (the first call,
    untimed, also triggers any jit compilation)."""
    calls = 1
    while (per_call := sample(fn, calls)) * calls < sample_seconds / 4 and calls < 1 << 20:
        calls *= 4
    return max(1, round(sample_seconds / max(per_call, 1e-9)))


def sample(fn, calls):
    """Mean seconds per call over ``calls`` back-to-back calls, garbage collector off, after
    one untimed call: the entry before leaves the allocator in its own state (freed memory
    returned to the OS is page-faulted in again), which would bill the first timed call
    (up to ~10 % at medium size, depending on which entry ran before)."""
    fn()
    gc.disable()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    elapsed = time.perf_counter() - start
    gc.enable()
    return elapsed / calls


def time_interleaved(impls, rounds, sample_seconds, reference="numpy (hand)"):
    """({(impl, quantity): median seconds}, {(impl, quantity): median over rounds of the
    time / the reference's time of the same quantity in the same round}). Entries of one
    quantity run next to each other; the order rotates and flips from round to round."""
    entries = sorted(((impl.name, q, fn) for impl in impls for q, fn in impl.fns.items()),
                     key=lambda entry: QUANTITIES.index(entry[1]))
    calls = {(name, q): calibrate(fn, sample_seconds) for name, q, fn in entries}
    samples = {(name, q): [] for name, q, _ in entries}
    for r in range(rounds):
        gc.collect()  # once a round: with torch and jax loaded a collection takes ~0.2 s
        order = entries[r % len(entries):] + entries[:r % len(entries)]
        for name, q, fn in order[::-1] if r % 2 else order:
            samples[name, q].append(sample(fn, calls[name, q]))
    ratios = {(name, q): statistics.median(t / b for t, b in zip(s, samples[reference, q]))
              for (name, q), s in samples.items()}
    return {key: statistics.median(s) for key, s in samples.items()}, ratios


def max_relative_difference(values, reference):
    """max over tensors of max |a - b| / max |b|."""
    return max(float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))
               for a, b in zip(values, reference))


# -- report ---------------------------------------------------------------------------------
def _ms(seconds):
    return f"{seconds * 1e3:.3f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.1f} us"


def run_workload(name, args):
    """Times, ratios, HVP agreement and rop's first-call cost for one workload (printed)."""
    problem = make_problem(name)
    costs = [first_call_cost(problem) for _ in range(args.first_call_repeats)]
    first_call = sorted(costs, key=lambda c: c["total"])[len(costs) // 2]  # the median run
    impls, skipped = build_all(problem, args.peers)
    reference = impls[0].hvp_value()
    agreement = {impl.name: max_relative_difference(impl.hvp_value(), reference)
                 for impl in impls[1:]}
    rounds = min(args.rounds, LARGE_ROUNDS) if name == "large" else args.rounds
    times, ratios = time_interleaved(impls, rounds, args.sample_seconds)
    base = {q: times["numpy (hand)", q] for q in QUANTITIES}
    print(f"\n== {name}: {problem.title}; {rounds} rounds ==")
    print(f"{'':14} {'loss':>10} {'grad':>10} {'hvp':>10}   HVP max rel diff")
    print(f"{'numpy (hand)':14} " + " ".join(f"{_ms(base[q]):>10}" for q in QUANTITIES)
          + "   (reference; rows below: ratios to it)")
    for impl in impls[1:]:
        cells = [f"{ratios[impl.name, q]:10.2f}" if (impl.name, q) in ratios else f"{'-':>10}"
                 for q in QUANTITIES]
        print(f"{impl.name:14} {' '.join(cells)}   {agreement[impl.name]:.1e}")
    for peer_name, reason in skipped.items():
        print(f"{peer_name:14} skipped: not installed ({reason})")
    print(f"rop first call (fwd-rev HVP): {_ms(first_call['total'])} = graph "
          f"{_ms(first_call['graph'])} + rop.hvp {_ms(first_call['hvp'])} + G.compile "
          f"{_ms(first_call['compile'])} + first run {_ms(first_call['run'])}")
    return {"times": times, "ratios": ratios, "agreement": agreement,
            "first_call": first_call, "skipped": skipped, "rounds": rounds}


def print_targets(results):
    """rop / hand-written numpy against the targets, with a pass/miss mark."""
    def mark(value, bound):
        return f"{value:6.2f} {'pass' if value <= bound else 'MISS'}"

    print("\n== targets: rop time / hand-written numpy time (same quantity) ==")
    print(f"{'workload':11} {'bound':>6}  {'grad':>11}  {'hvp fwd-rev':>11}  {'hvp rev-rev':>11}"
          f"  {'first call':>10}")
    for name, r in ((n, r) for n, r in results.items() if n in TARGETS):
        bound, ratio = TARGETS[name], r["ratios"]
        print(f"{name:11} {bound:6.2f}  {mark(ratio['rop fwd-rev', 'grad'], bound):>11}  "
              f"{mark(ratio['rop fwd-rev', 'hvp'], bound):>11}  "
              f"{mark(ratio['rop rev-rev', 'hvp'], bound):>11}  "
              f"{_ms(r['first_call']['total']):>10}")
    if "medium" in results:
        cost = results["medium"]["first_call"]["total"]
        print(f"medium HVP first call {_ms(cost)} (target < {_ms(FIRST_CALL_TARGET)}): "
              f"{'pass' if cost < FIRST_CALL_TARGET else 'MISS'}")
    worst = max(a for n, r in results.items() if n in TARGETS for a in r["agreement"].values())
    print(f"all HVPs agree with hand-written numpy to max relative difference {worst:.1e}")


def print_setup(args):
    """State threads, precision, peer versions and the timing protocol."""
    versions = [f"numpy {np.__version__}"] + [f"{name} {metadata.version(name)}" if peer(name)[0]
                                             else f"{name} not installed" for name in args.peers]
    pinned = "yes" if _PINNED_BEFORE_NUMPY else "NO: numpy was imported first, BLAS may not obey"
    print("Threads pinned to one: OMP/OPENBLAS/MKL_NUM_THREADS=1, XLA_FLAGS="
          f"'{_XLA}', torch.set_num_threads(1) and set_num_interop_threads(1) if torch runs "
          f"(set before numpy was imported: {pinned}).")
    print(f"float64 everywhere (jax_enable_x64). {', '.join(versions)}.")
    print(f"Interleaved rounds ({args.rounds}, large: {min(args.rounds, LARGE_ROUNDS)}), each "
          f"sample >= {args.sample_seconds * 1e3:.0f} ms of back-to-back calls after one untimed"
          " call. First row: median times;\nthe rows below: median over rounds of time / "
          "hand-written numpy time of the same quantity in the same round.")


def parse(argv):
    """Command-line options, with the --quick defaults filled in."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="few rounds, short samples, no large workload")
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=None)
    parser.add_argument("--peers", nargs="*", choices=PEERS, default=list(PEERS),
                        help="peers to compare (none: just rop and hand-written numpy)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (11; quick: 2)")
    parser.add_argument("--sample-seconds", type=float,
                        help="minimum duration of one timing sample (0.03 s; quick: 0.01 s)")
    parser.add_argument("--first-call-repeats", type=int, default=3)
    parser.add_argument("--hessian", action=argparse.BooleanOptionalAction)  # None: not quick
    args = parser.parse_args(argv)
    if args.workloads is None:
        args.workloads = [w for w in WORKLOADS if not (args.quick and w == "large")]
    args.rounds = args.rounds or (2 if args.quick else 11)
    args.sample_seconds = args.sample_seconds or (0.01 if args.quick else 0.03)
    return args


def main(argv=None):
    """Run the comparison; returns {workload: {"times", "ratios", "agreement", "first_call",
    "skipped", "rounds"}} (seconds, keyed by (impl, quantity)), and "hessian" (its run())."""
    args = parse(argv)
    print_setup(args)
    results = {name: run_workload(name, args) for name in args.workloads}
    if args.hessian or (args.hessian is None and not args.quick):
        import hessian_peers  # here, not at the top: it imports this module
        results["hessian"] = hessian_peers.run(min(args.rounds, 5), args.first_call_repeats)
    print_targets(results)
    return results


if __name__ == "__main__":
    main()
