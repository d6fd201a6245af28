"""Convolution (cross-correlation, as in PyTorch) over any number of spatial axes, with zero
padding, integer strides and channel groups; conv1d and conv2d call it.

One op is enough: its VJPs are convolutions too. The input's cotangent is a transposed
convolution, written as a stride-1 convolution of the output's cotangent spread onto a grid
(strides become zeros between entries) with the kernel flipped; the kernel's cotangent is a
convolution of the input with the spread cotangent, the sample axis playing the channels'
part. So every derivative of every order is built from the same op and structure ops.
"""

import numpy as np
import sympy
from numpy.lib.stride_tricks import sliding_window_view

from ..domains import REALS, Example
from ..errors import NotInvertibleError, ShapeError
from ..leaves import as_nodes, const
from ..op import define_op
from .guards import full_rank
from .linalg import inv, solve, swap_last
from .structure import batch_size, getitem, reshape, scatter, transpose

ALL = slice(None)


# -- params and shapes ----------------------------------------------------------------------
def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _per_axis(value, d, what, opname, least):
    values = (value,) * d if _is_int(value) else value
    if not isinstance(values, (tuple, list)) or len(values) != d or \
            not all(map(_is_int, values)):
        raise TypeError(f"{opname}: {what} must be an integer or a tuple of {d} integers (one "
                        f"per spatial axis), got {value!r}")
    if min(values) < least:
        raise ShapeError(f"{opname}: {what} must be at least {least}, got {value!r}")
    return tuple(int(v) for v in values)


def _conv_params(x, w, stride=1, padding=0, groups=1):
    d = len(x) - 2
    name = f"conv{d}d"
    shapes = f"x {x} and w {w}"
    if d < 1 or len(w) != len(x):
        raise ShapeError(f"{name}: needs x (N, C, *spatial) with at least one spatial axis and "
                         f"w (O, C / groups, *kernel) of the same rank; got shapes {shapes}")
    stride = _per_axis(stride, d, "stride", name, 1)
    padding = _per_axis(padding, d, "padding", name, 0)
    if not _is_int(groups) or groups < 1:
        raise TypeError(f"{name}: groups must be a positive integer, got {groups!r}")
    if x[1] != groups * w[1] or w[0] % groups:
        raise ShapeError(f"{name}: x has {x[1]} channels and w reads {w[1]} per group with "
                         f"{groups} group(s) for {w[0]} outputs (x's channels must be groups * "
                         f"w.shape[1], w.shape[0] a multiple of groups); got shapes {shapes}")
    for k, n, p in zip(w[2:], x[2:], padding):
        if not 1 <= k <= n + 2 * p:
            raise ShapeError(f"{name}: the kernel {w[2:]} does not fit in the input {x[2:]} "
                             f"padded by {padding}; got shapes {shapes}")
    return {"stride": stride, "padding": padding, "groups": int(groups)}


