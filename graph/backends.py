"""Arrays other than numpy's: dask arrays, on which a compiled program builds a lazy dask
graph (computed chunk by chunk, on a cluster if one is connected), and arrays of an Array API
namespace (array_api_strict, PyTorch, CuPy through array-api-compat), on which a program runs
node by node with each op's ``array_api`` form. numpy stays the default and the fast path:
neither dask nor array-api-compat is imported unless such an array is fed.
"""

from __future__ import annotations

import functools
import math
import os
import sys

import numpy as np

from .errors import DomainError, FeedError, MissingRuleError
from .node import Node
from .shapes import first_index

# The dtypes a variable can have, by the name every Array API namespace gives them
DTYPE_NAMES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
               "uint64", "float32", "float64")
# numpy ufuncs whose name differs from the standard's function of the same meaning
RENAMED = {"absolute": "abs", "arcsin": "asin", "arccos": "acos", "arctan": "atan",
           "arcsinh": "asinh", "arctan2": "atan2", "power": "pow", "true_divide": "divide"}
# the standard's functions an op's numpy ufunc may default to (same arguments, same meaning)
STANDARD = {"abs", "acos", "add", "asin", "asinh", "atan", "atan2", "cos", "cosh", "divide",
            "exp", "expm1", "hypot", "log", "log1p", "matmul", "maximum", "minimum",
            "multiply", "negative", "pow", "sign", "sin", "sinh", "sqrt", "square", "subtract",
            "tanh"}


