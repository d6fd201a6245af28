"""conv1d / conv2d (the conv op): values against a direct loop, derivatives against finite
differences and sympy's Hessian, deconvolution, and the refusals."""

import numpy as np
import pytest
import sympy
from oracles import close, directional_difference

import graph as G
import rop
from graph.symbolic import symbol_array

# Richardson central differences (tests/oracles.py) are ~1e-11 accurate on these smooth O(1)
# functions (h^4 truncation, h = 1e-3, plus eps / h round-off); 1e-7 leaves a wide margin
# while a wrong rule is off by O(1)
RTOL_FD = 1e-7
RTOL_EXACT = 1e-9  # exact computations in float64 differ by round-off only


def loop_conv(x, w, stride, padding, groups=1):
    """The definition, one output entry at a time: the dot product of w[o] with the window of
    the zero-padded x (the channels of o's group) at stride * i."""
    d = x.ndim - 2
    stride = (stride,) * d if np.isscalar(stride) else stride
    padding = (padding,) * d if np.isscalar(padding) else padding
    padded = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    kernel = w.shape[2:]
    size = [(n + 2 * p - k) // s + 1 for n, k, s, p in zip(x.shape[2:], kernel, stride, padding)]
    out = np.zeros((x.shape[0], w.shape[0], *size))
    per_group_out, per_group_in = w.shape[0] // groups, w.shape[1]
    for n, o, *i in np.ndindex(*out.shape):
        first = o // per_group_out * per_group_in
        window = padded[(n, slice(first, first + per_group_in)) +
                        tuple(slice(s * a, s * a + k) for s, a, k in zip(stride, i, kernel))]
        out[(n, o, *i)] = np.sum(window * w[o])
    return out


CASES = [  # x shape, w shape, stride, padding, groups
    ((2, 3, 7), (4, 3, 3), 1, 0, 1),
    ((2, 3, 8), (2, 3, 3), 2, 1, 1),  # (8 + 2 - 3) % 2 != 0: the last input entry is unread
    ((1, 2, 5), (3, 2, 2), 3, 2, 1),  # padding > k - 1: some outputs read only zeros
    ((1, 2, 4), (2, 2, 1), 1, 1, 1),  # the first and last outputs read padding only
    ((2, 4, 6), (6, 2, 3), 1, 1, 2),
    ((2, 2, 5, 6), (3, 2, 3, 2), 1, 0, 1),
    ((1, 3, 7, 6), (2, 3, 3, 3), (2, 1), (1, 2), 1),
    ((2, 2, 4, 5), (4, 1, 2, 2), 2, 1, 2),
]


@pytest.mark.parametrize("xs, ws, stride, padding, groups", CASES)
def test_values_equal_the_direct_loop(xs, ws, stride, padding, groups):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    got = G.evaluate(G.conv(G.const(x), G.const(w), stride=stride, padding=padding,
                            groups=groups))
    assert close(got, loop_conv(x, w, stride, padding, groups), 1e-13)
    if groups == 1:
        wrapper = G.conv1d if len(xs) == 3 else G.conv2d
        assert np.array_equal(G.evaluate(wrapper(x, w, stride=stride, padding=padding)), got)


@pytest.mark.parametrize("xs, ws, stride, padding, groups", CASES)
def test_derivatives_match_finite_differences(xs, ws, stride, padding, groups):
    rng = np.random.default_rng(1)
    x, w = G.var("x", xs), G.var("w", ws)
    y = G.conv(x, w, stride=stride, padding=padding, groups=groups)
    f = G.sum(G.sin(y) * rng.normal(size=y.shape))
    point = {"x": rng.normal(size=xs), "w": rng.normal(size=ws)}
    v = {"x": rng.normal(size=xs), "w": rng.normal(size=ws)}
    fd = directional_difference(f, point, v)
    assert close(G.evaluate(rop.jvp(f, {x: v["x"], w: v["w"]}), point), fd, RTOL_FD)
    gx, gw = G.evaluate(rop.grad(f, [x, w]), point)
    assert close(np.sum(gx * v["x"]) + np.sum(gw * v["w"]), fd, RTOL_FD)


@pytest.mark.parametrize("xs, ws, stride, padding", [
    ((1, 1, 4), (1, 1, 2), 1, 0),
    ((1, 1, 3, 3), (1, 1, 2, 2), 2, 1),
])
def test_hvps_equal_the_sympy_hessian(xs, ws, stride, padding):
    rng = np.random.default_rng(2)
    x, w = G.var("x", xs), G.var("w", ws)
    f = G.sum(G.tanh(G.conv(x, w, stride=stride, padding=padding)))
    symbols = list(symbol_array("x", xs).ravel()) + list(symbol_array("w", ws).ravel())
    point = {"x": rng.normal(size=xs), "w": rng.normal(size=ws)}
    values = np.concatenate([point["x"].ravel(), point["w"].ravel()])
    at = {s: sympy.Float(float(value), 30) for s, value in zip(symbols, values)}
    dense = np.array(sympy.hessian(G.to_sympy(f), symbols).xreplace(at).evalf(30).tolist(),
                     dtype=float)
    v = [rng.normal(size=xs), rng.normal(size=ws)]
    expected = dense @ np.concatenate([v[0].ravel(), v[1].ravel()])
    for mode in ("fwd-rev", "rev-rev"):
        hx, hw = G.evaluate(rop.hvp(f, [x, w], v, mode=mode), point)
        assert close(np.concatenate([hx.ravel(), hw.ravel()]), expected, RTOL_EXACT), mode


def test_second_derivative_through_a_strided_conv_matches_differenced_gradients():
    rng = np.random.default_rng(3)
    x, w = G.var("x", (2, 2, 7, 6)), G.var("w", (3, 2, 3, 2))
    f = G.sum(G.tanh(G.conv2d(x, w, stride=(2, 3), padding=1)) ** 2)
    point = {"x": rng.normal(size=x.shape), "w": rng.normal(size=w.shape)}
    v = {"x": rng.normal(size=x.shape), "w": rng.normal(size=w.shape)}
    gradients = rop.grad(f, [x, w])
    hv = G.evaluate(rop.hvp(f, [x, w], [v["x"], v["w"]]), point)
    for h, g in zip(hv, gradients):
        assert close(h, directional_difference(g, point, v), RTOL_FD)


# -- inverses ---------------------------------------------------------------------------------
def test_deconvolution_recovers_the_input_from_a_square_system():
    rng = np.random.default_rng(4)
    kernel = np.array([[[1.0, 2.0, 0.5]]])  # padding 1 keeps the length: 4 x 4 per sample
    x = G.var("x", (3, 1, 4))
    z, x_of_z = rop.inverse(G.conv1d(x, kernel, padding=1), x)
    signal = rng.normal(size=(3, 1, 4))
    out = loop_conv(signal, kernel, 1, 1)
    assert close(G.evaluate(x_of_z, {z: out}), signal, 1e-12)


def test_deconvolution_of_a_taller_system_uses_every_output():
    rng = np.random.default_rng(5)
    kernels = rng.normal(size=(3, 2, 2))  # 3 filters x 4 positions for 2 x 5 unknowns
    x = G.var("x", (2, 2, 5))
    signal = rng.normal(size=(2, 2, 5))
    z, x_of_z = rop.inverse(G.conv1d(x, kernels), x)
    assert close(G.evaluate(x_of_z, {z: loop_conv(signal, kernels, 1, 0)}), signal, 1e-10)


def test_filters_are_recovered_from_enough_samples():
    rng = np.random.default_rng(6)
    images, filters = rng.normal(size=(5, 2, 4, 4)), rng.normal(size=(3, 2, 2, 2))
    w = G.var("w", filters.shape)
    z, w_of_z = rop.inverse(G.conv2d(images, w, padding=1), w)
    assert close(G.evaluate(w_of_z, {z: loop_conv(images, filters, 1, 1)}), filters, 1e-10)


def test_deconvolution_is_refused_with_the_rank_it_found():
    x = G.var("x", (1, 1, 3))
    # out_i = x_(i-1) + x_(i+1): the adjacency matrix of a path of 3 nodes, eigenvalues
    # 0 and +-sqrt(2), so rank 2
    with pytest.raises(G.NotInvertibleError, match="has rank 2 where 3 is needed"):
        # the kernel is known when the graph is built, so the refusal comes then
        rop.inverse(G.conv1d(x, np.array([[[1.0, 0.0, 1.0]]]), padding=1), x)
    with pytest.raises(G.NotInvertibleError, match="2 equations for the 3 unknowns.*rank at "
                                                   "most 2"):
        rop.inverse(G.conv1d(x, np.ones((1, 1, 2))), x)


# -- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize("xs, ws, params, error, message", [
    ((2, 3, 5), (4, 2, 3), {}, G.ShapeError,
     r"conv1d: x has 3 channels.*x \(2, 3, 5\) and w \(4, 2, 3\)"),
    ((2, 3, 5), (4, 3, 3, 3), {}, G.ShapeError, r"conv1d: .*x \(2, 3, 5\) and w \(4, 3, 3, 3\)"),
    ((2, 3, 5), (4, 3, 6), {}, G.ShapeError, r"kernel \(6,\) does not fit.*x \(2, 3, 5\)"),
    ((2, 3), (4, 3), {}, G.ShapeError, r"at least one spatial axis"),
    ((2, 3, 5), (4, 3, 2), {"stride": 0}, G.ShapeError, r"conv1d: stride must be at least 1"),
    ((2, 3, 5), (4, 3, 2), {"padding": -1}, G.ShapeError, r"padding must be at least 0"),
    ((2, 3, 5, 5), (4, 3, 2, 2), {"stride": (1, 2, 3)}, TypeError, r"conv2d: .* tuple of 2"),
    ((2, 3, 5), (4, 3, 2), {"stride": 1.5}, TypeError, r"stride must be an integer"),
    ((2, 4, 5), (3, 2, 2), {"groups": 2}, G.ShapeError, r"multiple of groups"),
    ((2, 4, 5), (4, 2, 2), {"groups": 0}, TypeError, r"groups must be a positive integer"),
])
def test_bad_shapes_and_params_are_refused_naming_both_shapes(xs, ws, params, error, message):
    with pytest.raises(error, match=message):
        G.conv(G.var("x", xs), G.var("w", ws), **params)


def test_the_wrappers_check_the_rank():
    with pytest.raises(G.ShapeError, match=r"conv1d: needs x \(N, C, L\).*\(1, 1, 4, 4\)"):
        G.conv1d(G.var("x", (1, 1, 4, 4)), G.var("w", (1, 1, 2, 2)))
    with pytest.raises(G.ShapeError, match=r"conv2d: needs x \(N, C, H, W\).*\(1, 1, 4\)"):
        G.conv2d(G.var("x", (1, 1, 4)), G.var("w", (1, 1, 2)))
