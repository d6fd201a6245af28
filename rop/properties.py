"""Numeric proofs of what an op declares besides its derivative rules: its batching rule and
its properties (``elementwise``, ``linear``, ``multilinear``, ``axis_map``, ``repeated``,
``image``), that float32 operands give a float32 value, and its forwards on other arrays:
lazy on dask arrays chunked along each axis in turn (when dask is installed), and its
``array_api`` form against the numpy forward on array_api_strict arrays (when that is
installed). check_op runs these after the symbolic checks; each failure names the op, the
property and a counterexample."""

from __future__ import annotations

import importlib.util
import itertools
import warnings

import numpy as np

from graph import evaluate
from graph.backends import array_api_form, dask_forward, is_dask
from graph.errors import RuleCheckError
from graph.leaves import const

from .rule_calls import running

BATCH = 3  # directions in a batched check
BATCH_RULE = ("batch=rule(*inputs, batched=flags, **params) gets the operands flagged with an "
              "extra leading axis and returns the op's output with that axis first")
PROPERTY_RTOL = 1e-10  # linear identities and batch stacking: rounding of a few operations


def check_properties(op, node, values, params, free, rng) -> list:
    """(kind, how) for the batching rule and every declared property of ``op`` at the
    operand ``values`` (numpy arrays) of the example ``node``; raises RuleCheckError."""
    lines = [_check_batch(op, node, values, params, free, rng)]
    forward = _forward(op, params)
    if op.elementwise:
        lines.append(_check_elementwise(op, forward, values, free, rng))
    linear = [i for i in free if op.is_linear_in(i)]
    if linear:
        lines.append(_check_linear(op, forward, values, linear, rng, jointly=True))
    multilinear = [i for i in free if i in op.multilinear]
    if multilinear:
        lines.append(_check_linear(op, forward, values, multilinear, rng, jointly=False))
    if op.axis_map is not None:
        lines.append(_check_axis_map(op, forward, values, params, free, rng))
    if op.image is not None:
        lines.append(_check_image(op, node, forward, values, params, free))
    if op.repeated is not None:
        lines.append(_check_repeated(op, forward, values, params, free))
    lines.append(_check_float32(op, node, values, params))
    if importlib.util.find_spec("dask") is not None:
        lines.append(_check_dask(op, node, forward, values, params))
    if importlib.util.find_spec("array_api_strict") is not None:
        lines.append(_check_array_api(op, forward, values, params))
    return lines


def _forward(op, params):
    def run(*arrays):
        with np.errstate(all="ignore"):
            return np.asarray(op.numpy(*arrays, **params), dtype=float)
    return run


def _fail(op, what, detail):
    raise RuleCheckError(f"{what} of {op.name!r} does not hold: {detail}")


def _close(a, b) -> bool:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= PROPERTY_RTOL * np.maximum(
        1.0, np.maximum(np.abs(a), np.abs(b)))))


def _check_batch(op, node, values, params, free, rng):
    """op.batch on operands carrying a leading axis of BATCH entries equals the op applied to
    each entry and stacked, for every choice of which free operands are batched."""
    subsets = [s for r in range(1, len(free) + 1) for s in itertools.combinations(free, r)]
    shapes = tuple(v.shape for v in values)
    for batched_set in subsets:
        stacks = {i: np.stack([values[i]] + [op.input_domain(i).sample(rng, values[i].shape)
                                              for _ in range(BATCH - 1)])
                  for i in batched_set}
        inputs = [const(stacks[i]) if i in stacks else const(values[i])
                  for i in range(len(values))]
        flags = [i in stacks for i in range(len(values))]
        with running(op, "the batching rule", f"operands {shapes} with {batched_set} batched",
                     BATCH_RULE):
            got = evaluate(op.apply_batch(inputs, flags, params))
        expected = np.stack([op.numpy(*[stacks[i][b] if i in stacks else values[i]
                                        for i in range(len(values))], **params)
                             for b in range(BATCH)])
        if not _close(got, expected):
            _fail(op, "the batching rule", f"with operand(s) {batched_set} batched, the rule "
                  f"gives {np.shape(got)}-shaped values that differ from the op applied per "
                  f"entry and stacked ({expected.shape})")
    return "batch", (f"the rule equals the op stacked over {BATCH} entries, for "
                     f"{len(subsets)} choice(s) of batched operands")


