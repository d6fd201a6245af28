"""Peak memory of one Hessian-vector product: rop's compiled program against hand-written
numpy (Pearlmutter's R-op), measured with tracemalloc, which numpy reports its array
buffers to. The peak counts everything allocated during the call, the returned HVP
included (the same size for both); the inputs (parameters, directions, data) are not.

Run:  python benchmarks/memory.py [--quick]     (--quick: the medium workload only)
Target: rop's peak <= 1.5 x the hand-written one.
"""

import argparse
import gc
import os
import sys
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_peers

import graph as G
import rop

TARGET = 1.5
WORKLOADS = ("medium", "large")


def peak_bytes(fn):
    """Bytes allocated at the peak of one call of ``fn`` above what was live before it."""
    fn()  # warm-up outside the trace: lazy imports, caches
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - before
        del result
    finally:
        tracemalloc.stop()
    return peak


def hvp_callables(name):
    """{label: zero-argument HVP call} for hand-written numpy and rop's two modes, plus the
    size in bytes of the HVP's output."""
    problem = compare_peers.make_problem(name)
    numpy_impl = compare_peers.build_numpy(problem)
    loss, params, vs, feed = compare_peers.rop_graph(problem)
    calls = {"numpy (hand)": numpy_impl.fns["hvp"]}
    for mode in ("fwd-rev", "rev-rev"):
        program = G.compile(rop.hvp(loss, params, vs, mode=mode))
        calls[f"rop {mode}"] = lambda program=program: program(feed)
    output_bytes = sum(a.nbytes for a in problem.values)
    return calls, output_bytes


def measure(name):
    """{label: peak bytes} and the ratios to hand-written numpy for one workload."""
    calls, output_bytes = hvp_callables(name)
    peaks = {label: peak_bytes(fn) for label, fn in calls.items()}
    ratios = {label: peak / peaks["numpy (hand)"] for label, peak in peaks.items()}
    return {"peaks": peaks, "ratios": ratios, "output_bytes": output_bytes,
            "ratio": ratios["rop fwd-rev"]}


def main(argv=None):
    """Print and return {workload: {"peaks", "ratios", "output_bytes", "ratio"}}, where
    "ratio" is rop's default (fwd-rev) HVP peak over the hand-written one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the medium workload only")
    args = parser.parse_args(argv)
    names = WORKLOADS[:1] if args.quick else WORKLOADS
    print("Peak memory of one HVP call (tracemalloc; output included, inputs excluded), "
          f"float64; target rop / hand-written <= {TARGET}")
    print(f"{'workload':9} {'output':>9} {'numpy (hand)':>13} {'rop fwd-rev':>12} "
          f"{'ratio':>6} {'rop rev-rev':>12} {'ratio':>6}")
    results = {}
    for name in names:
        r = results[name] = measure(name)
        peaks, ratios = r["peaks"], r["ratios"]
        mark = "pass" if r["ratio"] <= TARGET else "MISS"
        print(f"{name:9} {r['output_bytes'] / 2**20:7.2f}MB {peaks['numpy (hand)'] / 2**20:11.2f}MB"
              f" {peaks['rop fwd-rev'] / 2**20:10.2f}MB {ratios['rop fwd-rev']:6.2f}"
              f" {peaks['rop rev-rev'] / 2**20:10.2f}MB {ratios['rop rev-rev']:6.2f}   "
              f"fwd-rev {mark}")
    return results


if __name__ == "__main__":
    main()