def _out_size(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def _conv_shape(x, w, *, stride, padding, groups):
    return (x[0], w[0]) + tuple(map(_out_size, x[2:], w[2:], stride, padding))


# -- forward: numpy (windows and tensordot) and sympy (the definition, entry by entry) ------
def _conv_numpy(x, w, *, stride, padding, groups):
    d = len(stride)
    padded = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    windows = sliding_window_view(padded, w.shape[2:], axis=tuple(range(2, 2 + d)))
    windows = windows[(ALL, ALL) + tuple(slice(None, None, s) for s in stride)]  # N C *out *k
    cg, og = w.shape[1], w.shape[0] // groups
    axes = ([1, *range(2 + d, 2 + 2 * d)], [1, *range(2, 2 + d)])
    parts = [np.tensordot(windows[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og], axes=axes)
             for g in range(groups)]  # each (N, *out, og)
    return np.ascontiguousarray(np.moveaxis(np.concatenate(parts, axis=-1), -1, 1))


def _conv_sympy(x, w, *, stride, padding, groups):
    """out[n, o, i] = sum_{c, j} x[n, g(o) C_g + c, s i + j - p] w[o, c, j], zero outside."""
    out = np.empty(_conv_shape(x.shape, w.shape, stride=stride, padding=padding,
                               groups=groups), dtype=object)
    og = w.shape[0] // groups
    for (n, o, *i) in np.ndindex(*out.shape):
        terms = []
        for c, *j in np.ndindex(*w.shape[1:]):
            at = tuple(s * a + b - p for s, a, b, p in zip(stride, i, j, padding))
            if all(0 <= t < size for t, size in zip(at, x.shape[2:])):
                terms.append(x[(n, o // og * w.shape[1] + c) + at] * w[(o, c) + tuple(j)])
        out[(n, o) + tuple(i)] = sympy.Add(*terms)
    return out


# -- derivatives: transposed convolutions, written as convolutions --------------------------
def _spread(g, shape, offsets, stride):
    """g's entry i placed at offset + stride * i along each spatial axis of zeros(shape);
    entries falling outside are dropped."""
    if tuple(shape) == g.shape and not any(offsets) and all(s == 1 for s in stride):
        return g
    keep, place = [ALL, ALL], [ALL, ALL]
    for size, n, start, s in zip(shape[2:], g.shape[2:], offsets, stride):
        first = max(0, -(start // s))  # ceil(-start / s): the first entry landing at >= 0
        last = max(first, min(n, (size - 1 - start) // s + 1))  # one past the last < size
        keep.append(slice(first, last))
        stop = start + s * (last - 1) + 1 if last > first else start + s * first  # or empty
        place.append(slice(start + s * first, stop, s))
    return scatter(getitem(g, index=tuple(keep)), index=tuple(place), shape=shape)


def _grouped(t, groups, a, b):
    """t (G * A, B, ...) as (G * B, A, ...): axes a and b swapped within each group."""
    rest = t.shape[2:]
    split = reshape(t, shape=(groups, a, b) + rest)
    moved = transpose(split, axes=(0, 2, 1) + tuple(range(3, 3 + len(rest))))
    return reshape(moved, shape=(groups * b, a) + rest)


def _input_cotangent(g, x, w, *, stride, padding, groups):
    """x_bar[n, c, l] = sum_{o, i, j: s i + j = l + p} g[n, o, i] w[o, c, j]: a stride-1
    convolution of g spread to s i + k - 1 - p (on a grid of length L + k - 1) with the
    kernel flipped and its two channel axes swapped per group."""
    kernel = w.shape[2:]
    grid = g.shape[:2] + tuple(n + k - 1 for n, k in zip(x.shape[2:], kernel))
    spread = _spread(g, grid, [k - 1 - p for k, p in zip(kernel, padding)], stride)
    flipped = getitem(w, index=(ALL, ALL) + (slice(None, None, -1),) * len(kernel))
    swapped = _grouped(flipped, groups, w.shape[0] // groups, w.shape[1])
    return conv(spread, swapped, stride=1, padding=0, groups=groups)


def _kernel_cotangent(g, x, w, *, stride, padding, groups):
    """w_bar[o, c, j] = sum_{n, i} g[n, o, i] x_pad[n, g(o) C_g + c, s i + j]: the padded input
    (channels first, samples as its channels) convolved with g spread by the stride (samples
    as the kernel's channels), then cut to the kernel's size."""
    d, cg = len(stride), w.shape[1]
    spread = _spread(g, g.shape[:2] + tuple(s * (n - 1) + 1 for s, n in zip(stride, g.shape[2:])),
                     (0,) * d, stride)
    images = reshape(transpose(reshape(x, shape=(x.shape[0], groups, cg) + x.shape[2:]),
                               axes=(2, 1, 0) + tuple(range(3, 3 + d))),
                     shape=(cg, groups * x.shape[0]) + x.shape[2:])
    filters = transpose(spread, axes=(1, 0) + tuple(range(2, 2 + d)))
    full = conv(images, filters, stride=1, padding=padding, groups=groups)  # (C_g, O, >= k)
    cut = getitem(full, index=(ALL, ALL) + tuple(slice(0, k) for k in w.shape[2:]))
    return transpose(cut, axes=(1, 0) + tuple(range(2, 2 + d)))


# -- inverses: the linear map's matrix, built by the op itself from an identity --------------
def _least_squares(m, y, unknowns):
    """The b with m b = y for m (rows, cols): inv(m) when square, the normal equations under
    full column rank when taller, refused when wider (naming the rank bound)."""
    rows, cols = m.shape
    if rows < cols:
        raise NotInvertibleError(f"conv: {rows} equations for the {cols} unknowns of {unknowns}: "
                                 f"the map has rank at most {rows}, where {cols} is needed")
    if rows == cols:
        return inv(m) @ y
    m = full_rank(m, need="columns")
    return solve(swap_last(m) @ m, swap_last(m) @ y)


def _deconvolve(out, x, w, **params):
    """x from conv(x, w) and w: each sample's C L entries solve M x_n = out_n, where M's
    columns are the convolutions of the unit inputs."""
    n, size = x.shape[0], int(np.prod(x.shape[1:]))
    units = const(np.eye(size, dtype=x.dtype).reshape((size,) + x.shape[1:]))
    m = swap_last(reshape(conv(units, w, **params), shape=(size, -1)))
    solved = _least_squares(m, swap_last(reshape(out, shape=(n, -1))), "each sample of x")
    return reshape(swap_last(solved), shape=x.shape)


def _solve_kernel(out, x, w, *, groups, **params):
    """w from conv(x, w) and x: each filter's C k entries solve A w_o = out[:, o] (all samples
    and positions), where A's columns are x convolved with the unit filters."""
    if groups != 1:
        raise NotInvertibleError("conv: solving a grouped convolution for its kernel is not "
                                 "supported")
    d, size = len(params["stride"]), int(np.prod(w.shape[1:]))
    units = const(np.eye(size, dtype=w.dtype).reshape((size,) + w.shape[1:]))
    positions = (0,) + tuple(range(2, 2 + d)) + (1,)  # (N, *out, channel)
    a = reshape(transpose(conv(x, units, groups=1, **params), axes=positions), shape=(-1, size))
    y = reshape(transpose(out, axes=positions), shape=(-1, w.shape[0]))
    return reshape(swap_last(_least_squares(a, y, "each filter of w")), shape=w.shape)


# -- batching: a batch of inputs joins the samples, of kernels the filters, of both the groups
def _batch_conv(x, w, *, batched, stride, padding, groups):
    k, d = batch_size((x, w), batched), len(stride)
    spatial = tuple(range(3, 3 + d))
    if not batched[1]:
        out = conv(reshape(x, shape=(-1,) + x.shape[2:]), w, stride=stride, padding=padding,
                   groups=groups)
        return reshape(out, shape=(k, x.shape[1]) + out.shape[1:])
    og = w.shape[1] // groups
    if not batched[0]:  # filters ordered (group, batch entry, filter) so groups stay whole
        filters = transpose(reshape(w, shape=(k, groups, og) + w.shape[2:]),
                            axes=(1, 0) + tuple(range(2, 4 + d)))
        out = conv(x, reshape(filters, shape=(-1,) + w.shape[2:]), stride=stride,
                   padding=padding, groups=groups)
        out = reshape(out, shape=(x.shape[0], groups, k, og) + out.shape[2:])
        out = transpose(out, axes=(2, 0, 1) + tuple(range(3, 4 + d)))
        return reshape(out, shape=(k, x.shape[0], groups * og) + out.shape[4:])
    images = reshape(transpose(x, axes=(1, 0, 2) + spatial),  # (N, k * C, *spatial)
                     shape=(x.shape[1], -1) + x.shape[3:])
    out = conv(images, reshape(w, shape=(-1,) + w.shape[2:]), stride=stride, padding=padding,
               groups=k * groups)
    out = reshape(out, shape=(x.shape[1], k, w.shape[1]) + out.shape[2:])
    return transpose(out, axes=(1, 0, 2) + spatial)


conv = define_op(
    "conv", arity=2, normalize=_conv_params, shape=_conv_shape,
    numpy=_conv_numpy, sympy=_conv_sympy, dask="blocks",
    rop=(lambda dx, x, w, *, out, **p: conv(dx, w, **p),
         lambda dw, x, w, *, out, **p: conv(x, dw, **p)),
    vjp=(lambda g, x, w, *, out, **p: _input_cotangent(g, x, w, **p),
         lambda g, x, w, *, out, **p: _kernel_cotangent(g, x, w, **p)),
    inverse=(_deconvolve, _solve_kernel),
    batch=_batch_conv, multilinear=(0, 1),
    # samples run unmixed along the output's samples, filters along its channels (declared
    # only without groups: with groups, a filter's group is read from its position, so a
    # chunk of filters cannot be convolved on its own)
    axis_map=lambda i, axis, x, w, groups, **p: (0, 1)[i] if axis == 0 and (
        i == 0 or groups == 1) else None,
    domain=REALS,
    examples=[Example(((1, 1, 4), (1, 1, 2))),
              Example(((1, 1, 2), (1, 1, 3)), {"padding": 1}),
              Example(((2, 1, 3), (2, 1, 2)), {"stride": 2}),
              Example(((1, 2, 3), (2, 1, 2)), {"groups": 2}),
              Example(((1, 1, 2, 2), (1, 1, 2, 2)), {"stride": 2, "padding": 1}),
              Example(((1, 1, 2, 3), (1, 1, 2, 2)))],
    doc="out[n, o, *i] = sum over c, *j of x_pad[n, g C/groups + c, *(stride i + j)] "
        "w[o, c, *j] (cross-correlation, as in PyTorch) for x (N, C, *spatial) zero-padded "
        "by `padding` and w (O, C / groups, *kernel), output channel o in group g; bilinear. "
        "Invertible in x when each sample's linear map has full column rank (a dense solve "
        "of size C * prod(spatial)), in w (groups = 1) likewise over all samples",
)


def conv1d(x, w, stride=1, padding=0):
    """1-D convolution (cross-correlation, as PyTorch's conv1d) of x (N, C, L) with w
    (O, C, k): out (N, O, (L + 2 padding - k) // stride + 1).

    >>> import graph as G
    >>> G.evaluate(G.conv1d(G.const([[[1.0, 2.0, 3.0]]]), G.const([[[1.0, -1.0]]])))
    array([[[-1., -1.]]])
    """
    x, w = as_nodes((x, w))
    if x.ndim != 3 or w.ndim != 3:
        raise ShapeError(f"conv1d: needs x (N, C, L) and w (O, C, k); got shapes x {x.shape} "
                         f"and w {w.shape}")
    return conv(x, w, stride=stride, padding=padding)


def conv2d(x, w, stride=1, padding=0):
    """2-D convolution (cross-correlation, as PyTorch's conv2d) of x (N, C, H, W) with w
    (O, C, kh, kw); stride and padding are integers or (vertical, horizontal) pairs."""
    x, w = as_nodes((x, w))
    if x.ndim != 4 or w.ndim != 4:
        raise ShapeError(f"conv2d: needs x (N, C, H, W) and w (O, C, kh, kw); got shapes "
                         f"x {x.shape} and w {w.shape}")
    return conv(x, w, stride=stride, padding=padding)