# -- what an array is -----------------------------------------------------------------------
def is_dask(x) -> bool:
    """Whether ``x`` is a dask array (dask.array is never imported here to find out)."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(x, module.Array)


@functools.lru_cache(maxsize=1)
def _compat():
    try:
        import array_api_compat
    except ImportError:
        return None
    return array_api_compat


def is_foreign(x) -> bool:
    """Whether ``x`` is an array of another Array API namespace (not numpy's, not dask's)."""
    if isinstance(x, (np.ndarray, np.generic, list, tuple, int, float, bool)) or is_dask(x):
        return False
    if hasattr(x, "__array_namespace__"):
        return True
    compat = _compat()  # PyTorch tensors have no __array_namespace__ of their own
    return compat is not None and compat.is_array_api_obj(x)


def namespace(arrays):
    """The Array API namespace of ``arrays`` (one namespace: mixing two is refused)."""
    compat = _compat()
    if compat is None:
        raise FeedError("arrays of an Array API namespace other than numpy's were fed: "
                        "install array-api-compat (pip install 'rop[arrayapi]') to evaluate "
                        "graphs on them")
    try:
        return compat.array_namespace(*arrays)
    except TypeError as error:
        raise FeedError(f"the feed mixes arrays of several namespaces ({error}): feed arrays "
                        f"of one namespace (numpy arrays are converted to it)") from None


def numpy_dtype(x) -> np.dtype:
    """The numpy dtype of a dask or Array API array (refusing dtypes a variable cannot have,
    such as complex ones)."""
    if isinstance(x.dtype, np.dtype):  # dask and CuPy arrays
        return x.dtype
    xp = namespace([x])
    for name in DTYPE_NAMES:
        if getattr(xp, name, None) == x.dtype:
            return np.dtype(name)
    raise FeedError(f"an array of dtype {x.dtype} was fed: only real numbers (bool, int, "
                    f"float) can be fed")


def cast(x, dtype: np.dtype):
    """``x`` (dask or Array API) as ``dtype``, unconverted when it has it already."""
    if numpy_dtype(x) == dtype:
        return x
    if is_dask(x):
        return x.astype(dtype)
    xp = namespace([x])
    return xp.astype(x, getattr(xp, dtype.name))


# -- dask ------------------------------------------------------------------------------------
def dask_forward(op, params, shape, dtype, *arrays):
    """``op``'s forward on operands some of which are dask arrays, as declared by
    ``op.dask``: ``"blocks"``, the numpy forward chunk by chunk along the operand axes the
    op's axis_map sends unmixed to an output axis of the same length (other axes joined into
    one chunk; a ``shape`` param, the output's shape, is given each block's); ``"whole"``,
    one task on whole operands."""
    if not any(is_dask(a) for a in arrays):
        return op.numpy(*arrays, **params)
    import dask.array as da

    shapes = [tuple(a.shape) for a in arrays]
    args, mapped = [], {}
    for i, a in enumerate(arrays):
        if not is_dask(a):
            args += [a, None]  # a numpy operand goes whole to every task
            continue
        index, joined = [], {}
        for axis in range(a.ndim):
            out = op.axis_map(i, axis, *shapes, **params) if op.dask == "blocks" and \
                op.axis_map is not None else None
            if out is not None and a.shape[axis] == shape[out]:
                index.append(f"o{out}")
                mapped[out] = (i, axis)
            else:
                index.append(f"a{i}.{axis}")
                joined[axis] = -1
        args += [a.rechunk(joined) if joined else a, tuple(index)]
    new_axes = {f"o{k}": shape[k] for k in range(len(shape)) if k not in mapped}
    block = functools.partial(_block, op, params, shape, mapped)
    return da.blockwise(block, tuple(f"o{k}" for k in range(len(shape))), *args,
                        new_axes=new_axes, concatenate=True, dtype=dtype,
                        meta=np.empty((0,) * len(shape), dtype))


def as_dask(x):
    """``x`` as a dask array (numpy arrays as one chunk). The lazy program makes an op's
    output bigger than its operands (a broadcast of a constant to the data's shape) from
    dask operands: it is then made where it is used, not computed here and shipped."""
    if is_dask(x):
        return x
    import dask.array as da

    return da.from_array(np.asarray(x), chunks=-1)


def _block(op, params, shape, mapped, *blocks):
    """The numpy forward on one block of each operand; along the mapped output axes the
    block's output is as long as the operand blocks."""
    if "shape" in params:
        shape = list(shape)
        for k, (i, axis) in mapped.items():
            shape[k] = blocks[i].shape[axis]
        params = {**params, "shape": tuple(shape)}
    return np.asarray(op.numpy(*blocks, **params))


# -- Array API namespaces ---------------------------------------------------------------------
def array_api_form(op):
    """``op``'s forward in an Array API namespace: its ``array_api`` rule, or the standard's
    function of its numpy ufunc's name; None when it has neither."""
    if op.array_api is not None:
        return op.array_api
    if isinstance(op.numpy, np.ufunc):
        name = RENAMED.get(op.numpy.__name__, op.numpy.__name__)
        if name in STANDARD:
            return lambda xp, *arrays, **params: getattr(xp, name)(*arrays)
    return None


def zeros(xp, shape, like):
    """Zeros of ``shape`` with the dtype and on the device of the array ``like``."""
    return xp.zeros(shape, dtype=like.dtype, device=device(like))


def device(x):
    compat = _compat()
    return compat.device(x) if compat is not None else x.device


def to_namespace(xp, value, like):
    """A numpy array (a feed, a constant) as an array of ``xp`` on ``like``'s device."""
    array = np.asarray(value)
    dtype = getattr(xp, array.dtype.name)
    return xp.asarray(array, dtype=dtype, device=device(like))


def run_array_api(program, xp, arrays, check_finite=False):
    """The values of ``program``'s outputs computed node by node in namespace ``xp``; each
    intermediate is dropped after its last use. An op without an Array API form is refused,
    naming it and its node."""
    like = arrays[0]
    values = dict(zip(program.variables, arrays))
    last_use = {x: i for i, node in enumerate(program.nodes) for x in node.inputs}
    keep = set(program.rewritten)
    lines = None
    for i, node in enumerate(program.nodes):
        if node.is_const:
            values[node] = to_namespace(xp, node.value, like)
        elif not node.is_var:
            form = array_api_form(node.op)
            if form is None:
                from .pretty import numbered

                lines = lines or numbered(program.rewritten)
                raise MissingRuleError(
                    f"op {node.op.name!r} has no Array API form (it is computed by numpy "
                    f"only), needed at node {lines[node]}: evaluate this graph on numpy "
                    f"arrays, or give the op an array_api rule (graph/op.py)")
            value = form(xp, *(values[x] for x in node.inputs), **node.params)
            values[node] = _checked(xp, node, value, check_finite, program)
        for x in node.inputs:
            if last_use[x] == i and x not in keep:
                del values[x]
    return [values[n] for n in program.rewritten]


def _checked(xp, node, value, check_finite, program):
    """An op's value in the node's shape and dtype (a form that changed either is a bug,
    named), checked for NaN and Inf when asked."""
    if tuple(value.shape) != node.shape:
        raise MissingRuleError(f"the Array API form of op {node.op.name!r} gave shape "
                               f"{tuple(value.shape)} for a node of shape {node.shape}")
    dtype = getattr(xp, node.dtype.name)
    if value.dtype != dtype:
        value = xp.astype(value, dtype)
    if check_finite and node.dtype.kind == "f" and not bool(xp.all(xp.isfinite(value))):
        from .pretty import numbered

        host = np.from_dlpack(value) if math.prod(node.shape) else np.zeros(node.shape)
        check_value(node, host, "node " + numbered(program.rewritten)[node])
    return value


def check_value(node: Node, value: np.ndarray, pretty_line: str):
    """Raise DomainError if ``value`` (the value of ``node``) has a NaN or Inf entry."""
    finite = np.isfinite(value)
    if not np.all(finite):
        where = first_index(~finite)
        what = "a NaN" if np.isnan(value[where]) else "an Inf"
        raise DomainError(f"evaluate: {pretty_line} produced {what} at index {where}"
                          + ("" if node.is_var else " (check_finite=True)"))


def dask_worker_environment() -> dict:
    """The malloc settings rop's own process runs with (graph/memory.py: freed blocks up to
    KEEP_BYTES kept for reuse), as environment variables for dask's worker processes. dask
    starts workers returning every freed block over 64 kB to the system, and on virtual
    machines the page faults of the next chunk's arrays then cost more than their arithmetic.
    Apply before starting a cluster; a remote cluster's workers take them from their own
    environment.

    >>> import dask
    >>> settings = {"distributed.nanny.pre-spawn-environ": dask_worker_environment()}
    >>> with dask.config.set(settings):  # doctest: +SKIP
    ...     client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
    """
    from .memory import KEEP_BYTES

    environment = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}
    if os.environ.get("ROP_KEEP_MEMORY", "1") != "0":
        environment.update(MALLOC_MMAP_THRESHOLD_=KEEP_BYTES,
                           MALLOC_TRIM_THRESHOLD_=2 * KEEP_BYTES - 1)
    return environment