def _perturbed(values, i, index, delta=0.37):
    moved = [v.copy() for v in values]
    moved[i][index] += delta
    return moved


def _changed(forward, values, moved):
    return np.asarray(forward(*moved) != forward(*values))


def _check_elementwise(op, forward, values, free, rng):
    """Moving one entry of an operand changes only the output entries aligned with it."""
    out_shape = np.shape(forward(*values))
    for i in free:
        if values[i].size == 0:
            continue
        index = tuple(int(rng.integers(d)) for d in values[i].shape)
        mask = np.zeros(values[i].shape, bool)
        mask[index] = True
        allowed = np.broadcast_to(mask.reshape((1,) * (len(out_shape) - mask.ndim)
                                               + mask.shape), out_shape)
        if np.any(_changed(forward, values, _perturbed(values, i, index)) & ~allowed):
            _fail(op, "elementwise", f"moving entry {index} of operand {i} changes output "
                  f"entries it is not aligned with")
    return "elementwise", "an operand entry moves only the output entries aligned with it"


def _check_linear(op, forward, values, operands, rng, jointly):
    """op(a x + b y) = a op(x) + b op(y) in the operands together (jointly) or one by one."""
    groups = [operands] if jointly else [[i] for i in operands]
    for group in groups:
        x = [v.copy() for v in values]
        y = [v.copy() for v in values]
        for i in group:
            y[i] = 0.1 * rng.normal(size=values[i].shape)  # small: guards stay in range
        a, b = 0.7, -1.3
        mixed = [a * x[i] + b * y[i] if i in group else values[i] for i in range(len(values))]
        if not _close(forward(*mixed), a * forward(*x) + b * forward(*y)):
            kind = "linear" if jointly else "multilinear"
            _fail(op, f"{kind} in operand(s) {tuple(group)}",
                  "op(a x + b y) differs from a op(x) + b op(y)")
    return (("linear", f"jointly in operand(s) {tuple(operands)}") if jointly else
            ("multilinear", f"linear in each of operand(s) {tuple(operands)}"))


def _check_axis_map(op, forward, values, params, free, rng):
    """Moving an operand's entries at index j along an axis the op maps to an output axis
    changes the output only at index j along that axis."""
    shapes = [v.shape for v in values]
    out_shape = np.shape(forward(*values))
    mapped = 0
    for i in free:
        for axis in range(values[i].ndim):
            with running(op, "axis_map", f"operands {tuple(shapes)}"):
                out_axis = op.axis_map(i, axis, *shapes, **params)
            if out_axis is None or values[i].shape[axis] < 2:
                continue
            j = int(rng.integers(values[i].shape[axis]))
            moved = [v.copy() for v in values]
            index = (slice(None),) * axis + (j,)
            # a fresh sample from the operand's domain, so the op stays defined
            moved[i][index] = op.input_domain(i).sample(rng, moved[i].shape)[index]
            changed = _changed(forward, values, moved)
            others = np.ones(out_shape, bool)
            others[(slice(None),) * out_axis + (j,)] = False
            if np.any(changed & others):
                _fail(op, f"axis_map({i}, {axis}) = {out_axis}", f"moving entry {j} along "
                      f"axis {axis} of operand {i} changes other entries along output axis "
                      f"{out_axis}")
            mapped += 1
    return "axis_map", f"{mapped} operand axis/axes run unmixed along the output axes declared"


def _check_image(op, node, forward, values, params, free):
    """The outputs at sample points lie in the image declared for each operand's inverse."""
    inputs = [const(v) for v in values]
    for i in free:
        image = op.image_for(i, inputs, params)
        if image is not None and not np.all(image.contains(forward(*values))):
            _fail(op, f"image for operand {i}", f"an output at a sample point lies outside "
                  f"{image}")
    return "image", "outputs lie in the declared image"


def _check_repeated(op, forward, values, params, free):
    """The repeated rule recovers u from op(u, u, ...) (u filling every operand)."""
    u = values[free[0]]
    out = forward(*[u] * len(values))
    got = evaluate(op.repeated(const(out), const(u), **params))
    if not _close(got, u):
        _fail(op, "the repeated-operand rule", f"it gives {got} for u = {u}")
    return "repeated", "u is recovered from op(u, ..., u)"


def _check_float32(op, node, values, params):
    """Float operands in float32 give a float32 value (no float64 constant promotes it)."""
    single = [v.astype(np.float32) if x.dtype.kind == "f" else v
              for v, x in zip(values, node.inputs)]
    expected = np.result_type(*(v.dtype for v in single), np.float16)
    with np.errstate(all="ignore"):
        got = np.asarray(op.numpy(*single, **params)).dtype
    if got != expected:
        _fail(op, "float32 forward", f"float32 operands give a {got} value, not {expected}")
    return "float32", "float32 operands give a float32 value"


def _refuse_compute(*args, **kwargs):
    raise RuleCheckError("computed its operands while building the dask graph")


def _lazy_forward(op, params, shape, dtype, arrays):
    """The forward a compiled program runs on dask arrays: the op's code expression or its
    numpy forward (dispatched to dask), or dask_forward as op.dask declares."""
    if op.dask != "native":
        return dask_forward(op, params, shape, dtype, *arrays)
    if op.code is None:
        return op.numpy(*arrays, **params)
    names = [f"x{i}" for i in range(len(arrays))]
    return eval(op.code(*names, **params), {"np": np, **dict(zip(names, arrays))})


def _check_dask(op, node, forward, values, params):
    """On dask arrays chunked along each operand axis in turn (chunks of 1), the forward
    builds a lazy dask graph (computing nothing, calling no numpy function dask lacks) whose
    value is the numpy forward's."""
    import dask
    import dask.array as da

    expected = forward(*values)
    cuts: list = [(i, axis) for i, v in enumerate(values) for axis in range(v.ndim)]
    cuts = cuts or [(0, None)]
    for i, axis in cuts:
        arrays = [da.from_array(v, chunks=tuple(1 if (j, a) == (i, axis) else -1
                                                for a in range(v.ndim)))
                  for j, v in enumerate(values)]
        where = "unchunked" if axis is None else f"chunked along axis {axis} of operand {i}"
        try:
            with warnings.catch_warnings(), dask.config.set(scheduler=_refuse_compute):
                warnings.simplefilter("error", FutureWarning)  # dask computing a numpy call
                lazy = _lazy_forward(op, params, node.shape, node.dtype, arrays)
        except (RuleCheckError, FutureWarning, NotImplementedError, TypeError,
                ValueError) as error:
            _fail(op, f"the dask forward (dask={op.dask!r})", f"on operands {where}: "
                  f"{type(error).__name__}: {error}")
        if not is_dask(lazy):
            _fail(op, f"the dask forward (dask={op.dask!r})", f"on operands {where} it "
                  f"returned a {type(lazy).__name__}, not a lazy dask array")
        with np.errstate(all="ignore"):
            got = lazy.compute(scheduler="synchronous")
        if not _close(got, expected):
            _fail(op, "the dask forward", f"on operands {where} it differs from numpy's")
    return "dask", (f"lazy and equal to numpy's on operands chunked along each of "
                    f"{len(cuts)} axis/axes (dask={op.dask!r})")


def _check_array_api(op, forward, values, params):
    """The array_api form on array_api_strict arrays equals the numpy forward."""
    import array_api_strict as xp

    form = array_api_form(op)
    if form is None:
        return "array_api", "no form: refused by name on Array API arrays"
    with np.errstate(all="ignore"):
        got = form(xp, *(xp.asarray(v) for v in values), **params)
    if got.dtype != xp.float64 or not _close(np.asarray(got), forward(*values)):
        _fail(op, "the array_api form", f"on array_api_strict arrays it gives {got.dtype} "
              f"values that differ from the numpy forward's")
    return "array_api", "array_api_strict values equal numpy's"
